/**
 * A hub's Event Hub-compatible endpoint (its "built-in endpoint"), served on the hub's AMQP port as
 * `@azure/event-hubs` expects an Event Hubs namespace to behave: a hub-policy SAS token put on `$cbs`
 * for an `sb://{hub host}/{hub name}…` audience (`ServiceConnect`), `$management` READ of the entity
 * (`com.microsoft:eventhub`) and of each partition (`com.microsoft:partition`), and partition receivers
 * at `{hub name}/ConsumerGroups/{group}/Partitions/{n}` with the selector filters of an event position
 * (`amqp.annotation.x-opt-offset`, `-sequence-number`, `-enqueued-time`). Events are the hub's stored
 * telemetry, read from storage by sequence number (so a reader misses nothing the hub acknowledged), each
 * device's messages in one partition, with IoT Hub's system properties as message annotations.
 *
 * Offsets and sequence numbers are the hub's telemetry sequence numbers: increasing within a partition
 * but not contiguous (ADR 0019).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import rhea, { type Delivery, type Message, type Sender } from 'rhea';
import type { Hub } from '../../core/hub.js';
import type { TelemetryRecord } from '../../core/model.js';
import { HubError } from '../../errors.js';
import { logRefusal } from '../log-fields.js';
import { AMQP_CONDITIONS, dataSection } from './messages.js';

/** Partitions of every hub's built-in endpoint (IoT Hub's default is 4). */
export const EVENT_HUB_PARTITIONS = 4;
/** The management link address. */
export const MANAGEMENT_ADDRESS = '$management';
/** How often a caught-up partition receiver with credit looks for new events [I]. */
const POLL_MS = 200;
/** Events read from storage per query. */
const PAGE = 500;

/**
 * The partition a device's events go to: a stable hash of its id (as IoT Hub keeps a device's messages
 * in one partition, in order).
 *
 * @example
 * partitionOf('thermostat-1'); // 0..3
 */
export function partitionOf(deviceId: string): number {
  return createHash('sha256').update(deviceId).digest().readUInt32BE(0) % EVENT_HUB_PARTITIONS;
}

/** A partition receiver address. */
export interface PartitionAddress {
  entity: string;
  consumerGroup: string;
  partition: number;
}

/**
 * Reads `{entity}/ConsumerGroups/{group}/Partitions/{n}`; `undefined` when it is not one.
 *
 * @example
 * parsePartitionAddress('hub-1/ConsumerGroups/$default/Partitions/0'); // { entity: 'hub-1', consumerGroup: '$default', partition: 0 }
 */
export function parsePartitionAddress(address: unknown): PartitionAddress | undefined {
  if (typeof address !== 'string') return undefined;
  const match = /^([^/]+)\/ConsumerGroups\/([^/]+)\/Partitions\/(\d{1,3})$/i.exec(address);
  if (match === null) return undefined;
  return { entity: match[1] ?? '', consumerGroup: match[2] ?? '', partition: Number(match[3]) };
}

/** Where a receiver starts: after `sequenceNumber` (−1: the beginning), or after an enqueued time. */
export type StartPosition = { afterSequenceNumber: number } | { latest: true } | { enqueuedAfter: number };

/**
 * Reads an event position's selector filter (`amqp.annotation.x-opt-offset > '-1'`, `… >= '12'`,
 * `x-opt-sequence-number > '7'`, `x-opt-enqueued-time > '1700000000000'` or az's
 * `x-opt-enqueuedtimeutc`, `@latest`); no filter is
 * the beginning. Throws `HUB_INVALID_ARGUMENT` for anything else.
 *
 * @example
 * startPosition("amqp.annotation.x-opt-sequence-number >= '5'"); // { afterSequenceNumber: 4 }
 */
export function startPosition(filter: string | undefined): StartPosition {
  if (filter === undefined) return { afterSequenceNumber: -1 };
  const match =
    /^amqp\.annotation\.x-opt-(offset|sequence-number|enqueued-time|enqueuedtimeutc)\s*(>=|>)\s*'([^']*)'$/.exec(
      filter.trim(),
    );
  if (match === null) throw new HubError('HUB_INVALID_ARGUMENT', `Unsupported selector filter ${filter}.`);
  const [, field, operator, value = ''] = match;
  if (field === 'offset' && value === '@latest') return { latest: true };
  const n = Number(value);
  if (value === '' || !Number.isFinite(n) || !Number.isInteger(n)) {
    throw new HubError('HUB_INVALID_ARGUMENT', `The ${String(field)} in ${filter} is not an integer.`);
  }
  // `x-opt-enqueuedtimeutc` is the name az's `diagnostics` (uamqp) filters on.
  if (field === 'enqueued-time' || field === 'enqueuedtimeutc') return { enqueuedAfter: operator === '>=' ? n - 1 : n };
  return { afterSequenceNumber: operator === '>=' ? n - 1 : n };
}

/**
 * A stored telemetry record as the built-in endpoint delivers it: message properties, IoT Hub's system
 * properties and the Event Hubs ones (`x-opt-sequence-number`, `x-opt-offset`, `x-opt-enqueued-time`)
 * as message annotations, application properties as sent, the body as a data section.
 *
 * @example
 * sender.send(eventFromTelemetry(record));
 */
export function eventFromTelemetry(record: TelemetryRecord): Message {
  const sequenceNumber = record.sequenceNumber ?? 0;
  const enqueued = Date.parse(record.enqueuedTime);
  const annotations: Record<string, unknown> = {
    ...record.systemProperties,
    'iothub-connection-device-id': record.deviceId,
    ...(record.moduleId === undefined ? {} : { 'iothub-connection-module-id': record.moduleId }),
    'iothub-enqueuedtime': rhea.types.wrap_timestamp(enqueued),
    'iothub-message-source': 'Telemetry',
    ...(record.component === undefined ? {} : { 'dt-subject': record.component }),
    ...(record.creationTime === undefined ? {} : { 'iothub-creation-time-utc': record.creationTime }),
    'x-opt-sequence-number': rhea.types.wrap_long(sequenceNumber),
    'x-opt-offset': String(sequenceNumber),
    'x-opt-enqueued-time': rhea.types.wrap_timestamp(enqueued),
  };
  const application: Record<string, string> = {};
  // `iothub-creation-time-utc` is a system property: an annotation (above), not an application property.
  for (const [key, value] of Object.entries(record.properties)) {
    if (value !== null && key !== 'iothub-creation-time-utc') application[key] = value;
  }
  return {
    ...(record.messageId === undefined ? {} : { message_id: record.messageId }),
    ...(record.correlationId === undefined ? {} : { correlation_id: record.correlationId }),
    ...(record.userId === undefined ? {} : { user_id: record.userId }),
    ...(record.contentType === undefined ? {} : { content_type: record.contentType }),
    ...(record.contentEncoding === undefined ? {} : { content_encoding: record.contentEncoding }),
    message_annotations: annotations,
    application_properties: application,
    body: dataSection(record.body),
  };
}

/** One partition receiver: where it is in the hub's telemetry. */
class PartitionReader {
  #cursor: number | undefined;
  #enqueuedAfter: number | undefined;
  #busy = false;
  #timer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    readonly sender: Sender,
    readonly hub: Hub,
    readonly partition: number,
    start: StartPosition,
    readonly log: Logger,
  ) {
    if ('afterSequenceNumber' in start) this.#cursor = start.afterSequenceNumber;
    if ('enqueuedAfter' in start) {
      this.#cursor = -1;
      this.#enqueuedAfter = start.enqueuedAfter;
    }
  }

  /** Sends what the receiver has credit for; looks again later when caught up. */
  pump(): void {
    if (this.#busy || this.closed) return;
    this.#busy = true;
    this.#read()
      .catch((error: unknown) => this.log.error({ err: error }, 'Event Hub partition read failed'))
      .finally(() => {
        this.#busy = false;
        if (!this.closed && this.#timer === undefined) {
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.pump();
          }, POLL_MS);
        }
      });
  }

  async #read(): Promise<void> {
    // @latest: after the newest stored message.
    let cursor = this.#cursor ?? (await this.#newest(-1));
    this.#cursor = cursor;
    while (!this.closed && this.sender.sendable()) {
      const page = await this.hub.queryTelemetry({ afterSequenceNumber: cursor, limit: PAGE });
      if (page.length === 0) return;
      for (const record of page) {
        if (this.closed || !this.sender.sendable()) return;
        cursor = record.sequenceNumber ?? cursor;
        this.#cursor = cursor;
        if (partitionOf(record.deviceId) !== this.partition) continue;
        if (this.#enqueuedAfter !== undefined) {
          if (Date.parse(record.enqueuedTime) <= this.#enqueuedAfter) continue;
          this.#enqueuedAfter = undefined;
        }
        this.sender.send(eventFromTelemetry(record));
      }
    }
  }

  /** The newest stored sequence number, from `from` on. */
  async #newest(from: number): Promise<number> {
    let newest = from;
    for (;;) {
      const page = await this.hub.queryTelemetry({ afterSequenceNumber: newest, limit: 10_000 });
      const last = page.at(-1)?.sequenceNumber;
      if (last === undefined) return newest;
      newest = last;
    }
  }

  close(): void {
    this.closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function refusal(error: HubError): { condition: string; description: string } {
  return { condition: AMQP_CONDITIONS[error.code], description: error.message };
}

/**
 * The Event Hub-compatible links of one AMQP connection.
 *
 * @example
 * if (isEventHubAudience(audience)) await eventHub.authorize(hub, audience, token);
 */
export class EventHubLinks {
  readonly #log: Logger;
  #hub: Hub | undefined;
  readonly #readers = new Map<Sender, PartitionReader>();
  readonly #managementReplies = new Set<Sender>();

  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** Whether a token for the built-in endpoint was accepted on this connection. */
  get authorized(): boolean {
    return this.#hub !== undefined;
  }

  /**
   * Checks a hub-policy token (`ServiceConnect`) for `audience`, which must be under the hub's
   * `sb://{host name}/{hub name}`; throws the refusal.
   */
  async authorize(hub: Hub, audience: string, token: string): Promise<void> {
    const entity = `sb://${hub.hostName}/${hub.name}`.toLowerCase();
    const wanted = audience.toLowerCase().replace(/\/+$/, '');
    if (wanted !== entity && !wanted.startsWith(`${entity}/`)) {
      throw new HubError('HUB_UNAUTHORIZED', `The audience ${audience} is not under ${entity}.`);
    }
    await hub.authorizeService(token, 'ServiceConnect', { target: audience, eventHubs: true });
    this.#hub = hub;
  }

  /** The client attached its `$management` receiver: replies go there. */
  managementOpened(sender: Sender): void {
    this.#managementReplies.add(sender);
  }

  /** A `$management` request: READ of the entity or of one partition. */
  async managementRequest(message: Message, delivery: Delivery): Promise<void> {
    delivery.accept();
    const hub = this.#hub;
    const properties = message.application_properties ?? {};
    const reply = (status: number, description: string, body: unknown): void => {
      for (const sender of this.#managementReplies) {
        sender.send({
          ...(message.message_id === undefined ? {} : { correlation_id: message.message_id }),
          ...(message.reply_to === undefined ? {} : { to: message.reply_to }),
          application_properties: { 'status-code': status, 'status-description': description },
          body,
        });
        return;
      }
    };
    if (hub === undefined) return reply(401, 'Put a token for the Event Hub-compatible endpoint first.', null);
    if (properties['operation'] !== 'READ' || String(properties['name']).toLowerCase() !== hub.name.toLowerCase()) {
      return reply(404, `No entity ${String(properties['name'])} to ${String(properties['operation'])}.`, null);
    }
    const created = rhea.types.wrap_timestamp(Date.parse('2020-01-01T00:00:00Z'));
    const ids = Array.from({ length: EVENT_HUB_PARTITIONS }, (_, i) => String(i));
    if (properties['type'] === 'com.microsoft:eventhub') {
      return reply(200, 'OK', {
        name: hub.name,
        type: 'com.microsoft:eventhub',
        created_at: created,
        partition_count: EVENT_HUB_PARTITIONS,
        partition_ids: ids,
      });
    }
    if (properties['type'] === 'com.microsoft:partition' && ids.includes(String(properties['partition']))) {
      const partition = Number(properties['partition']);
      const info = await this.#partitionInfo(hub, partition);
      return reply(200, 'OK', {
        name: hub.name,
        type: 'com.microsoft:partition',
        partition: String(partition),
        begin_sequence_number: rhea.types.wrap_long(info.first ?? 0),
        last_enqueued_sequence_number: rhea.types.wrap_long(info.last ?? -1),
        last_enqueued_offset: String(info.last ?? -1),
        last_enqueued_time_utc: rhea.types.wrap_timestamp(info.lastTime ?? 0),
        is_partition_empty: info.last === undefined,
      });
    }
    return reply(404, `No ${String(properties['type'])} ${String(properties['partition'] ?? '')}.`, null);
  }

  async #partitionInfo(hub: Hub, partition: number): Promise<{ first?: number; last?: number; lastTime?: number }> {
    const info: { first?: number; last?: number; lastTime?: number } = {};
    let cursor = -1;
    for (;;) {
      const page = await hub.queryTelemetry({ afterSequenceNumber: cursor, limit: 10_000 });
      if (page.length === 0) return info;
      for (const record of page) {
        cursor = record.sequenceNumber ?? cursor;
        if (partitionOf(record.deviceId) !== partition) continue;
        info.first ??= cursor;
        info.last = cursor;
        info.lastTime = Date.parse(record.enqueuedTime);
      }
    }
  }

  /**
   * The client attached a partition receiver: events flow as it gives credit. The link is closed with
   * `amqp:not-found` for another entity or partition, `amqp:unauthorized-access` without a token.
   */
  partitionOpened(sender: Sender, address: PartitionAddress): void {
    const hub = this.#hub;
    let error: HubError | undefined;
    if (hub === undefined) {
      error = new HubError('HUB_UNAUTHORIZED', 'Put a token for the Event Hub-compatible endpoint first.');
    } else if (address.entity.toLowerCase() !== hub.name.toLowerCase() || address.partition >= EVENT_HUB_PARTITIONS) {
      error = new HubError('HUB_DEVICE_NOT_FOUND', `No partition ${address.partition} of ${address.entity}.`);
    }
    let start: StartPosition | undefined;
    if (error === undefined) {
      try {
        start = startPosition(selectorFilter(sender));
      } catch (cause) {
        error = cause instanceof HubError ? cause : new HubError('HUB_INVALID_ARGUMENT', 'Bad filter.', { cause });
      }
    }
    if (error !== undefined || hub === undefined || start === undefined) {
      const e = error ?? new HubError('HUB_INTERNAL', 'The receiver could not start.');
      logRefusal(this.#log, 'Event Hub receiver refused', e, { address: sender.source?.address });
      sender.close(refusal(e));
      return;
    }
    const reader = new PartitionReader(sender, hub, address.partition, start, this.#log);
    this.#readers.set(sender, reader);
    reader.pump();
  }

  /** The client gave a partition receiver credit. */
  sendable(sender: Sender): void {
    this.#readers.get(sender)?.pump();
  }

  linkClosed(link: unknown): void {
    const reader = this.#readers.get(link as Sender);
    reader?.close();
    this.#readers.delete(link as Sender);
    this.#managementReplies.delete(link as Sender);
  }

  close(): void {
    for (const reader of this.#readers.values()) reader.close();
    this.#readers.clear();
    this.#managementReplies.clear();
  }
}

/** The selector filter string of a receiver's source, whichever way rhea decoded the described value. */
function selectorFilter(sender: Sender): string | undefined {
  const filter = (sender.source as { filter?: Record<string, unknown> } | undefined)?.filter;
  const entry = filter?.['apache.org:selector-filter:string'];
  if (entry === undefined || entry === null) return undefined;
  if (typeof entry === 'string') return entry;
  const value = (entry as { value?: unknown }).value;
  return typeof value === 'string' ? value : undefined;
}

/**
 * Whether a CBS audience is for an Event Hub-compatible endpoint (`sb://…`).
 *
 * @example
 * isEventHubAudience('sb://127.0.0.2/hub-1/ConsumerGroups/$default/Partitions/0'); // true
 */
export function isEventHubAudience(audience: string): boolean {
  return audience.toLowerCase().startsWith('sb://');
}
