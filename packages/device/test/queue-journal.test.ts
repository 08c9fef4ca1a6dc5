import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, appendFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OfflineQueue, fileQueueJournal } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'plugboard-journal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const codec = { encode: (s: string) => s, decode: (v: unknown) => (typeof v === 'string' ? v : undefined) };

describe('the offline queue with a file journal', () => {
  it('[Offline queue: file] messages not acknowledged when the process stopped are queued first on the next run, in order', async () => {
    const path = join(dir, 'a', 'queue.jsonl');
    const first = new OfflineQueue<string>({}, fileQueueJournal(path, codec));
    const delivered = first.push('m1');
    for (const m of ['m2', 'm3', 'm4']) first.push(m).catch(() => undefined);
    const sent = first.nextToSend(1);
    assert.equal(sent?.item, 'm1');
    if (sent !== undefined) first.settle(sent);
    await delivered;
    first.nextToSend(1); // m2 in flight when the process "stops": not acknowledged, so kept.
    const second = new OfflineQueue<string>({}, fileQueueJournal(path, codec));
    assert.equal(second.size, 3);
    const order: string[] = [];
    for (let entry = second.nextToSend(1); entry !== undefined; entry = second.nextToSend(1)) order.push(entry.item);
    assert.deepEqual(order, ['m2', 'm3', 'm4']);
    const late = second.push('m5');
    const next = second.nextToSend(2);
    assert.equal(next?.item, 'm5', 'new messages get sequence numbers after the recovered ones');
    if (next !== undefined) second.settle(next);
    await late;
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it('[Offline queue: file] a torn last line (a crash mid-write) is skipped; dropped messages are not resent', () => {
    const path = join(dir, 'torn.jsonl');
    const queue = new OfflineQueue<string>({ maxMessages: 2 }, fileQueueJournal(path, codec));
    for (const m of ['a', 'b', 'c']) queue.push(m).catch(() => undefined); // 'a' dropped for 'c'
    appendFileSync(path, '{"q":99,"m":"tor');
    const again = new OfflineQueue<string>({}, fileQueueJournal(path, codec));
    const items: string[] = [];
    for (let e = again.nextToSend(1); e !== undefined; e = again.nextToSend(1)) items.push(e.item);
    assert.deepEqual(items, ['b', 'c']);
  });

  it('[Offline queue: file] the file is compacted once most of it is done', () => {
    const path = join(dir, 'compact.jsonl');
    const queue = new OfflineQueue<string>({}, fileQueueJournal(path, codec));
    for (let i = 0; i < 2000; i++) {
      queue.push(`m${i}`).catch(() => undefined);
      const entry = queue.nextToSend(1);
      if (entry !== undefined) queue.settle(entry);
    }
    queue.push('kept').catch(() => undefined);
    const lines = readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    assert.ok(lines.length < 1100, `${lines.length} lines after 2000 messages`);
    const reopened = new OfflineQueue<string>({}, fileQueueJournal(path, codec));
    assert.equal(reopened.size, 1);
    assert.equal(reopened.nextToSend(1)?.item, 'kept');
  });
});

describe('a journal that fails', () => {
  it('[Offline queue: file] a write failure (a full disk) is reported once and the queue goes on in memory', async () => {
    const errors: unknown[] = [];
    let writes = 0;
    const failing = {
      load: () => [],
      queued: () => {
        writes += 1;
        if (writes > 1) throw new Error('ENOSPC: no space left on device');
      },
      done: () => undefined,
    };
    const queue = new OfflineQueue<string>({}, failing, (error) => errors.push(error));
    const delivered = ['a', 'b', 'c'].map((m) => queue.push(m));
    assert.equal(queue.size, 3);
    for (let entry = queue.nextToSend(1); entry !== undefined; entry = queue.nextToSend(1)) queue.settle(entry);
    await Promise.all(delivered);
    assert.equal(errors.length, 1);
    assert.equal(writes, 2, 'the journal is not used after it failed');
  });
});
