/**
 * The Central application's telemetry views, built from the hubs' raw message store: every message of
 * an application device is judged against its template (telemetry-verdict.ts); the last value of each
 * capability is kept in memory and saved with a checkpoint (the storage sequence number it has read up
 * to), so after a restart — or a crash — the projection reads on from there and misses nothing the
 * hubs acknowledged. Time-range and raw-message queries read the stored messages again (by device,
 * through the storage index) and judge them the same way, so the raw store stays the one truth. An IoT
 * Edge device's module messages are judged against the module's capability model and kept under the
 * module's name.
 */
import type { PlatformEventStream, TelemetryReader } from '../core/events.js';
import type { JsonValue, TelemetryRecord } from '../core/model.js';
import type { Storage } from '../storage/port.js';
import type { CentralDevices } from './devices.js';
import type { DeviceTemplates } from './templates.js';
import { capabilityReader } from './capability-value.js';
import { displayedTime, judgeTelemetry, type TelemetryVerdict, type VerdictTemplate } from './telemetry-verdict.js';

/** The last value of one capability. */
export interface LastValue {
  value: JsonValue;
  /** The displayed time: the creation time when the device set a valid one, else the enqueued time. */
  timestamp: string;
  enqueuedTime: string;
  creationTime?: string;
  sequenceNumber: number;
}

/** Message counts of one device since it joined the application. */
export interface TelemetryCounts {
  messages: number;
  /** Messages with at least one unmodeled value. */
  withUnmodeled: number;
  /** Messages whose body is not a JSON object. */
  invalid: number;
}

/** One stored message as the raw view shows it. */
export interface RawMessage extends TelemetryVerdict {
  sequenceNumber: number;
  timestamp: string;
  enqueuedTime: string;
  creationTime?: string;
  component?: string;
  /** The edge module that sent it (absent: the device itself). */
  module?: string;
  properties: Record<string, string | null>;
  hub: string;
}

/** A value of a capability at a time (time-range queries). */
export type CapabilityValue = LastValue;

/**
 * One capability's values as columns, for charts: the same values {@link CentralTelemetry.history}
 * gives, in a tenth of the JSON. Times are milliseconds since the epoch; `creationTime` is `null` where
 * the device set none that is a valid time.
 */
export interface CapabilitySeries {
  /** The displayed time of each value (its creation time when valid, else its enqueued time). */
  time: number[];
  value: JsonValue[];
  enqueuedTime: number[];
  creationTime: (number | null)[];
  /** Where to continue (`after`) when more may follow. */
  next?: number;
}

interface DeviceState {
  /** Highest sequence number applied (replays below it change nothing). */
  sequence: number;
  last: Record<string, LastValue>;
  counts: TelemetryCounts;
}

/** Options for {@link CentralTelemetry.open}. */
export interface CentralTelemetryOptions {
  storage: Storage;
  devices: CentralDevices;
  templates: DeviceTemplates;
  events: PlatformEventStream;
  onError: (error: unknown) => void;
  /** How often changed state is saved (ms, default 1,000). */
  flushIntervalMs?: number;
}

const STATE_KIND = 'central-telemetry';
const CHECKPOINT_KIND = 'central-settings';
const CHECKPOINT_ID = 'telemetry-checkpoint';
/** Stored messages a history or raw query reads at most per page before it answers with a next token. */
const SCAN_LIMIT = 20_000;
/** The most items one call answers (a chart reads a day of 1-per-second values in nine). */
const MAX_ITEMS = 10_000;
const READ_PAGE = 1000;
/** Device states saved per transaction when flushing. */
const FLUSH_BATCH = 100;

/**
 * The key of a capability: `name`, or `component.name`; a module's capability has the module's name
 * before a slash (`filter/temperature`, `filter/sensor.temperature`).
 */
export function capabilityKey(component: string | undefined, name: string, module?: string): string {
  const key = component === undefined ? name : `${component}.${name}`;
  return module === undefined ? key : `${module}/${key}`;
}

/**
 * The telemetry projection of one application.
 *
 * @example
 * const telemetry = await CentralTelemetry.open({ storage, devices, templates, events, onError });
 * telemetry.lastValue('thermo-1', 'thermostat1', 'temperature'); // { value: 21.5, timestamp: '…', … }
 */
export class CentralTelemetry {
  readonly #storage: Storage;
  readonly #devices: CentralDevices;
  readonly #templates: DeviceTemplates;
  readonly #events: PlatformEventStream;
  readonly #onError: (error: unknown) => void;
  readonly #state = new Map<string, DeviceState>();
  readonly #dirty = new Set<string>();
  readonly #abort = new AbortController();
  readonly #read: TelemetryReader;
  #sequence = 0;
  #savedSequence = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #waiters: { sequence: number; resolve: () => void }[] = [];

  private constructor(options: CentralTelemetryOptions) {
    this.#storage = options.storage;
    this.#devices = options.devices;
    this.#templates = options.templates;
    this.#events = options.events;
    this.#onError = options.onError;
    this.#read = (after, limit) => this.#storage.queryTelemetry({ afterSequenceNumber: after, limit });
    this.#timer = setInterval(() => void this.flush().catch(this.#onError), options.flushIntervalMs ?? 1000);
    this.#timer.unref();
  }

  /** Loads the saved state and starts reading messages after the checkpoint. */
  static async open(options: CentralTelemetryOptions): Promise<CentralTelemetry> {
    const telemetry = new CentralTelemetry(options);
    for (const [key, state] of (await options.storage.loadDocuments(STATE_KIND)) as Map<string, DeviceState>) {
      telemetry.#state.set(key, state);
    }
    const checkpoint = (await options.storage.loadDocuments(CHECKPOINT_KIND)).get(CHECKPOINT_ID) as
      { sequence: number } | undefined;
    telemetry.#sequence = checkpoint?.sequence ?? 0;
    telemetry.#savedSequence = telemetry.#sequence;
    telemetry.#running = telemetry.#run();
    return telemetry;
  }

  /** The storage sequence number the projection has applied up to. */
  get sequence(): number {
    return this.#sequence;
  }

  /** Resolves once every message up to `sequence` is applied (tests; the REST API never waits). */
  caughtUp(sequence: number): Promise<void> {
    if (this.#sequence >= sequence) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ sequence, resolve }));
  }

  /** The last value of a capability (root: `component` undefined) of the device or of its module `module`. */
  lastValue(deviceId: string, component: string | undefined, name: string, module?: string): LastValue | undefined {
    return this.#state.get(deviceId.toLowerCase())?.last[capabilityKey(component, name, module)];
  }

  /** Message counts of a device. */
  counts(deviceId: string): TelemetryCounts {
    return this.#state.get(deviceId.toLowerCase())?.counts ?? { messages: 0, withUnmodeled: 0, invalid: 0 };
  }

  /** The verdict template of a device (its template's model and modules), if it has one. */
  templateOf(deviceId: string): VerdictTemplate | undefined {
    const template = this.#devices.find(deviceId)?.template;
    if (template === undefined) return undefined;
    try {
      return this.#templates.get(template);
    } catch {
      return undefined;
    }
  }

  /**
   * Stored messages of a device after sequence `after` with a displayed time in `[from, to]`, judged
   * against its current template, oldest first; `next` is where to continue when more may follow.
   */
  async raw(
    deviceId: string,
    options: { after?: number; top?: number; from?: string; to?: string } = {},
  ): Promise<{ messages: RawMessage[]; next?: number }> {
    const template = this.templateOf(deviceId);
    const page = await this.#scan(deviceId, options, (record) => rawMessage(record, template));
    return page.next === undefined ? { messages: page.items } : { messages: page.items, next: page.next };
  }

  /**
   * Values of one capability (of the device, or of its module `options.module`) with a displayed time
   * in `[from, to]`, oldest first (reads at most {@link SCAN_LIMIT} stored messages per call; `next`
   * continues).
   */
  async history(
    deviceId: string,
    component: string | undefined,
    name: string,
    options: { from?: string; to?: string; after?: number; top?: number; module?: string } = {},
  ): Promise<{ values: CapabilityValue[]; next?: number }> {
    const page = await this.#capabilityScan(deviceId, component, name, options, lastValueOf);
    return page.next === undefined ? { values: page.items } : { values: page.items, next: page.next };
  }

  /**
   * The values {@link history} gives, as columns (see {@link CapabilitySeries}).
   *
   * @example
   * const { time, value } = await telemetry.series('thermostat-1', undefined, 'temperature', { from });
   */
  async series(
    deviceId: string,
    component: string | undefined,
    name: string,
    options: { from?: string; to?: string; after?: number; top?: number; module?: string } = {},
  ): Promise<CapabilitySeries> {
    const out: CapabilitySeries = { time: [], value: [], enqueuedTime: [], creationTime: [] };
    const page = await this.#capabilityScan(
      deviceId,
      component,
      name,
      options,
      (_record, value, at, enqueued, created) => {
        out.time.push(at);
        out.value.push(value);
        out.enqueuedTime.push(enqueued);
        out.creationTime.push(Number.isNaN(created) ? null : created);
        return true;
      },
    );
    if (page.next !== undefined) out.next = page.next;
    return out;
  }

  /** {@link #scan} over one capability's modeled values: `keep` gets each with its message and times. */
  #capabilityScan<T>(
    deviceId: string,
    component: string | undefined,
    name: string,
    options: { from?: string; to?: string; after?: number; top?: number; module?: string },
    keep: (record: TelemetryRecord, value: JsonValue, at: number, enqueued: number, created: number) => T,
  ): Promise<{ items: T[]; next?: number }> {
    const module = options.module;
    const read = capabilityReader(this.templateOf(deviceId), component, name, module);
    return this.#scan(deviceId, options, (record, at, enqueued, created) => {
      if (record.component !== component || record.moduleId !== module) return undefined;
      const value = read(Buffer.from(record.body).toString('utf8'));
      return value === undefined ? undefined : keep(record, value, at, enqueued, created);
    });
  }

  /**
   * Reads a device's stored messages (its modules' too) after `after` in pages, keeping what `pick`
   * makes of those with a displayed time in `[from, to]` (handed to it in ms, with the enqueued and
   * creation times: `NaN` for none), until `top` are kept or
   * {@link SCAN_LIMIT} were read; `next` is set when more may follow.
   */
  async #scan<T>(
    deviceId: string,
    options: { after?: number; top?: number; from?: string; to?: string },
    pick: (record: TelemetryRecord, at: number, enqueued: number, created: number) => T | undefined,
  ): Promise<{ items: T[]; next?: number }> {
    const top = Math.min(Math.max(options.top ?? 100, 1), MAX_ITEMS);
    const from = options.from === undefined ? -Infinity : Date.parse(options.from);
    const to = options.to === undefined ? Infinity : Date.parse(options.to);
    const items: T[] = [];
    let after = options.after ?? 0;
    let scanned = 0;
    while (scanned < SCAN_LIMIT) {
      const records = await this.#storage.queryTelemetry({
        deviceId: this.#hubDeviceId(deviceId),
        afterSequenceNumber: after,
        limit: READ_PAGE,
      });
      for (const record of records) {
        after = record.sequenceNumber ?? after;
        scanned++;
        // The displayed time, as `displayedTime` gives it, from the two times parsed once.
        const created = record.creationTime === undefined ? NaN : Date.parse(record.creationTime);
        const enqueued = Date.parse(record.enqueuedTime);
        const at = Number.isNaN(created) ? enqueued : created;
        if (at < from || at > to) continue;
        const item = pick(record, at, enqueued, created);
        if (item === undefined) continue;
        items.push(item);
        if (items.length >= top) return { items, next: after };
      }
      if (records.length < READ_PAGE) return { items };
    }
    return { items, next: after };
  }

  /**
   * Saves the state that changed and then the checkpoint, so a crash in between only replays. A failed
   * save keeps its devices dirty and the checkpoint where it was; the next flush tries again.
   */
  flush(): Promise<void> {
    const run = this.#flushing.then(async () => {
      const keys = [...this.#dirty];
      this.#dirty.clear();
      const sequence = this.#sequence;
      try {
        // In transactions of FLUSH_BATCH devices, one per event-loop turn, so ingest never waits long.
        for (let i = 0; i < keys.length; i += FLUSH_BATCH) {
          if (i > 0) await new Promise((resolve) => setImmediate(resolve));
          const batch = keys.slice(i, i + FLUSH_BATCH).flatMap((key) => {
            const state = this.#state.get(key);
            return state === undefined ? [] : [[key, state] as const];
          });
          await this.#storage.saveDocuments(STATE_KIND, batch);
        }
        if (sequence !== this.#savedSequence) {
          await this.#storage.saveDocument(CHECKPOINT_KIND, CHECKPOINT_ID, { sequence });
          this.#savedSequence = sequence;
        }
      } catch (error) {
        for (const key of keys) this.#dirty.add(key);
        throw error;
      }
    });
    // The chain goes on after a failure; the caller still hears of it.
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  /** Forgets a deleted device's telemetry state (its stored messages stay in the hubs' store). */
  async forget(deviceId: string): Promise<void> {
    const key = deviceId.toLowerCase();
    this.#state.delete(key);
    this.#dirty.delete(key);
    await this.#storage.deleteDocument(STATE_KIND, key);
  }

  /** Stops reading and saves what changed. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
    await this.#running;
    await this.flush();
  }

  /** Applies one stored message (idempotent: a message at or below the device's sequence is skipped). */
  apply(record: TelemetryRecord): void {
    const sequence = record.sequenceNumber ?? 0;
    if (sequence > this.#sequence) this.#sequence = sequence;
    const device = this.#devices.find(record.deviceId);
    if (device !== undefined) this.#applyToDevice(device.id.toLowerCase(), record, sequence);
    if (this.#waiters.length > 0) {
      const ready = this.#waiters.filter((w) => w.sequence <= this.#sequence);
      this.#waiters = this.#waiters.filter((w) => w.sequence > this.#sequence);
      for (const waiter of ready) waiter.resolve();
    }
  }

  #applyToDevice(key: string, record: TelemetryRecord, sequence: number): void {
    let state = this.#state.get(key);
    if (state === undefined) {
      state = { sequence: 0, last: {}, counts: { messages: 0, withUnmodeled: 0, invalid: 0 } };
      this.#state.set(key, state);
    }
    if (sequence <= state.sequence) return;
    state.sequence = sequence;
    const text = Buffer.from(record.body).toString('utf8');
    const verdict = judgeTelemetry(this.templateOf(key), text, record.component, record.moduleId);
    state.counts.messages++;
    if (verdict.invalid !== undefined) state.counts.invalid++;
    if (verdict.unmodeled.length > 0) state.counts.withUnmodeled++;
    for (const [name, value] of Object.entries(verdict.modeled)) {
      state.last[capabilityKey(record.component, name, record.moduleId)] = lastValueOf(record, value);
    }
    this.#dirty.add(key);
  }

  /** The hub device id of an application device (as its registration has it, else its casing here). */
  #hubDeviceId(deviceId: string): string {
    return this.#devices.hubIdentity(deviceId)?.identity.deviceId ?? this.#devices.find(deviceId)?.id ?? deviceId;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        for await (const event of this.#events.stream({
          signal,
          afterTelemetrySequence: this.#sequence,
          readTelemetry: this.#read,
        })) {
          // Events were dropped: read on from storage, where every acknowledged message is.
          if (event.type === 'dropped') break;
          if (event.type === 'telemetry') this.apply(event.record);
        }
      } catch (error) {
        this.#onError(error);
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
      }
    }
  }
}

function lastValueOf(record: TelemetryRecord, value: JsonValue): LastValue {
  const out: LastValue = {
    value,
    timestamp: displayedTime(record.enqueuedTime, record.creationTime),
    enqueuedTime: record.enqueuedTime,
    sequenceNumber: record.sequenceNumber ?? 0,
  };
  if (record.creationTime !== undefined) out.creationTime = record.creationTime;
  return out;
}

function rawMessage(record: TelemetryRecord, template: VerdictTemplate | undefined): RawMessage {
  const text = Buffer.from(record.body).toString('utf8');
  const verdict = judgeTelemetry(template, text, record.component, record.moduleId);
  const out: RawMessage = {
    ...verdict,
    sequenceNumber: record.sequenceNumber ?? 0,
    timestamp: displayedTime(record.enqueuedTime, record.creationTime),
    enqueuedTime: record.enqueuedTime,
    properties: record.properties,
    hub: record.hub,
  };
  if (record.creationTime !== undefined) out.creationTime = record.creationTime;
  if (record.component !== undefined) out.component = record.component;
  if (record.moduleId !== undefined) out.module = record.moduleId;
  return out;
}
