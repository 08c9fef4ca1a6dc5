/**
 * What every part of one hub shares: its name and host name, storage, logger, clock and event stream.
 * The parts (registry, authentication, connections, telemetry, twins, methods, C2D) each take it and
 * hold their own state; `Hub` composes them.
 */
import type { Logger } from 'pino';
import type { Storage } from '../../storage/port.js';
import type { PlatformEventStream } from '../events.js';

/** The shared surroundings of a hub's parts. */
export interface HubContext {
  readonly name: string;
  readonly hostName: string;
  readonly storage: Storage;
  readonly log: Logger;
  readonly events: PlatformEventStream;
  /** Milliseconds since the epoch. */
  now(): number;
  /** `now()` (or `ms`) as ISO 8601; each millisecond is formatted once. */
  iso(ms?: number): string;
}

/**
 * A context for `options`.
 *
 * @example
 * const context = hubContext({ name: 'hub-1', hostName: '127.0.0.2', storage, logger, events });
 */
export function hubContext(options: {
  name: string;
  hostName: string;
  storage: Storage;
  logger: Logger;
  events: PlatformEventStream;
  now?: () => number;
}): HubContext {
  const now = options.now ?? Date.now;
  let isoMs = Number.NaN;
  let isoText = '';
  return {
    name: options.name,
    hostName: options.hostName,
    storage: options.storage,
    log: options.logger,
    events: options.events,
    now,
    iso(ms = now()) {
      // Telemetry stamps thousands of messages per millisecond at most once: format each millisecond once.
      if (ms !== isoMs) {
        isoMs = ms;
        isoText = new Date(ms).toISOString();
      }
      return isoText;
    },
  };
}
