import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DeviceError, OfflineQueue } from '../src/index.js';
import type { OverflowPolicy, QueueEntry } from '../src/index.js';

const seed = Number(process.env['PLUGBOARD_FUZZ_SEED'] ?? Date.now() % 2 ** 31);

type Outcome = { state: 'pending' } | { state: 'resolved' } | { state: 'rejected'; error: unknown };

/** Follows a push promise, so a test can look at its outcome after the microtasks ran. */
function track(promise: Promise<void>): { outcome: Outcome } {
  const tracked: { outcome: Outcome } = { outcome: { state: 'pending' } };
  promise.then(
    () => (tracked.outcome = { state: 'resolved' }),
    (error: unknown) => (tracked.outcome = { state: 'rejected', error }),
  );
  return tracked;
}

/** Lets every settled promise run its callbacks. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function code(outcome: Outcome): string | undefined {
  return outcome.state === 'rejected' && outcome.error instanceof DeviceError ? outcome.error.code : undefined;
}

/** Hands out every message not in flight on `generation`. */
function drain<T>(queue: OfflineQueue<T>, generation: number): QueueEntry<T>[] {
  const entries: QueueEntry<T>[] = [];
  for (let entry = queue.nextToSend(generation); entry !== undefined; entry = queue.nextToSend(generation))
    entries.push(entry);
  return entries;
}

describe('OfflineQueue: ordered, bounded, at-least-once telemetry', () => {
  it('[Best practices: offline queue] messages leave in the order they were sent', () => {
    const queue = new OfflineQueue<string>();
    for (const item of ['a', 'b', 'c', 'd']) void queue.push(item).catch(() => undefined);
    assert.equal(queue.size, 4);
    const entries = drain(queue, 1);
    assert.deepEqual(
      entries.map((e) => e.item),
      ['a', 'b', 'c', 'd'],
    );
    assert.ok(entries.every((e) => e.inFlight && e.sentOn === 1));
    assert.ok(entries.every((e, i) => i === 0 || e.sequence > (entries[i - 1]?.sequence ?? Infinity)));
  });

  it('nextToSend is undefined when the queue is empty or every message is in flight', () => {
    const queue = new OfflineQueue<number>();
    assert.equal(queue.nextToSend(1), undefined);
    void queue.push(1);
    void queue.push(2);
    assert.equal(queue.nextToSend(1)?.item, 1);
    assert.equal(queue.nextToSend(1)?.item, 2);
    assert.equal(queue.nextToSend(1), undefined);
    assert.equal(queue.size, 2, 'in-flight messages stay queued until acknowledged');
  });

  it('[MQTT PUBACK] settle resolves the push promise and removes the message', async () => {
    const queue = new OfflineQueue<string>();
    const delivered = track(queue.push('a'));
    const entry = queue.nextToSend(1);
    assert.ok(entry !== undefined);
    await flush();
    assert.equal(delivered.outcome.state, 'pending');
    queue.settle(entry);
    await flush();
    assert.equal(delivered.outcome.state, 'resolved');
    assert.equal(queue.size, 0);
    queue.settle(entry); // a duplicate PUBACK is harmless
    assert.equal(queue.size, 0);
  });

  it('[Best practices: offline queue] retryGeneration resends the lost connection’s messages in their original order', () => {
    const queue = new OfflineQueue<string>();
    for (const item of ['a', 'b', 'c']) void queue.push(item);
    const first = drain(queue, 1);
    assert.equal(first.length, 3);
    void queue.push('d');
    queue.retryGeneration(1);
    const second = drain(queue, 2);
    assert.deepEqual(
      second.map((e) => e.item),
      ['a', 'b', 'c', 'd'],
    );
    assert.ok(second.every((e) => e.sentOn === 2));
  });

  it('retryGeneration leaves the messages of another connection in flight', () => {
    const queue = new OfflineQueue<string>();
    for (const item of ['a', 'b']) void queue.push(item);
    queue.nextToSend(1);
    queue.nextToSend(2);
    queue.retryGeneration(1);
    assert.deepEqual(
      drain(queue, 3).map((e) => e.item),
      ['a'],
    );
  });

  it('retry returns one message, which is sent again before the later ones', () => {
    const queue = new OfflineQueue<string>();
    for (const item of ['a', 'b', 'c']) void queue.push(item);
    const a = queue.nextToSend(1);
    assert.ok(a !== undefined);
    queue.retry(a);
    assert.equal(queue.nextToSend(1)?.item, 'a');
    assert.equal(queue.nextToSend(1)?.item, 'b');
  });

  it('[MQTT QoS 1] PUBACKs that arrive out of order settle the right messages', async () => {
    const queue = new OfflineQueue<string>();
    const outcomes = ['a', 'b', 'c'].map((item) => track(queue.push(item)));
    const [a, b, c] = drain(queue, 1);
    assert.ok(a !== undefined && b !== undefined && c !== undefined);
    queue.settle(c);
    queue.settle(a);
    await flush();
    assert.deepEqual(
      outcomes.map((o) => o.outcome.state),
      ['resolved', 'pending', 'resolved'],
    );
    assert.equal(queue.size, 1);
    queue.retryGeneration(1);
    assert.deepEqual(
      drain(queue, 2).map((e) => e.item),
      ['b'],
    );
  });

  it('[Best practices: offline queue] dropOldest gives up the oldest waiting message, not one in flight', async () => {
    const queue = new OfflineQueue<string>({ maxMessages: 3 });
    const outcomes = ['a', 'b', 'c'].map((item) => track(queue.push(item)));
    queue.nextToSend(1); // 'a' is in flight
    const d = track(queue.push('d'));
    await flush();
    assert.equal(outcomes[0]?.outcome.state, 'pending', 'the in-flight message is kept');
    assert.equal(code(outcomes[1]?.outcome ?? { state: 'pending' }), 'DEVICE_QUEUE_FULL');
    assert.equal(outcomes[2]?.outcome.state, 'pending');
    assert.equal(d.outcome.state, 'pending');
    assert.equal(queue.size, 3);
    assert.equal(queue.dropped, 1);
    assert.deepEqual(
      drain(queue, 1).map((e) => e.item),
      ['c', 'd'],
    );
  });

  it('dropOldest with every message in flight refuses the new one', async () => {
    const queue = new OfflineQueue<string>({ maxMessages: 2 });
    const kept = ['a', 'b'].map((item) => track(queue.push(item)));
    drain(queue, 1);
    const c = track(queue.push('c'));
    await flush();
    assert.equal(code(c.outcome), 'DEVICE_QUEUE_FULL');
    assert.ok(kept.every((k) => k.outcome.state === 'pending'));
    assert.equal(queue.dropped, 1);
    assert.equal(queue.size, 2);
  });

  it('[Best practices: offline queue] rejectNew refuses the new message and keeps the backlog', async () => {
    const queue = new OfflineQueue<string>({ maxMessages: 2, overflow: 'rejectNew' });
    const kept = ['a', 'b'].map((item) => track(queue.push(item)));
    const c = track(queue.push('c'));
    const d = track(queue.push('d'));
    await flush();
    assert.equal(code(c.outcome), 'DEVICE_QUEUE_FULL');
    assert.equal(code(d.outcome), 'DEVICE_QUEUE_FULL');
    assert.ok(kept.every((k) => k.outcome.state === 'pending'));
    assert.equal(queue.dropped, 2);
    assert.deepEqual(
      drain(queue, 1).map((e) => e.item),
      ['a', 'b'],
    );
  });

  it('counts every message given up in dropped', async () => {
    const queue = new OfflineQueue<number>({ maxMessages: 1 });
    const outcomes = [1, 2, 3, 4].map((n) => track(queue.push(n)));
    await flush();
    assert.equal(queue.dropped, 3);
    assert.equal(queue.size, 1);
    assert.deepEqual(
      outcomes.map((o) => o.outcome.state),
      ['rejected', 'rejected', 'rejected', 'pending'],
    );
  });

  it('close rejects every queued and in-flight message with the given error', async () => {
    const queue = new OfflineQueue<string>();
    const outcomes = ['a', 'b', 'c'].map((item) => track(queue.push(item)));
    const a = queue.nextToSend(1);
    assert.ok(a !== undefined);
    const error = new DeviceError('DEVICE_CLOSED', 'closed');
    queue.close(error);
    await flush();
    assert.equal(queue.size, 0);
    assert.ok(outcomes.every((o) => o.outcome.state === 'rejected' && o.outcome.error === error));
    queue.settle(a); // a PUBACK after close changes nothing
    assert.equal(queue.size, 0);
    assert.equal(queue.nextToSend(2), undefined);
  });

  it('[errors: DEVICE_INVALID_OPTIONS] maxMessages must be a positive safe integer', () => {
    for (const maxMessages of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 60]) {
      assert.throws(
        () => new OfflineQueue({ maxMessages }),
        (error: unknown) => error instanceof DeviceError && error.code === 'DEVICE_INVALID_OPTIONS',
        String(maxMessages),
      );
    }
    assert.doesNotThrow(() => new OfflineQueue({ maxMessages: 1 }));
    assert.doesNotThrow(() => new OfflineQueue({ maxMessages: undefined, overflow: undefined }));
  });

  describe('model test', () => {
    type Op =
      | { op: 'push' }
      | { op: 'send' }
      | { op: 'settle'; pick: number }
      | { op: 'retry'; pick: number }
      | { op: 'reconnect' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.constant({ op: 'push' as const }) },
      { weight: 4, arbitrary: fc.constant({ op: 'send' as const }) },
      { weight: 3, arbitrary: fc.nat({ max: 20 }).map((pick) => ({ op: 'settle' as const, pick })) },
      { weight: 1, arbitrary: fc.nat({ max: 20 }).map((pick) => ({ op: 'retry' as const, pick })) },
      { weight: 1, arbitrary: fc.constant({ op: 'reconnect' as const }) },
    );

    it(`[Best practices: offline queue] every acknowledged message is delivered as pushed, first sends in push order (fast-check seed ${seed})`, async (t) => {
      t.diagnostic(`fast-check seed ${seed} (PLUGBOARD_FUZZ_SEED)`);
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { maxLength: 80 }),
          fc.integer({ min: 1, max: 6 }),
          fc.constantFrom<OverflowPolicy>('dropOldest', 'rejectNew'),
          async (ops, maxMessages, overflow) => {
            const queue = new OfflineQueue<{ id: number }>({ maxMessages, overflow });
            let generation = 1;
            let nextId = 0;
            const pushed: { id: number; tracked: { outcome: Outcome } }[] = [];
            const inFlight: QueueEntry<{ id: number }>[] = [];
            const firstSends: number[] = [];
            const sentIds = new Set<number>();
            const settled = new Set<number>();
            for (const step of ops) {
              switch (step.op) {
                case 'push': {
                  const id = nextId++;
                  pushed.push({ id, tracked: track(queue.push({ id })) });
                  break;
                }
                case 'send': {
                  const entry = queue.nextToSend(generation);
                  if (entry === undefined) break;
                  assert.equal(entry.inFlight, true);
                  assert.equal(entry.sentOn, generation);
                  assert.ok(!settled.has(entry.item.id), `message ${entry.item.id} sent after it was settled`);
                  if (!sentIds.has(entry.item.id)) {
                    sentIds.add(entry.item.id);
                    firstSends.push(entry.item.id);
                  }
                  inFlight.push(entry);
                  break;
                }
                case 'settle': {
                  const [entry] = inFlight.splice(step.pick % Math.max(1, inFlight.length), 1);
                  if (entry === undefined) break;
                  queue.settle(entry);
                  settled.add(entry.item.id);
                  break;
                }
                case 'retry': {
                  const [entry] = inFlight.splice(step.pick % Math.max(1, inFlight.length), 1);
                  if (entry !== undefined) queue.retry(entry);
                  break;
                }
                case 'reconnect':
                  queue.retryGeneration(generation);
                  generation += 1;
                  inFlight.splice(0, inFlight.length);
                  break;
              }
              assert.ok(queue.size <= maxMessages, `size ${queue.size} > ${maxMessages}`);
            }
            await flush();
            // First sends follow push order.
            assert.deepEqual(
              firstSends,
              [...firstSends].sort((a, b) => a - b),
            );
            let rejected = 0;
            for (const { id, tracked } of pushed) {
              if (settled.has(id)) {
                assert.equal(tracked.outcome.state, 'resolved', `settled ${id}`);
                assert.ok(sentIds.has(id));
              } else if (tracked.outcome.state === 'rejected') {
                assert.equal(code(tracked.outcome), 'DEVICE_QUEUE_FULL');
                rejected += 1;
              } else {
                assert.equal(tracked.outcome.state, 'pending', `message ${id}`);
              }
            }
            assert.equal(rejected, queue.dropped);
            assert.equal(queue.size, pushed.length - settled.size - rejected);
            // What is left is delivered, in push order, after a reconnect.
            queue.retryGeneration(generation);
            const rest = drain(queue, generation + 1).map((e) => e.item.id);
            const pending = pushed.filter((p) => p.tracked.outcome.state === 'pending').map((p) => p.id);
            assert.deepEqual(rest, pending);
            queue.close(new DeviceError('DEVICE_CLOSED', 'done'));
            await flush();
          },
        ),
        { seed, numRuns: 300 },
      );
    });
  });
});
