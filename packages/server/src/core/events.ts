import type { Identity, TelemetryRecord } from './model.js';

/** What the hub tells the parts built on it (the Central app, the UI, tests). */
export type HubEvent =
  | { readonly type: 'telemetry'; readonly hub: string; readonly record: TelemetryRecord }
  | {
      readonly type: 'twinChanged';
      readonly hub: string;
      readonly identity: Identity;
      readonly section: 'desired' | 'reported' | 'tags';
      readonly version: number;
    }
  | {
      readonly type: 'connected';
      readonly hub: string;
      readonly identity: Identity;
      readonly transport: string;
      readonly modelId: string;
    }
  | { readonly type: 'disconnected'; readonly hub: string; readonly identity: Identity; readonly reason: string }
  | { readonly type: 'identityChanged'; readonly hub: string; readonly identity: Identity; readonly deleted: boolean };

/** A listener; exceptions it throws are reported to `onListenerError` and never reach the emitter. */
export type HubEventListener = (event: HubEvent) => void;

/**
 * A small typed event stream. `subscribe` returns the unsubscribe function; `stream` yields events as an
 * async iterable until the signal aborts.
 *
 * @example
 * const stop = hub.events.subscribe((e) => { if (e.type === 'telemetry') console.log(e.record.deviceId); });
 */
export class HubEventStream {
  readonly #listeners = new Set<HubEventListener>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  subscribe(listener: HubEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: HubEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  /** Events as an async iterable; ends when `signal` aborts. Buffers without bound while not consumed. */
  async *stream(signal: AbortSignal): AsyncIterable<HubEvent> {
    const buffer: HubEvent[] = [];
    let wake: (() => void) | undefined;
    const stop = this.subscribe((event) => {
      buffer.push(event);
      wake?.();
    });
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        const next = buffer.shift();
        if (next !== undefined) {
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
