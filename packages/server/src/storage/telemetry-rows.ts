import type { TelemetryRecord } from '../core/model.js';

/**
 * The compact telemetry row layout of the SQLite adapter.
 *
 * Most of what the hub stamps on a message describes the connection, not the message: the device and
 * module, the authentication method and generation, the model ID. Those are stored once per distinct
 * combination (a *source*), and each message row holds only its source's number, the enqueued time, the
 * body and — only when the message has any — a small JSON object with the rest. Narrow rows keep each
 * group commit to few pages, which is most of the cost of storing a message.
 */

/** System properties that vary from message to message; all others belong to the source. */
const PER_MESSAGE_SYSTEM_PROPERTIES = new Set(['iothub-enqueuedtime', 'dt-subject', 'iothub-outputname']);

/** The connection-level part of a record, stored once in `telemetry_sources`. */
export interface TelemetrySource {
  hub: string;
  deviceId: string;
  moduleId: string | undefined;
  /** Connection-level system properties (device id, auth method and generation, `dt-dataschema`, ...). */
  system: Record<string, string>;
  /** The number of keys of `system`. */
  keyCount: number;
}

/** The optional per-message fields of a record, stored in the `meta` column when present. */
const META_FIELDS = [
  'creationTime',
  'component',
  'messageId',
  'correlationId',
  'userId',
  'contentType',
  'contentEncoding',
] as const;

/** The per-message fields other than the enqueued time and the body, as stored in the `meta` column. */
type TelemetryMeta = Pick<TelemetryRecord, (typeof META_FIELDS)[number]> & {
  properties?: Record<string, string | null>;
  /** Per-message system properties, except `iothub-enqueuedtime` when it is the enqueued time. */
  system?: Record<string, string>;
};

/** The `meta` column of a record: its per-message fields other than enqueued time and body, or `null`. */
export function telemetryMeta(record: TelemetryRecord): string | null {
  let meta: TelemetryMeta | undefined;
  const systemProperties = record.systemProperties;
  for (const name in systemProperties) {
    if (!PER_MESSAGE_SYSTEM_PROPERTIES.has(name)) continue;
    const value = systemProperties[name]!;
    if (name !== 'iothub-enqueuedtime' || value !== record.enqueuedTime) {
      meta ??= {};
      (meta.system ??= {})[name] = value;
    }
  }
  for (const field of META_FIELDS) {
    const value = record[field];
    if (value !== undefined) (meta ??= {})[field] = value;
  }
  for (const _ in record.properties) {
    (meta ??= {}).properties = record.properties;
    break;
  }
  return meta === undefined ? null : JSON.stringify(meta);
}

/** The source of a record: its hub, device, module and connection-level system properties. */
export function sourceOf(record: TelemetryRecord): TelemetrySource {
  const system: Record<string, string> = {};
  for (const name in record.systemProperties) {
    if (!PER_MESSAGE_SYSTEM_PROPERTIES.has(name)) system[name] = record.systemProperties[name]!;
  }
  return {
    hub: record.hub,
    deviceId: record.deviceId,
    moduleId: record.moduleId,
    system,
    keyCount: Object.keys(system).length,
  };
}

/** A key that is equal for equal sources (used to find a source's number without a query). */
export function sourceKeyOf(source: TelemetrySource): string {
  let key = `${source.hub}\u0000${source.deviceId}\u0000${source.moduleId ?? '\u0001'}`;
  for (const name in source.system) key += `\u0000${name}\u0000${source.system[name]!}`;
  return key;
}

/** Whether a record comes from this source (its hub, device, module and connection-level properties). */
export function sameSource(record: TelemetryRecord, source: TelemetrySource): boolean {
  if (record.hub !== source.hub || record.deviceId !== source.deviceId || record.moduleId !== source.moduleId) {
    return false;
  }
  let count = 0;
  for (const name in record.systemProperties) {
    if (PER_MESSAGE_SYSTEM_PROPERTIES.has(name)) continue;
    if (source.system[name] !== record.systemProperties[name]) return false;
    count++;
  }
  return count === source.keyCount;
}

/** Rebuilds a record from its row and its source. `iothub-enqueuedtime` is always present afterwards. */
export function decodeTelemetry(
  row: { seq: number; enqueued_time: string; meta: string | null; body: Buffer },
  source: TelemetrySource,
): TelemetryRecord {
  const meta = row.meta === null ? {} : (JSON.parse(row.meta) as TelemetryMeta);
  const record: TelemetryRecord = {
    sequenceNumber: row.seq,
    hub: source.hub,
    deviceId: source.deviceId,
    enqueuedTime: row.enqueued_time,
    properties: meta.properties ?? {},
    systemProperties: { ...source.system, 'iothub-enqueuedtime': row.enqueued_time, ...meta.system },
    body: new Uint8Array(row.body),
  };
  if (source.moduleId !== undefined) record.moduleId = source.moduleId;
  for (const field of META_FIELDS) {
    const value = meta[field];
    if (value !== undefined) record[field] = value;
  }
  return record;
}
