/**
 * The device timeline: what the server saw a device do, in order — its provisioning attempts and their
 * outcomes, its connects (with the hub, transport and model id), its disconnects (with the reason) and
 * every connection the hubs refused (with the error code) — each attempt with the time since the
 * device's previous attempt, so a device that retries in a tight loop, or never waits longer after a
 * refusal, shows as such. Built from the platform's event stream; the last {@link TIMELINE_LENGTH}
 * entries per device are kept in memory (a restart starts them afresh).
 */
import type { PlatformEvent } from '../core/events.js';

/** One thing the server saw. */
export interface TimelineEntry {
  /** Increasing per application: `after` for the next page or a follow. */
  sequence: number;
  at: string;
  kind: 'provisioning' | 'connected' | 'disconnected' | 'refused';
  /** provisioning: `assigned`, `disabled` or `refused`. */
  outcome?: string;
  hub?: string;
  module?: string;
  transport?: string;
  modelId?: string;
  /** The error code a refusal carried (`HUB_TOKEN_EXPIRED`, `DPS_DEVICE_BLOCKED`, …). */
  code?: string;
  reason?: string;
  /** Attempts (provisioning, connected, refused): milliseconds since the device's previous attempt. */
  sincePreviousAttemptMs?: number;
}

/** How a device has been retrying. */
export interface RetrySummary {
  attempts: number;
  refusals: number;
  /** Intervals between an attempt that was refused and the next attempt (ms). */
  retryIntervalsMs: number[];
  shortestRetryMs?: number;
  /**
   * True when the device retried after refusals in a tight loop: {@link EAGER_RETRIES} or more retries
   * whose intervals do not grow (the last third's median at most twice the first third's) with a median
   * under {@link EAGER_INTERVAL_MS}. An exponential back-off (0.2, 0.4, 0.8 s, …) grows and is not
   * eager; a steady retry every second or more is not a storm either.
   */
  eager: boolean;
}

/** Entries kept per device. */
export const TIMELINE_LENGTH = 500;
/** A median retry interval under this (after refusals) is a storm, unless the intervals grow. */
export const EAGER_INTERVAL_MS = 250;
/** Retries it takes to call a device eager. */
export const EAGER_RETRIES = 5;

/** The median of some numbers. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * Whether retry intervals look like a tight loop rather than a back-off: {@link EAGER_RETRIES} or more
 * retries, a median under {@link EAGER_INTERVAL_MS}, and the last third of the intervals no longer
 * (median at most twice) than the first third.
 */
function isEager(intervals: readonly number[]): boolean {
  if (intervals.length < EAGER_RETRIES) return false;
  if (median(intervals) >= EAGER_INTERVAL_MS) return false;
  const third = Math.max(1, Math.floor(intervals.length / 3));
  const first = median(intervals.slice(0, third));
  const last = median(intervals.slice(-third));
  return last <= 2 * Math.max(first, 1);
}

/** The application device an event is about, and the entry it makes (without sequence). */
function entryOf(event: PlatformEvent): { deviceId: string; entry: Omit<TimelineEntry, 'sequence'> } | undefined {
  const at = new Date(event.at).toISOString();
  switch (event.type) {
    case 'registration': {
      const entry: Omit<TimelineEntry, 'sequence'> = { at, kind: 'provisioning', outcome: event.outcome };
      if (event.hub !== undefined) entry.hub = event.hub;
      if (event.modelId !== undefined) entry.modelId = event.modelId;
      if (event.code !== undefined) entry.code = event.code;
      if (event.reason !== undefined) entry.reason = event.reason;
      return { deviceId: event.deviceId ?? event.registrationId, entry };
    }
    case 'connected': {
      const entry: Omit<TimelineEntry, 'sequence'> = {
        at,
        kind: 'connected',
        hub: event.hub,
        transport: event.transport,
      };
      if (event.modelId !== '') entry.modelId = event.modelId;
      if (event.identity.moduleId !== undefined) entry.module = event.identity.moduleId;
      return { deviceId: event.identity.deviceId, entry };
    }
    case 'disconnected': {
      const entry: Omit<TimelineEntry, 'sequence'> = { at, kind: 'disconnected', hub: event.hub, reason: event.reason };
      if (event.identity.moduleId !== undefined) entry.module = event.identity.moduleId;
      return { deviceId: event.identity.deviceId, entry };
    }
    case 'connectRefused': {
      const entry: Omit<TimelineEntry, 'sequence'> = {
        at,
        kind: 'refused',
        hub: event.hub,
        code: event.code,
        reason: event.reason,
      };
      if (event.identity.moduleId !== undefined) entry.module = event.identity.moduleId;
      return { deviceId: event.identity.deviceId, entry };
    }
    default:
      return undefined;
  }
}

function isAttempt(entry: Omit<TimelineEntry, 'sequence'>): boolean {
  return entry.kind !== 'disconnected';
}

/** Disconnect reasons that are the hub refusing the device's traffic (it should back off). */
const REFUSING_DISCONNECTS = new Set(['HUB_THROTTLED', 'HUB_THROTTLE_BACKLOG_EXCEEDED']);

function isRefusal(entry: TimelineEntry): boolean {
  return entry.kind === 'refused' || (entry.kind === 'provisioning' && entry.outcome !== 'assigned');
}

/**
 * How a device retried, from its entries (oldest first).
 *
 * @example
 * summarize(entries); // { attempts: 6, refusals: 5, retryIntervalsMs: [120, 95, 110, 101, 98], eager: true, … }
 */
export function summarize(entries: readonly TimelineEntry[]): RetrySummary {
  const attempts = entries.filter(isAttempt);
  const intervals: number[] = [];
  // Each attempt after a refusal — a refused connect or registration, or a connection the hub closed
  // for throttling — is a retry, timed from the refusal.
  // 'attempt': the last attempt was refused (the retry interval is the attempt's own); a number: the hub
  // closed the connection for throttling at that time.
  let refused: 'attempt' | number | undefined;
  let refusingCloses = 0;
  for (const entry of entries) {
    if (entry.kind === 'disconnected') {
      if (REFUSING_DISCONNECTS.has(entry.reason ?? '')) {
        refusingCloses += 1;
        refused = Date.parse(entry.at);
      }
      continue;
    }
    if (refused === 'attempt' && entry.sincePreviousAttemptMs !== undefined)
      intervals.push(entry.sincePreviousAttemptMs);
    else if (typeof refused === 'number') intervals.push(Date.parse(entry.at) - refused);
    refused = isRefusal(entry) ? 'attempt' : undefined;
  }
  const summary: RetrySummary = {
    attempts: attempts.length,
    refusals: attempts.filter(isRefusal).length + refusingCloses,
    retryIntervalsMs: intervals,
    eager: isEager(intervals),
  };
  if (intervals.length > 0) summary.shortestRetryMs = Math.min(...intervals);
  return summary;
}

/**
 * The timelines of an application's devices.
 *
 * @example
 * const timeline = new DeviceTimeline((id) => devices.find(id)?.id);
 * events.subscribe((event) => timeline.record(event));
 * timeline.entries('thermo-1'); // [{ sequence: 1, kind: 'provisioning', outcome: 'assigned', … }, …]
 */
export class DeviceTimeline {
  readonly #deviceOf: (deviceId: string) => string | undefined;
  readonly #entries = new Map<string, TimelineEntry[]>();
  readonly #lastAttempt = new Map<string, number>();
  #sequence = 0;

  /** `deviceOf` answers the application's id of a hub or registration id (undefined: not an application device). */
  constructor(deviceOf: (deviceId: string) => string | undefined) {
    this.#deviceOf = deviceOf;
  }

  /** Records an event, if it is about an application device. */
  record(event: PlatformEvent): void {
    const made = entryOf(event);
    if (made === undefined) return;
    const id = this.#deviceOf(made.deviceId);
    if (id === undefined) return;
    const key = id.toLowerCase();
    const entry: TimelineEntry = { sequence: ++this.#sequence, ...made.entry };
    if (isAttempt(entry)) {
      const previous = this.#lastAttempt.get(key);
      if (previous !== undefined) entry.sincePreviousAttemptMs = event.at - previous;
      this.#lastAttempt.set(key, event.at);
    }
    const list = this.#entries.get(key) ?? [];
    list.push(entry);
    if (list.length > TIMELINE_LENGTH) list.splice(0, list.length - TIMELINE_LENGTH);
    this.#entries.set(key, list);
  }

  /** A device's entries after sequence `after`, oldest first (at most `top`). */
  entries(deviceId: string, options: { after?: number; top?: number } = {}): TimelineEntry[] {
    const list = this.#entries.get(deviceId.toLowerCase()) ?? [];
    const after = options.after ?? 0;
    return list.filter((e) => e.sequence > after).slice(0, options.top ?? TIMELINE_LENGTH);
  }

  /** Forgets a deleted device. */
  forget(deviceId: string): void {
    this.#entries.delete(deviceId.toLowerCase());
    this.#lastAttempt.delete(deviceId.toLowerCase());
  }
}
