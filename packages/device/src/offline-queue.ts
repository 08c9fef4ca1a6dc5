/**
 * The telemetry queue: every message the application sends waits here until the hub acknowledges it
 * (PUBACK), so messages sent while disconnected — or in flight when a connection dropped — are delivered
 * after the next connect, in order, at least once. It is bounded: when full, the overflow policy decides
 * which message is given up (its promise rejects with `DEVICE_QUEUE_FULL`). Pure bookkeeping: no timers,
 * no I/O; the device client sends what {@link OfflineQueue.nextToSend} gives it.
 */

import { DeviceError } from './errors.js';
import type { QueueJournal } from './queue-journal.js';

/**
 * What happens to a message sent when the queue is full:
 * - `dropOldest` (default): the oldest message not yet in flight is given up, the new one is queued —
 *   a device that stays offline keeps its most recent data;
 * - `rejectNew`: the new message is refused and the backlog kept.
 *
 * @example
 * ```ts
 * const overflow: OverflowPolicy = 'rejectNew';
 * ```
 */
export type OverflowPolicy = 'dropOldest' | 'rejectNew';

/**
 * Queue limits.
 *
 * @example
 * ```ts
 * const options: OfflineQueueOptions = { maxMessages: 1000, overflow: 'dropOldest' };
 * ```
 */
export interface OfflineQueueOptions {
  /** Default 10,000 messages. */
  maxMessages?: number | undefined;
  /** Default `dropOldest`. */
  overflow?: OverflowPolicy | undefined;
  /**
   * A file that keeps queued telemetry across restarts and crashes (JSON lines): messages not acknowledged
   * when the device stopped are sent first when it starts again. Default: none (memory only).
   */
  file?: string | undefined;
}

/** One queued message. */
export interface QueueEntry<T> {
  readonly sequence: number;
  readonly item: T;
  /** Whether it was handed out and not yet settled or returned. */
  inFlight: boolean;
  /** The generation of the connection it was sent on. */
  sentOn: number;
  resolve(): void;
  reject(error: DeviceError): void;
}

const ignoreError = (): void => undefined;

/**
 * A bounded, ordered, at-least-once queue.
 *
 * @example
 * ```ts
 * const queue = new OfflineQueue<string>({ maxMessages: 2 });
 * const delivered = queue.push('a');
 * const entry = queue.nextToSend(1)!; // send entry.item, then on PUBACK:
 * queue.settle(entry); // `delivered` resolves
 * ```
 */
export class OfflineQueue<T> {
  readonly #entries = new Map<number, QueueEntry<T>>();
  readonly #max: number;
  readonly #overflow: OverflowPolicy;
  #sequence = 0;
  #dropped = 0;

  #journal: QueueJournal<T> | undefined;

  readonly #onJournalError: (error: unknown) => void;

  /**
   * With a `journal`, messages pending from an earlier run are queued first (their delivery has no
   * promise). A journal that fails (a full disk) is reported through `onJournalError` and given up: the
   * queue goes on in memory.
   */
  constructor(
    options: OfflineQueueOptions = {},
    journal?: QueueJournal<T>,
    onJournalError: (error: unknown) => void = ignoreError,
  ) {
    this.#max = options.maxMessages ?? 10_000;
    this.#overflow = options.overflow ?? 'dropOldest';
    if (!Number.isSafeInteger(this.#max) || this.#max < 1) {
      throw new DeviceError('DEVICE_INVALID_OPTIONS', 'queue.maxMessages must be a positive integer.');
    }
    this.#journal = journal;
    this.#onJournalError = onJournalError;
    let recovered: { sequence: number; item: T }[] = [];
    try {
      recovered = journal?.load() ?? [];
    } catch (error) {
      this.#journalFailed(error);
    }
    for (const { sequence, item } of recovered) {
      this.#sequence = Math.max(this.#sequence, sequence);
      const ignore = (): void => undefined;
      this.#entries.set(sequence, { sequence, item, inFlight: false, sentOn: 0, resolve: ignore, reject: ignore });
    }
  }

  /** Messages waiting or in flight. */
  get size(): number {
    return this.#entries.size;
  }

  /** Messages given up because the queue was full, since it was created. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Queues a message; the promise resolves when it is acknowledged, and rejects with `DEVICE_QUEUE_FULL`
   * if the overflow policy gives it up (or `DEVICE_CLOSED` when the queue is closed).
   */
  push(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#entries.size >= this.#max) {
        const victim = this.#overflow === 'dropOldest' ? this.#oldestWaiting() : undefined;
        if (victim === undefined) {
          this.#dropped += 1;
          reject(new DeviceError('DEVICE_QUEUE_FULL', `The offline queue holds ${this.#max} messages already.`));
          return;
        }
        this.#entries.delete(victim.sequence);
        this.#dropped += 1;
        this.#record((j) => j.done(victim.sequence));
        victim.reject(
          new DeviceError(
            'DEVICE_QUEUE_FULL',
            `Dropped from the full offline queue (${this.#max} messages) for a newer one.`,
          ),
        );
      }
      const sequence = ++this.#sequence;
      this.#entries.set(sequence, { sequence, item, inFlight: false, sentOn: 0, resolve, reject });
      this.#record((j) => j.queued(sequence, item));
    });
  }

  /**
   * The oldest message not in flight, marked as in flight on connection `generation`; `undefined` when
   * every queued message is in flight (or none is queued).
   */
  nextToSend(generation: number): QueueEntry<T> | undefined {
    // Messages leave in order, so the ones in flight come first: this loop stops after at most the window.
    for (const entry of this.#entries.values()) {
      if (entry.inFlight) continue;
      entry.inFlight = true;
      entry.sentOn = generation;
      return entry;
    }
    return undefined;
  }

  /** Marks a message delivered: it leaves the queue and its promise resolves. */
  settle(entry: QueueEntry<T>): void {
    if (this.#entries.delete(entry.sequence)) {
      entry.resolve();
      this.#record((j) => j.done(entry.sequence));
    }
  }

  /** Returns an unacknowledged message to the queue (its connection ended): it is sent again, in order. */
  retry(entry: QueueEntry<T>): void {
    if (this.#entries.has(entry.sequence)) entry.inFlight = false;
  }

  /** Returns every in-flight message of connection `generation` to the queue. */
  retryGeneration(generation: number): void {
    for (const entry of this.#entries.values())
      if (entry.inFlight && entry.sentOn === generation) entry.inFlight = false;
  }

  /** Rejects every queued message with `error` and empties the queue (a journal keeps them for the next run). */
  close(error: DeviceError): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) entry.reject(error);
  }

  /** Writes to the journal; the first failure reports it and stops using the journal. */
  #record(write: (journal: QueueJournal<T>) => void): void {
    if (this.#journal === undefined) return;
    try {
      write(this.#journal);
    } catch (error) {
      this.#journalFailed(error);
    }
  }

  #journalFailed(error: unknown): void {
    this.#journal = undefined;
    try {
      this.#onJournalError(error);
    } catch {
      // The report is best effort.
    }
  }

  #oldestWaiting(): QueueEntry<T> | undefined {
    for (const entry of this.#entries.values()) if (!entry.inFlight) return entry;
    return undefined;
  }
}
