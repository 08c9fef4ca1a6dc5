/**
 * The fixed-window counters behind the DPS quotas (registrations per ID scope, status polls per device).
 */
import type { RateLimit } from './dps-types.js';

/** A fixed-window rate counter. */
export class WindowCounter {
  readonly #counts = new Map<string, { start: number; count: number }>();
  /** Counts one event; returns seconds to wait when over the limit, else 0. */
  take(key: string, rate: RateLimit, now: number): number {
    const windowMs = rate.windowSeconds * 1000;
    const limit = rate.limit;
    let entry = this.#counts.get(key);
    if (entry === undefined || now - entry.start >= windowMs) {
      entry = { start: now, count: 0 };
      this.#counts.set(key, entry);
      if (this.#counts.size > 100_000) this.#counts.clear();
    }
    if (entry.count >= limit) return Math.max(1, Math.ceil((entry.start + windowMs - now) / 1000));
    entry.count += 1;
    return 0;
  }
}
