import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_CONNECTION_POLICY, DeviceError, backoffDelay, decide } from '../src/index.js';
import type { BackoffSchedule, ConnectionPolicy, Decision, DeviceErrorDetails, Failure } from '../src/index.js';

const seed = Number(process.env['PLUGBOARD_FUZZ_SEED'] ?? Date.now() % 2 ** 31);

const NORMAL = DEFAULT_CONNECTION_POLICY.normal;
const THROTTLED = DEFAULT_CONNECTION_POLICY.throttled;
const POLICY: ConnectionPolicy = DEFAULT_CONNECTION_POLICY;

/** A random draw in [0, 1), as `Math.random()` gives. */
const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

/** Any sane schedule: 0 ≤ minMs ≤ maxMs, jitter ranges within [0, 1]. */
const scheduleArb: fc.Arbitrary<BackoffSchedule> = fc
  .record({
    stepMs: fc.integer({ min: 0, max: 100_000 }),
    minMs: fc.integer({ min: 0, max: 100_000 }),
    span: fc.integer({ min: 0, max: 1_000_000 }),
    jitterUp: fc.double({ min: 0, max: 1, noNaN: true }),
    jitterDown: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ stepMs, minMs, span, jitterUp, jitterDown }) => ({
    stepMs,
    minMs,
    maxMs: minMs + span,
    jitterUp,
    jitterDown,
  }));

function hubError(details: DeviceErrorDetails = {}): DeviceError {
  return new DeviceError('DEVICE_CONNECTION_REFUSED', 'refused', details);
}

function dpsError(details: DeviceErrorDetails = {}): DeviceError {
  return new DeviceError('DEVICE_PROVISIONING_FAILED', 'DPS refused', details);
}

/** The delay of a decision that is not `fail`. */
function delayOf(decision: Decision): number {
  assert.notEqual(decision.action, 'fail', `expected a retry, got ${JSON.stringify(decision)}`);
  return decision.action === 'fail' ? Number.NaN : decision.delayMs;
}

/** The upper median, as the device timeline (`plugboard device check`) computes it. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

describe('backoffDelay: exponential back-off with jitter', () => {
  it('[protocol §8.2] the TSDoc examples: 100 ms, 712.5 ms, capped at 10 s', () => {
    assert.equal(backoffDelay(NORMAL, 1, 0.5), 100);
    assert.equal(backoffDelay(NORMAL, 4, 0.5), 712.5);
    assert.equal(backoffDelay(NORMAL, 30, 0.5), 10_000);
  });

  it('[protocol §8.2] the normal and throttled schedules are the Node SDK constants', () => {
    assert.deepEqual({ ...NORMAL }, { stepMs: 100, minMs: 100, maxMs: 10_000, jitterUp: 0.25, jitterDown: 0.5 });
    assert.deepEqual(
      { ...THROTTLED },
      { stepMs: 5_000, minMs: 10_000, maxMs: 60_000, jitterUp: 0.5, jitterDown: 0.25 },
    );
    assert.equal(DEFAULT_CONNECTION_POLICY.immediateFirstRetry, true);
    assert.equal(DEFAULT_CONNECTION_POLICY.reprovisionAfterFailures, 10);
  });

  it('[protocol §8.2] the jitter range is [1 - jitterDown, 1 + jitterUp] (the SDK range, the right way round)', () => {
    // Retry 2 grows by exactly one step times the jitter.
    assert.equal(backoffDelay(NORMAL, 2, 0), 100 + 100 * 0.5);
    assert.equal(backoffDelay(NORMAL, 2, 0.5), 100 + 100 * 0.875);
    assert.ok(Math.abs(backoffDelay(NORMAL, 2, 1 - 1e-12) - (100 + 100 * 1.25)) < 1e-6);
    assert.equal(backoffDelay(THROTTLED, 2, 0), 10_000 + 5_000 * 0.75);
  });

  it('[protocol §8.2] retry numbers below 1 or fractional count as whole retries, at least the first', () => {
    assert.equal(backoffDelay(NORMAL, 0, 0.5), backoffDelay(NORMAL, 1, 0.5));
    assert.equal(backoffDelay(NORMAL, -3, 0.5), backoffDelay(NORMAL, 1, 0.5));
    assert.equal(backoffDelay(NORMAL, 4.9, 0.5), backoffDelay(NORMAL, 4, 0.5));
  });

  it(`[protocol §8.2] always within [minMs, maxMs], for every retry and draw (fast-check seed ${seed})`, (t) => {
    t.diagnostic(`fast-check seed ${seed} (PLUGBOARD_FUZZ_SEED)`);
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(NORMAL), fc.constant(THROTTLED), scheduleArb),
        fc.integer({ min: -5, max: 5_000 }),
        randomArb,
        (schedule, retry, random) => {
          const delay = backoffDelay(schedule, retry, random);
          assert.ok(Number.isFinite(delay), `delay ${delay}`);
          assert.ok(delay >= schedule.minMs, `${delay} < minMs ${schedule.minMs}`);
          assert.ok(delay <= schedule.maxMs, `${delay} > maxMs ${schedule.maxMs}`);
        },
      ),
      { seed, numRuns: 1_000 },
    );
  });

  it(`[protocol §8.2] monotone non-decreasing in the retry number for a fixed draw (fast-check seed ${seed})`, (t) => {
    t.diagnostic(`fast-check seed ${seed} (PLUGBOARD_FUZZ_SEED)`);
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(NORMAL), fc.constant(THROTTLED), scheduleArb),
        fc.integer({ min: 1, max: 200 }),
        randomArb,
        (schedule, retry, random) => {
          assert.ok(backoffDelay(schedule, retry + 1, random) >= backoffDelay(schedule, retry, random));
        },
      ),
      { seed, numRuns: 1_000 },
    );
  });

  it(`[protocol §8.2] reaches maxMs, whatever the draw (fast-check seed ${seed})`, (t) => {
    t.diagnostic(`fast-check seed ${seed} (PLUGBOARD_FUZZ_SEED)`);
    fc.assert(
      fc.property(fc.constantFrom(NORMAL, THROTTLED), fc.integer({ min: 30, max: 10_000 }), randomArb, (s, n, r) => {
        assert.equal(backoffDelay(s, n, r), s.maxMs);
      }),
      { seed, numRuns: 300 },
    );
    // The slowest draw reaches the cap of the normal schedule by retry 9, the throttled one by retry 5.
    assert.equal(backoffDelay(NORMAL, 9, 0), NORMAL.maxMs);
    assert.equal(backoffDelay(THROTTLED, 5, 0), THROTTLED.maxMs);
  });
});

describe('decide: reprovision or back off (device-implementation.md "Handle connection failures")', () => {
  describe('hubConnect', () => {
    it('[Best practices: reprovision] an unreachable hub endpoint (no CONNACK) reprovisions', () => {
      const decision = decide(
        { kind: 'hubConnect', error: hubError(), freshAssignment: false, streak: 1 },
        POLICY,
        false,
        0.5,
      );
      assert.equal(decision.action, 'reprovision');
      assert.equal(delayOf(decision), 0);
      assert.match(decision.reason, /did not answer/);
    });

    for (const returnCode of [5, 4, 2]) {
      it(`[Best practices: reprovision] [protocol §1.2] CONNACK ${returnCode} (credentials refused) reprovisions`, () => {
        for (const neverConnected of [true, false]) {
          const decision = decide(
            { kind: 'hubConnect', error: hubError({ returnCode }), freshAssignment: false, streak: 1 },
            POLICY,
            neverConnected,
            0.5,
          );
          assert.equal(decision.action, 'reprovision');
          assert.match(decision.reason, new RegExp(`CONNACK ${returnCode}`));
        }
      });
    }

    it('[Best practices: reprovision] [protocol §7.5] CONNACK 3 (disabled or moved) reprovisions on a cached hub', () => {
      for (const streak of [1, 2, 5, 20]) {
        const decision = decide(
          { kind: 'hubConnect', error: hubError({ returnCode: 3 }), freshAssignment: false, streak },
          POLICY,
          false,
          0.5,
        );
        assert.equal(decision.action, 'reprovision', `streak ${streak}`);
      }
    });

    it('[Best practices: back off] CONNACK 3 from the hub DPS just assigned backs off and reconnects', () => {
      const delays: number[] = [];
      for (let streak = 1; streak < POLICY.reprovisionAfterFailures; streak++) {
        const decision = decide(
          { kind: 'hubConnect', error: hubError({ returnCode: 3 }), freshAssignment: true, streak },
          POLICY,
          false,
          0.5,
        );
        assert.equal(decision.action, 'reconnect', `streak ${streak}`);
        delays.push(delayOf(decision));
      }
      assert.equal(delays[0], 0, 'immediate first retry');
      assert.ok(delays.slice(1).every((d) => d > 0));
      assert.ok(
        delays.every((d, i) => i === 0 || d >= (delays[i - 1] ?? 0)),
        `delays ${delays.join(',')}`,
      );
    });

    it('[protocol §8.1] after reprovisionAfterFailures failed connects to a fresh hub, reprovision again', () => {
      for (const streak of [10, 11, 50]) {
        const decision = decide(
          { kind: 'hubConnect', error: hubError({ returnCode: 3 }), freshAssignment: true, streak },
          POLICY,
          false,
          0.5,
        );
        assert.equal(decision.action, 'reprovision', `streak ${streak}`);
        assert.ok(delayOf(decision) > 0);
      }
      const custom = { ...POLICY, reprovisionAfterFailures: 3 };
      const error = hubError({ returnCode: 3 });
      assert.equal(
        decide({ kind: 'hubConnect', error, freshAssignment: true, streak: 2 }, custom, false).action,
        'reconnect',
      );
      assert.equal(
        decide({ kind: 'hubConnect', error, freshAssignment: true, streak: 3 }, custom, false).action,
        'reprovision',
      );
    });
  });

  describe('hubLost', () => {
    it('[protocol §8.2: immediateFirstRetry] a lost connection reconnects to the same hub at once', () => {
      const decision = decide(
        { kind: 'hubLost', error: new DeviceError('DEVICE_CONNECTION_LOST', 'lost'), streak: 1 },
        POLICY,
        false,
        0.99,
      );
      assert.deepEqual(decision, { action: 'reconnect', delayMs: 0, reason: 'the connection was lost' });
    });

    it('[protocol §8.2] without immediateFirstRetry, the first retry waits the schedule', () => {
      const decision = decide(
        { kind: 'hubLost', error: new DeviceError('DEVICE_CONNECTION_LOST', 'lost'), streak: 1 },
        { ...POLICY, immediateFirstRetry: false },
        false,
        0.5,
      );
      assert.equal(decision.action, 'reconnect');
      assert.equal(delayOf(decision), backoffDelay(NORMAL, 1, 0.5));
    });
  });

  describe('provisioning', () => {
    it('[protocol §8.2: throttled] 429 waits the throttled schedule, even on the first retry', () => {
      for (const streak of [1, 2, 3, 8, 40]) {
        for (const random of [0, 0.5, 0.999]) {
          const decision = decide(
            { kind: 'provisioning', error: dpsError({ status: 429 }), streak },
            POLICY,
            true,
            random,
          );
          assert.equal(decision.action, 'reprovision');
          const delay = delayOf(decision);
          assert.ok(delay >= THROTTLED.minMs && delay <= THROTTLED.maxMs, `streak ${streak}: ${delay}`);
        }
      }
      const late = decide({ kind: 'provisioning', error: dpsError({ status: 429 }), streak: 40 }, POLICY, true, 0.5);
      assert.equal(delayOf(late), THROTTLED.maxMs);
    });

    it('[protocol §3.2: retry-after] 429 honours DPS retry-after (seconds), beyond the schedule', () => {
      for (const retryAfter of [1, 15, 90, 300]) {
        for (const streak of [1, 3, 12]) {
          const decision = decide(
            { kind: 'provisioning', error: dpsError({ status: 429, retryAfter }), streak },
            POLICY,
            true,
            0.5,
          );
          const delay = delayOf(decision);
          assert.ok(delay >= retryAfter * 1000, `retry-after ${retryAfter}, streak ${streak}: ${delay}`);
          assert.ok(delay >= THROTTLED.minMs);
        }
      }
      const long = decide(
        { kind: 'provisioning', error: dpsError({ status: 429, retryAfter: 90 }), streak: 1 },
        POLICY,
        true,
        0.5,
      );
      assert.equal(delayOf(long), 90_000);
    });

    it('[protocol §7.5] 400209 (waiting for approval or blocked) backs off and reprovisions, never fails', () => {
      const delays: number[] = [];
      for (const status of [401, 400, undefined]) {
        for (const neverConnected of [true, false]) {
          for (let streak = 1; streak <= 6; streak++) {
            const decision = decide(
              { kind: 'provisioning', error: dpsError({ status, errorCode: 400209 }), streak },
              POLICY,
              neverConnected,
              0.5,
            );
            assert.equal(decision.action, 'reprovision', `status ${status}, neverConnected ${neverConnected}`);
            if (status === 401 && neverConnected) delays.push(delayOf(decision));
          }
        }
      }
      assert.ok(
        delays.slice(1).every((d) => d > 0),
        `delays ${delays.join(',')}`,
      );
      assert.ok((delays.at(-1) ?? 0) > (delays[1] ?? 0));
    });

    it('[protocol §3.2: retry-after] a DPS retry-after is honoured on every retry, the first one too (400209, 5xx)', () => {
      // Known failing (src bug): delay() returns 0 for streak 1 before it looks at retryAfter, so the
      // immediate first retry ignores a retry-after that decide() itself passes for 400209 and 5xx.
      const delays = [1, 2, 3].flatMap((streak) =>
        [dpsError({ status: 401, errorCode: 400209, retryAfter: 30 }), dpsError({ status: 503, retryAfter: 30 })].map(
          (error) => ({
            streak,
            status: error.status,
            honoured: delayOf(decide({ kind: 'provisioning', error, streak }, POLICY, false, 0.5)) >= 30_000,
          }),
        ),
      );
      assert.deepEqual(
        delays.filter((d) => !d.honoured),
        [],
        'every delay should be at least retry-after (30 s)',
      );
    });

    it('[protocol §7.5: fix credentials] 401 (401002) before the device ever connected fails the start', () => {
      const error = dpsError({ status: 401, errorCode: 401002 });
      const decision = decide({ kind: 'provisioning', error, streak: 1 }, POLICY, true, 0.5);
      assert.equal(decision.action, 'fail');
      assert.ok(decision.action === 'fail' && decision.error === error);
      for (const status of [400, 403, 404, 412]) {
        assert.equal(
          decide({ kind: 'provisioning', error: dpsError({ status }), streak: 1 }, POLICY, true).action,
          'fail',
        );
      }
    });

    it('[protocol §8.1] 401 after the device has been connected backs off instead', () => {
      const decisions = [1, 2, 3].map((streak) =>
        decide(
          { kind: 'provisioning', error: dpsError({ status: 401, errorCode: 401002 }), streak },
          POLICY,
          false,
          0.5,
        ),
      );
      assert.deepEqual(
        decisions.map((d) => d.action),
        ['reprovision', 'reprovision', 'reprovision'],
      );
      assert.ok(delayOf(decisions[2] as Decision) > delayOf(decisions[1] as Decision));
    });

    it('[Best practices: back off] [protocol §7.5: 500] 5xx and no answer back off, connected or not', () => {
      for (const status of [500, 503, undefined]) {
        for (const neverConnected of [true, false]) {
          const decision = decide(
            { kind: 'provisioning', error: dpsError({ status }), streak: 3 },
            POLICY,
            neverConnected,
            0.5,
          );
          assert.equal(decision.action, 'reprovision', `status ${status}`);
          assert.equal(delayOf(decision), backoffDelay(NORMAL, 2, 0.5));
          assert.match(decision.reason, status === undefined ? /did not answer/ : new RegExp(String(status)));
        }
      }
    });
  });

  describe('delays over a failure streak grow (what `plugboard device check` calls not eager)', () => {
    const streaks = Array.from({ length: 12 }, (_, i) => i + 1);
    const cases: { name: string; failure: (streak: number) => Failure }[] = [
      {
        name: 'hubLost',
        failure: (streak) => ({ kind: 'hubLost', error: new DeviceError('DEVICE_CONNECTION_LOST', 'lost'), streak }),
      },
      {
        name: 'hubConnect CONNACK 3, fresh assignment',
        failure: (streak) => ({
          kind: 'hubConnect',
          error: hubError({ returnCode: 3 }),
          freshAssignment: true,
          streak,
        }),
      },
      {
        name: 'hubConnect CONNACK 5, cached assignment',
        failure: (streak) => ({
          kind: 'hubConnect',
          error: hubError({ returnCode: 5 }),
          freshAssignment: false,
          streak,
        }),
      },
      {
        name: 'hubConnect unreachable',
        failure: (streak) => ({ kind: 'hubConnect', error: hubError(), freshAssignment: false, streak }),
      },
      {
        name: 'provisioning 500',
        failure: (streak) => ({ kind: 'provisioning', error: dpsError({ status: 500 }), streak }),
      },
      {
        name: 'provisioning 400209',
        failure: (streak) => ({ kind: 'provisioning', error: dpsError({ status: 401, errorCode: 400209 }), streak }),
      },
      {
        name: 'provisioning 429',
        failure: (streak) => ({ kind: 'provisioning', error: dpsError({ status: 429 }), streak }),
      },
    ];
    for (const { name, failure } of cases) {
      it(`[protocol §8.1: exponential back-off] ${name}: median of the last third > 2 × the first third's`, () => {
        const delays = streaks.map((streak) => delayOf(decide(failure(streak), POLICY, false, 0.5)));
        const third = delays.length / 3;
        const first = median(delays.slice(0, third));
        const last = median(delays.slice(-third));
        assert.ok(last > 2 * Math.max(first, 1), `${name}: ${delays.join(', ')}`);
      });
    }
  });
});

describe('decide: a refused subscription', () => {
  it('[MQTT §1.4] SUBACK 0x80 (status 403, no return code) backs off against the same hub, keeping the assignment', () => {
    const refused = new DeviceError('DEVICE_CONNECTION_REFUSED', 'The hub refused a subscription (SUBACK 0x80).', {
      status: 403,
    });
    const first = decide(
      { kind: 'hubConnect', error: refused, freshAssignment: false, streak: 2 },
      DEFAULT_CONNECTION_POLICY,
      false,
      0.5,
    );
    assert.equal(first.action, 'reconnect');
    assert.ok('delayMs' in first && first.delayMs > 0);
  });
});
