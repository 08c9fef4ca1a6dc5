/**
 * The offline queue's optional file: every queued telemetry message is appended to a journal before it
 * is sent and marked done once the hub acknowledged it (or the overflow policy gave it up), so messages
 * not yet acknowledged when the process stops — or crashes — are sent when the device starts again, in
 * order. One JSON line per event (`{"q":n,"m":…}` queued, `{"d":n}` done); the file is rewritten with
 * only the pending messages once most of it is done. A torn last line (a crash mid-write) is skipped.
 */

import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Where an {@link OfflineQueue} keeps its messages between runs.
 *
 * @example
 * ```ts
 * const journal: QueueJournal<string> = fileQueueJournal('telemetry.jsonl', { encode: (s) => s, decode: String });
 * ```
 */
export interface QueueJournal<T> {
  /** The messages still pending from an earlier run, oldest first. */
  load(): { sequence: number; item: T }[];
  queued(sequence: number, item: T): void;
  done(sequence: number): void;
}

/** How items become JSON and back. */
export interface JournalCodec<T> {
  encode(item: T): unknown;
  decode(value: unknown): T | undefined;
}

/**
 * A journal in a JSON-lines file (created with its folder, owner-only).
 *
 * @example
 * ```ts
 * new PnpDevice({ ..., queue: { file: '.plugboard-device/thermostat-1.queue.jsonl' } });
 * ```
 */
export function fileQueueJournal<T>(path: string, codec: JournalCodec<T>): QueueJournal<T> {
  const pending = new Map<number, unknown>();
  let lines = 0;
  const compact = (): void => {
    const text = [...pending].map(([q, m]) => `${JSON.stringify({ q, m })}\n`).join('');
    writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    lines = pending.size;
  };
  const append = (record: unknown): void => {
    appendFileSync(path, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    lines += 1;
    if (lines > 1000 && lines > 4 * pending.size) compact();
  };
  return {
    load() {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        text = '';
      }
      for (const line of text.split('\n')) {
        if (line === '') continue;
        let record: { q?: unknown; m?: unknown; d?: unknown };
        try {
          record = JSON.parse(line) as typeof record;
        } catch {
          continue;
        }
        if (typeof record.q === 'number') pending.set(record.q, record.m);
        else if (typeof record.d === 'number') pending.delete(record.d);
      }
      const out: { sequence: number; item: T }[] = [];
      for (const [sequence, value] of pending) {
        const item = codec.decode(value);
        if (item === undefined) pending.delete(sequence);
        else out.push({ sequence, item });
      }
      out.sort((a, b) => a.sequence - b.sequence);
      compact();
      return out;
    },
    queued(sequence, item) {
      const encoded = codec.encode(item);
      pending.set(sequence, encoded);
      append({ q: sequence, m: encoded });
    },
    done(sequence) {
      if (!pending.delete(sequence)) return;
      append({ d: sequence });
    },
  };
}
