import { MESSAGE_PROPERTY_NAMES, type TelemetryRecord } from '../core/model.js';

/**
 * The compact telemetry row layout of the SQLite adapter.
 *
 * Most of what the hub stamps on a message describes the connection, not the message: the device and
 * module, the authentication method and generation, the model ID — and, in practice, the content type and
 * encoding a device sets on every message. Those are stored once per distinct combination (a *source*),
 * and each message row holds only its source's number, the enqueued time, the body and — only when the
 * message has any — a small JSON object with the rest. The `iothub-creation-time-utc` property the SDKs
 * stamp is not stored twice: a row whose creation time came from it holds the time once, in `created`.
 * Narrow rows keep each group commit to few pages, which is most of the cost of storing a message.
 */

/** System properties that vary from message to message; all others belong to the source. */
const PER_MESSAGE_SYSTEM_PROPERTY_NAMES = ['iothub-enqueuedtime', 'dt-subject', 'iothub-outputname'] as const;
const PER_MESSAGE_SYSTEM_PROPERTIES: ReadonlySet<string> = new Set(PER_MESSAGE_SYSTEM_PROPERTY_NAMES);

/** The connection-level part of a record, stored once in `telemetry_sources`. */
export interface TelemetrySource {
  hub: string;
  deviceId: string;
  moduleId: string | undefined;
  /** Connection-level system properties (device id, auth method and generation, `dt-dataschema`, ...). */
  system: Record<string, string>;
  /** The number of keys of `system`. */
  keyCount: number;
  /** `$.ct` of the source's messages (rows of older layouts keep theirs in `meta`). */
  contentType: string | undefined;
  /** `$.ce` of the source's messages. */
  contentEncoding: string | undefined;
}

/** Keys of the `system` column that hold a source's content type and encoding (no system property starts with `$`). */
const CONTENT_TYPE_KEY = '$.ct';
const CONTENT_ENCODING_KEY = '$.ce';

/** The application property a creation time usually comes from (the `created` column holds it). */
const CREATION_TIME_PROPERTY = 'iothub-creation-time-utc';

/** The optional per-message fields of a record, stored in the `meta` column when present. */
const META_FIELDS = ['creationTime', 'component', ...MESSAGE_PROPERTY_NAMES] as const;

/** The meta fields written by {@link telemetryColumns}: content type and encoding belong to the source. */
const ROW_META_FIELDS = ['creationTime', 'component', 'messageId', 'correlationId', 'userId'] as const;

/** The per-message fields other than the enqueued time and the body, as stored in the `meta` column. */
type TelemetryMeta = Pick<TelemetryRecord, (typeof META_FIELDS)[number]> & {
  properties?: Record<string, string | null>;
  /** Per-message system properties, except `iothub-enqueuedtime` when it is the enqueued time. */
  system?: Record<string, string>;
};

/** A record's own columns besides source, enqueued time and body. */
export interface TelemetryColumns {
  /** Its other per-message fields as JSON, or `null` when it has none. */
  meta: string | null;
  /**
   * The creation time when it came from the `iothub-creation-time-utc` property (what the SDKs stamp):
   * the row then implies both the creation time and that property. Otherwise `null`, and both stay in
   * `meta`.
   */
  created: string | null;
}

/** The row columns of a record (see {@link TelemetryColumns}). */
export function telemetryColumns(record: TelemetryRecord): TelemetryColumns {
  let meta: TelemetryMeta | undefined;
  const systemProperties = record.systemProperties;
  for (const name of PER_MESSAGE_SYSTEM_PROPERTY_NAMES) {
    const value = systemProperties[name];
    if (value === undefined || (name === 'iothub-enqueuedtime' && value === record.enqueuedTime)) continue;
    meta ??= {};
    (meta.system ??= {})[name] = value;
  }
  const properties = record.properties;
  const creationTime = record.creationTime;
  let elide = false;
  let others = false;
  for (const name in properties) {
    if (name === CREATION_TIME_PROPERTY && creationTime !== undefined && properties[name] === creationTime)
      elide = true;
    else others = true;
  }
  const created = elide && creationTime !== undefined ? creationTime : null;
  for (const field of ROW_META_FIELDS) {
    if (field === 'creationTime' && created !== null) continue;
    const value = record[field];
    if (value !== undefined) (meta ??= {})[field] = value;
  }
  if (others) {
    if (elide) {
      const rest: Record<string, string | null> = {};
      for (const name in properties) if (name !== CREATION_TIME_PROPERTY) rest[name] = properties[name]!;
      (meta ??= {}).properties = rest;
    } else {
      (meta ??= {}).properties = properties;
    }
  }
  return { meta: meta === undefined ? null : JSON.stringify(meta), created };
}

/** The `system` column of a source: its connection-level system properties and content type/encoding. */
export function sourceColumn(source: TelemetrySource): string {
  const column: Record<string, string> = { ...source.system };
  if (source.contentType !== undefined) column[CONTENT_TYPE_KEY] = source.contentType;
  if (source.contentEncoding !== undefined) column[CONTENT_ENCODING_KEY] = source.contentEncoding;
  return JSON.stringify(column);
}

/** A source read back from its row. */
export function sourceFromRow(row: {
  hub: string;
  device_id: string;
  module_id: string | null;
  system: string;
}): TelemetrySource {
  const {
    [CONTENT_TYPE_KEY]: contentType,
    [CONTENT_ENCODING_KEY]: contentEncoding,
    ...system
  } = JSON.parse(row.system) as Record<string, string>;
  return {
    hub: row.hub,
    deviceId: row.device_id,
    moduleId: row.module_id ?? undefined,
    system,
    keyCount: Object.keys(system).length,
    contentType,
    contentEncoding,
  };
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
    contentType: record.contentType,
    contentEncoding: record.contentEncoding,
  };
}

/** A key that is equal for equal sources (used to find a source's number without a query). */
export function sourceKeyOf(source: TelemetrySource): string {
  let key = `${source.hub}\u0000${source.deviceId}\u0000${source.moduleId ?? '\u0001'}`;
  key += `\u0000${source.contentType ?? '\u0001'}\u0000${source.contentEncoding ?? '\u0001'}`;
  for (const name in source.system) key += `\u0000${name}\u0000${source.system[name]!}`;
  return key;
}

/** Whether a record comes from this source (its hub, device, module and connection-level properties). */
export function sameSource(record: TelemetryRecord, source: TelemetrySource): boolean {
  if (
    record.hub !== source.hub ||
    record.deviceId !== source.deviceId ||
    record.moduleId !== source.moduleId ||
    record.contentType !== source.contentType ||
    record.contentEncoding !== source.contentEncoding
  ) {
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
  row: { seq: number; enqueued_time: string; meta: string | null; created: string | null; body: Buffer },
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
  if (source.contentType !== undefined) record.contentType = source.contentType;
  if (source.contentEncoding !== undefined) record.contentEncoding = source.contentEncoding;
  for (const field of META_FIELDS) {
    const value = meta[field];
    if (value !== undefined) record[field] = value;
  }
  if (row.created !== null) {
    record.creationTime = row.created;
    record.properties = { [CREATION_TIME_PROPERTY]: row.created, ...meta.properties };
  }
  return record;
}
