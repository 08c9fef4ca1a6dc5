/**
 * Time-boxed property runs for the fuzz suites: one seed per test file (printed, replayable with
 * PLUGBOARD_FUZZ_SEED=<seed>), a cap on runs and on wall-clock time, and failures that carry the
 * predicate's own error message.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';

/** The run's seed: PLUGBOARD_FUZZ_SEED, or one taken from the clock. */
export const fuzzSeed = Number(process.env['PLUGBOARD_FUZZ_SEED'] ?? Date.now() % 2 ** 31);

/** How long a property may run. */
export interface FuzzBudget {
  runs: number;
  timeBoxMs: number;
}

/**
 * Runs an async property at most `budget.runs` times within `budget.timeBoxMs`, reports the seed and the
 * number of runs as a test diagnostic, and throws the first failure with its counterexample.
 */
export async function checkProperty<T>(
  t: TestContext,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T) => Promise<void>,
  budget: FuzzBudget,
): Promise<void> {
  const details = await fc.check(fc.asyncProperty(arbitrary, predicate), {
    seed: fuzzSeed,
    numRuns: budget.runs,
    interruptAfterTimeLimit: budget.timeBoxMs,
  });
  t.diagnostic(
    `fast-check seed ${fuzzSeed} (PLUGBOARD_FUZZ_SEED), ${details.numRuns} runs${details.interrupted ? ', time box reached' : ''}`,
  );
  if (details.failed) {
    const report = (await fc.asyncDefaultReportMessage(details)) ?? `property failed, seed ${fuzzSeed}`;
    const cause = details.errorInstance;
    throw new Error(`${cause instanceof Error ? cause.message : String(cause)}\n${report}`, { cause });
  }
  assert.ok(details.numRuns > 0, 'at least one run fits in the time box');
}

/**
 * Sends random bytes, and random or truncated frames after an AMQP protocol header (`protocolId` 0 for
 * AMQP, 3 for SASL), to an AMQP-over-TLS port, one TLS connection per run (40 runs); each connection is
 * dropped 100 ms after its bytes. The caller then checks the server still serves.
 *
 * @example
 * await fuzzAmqpPort({ host: hub.hostName, port: 5671, ca }, 0);
 */
export async function fuzzAmqpPort(
  target: { host: string; port: number; ca: string },
  protocolId: 0 | 3,
): Promise<void> {
  const header = Buffer.from([0x41, 0x4d, 0x51, 0x50, protocolId, 1, 0, 0]);
  const send = (bytes: Uint8Array): Promise<void> =>
    new Promise((resolve) => {
      const socket = tlsConnect(target, () => {
        socket.write(bytes);
        setTimeout(() => socket.destroy(), 100);
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 2048 }),
        fc.uint8Array({ minLength: 1, maxLength: 512 }).map((rest) => Buffer.concat([header, rest])),
        fc.integer({ min: 1, max: 7 }).map((cut) => header.subarray(0, cut)),
      ),
      send,
    ),
    { numRuns: 40 },
  );
}
