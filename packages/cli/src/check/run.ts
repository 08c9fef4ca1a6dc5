/**
 * Runs the `device check` rules against one live device: the selected rules in order (behaviour
 * first, then the fault and failover rules, which disturb the device), each bounded in time, a rule
 * that throws counted as failed with the error as its evidence, and any fault a rule left behind
 * cleared before the next one.
 */
import type { CentralClient } from '../central-client.js';
import { CliError } from '../client.js';
import { BEHAVIOUR_RULES } from './behaviour-rules.js';
import { openContext, type CheckLimits } from './context.js';
import type { CheckReport } from './report.js';
import { RESILIENCE_RULES } from './resilience-rules.js';
import type { Rule, Verdict } from './rule.js';

/** Every rule, in the order they run. */
export const ALL_RULES: readonly Rule[] = [...BEHAVIOUR_RULES, ...RESILIENCE_RULES];

/** Options of a run. */
export interface CheckOptions {
  /** Only these rule ids (default: all). */
  checks?: readonly string[];
  /** Not these. */
  skip?: readonly string[];
  limits: CheckLimits;
  progress?: (line: string) => void;
}

/**
 * Checks a device and answers the report.
 *
 * @example
 * const report = await checkDevice(client, 'thermo-1', { limits: { telemetrySeconds: 20, responseSeconds: 15, recoverySeconds: 60, faultSeconds: 15 } });
 * report.failed; // 0
 */
export async function checkDevice(
  client: CentralClient,
  deviceId: string,
  options: CheckOptions,
): Promise<CheckReport> {
  const known = new Set(ALL_RULES.map((r) => r.id));
  for (const id of [...(options.checks ?? []), ...(options.skip ?? [])]) {
    if (!known.has(id)) {
      throw new CliError('CLI_INVALID_ARGUMENT', `No check named ${id}; the checks are ${[...known].join(', ')}.`);
    }
  }
  const selected = ALL_RULES.filter(
    (r) => (options.checks === undefined || options.checks.includes(r.id)) && !(options.skip ?? []).includes(r.id),
  );
  const progress = options.progress ?? (() => undefined);
  const ctx = await openContext(client, deviceId, options.limits, progress);
  const results: CheckReport['results'] = [];
  for (const rule of selected) {
    progress(`checking ${rule.id}: ${rule.title}`);
    const started = Date.now();
    let verdict: Verdict;
    try {
      verdict = await rule.run(ctx);
    } catch (error) {
      verdict = { status: 'fail', summary: `the check could not run: ${(error as Error).message}`, evidence: {} };
    }
    // A rule never leaves a fault behind for the next one.
    await client.clearFaults().catch(() => undefined);
    results.push({ id: rule.id, title: rule.title, durationMs: Date.now() - started, ...verdict });
  }
  return {
    deviceId: ctx.deviceId,
    startedAt: new Date(ctx.startedAt).toISOString(),
    durationMs: Date.now() - ctx.startedAt,
    passed: results.filter((r) => r.status === 'pass').length,
    failed: results.filter((r) => r.status === 'fail').length,
    skipped: results.filter((r) => r.status === 'skip').length,
    results,
  };
}
