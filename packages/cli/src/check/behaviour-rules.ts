/**
 * The `device check` rules about what a device sends and answers (device-implementation.md, "Device
 * implementation"): it announces a model id its template has; its telemetry is modeled and stamped with
 * a creation time; its read-only properties are reported in the component format; it acknowledges
 * writable properties with the right `av` and `ac` — also a change made while it was offline — and
 * answers every command in the command's response schema.
 */
import { validatePropertyPatch, sampleValue } from '@plugboard/dtdl';
import type { JsonRecord } from '../central-client.js';
import {
  capabilities,
  capabilityName,
  commandBody,
  connected,
  sleep,
  waitFor,
  type Capability,
  type CheckContext,
} from './context.js';
import { fail, pass, skip, type Rule, type Verdict } from './rule.js';

/** The telemetry window's messages of each run, read once for the rules that judge them. */
const windows = new WeakMap<CheckContext, Promise<JsonRecord[]>>();

/** The messages the device sent since the run started (waits up to the telemetry window for some). */
function recentMessages(ctx: CheckContext): Promise<JsonRecord[]> {
  let window = windows.get(ctx);
  if (window === undefined) {
    window = readWindow(ctx);
    windows.set(ctx, window);
  }
  return window;
}

async function readWindow(ctx: CheckContext): Promise<JsonRecord[]> {
  const from = new Date(ctx.startedAt).toISOString();
  let messages: JsonRecord[] = [];
  await waitFor(ctx.limits.telemetrySeconds, async () => {
    messages = await ctx.client.rawMessages(ctx.deviceId, { from, max: 1000 });
    return messages.length >= 3 ? true : undefined;
  });
  return messages;
}

function noTemplate(): Verdict {
  return skip('the device has no template to check against (see model-id)');
}

const modelId: Rule = {
  id: 'model-id',
  title: 'Announces its model id (DTMI), which selects a device template',
  async run(ctx) {
    const details = await ctx.client.deviceDetails(ctx.deviceId);
    const evidence = { modelId: details['modelId'] ?? null, template: details['template'] ?? null };
    if (typeof details['modelId'] !== 'string' || details['modelId'] === '') {
      return fail('no model id was announced (DPS payload modelId or the MQTT model-id)', evidence);
    }
    if (ctx.modelId === undefined) return fail(`model id ${details['modelId']} matches no template`, evidence);
    if (ctx.modelId !== details['modelId']) {
      return fail(`announced ${details['modelId']}, but the template is of ${ctx.modelId}`, evidence);
    }
    return pass(`announced ${details['modelId']}`, evidence);
  },
};

const telemetry: Rule = {
  id: 'telemetry-modeled',
  title: "Sends telemetry in the model's format (every value modeled)",
  async run(ctx) {
    if (ctx.model === undefined) return noTemplate();
    const messages = await recentMessages(ctx);
    if (messages.length === 0) return fail(`no telemetry in ${ctx.limits.telemetrySeconds} s`, { messages: 0 });
    const invalid = messages.filter((m) => typeof m['invalid'] === 'string');
    const unmodeled = messages.flatMap((m) => (m['unmodeled'] as { name: string; reason: string }[]) ?? []);
    const values = messages.reduce(
      (n, m) =>
        n +
        Object.keys((m['modeled'] as JsonRecord | undefined) ?? {}).length +
        ((m['unmodeled'] as unknown[]) ?? []).length,
      0,
    );
    const evidence = {
      messages: messages.length,
      values,
      unmodeled: unmodeled.length,
      invalid: invalid.length,
      reasons: [
        ...new Set([...unmodeled.map((u) => `${u.name}: ${u.reason}`), ...invalid.map((m) => String(m['invalid']))]),
      ].slice(0, 10),
    };
    if (invalid.length > 0 || unmodeled.length > 0) {
      return fail(
        `${unmodeled.length} of ${values} values unmodeled, ${invalid.length} messages not JSON: ${evidence.reasons[0] ?? ''}`,
        evidence,
      );
    }
    return pass(`${messages.length} messages, all ${values} values modeled`, evidence);
  },
};

const creationTime: Rule = {
  id: 'creation-time',
  title: 'Stamps each message with iothub-creation-time-utc',
  async run(ctx) {
    const messages = await recentMessages(ctx);
    if (messages.length === 0) return skip('no telemetry to look at');
    const stamped = messages.filter((m) => typeof m['creationTime'] === 'string').length;
    const evidence = { messages: messages.length, stamped };
    return stamped === messages.length
      ? pass(`all ${stamped} messages carry a creation time`, evidence)
      : fail(`${messages.length - stamped} of ${messages.length} messages carry no creation time`, evidence);
  },
};

const reported: Rule = {
  id: 'reported-properties',
  title: 'Reports read-only properties in the component format (`__t: "c"`)',
  async run(ctx) {
    if (ctx.model === undefined || ctx.modelId === undefined) return noTemplate();
    const readOnly = capabilities(ctx, 'Property').filter((p) => p.element.writable !== true);
    if (readOnly.length === 0) return skip('the template has no read-only properties');
    const twin = await ctx.client.twin(ctx.deviceId);
    const section = {
      ...(((twin['properties'] as JsonRecord | undefined)?.['reported'] as JsonRecord | undefined) ?? {}),
    };
    delete section['$metadata'];
    delete section['$version'];
    const verdict = validatePropertyPatch(ctx.model, ctx.modelId, { value: section }, 'reported');
    const present = readOnly.filter((p) =>
      p.component === undefined
        ? p.name in section
        : p.name in ((section[p.component] as JsonRecord | undefined) ?? {}),
    );
    const unmarked = [...new Set(readOnly.flatMap((p) => (p.component === undefined ? [] : [p.component])))].filter(
      (c) => {
        const value = section[c] as JsonRecord | undefined;
        return value !== undefined && value['__t'] !== 'c';
      },
    );
    const evidence = {
      reported: present.map(capabilityName),
      missing: readOnly.filter((p) => !present.includes(p)).map(capabilityName),
      componentsWithoutMarker: unmarked,
      issues: verdict.issues.map((i) => `${i.path}: ${i.message}`).slice(0, 10),
    };
    if (unmarked.length > 0) return fail(`components reported without "__t": "c": ${unmarked.join(', ')}`, evidence);
    if (verdict.issues.length > 0)
      return fail(`reported values do not match the model: ${evidence.issues[0]}`, evidence);
    if (present.length === 0) return fail(`none of its ${readOnly.length} read-only properties is reported`, evidence);
    return pass(
      `${present.length} of ${readOnly.length} read-only properties reported, in the component format`,
      evidence,
    );
  },
};

/** Sets a writable property and waits for its acknowledgement; answers what was seen. */
async function setAndAwaitAck(ctx: CheckContext, p: Capability): Promise<JsonRecord> {
  const value = sampleValue(ctx.model!, p.element.schema ?? '');
  const at = p.component === undefined ? {} : { component: p.component };
  const view = await ctx.client.updateProperties(ctx.deviceId, { [p.name]: value }, at);
  const meta = (view['$metadata'] as Record<string, JsonRecord> | undefined)?.[p.name] ?? {};
  const desiredVersion = Number(meta['desiredVersion']);
  const sent = Date.now();
  const acked = await waitFor(ctx.limits.responseSeconds, async () => {
    const now = await ctx.client.properties(ctx.deviceId, at);
    const m = (now['$metadata'] as Record<string, JsonRecord> | undefined)?.[p.name];
    return m !== undefined && typeof m['ackVersion'] === 'number' && m['ackVersion'] >= desiredVersion ? m : undefined;
  });
  const out: JsonRecord = { property: capabilityName(p), value, desiredVersion };
  if (acked === undefined) {
    const last = (await ctx.client.properties(ctx.deviceId, at))['$metadata'] as Record<string, JsonRecord> | undefined;
    out['ack'] =
      last?.[p.name]?.['ackVersion'] === undefined
        ? null
        : { ac: last[p.name]!['ackCode'], av: last[p.name]!['ackVersion'] };
    out['ok'] = false;
    return out;
  }
  out['ack'] = { ac: acked['ackCode'], av: acked['ackVersion'], ad: acked['ackDescription'] ?? null };
  out['ms'] = Date.now() - sent;
  const ac = Number(acked['ackCode']);
  out['ok'] = acked['ackVersion'] === desiredVersion && ac >= 200 && ac < 300;
  return out;
}

function ackProblem(r: JsonRecord, seconds: number): string {
  const ack = r['ack'] as JsonRecord | null;
  if (ack === null) return `${String(r['property'])}: never acknowledged in ${seconds} s`;
  if (ack['av'] !== r['desiredVersion']) {
    return `${String(r['property'])}: acknowledged with av ${String(ack['av'])}, the desired version is ${String(r['desiredVersion'])}`;
  }
  return `${String(r['property'])}: acknowledged with ac ${String(ack['ac'])}`;
}

const writable: Rule = {
  id: 'writable-ack',
  title: 'Acknowledges writable properties with {value, ac, av = $version, ad}',
  async run(ctx) {
    if (ctx.model === undefined) return noTemplate();
    const writables = capabilities(ctx, 'Property').filter((p) => p.element.writable === true);
    if (writables.length === 0) return skip('the template has no writable properties');
    const results: JsonRecord[] = [];
    for (const p of writables) results.push(await setAndAwaitAck(ctx, p));
    const bad = results.filter((r) => r['ok'] !== true);
    if (bad.length > 0) return fail(ackProblem(bad[0]!, ctx.limits.responseSeconds), { results });
    return pass(`${results.length} writable properties acknowledged with the desired version`, { results });
  },
};

const writableOffline: Rule = {
  id: 'writable-after-reconnect',
  title: 'Picks up a writable property changed while it was offline (full twin on reconnect)',
  async run(ctx) {
    if (ctx.model === undefined) return noTemplate();
    const p = capabilities(ctx, 'Property').find((c) => c.element.writable === true);
    if (p === undefined) return skip('the template has no writable properties');
    const fault = await ctx.client.addFault({ condition: 'unreachable', deviceId: ctx.deviceId });
    let result: JsonRecord;
    try {
      await waitFor(ctx.limits.recoverySeconds, async () => ((await connected(ctx)) ? undefined : true));
      const value = sampleValue(ctx.model, p.element.schema ?? '');
      const at = p.component === undefined ? {} : { component: p.component };
      const view = await ctx.client.updateProperties(ctx.deviceId, { [p.name]: value }, at);
      result = {
        property: capabilityName(p),
        desiredVersion: (view['$metadata'] as Record<string, JsonRecord>)[p.name]?.['desiredVersion'] ?? null,
      };
      await sleep(1000);
    } finally {
      await ctx.client.removeFault(String(fault['id'])).catch(() => undefined);
    }
    const at = p.component === undefined ? {} : { component: p.component };
    const acked = await waitFor(ctx.limits.recoverySeconds + ctx.limits.responseSeconds, async () => {
      const m = ((await ctx.client.properties(ctx.deviceId, at))['$metadata'] as Record<string, JsonRecord>)[p.name];
      return m !== undefined && m['ackVersion'] === result['desiredVersion'] ? m : undefined;
    });
    result['ack'] = acked === undefined ? null : { ac: acked['ackCode'], av: acked['ackVersion'] };
    return acked === undefined
      ? fail(
          `${String(result['property'])}, changed while the device was offline, was not acknowledged after it reconnected`,
          result,
        )
      : pass(
          `the change made while offline was acknowledged after reconnecting (av ${String(acked['ackVersion'])})`,
          result,
        );
  },
};

const commands: Rule = {
  id: 'commands',
  title: "Answers every command in the command's response schema",
  async run(ctx) {
    if (ctx.model === undefined) return noTemplate();
    const all = capabilities(ctx, 'Command').filter((c) => c.element.undefinedProperties['durable'] !== true);
    if (all.length === 0) return skip('the template has no (synchronous) commands');
    const results: JsonRecord[] = [];
    for (const c of all) {
      const body = commandBody(ctx, c);
      const at = c.component === undefined ? {} : { component: c.component };
      try {
        const answer = await ctx.client.runCommand(ctx.deviceId, c.name, body, at);
        const issues = (answer['responseIssues'] as string[] | undefined) ?? [];
        const code = Number(answer['responseCode']);
        results.push({
          command: capabilityName(c),
          request: body['request'] ?? null,
          responseCode: code,
          response: answer['response'] ?? null,
          issues,
          ok: code >= 200 && code < 300 && issues.length === 0,
        });
      } catch (error) {
        results.push({
          command: capabilityName(c),
          request: body['request'] ?? null,
          error: (error as Error).message,
          ok: false,
        });
      }
    }
    const bad = results.filter((r) => r['ok'] !== true);
    if (bad.length > 0) {
      const first = bad[0]!;
      const why =
        first['error'] !== undefined
          ? String(first['error'])
          : (first['issues'] as string[]).length > 0
            ? `response does not match: ${(first['issues'] as string[])[0]}`
            : `answered ${String(first['responseCode'])}`;
      return fail(`${String(first['command'])}: ${why}`, { results });
    }
    return pass(`${results.length} commands answered in their response schemas`, { results });
  },
};

/** The rules about payloads and answers, in the order they run. */
export const BEHAVIOUR_RULES: readonly Rule[] = [
  modelId,
  telemetry,
  creationTime,
  reported,
  writable,
  writableOffline,
  commands,
];
