/**
 * The `device check` rules about surviving hub changes (device-implementation.md, "Best practices"):
 * each of the three errors that mean "the connection string is no longer valid" — an unreachable hub
 * endpoint, an expired security token, the device disabled in the hub — must send the device back to
 * DPS; each error that asks for patience — an operator-blocked device, an internal error, throttling —
 * must get retries with growing, jittered intervals, not a storm; and a manual failover must be
 * survived, with telemetry and commands working on the new hub. Each is produced with an injected
 * fault (or the failover routes) and judged from the device's timeline as the server saw it.
 */
import { summarize, type TimelineEntry } from '@plugboard/server';
import type { JsonRecord } from '../central-client.js';
import { capabilities, commandBody, connected, sleep, timelineMark, waitFor, type CheckContext } from './context.js';
import { fail, pass, type Rule } from './rule.js';

/** Timeline entries after `mark`. */
async function entriesAfter(ctx: CheckContext, mark: number): Promise<TimelineEntry[]> {
  return (await ctx.client.timeline(ctx.deviceId, mark)).value as unknown as TimelineEntry[];
}

function brief(entries: readonly TimelineEntry[]): string[] {
  return entries.map(
    (e) =>
      `${e.at} ${e.kind}${e.outcome === undefined ? '' : ` ${e.outcome}`}${e.code === undefined ? '' : ` ${e.code}`}${e.hub === undefined ? '' : ` @${e.hub}`}${e.sincePreviousAttemptMs === undefined ? '' : ` +${e.sincePreviousAttemptMs}ms`}`,
  );
}

/** Waits for the device to be connected again after a fault was cleared. */
async function recovered(ctx: CheckContext): Promise<boolean> {
  return (await waitFor(ctx.limits.recoverySeconds, async () => ((await connected(ctx)) ? true : undefined))) === true;
}

const REPROVISION: readonly [string, string, string][] = [
  ['unreachable', 'reprovision-on-unreachable-hub', 'Goes back to DPS when the hub endpoint is unreachable'],
  ['tokenExpired', 'reprovision-on-expired-token', 'Goes back to DPS when its security token is refused as expired'],
  [
    'deviceDisabled',
    'reprovision-on-device-disabled',
    'Goes back to DPS when the hub says the device is disabled (moved)',
  ],
];

function reprovisionRule([condition, id, title]: readonly [string, string, string]): Rule {
  return {
    id,
    title,
    async run(ctx) {
      const mark = await timelineMark(ctx);
      const fault = await ctx.client.addFault({ condition, deviceId: ctx.deviceId });
      let went: TimelineEntry | undefined;
      try {
        went = await waitFor(ctx.limits.recoverySeconds, async () =>
          (await entriesAfter(ctx, mark)).find((e) => e.kind === 'provisioning'),
        );
      } finally {
        await ctx.client.removeFault(String(fault['id'])).catch(() => undefined);
      }
      const back = await recovered(ctx);
      const entries = await entriesAfter(ctx, mark);
      const evidence: JsonRecord = { condition, timeline: brief(entries).slice(0, 20), reconnected: back };
      if (went === undefined) {
        const refusals = entries.filter((e) => e.kind === 'refused').length;
        return fail(
          `never went back to DPS in ${ctx.limits.recoverySeconds} s (${refusals} refused reconnects to the hub)`,
          evidence,
        );
      }
      if (!back)
        return fail(
          `went back to DPS but was not connected again ${ctx.limits.recoverySeconds} s after the fault ended`,
          evidence,
        );
      return pass('went back to DPS and connected again', evidence);
    },
  };
}

const BACKOFF: readonly [string, string, string][] = [
  ['deviceBlocked', 'backoff-on-blocked', 'Backs off (growing, jittered retries) while an operator blocks it'],
  ['internalError', 'backoff-on-internal-error', 'Backs off on internal errors (500)'],
  ['throttled', 'backoff-on-throttling', 'Backs off when throttled (429)'],
];

function backoffRule([condition, id, title]: readonly [string, string, string]): Rule {
  return {
    id,
    title,
    async run(ctx) {
      const mark = await timelineMark(ctx);
      await ctx.client.addFault({ condition, deviceId: ctx.deviceId });
      // The fault drops a live connection only for conditions that invalidate it; throttling starts at the next connect.
      if (condition === 'throttled')
        await ctx.client.addFault({ condition: 'drop', deviceId: ctx.deviceId, attempts: 1 });
      await sleep(ctx.limits.faultSeconds * 1000);
      await ctx.client.clearFaults();
      const entries = await entriesAfter(ctx, mark);
      const back = await recovered(ctx);
      const summary = summarize(entries);
      const evidence: JsonRecord = {
        condition,
        summary: summary as unknown as JsonRecord,
        timeline: brief(entries).slice(0, 30),
        reconnected: back,
      };
      if (summary.eager) {
        return fail(
          `retried in a tight loop: ${summary.retryIntervalsMs.length} retries, intervals ${summary.retryIntervalsMs.slice(0, 8).join(', ')} ms`,
          evidence,
        );
      }
      if (summary.attempts === 0) return fail(`made no attempt to reconnect in ${ctx.limits.faultSeconds} s`, evidence);
      if (!back) return fail(`not connected again ${ctx.limits.recoverySeconds} s after the fault ended`, evidence);
      return pass(
        `${summary.retryIntervalsMs.length} retries with intervals ${summary.retryIntervalsMs.slice(0, 6).join(', ')} ms, then connected`,
        evidence,
      );
    },
  };
}

const failover: Rule = {
  id: 'manual-failover',
  title: 'Survives a manual failover: reprovisions to the new hub, telemetry and commands work there',
  async run(ctx) {
    const before = await ctx.client.deviceDetails(ctx.deviceId);
    const from = String(before['hub'] ?? '');
    const mark = await timelineMark(ctx);
    const answer = await ctx.client.manualFailover(ctx.deviceId, 30);
    const evidence: JsonRecord = { from, answer };
    try {
      const arrived = await waitFor(ctx.limits.recoverySeconds, async () =>
        (await entriesAfter(ctx, mark)).find((e) => e.kind === 'connected' && e.hub !== from),
      );
      evidence['timeline'] = brief(await entriesAfter(ctx, mark)).slice(0, 20);
      if (arrived === undefined)
        return fail(`did not connect to another hub in ${ctx.limits.recoverySeconds} s`, evidence);
      evidence['to'] = arrived.hub ?? null;
      const since = arrived.at;
      const message = await waitFor(ctx.limits.telemetrySeconds, async () =>
        (await ctx.client.rawMessages(ctx.deviceId, { from: since, max: 10 })).find((m) => m['hub'] === arrived.hub),
      );
      evidence['telemetryOnNewHub'] = message !== undefined;
      if (message === undefined) return fail(`connected to ${arrived.hub ?? ''} but sent no telemetry there`, evidence);
      const command =
        capabilities(ctx, 'Command').find(
          (c) => c.element.undefinedProperties['durable'] !== true && c.element.request === undefined,
        ) ?? capabilities(ctx, 'Command').find((c) => c.element.undefinedProperties['durable'] !== true);
      if (command !== undefined) {
        try {
          const result = await ctx.client.runCommand(
            ctx.deviceId,
            command.name,
            commandBody(ctx, command),
            command.component === undefined ? {} : { component: command.component },
          );
          evidence['command'] = { name: command.name, responseCode: result['responseCode'] ?? null };
        } catch (error) {
          evidence['command'] = { name: command.name, error: (error as Error).message };
          return fail(`command ${command.name} failed on the new hub: ${(error as Error).message}`, evidence);
        }
      }
      return pass(
        `moved to ${arrived.hub ?? ''}; telemetry${command === undefined ? '' : ' and a command'} worked there`,
        evidence,
      );
    } finally {
      await ctx.client.manualFailback(ctx.deviceId).catch(() => undefined);
      await recovered(ctx);
    }
  },
};

/** The resilience rules, in the order they run. */
export const RESILIENCE_RULES: readonly Rule[] = [
  ...REPROVISION.map(reprovisionRule),
  ...BACKOFF.map(backoffRule),
  failover,
];
