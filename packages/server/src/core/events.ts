/**
 * The platform-wide event stream: what the hubs and DPS tell the parts built on them (the Central app,
 * the device timeline, `device check`, the UI's live views, tests). One stream for the whole platform,
 * typed, and bounded: each subscriber has a queue of its own that is drained after the emitting code has
 * returned, so a slow or failing listener never stalls or breaks ingest. A queue that overflows drops its
 * oldest events and says so (a `dropped` event with the count); telemetry is in storage with sequence
 * numbers, so a consumer that missed some — or restarted — reads them back from there
 * ({@link PlatformEventStream.stream} with `afterTelemetrySequence`).
 */
import type { Identity, JsonObject, TelemetryRecord } from './model.js';

/** What happened to a C2D message; `abandoned` puts it back in the queue for another delivery. */
export type C2dState = 'queued' | 'delivered' | 'abandoned' | 'completed' | 'expired' | 'deadLettered' | 'purged';

/** One event. `at` is when it happened (epoch ms). */
export type PlatformEvent = { readonly at: number } & (
  | { readonly type: 'telemetry'; readonly hub: string; readonly record: TelemetryRecord }
  | {
      readonly type: 'twinChanged';
      readonly hub: string;
      readonly identity: Identity;
      readonly section: 'desired' | 'reported' | 'tags';
      /** The section's `$version` after the change (the twin version for tags). */
      readonly version: number;
      /** The patch as applied (desired and reported; tags: the new tags). */
      readonly patch: JsonObject;
    }
  | {
      readonly type: 'connected';
      readonly hub: string;
      readonly identity: Identity;
      readonly transport: string;
      readonly modelId: string;
      readonly auth: 'sas' | 'x509';
    }
  | { readonly type: 'disconnected'; readonly hub: string; readonly identity: Identity; readonly reason: string }
  | {
      /** A connection attempt the hub refused (the error code the edge mapped, and why). */
      readonly type: 'connectRefused';
      readonly hub: string;
      readonly identity: Identity;
      readonly code: string;
      readonly reason: string;
    }
  | { readonly type: 'identityChanged'; readonly hub: string; readonly identity: Identity; readonly deleted: boolean }
  | {
      readonly type: 'registration';
      readonly registrationId: string;
      /** `assigned` (with the hub and device id), `disabled` (enrollment disabled) or `refused` (with the code). */
      readonly outcome: 'assigned' | 'disabled' | 'refused';
      readonly hub?: string;
      readonly deviceId?: string;
      readonly modelId?: string;
      readonly code?: string;
      readonly reason?: string;
    }
  | {
      readonly type: 'method';
      readonly hub: string;
      readonly identity: Identity;
      readonly methodName: string;
      /** `invoked` when sent to the device; `answered` with its status; `failed` with the code (offline, timeout, refused answer). */
      readonly outcome: 'invoked' | 'answered' | 'failed';
      readonly status?: number;
      readonly code?: string;
    }
  | {
      readonly type: 'c2d';
      readonly hub: string;
      readonly identity: Identity;
      /** The hub's id of the message (its lock token). */
      readonly id: string;
      readonly messageId?: string;
      readonly state: C2dState;
    }
  | {
      /** This subscriber's queue overflowed: `count` older events were dropped. */
      readonly type: 'dropped';
      readonly count: number;
    }
);

/** An event as emitted (the stream stamps `at`). */
export type PlatformEventInput = PlatformEvent extends infer E
  ? E extends PlatformEvent
    ? Omit<E, 'at'>
    : never
  : never;

/** The older name of {@link PlatformEvent}. */
export type HubEvent = PlatformEvent;

/** A listener; what it throws is reported to the stream's error handler and reaches nothing else. */
export type HubEventListener = (event: PlatformEvent) => void;

/** Options of a subscription. */
export interface SubscribeOptions {
  /** Events a subscriber may have waiting before the oldest are dropped (default 10,000). */
  maxQueued?: number;
}

/** Reads stored telemetry after a sequence number (the storage port's query, across hubs). */
export type TelemetryReader = (afterSequenceNumber: number, limit: number) => Promise<TelemetryRecord[]>;

class Subscriber {
  readonly #listener: HubEventListener;
  readonly #max: number;
  readonly #onError: (error: unknown) => void;
  #queue: PlatformEvent[] = [];
  #head = 0;
  #dropped = 0;
  #scheduled = false;
  closed = false;

  constructor(listener: HubEventListener, max: number, onError: (error: unknown) => void) {
    this.#listener = listener;
    this.#max = max;
    this.#onError = onError;
  }

  push(event: PlatformEvent): void {
    if (this.closed) return;
    if (this.#queue.length - this.#head >= this.#max) {
      this.#head++;
      this.#dropped++;
      // Let go of dropped events in steps, so a burst in one turn keeps memory bounded.
      if (this.#head >= this.#max) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
    }
    this.#queue.push(event);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#drain());
    }
  }

  #drain(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    const head = this.#head;
    const dropped = this.#dropped;
    this.#queue = [];
    this.#head = 0;
    this.#dropped = 0;
    if (dropped > 0) this.#deliver({ type: 'dropped', count: dropped, at: Date.now() });
    for (let i = head; i < queue.length && !this.closed; i++) this.#deliver(queue[i]!);
  }

  #deliver(event: PlatformEvent): void {
    try {
      this.#listener(event);
    } catch (error) {
      this.#onError(error);
    }
  }
}

/**
 * The platform's event stream (one per platform; every hub and DPS emit into it).
 *
 * @example
 * const stop = platform.events.subscribe((e) => {
 *   if (e.type === 'telemetry') console.log(e.record.deviceId, e.record.sequenceNumber);
 * });
 */
export class PlatformEventStream {
  readonly #subscribers = new Set<Subscriber>();
  readonly #onListenerError: (error: unknown) => void;
  readonly #now: () => number;

  constructor(onListenerError: (error: unknown) => void, now: () => number = Date.now) {
    this.#onListenerError = onListenerError;
    this.#now = now;
  }

  /** Delivers events to `listener` (after the emitting code returns, in order); returns the unsubscribe. */
  subscribe(listener: HubEventListener, options: SubscribeOptions = {}): () => void {
    const subscriber = new Subscriber(listener, options.maxQueued ?? 10_000, this.#onListenerError);
    this.#subscribers.add(subscriber);
    return () => {
      subscriber.closed = true;
      this.#subscribers.delete(subscriber);
    };
  }

  /** Queues an event for every subscriber; never throws, never waits. */
  emit(event: PlatformEventInput): void {
    if (this.#subscribers.size === 0) return;
    const stamped = { ...event, at: this.#now() } as PlatformEvent;
    for (const subscriber of this.#subscribers) subscriber.push(stamped);
  }

  /**
   * Events as an async iterable until `signal` aborts, bounded like a subscription. With
   * `afterTelemetrySequence` and `readTelemetry`, stored telemetry after that sequence number comes
   * first (in pages), then live events, with no telemetry message missed or repeated in between: what a
   * consumer does after a restart, or after a `dropped` event, to miss nothing the platform acknowledged.
   */
  async *stream(options: {
    signal: AbortSignal;
    maxQueued?: number;
    afterTelemetrySequence?: number;
    readTelemetry?: TelemetryReader;
  }): AsyncIterable<PlatformEvent> {
    const { signal } = options;
    const buffer: PlatformEvent[] = [];
    let wake: (() => void) | undefined;
    const stop = this.subscribe(
      (event) => {
        buffer.push(event);
        wake?.();
      },
      options.maxQueued === undefined ? {} : { maxQueued: options.maxQueued },
    );
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      let last = options.afterTelemetrySequence;
      if (last !== undefined && options.readTelemetry !== undefined) {
        for (;;) {
          const page = await options.readTelemetry(last, 1000);
          for (const record of page) {
            if (signal.aborted) return;
            last = record.sequenceNumber ?? last;
            yield { type: 'telemetry', hub: record.hub, record, at: Date.parse(record.enqueuedTime) };
          }
          if (page.length < 1000) break;
        }
      }
      while (!signal.aborted) {
        const next = buffer.shift();
        if (next !== undefined) {
          // Live telemetry already read from storage is not repeated.
          if (next.type === 'telemetry' && last !== undefined && (next.record.sequenceNumber ?? 0) <= last) continue;
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      stop();
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** The older name of {@link PlatformEventStream}. */
export { PlatformEventStream as HubEventStream };
