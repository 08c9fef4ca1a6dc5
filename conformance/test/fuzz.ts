/**
 * Time-boxed property runs for the fuzz suites: one seed per test file (printed, replayable with
 * PLUGBOARD_FUZZ_SEED=<seed>), a cap on runs and on wall-clock time, and failures that carry the
 * predicate's own error message.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
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
