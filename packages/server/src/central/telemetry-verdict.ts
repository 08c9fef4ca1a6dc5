/**
 * What IoT Central makes of one telemetry message (protocol.md §6.2, §6.6): the values its device
 * template models, and every other member as unmodeled data with the reason — an unknown name, a wrong
 * type, a component or edge module the template lacks, no template at all — or the whole body as
 * invalid JSON. A module's message is judged against the module's capability model. Pure:
 * the same message and template always give the same verdict, so the raw view can be computed again at
 * any time from the stored message.
 */
import { validateTelemetry, type DtdlModel } from '@plugboard/dtdl';
import type { JsonValue } from '../core/model.js';

/** The template a verdict is made against: its capability model id, parsed model and edge modules. */
export interface VerdictTemplate {
  modelId: string;
  model: DtdlModel;
  /** The template's edge modules: each module's name and the DTMI of its capability model. */
  modules?: readonly { name: string; interfaceId: string }[];
}

/** A member of the message that is kept as unmodeled data. */
export interface UnmodeledValue {
  /** Dotted name: `temperature`, or `thermostat1.temperature` for a component. */
  name: string;
  value: JsonValue;
  /** Why it is not modeled, e.g. `expected double, got "hot"`. */
  reason: string;
}

/** The verdict on one message. */
export interface TelemetryVerdict {
  /** Modeled values by telemetry name (of the message's component). */
  modeled: Record<string, JsonValue>;
  unmodeled: UnmodeledValue[];
  /** Set when the body is not a JSON object: nothing of it is modeled. */
  invalid?: string;
}

/** Names IoT Central ignores in telemetry (protocol.md §6.2). */
export const IGNORED_TELEMETRY_NAMES: ReadonlySet<string> = new Set([
  'EventEnqueuedUtcTime',
  'EventProcessedUtcTime',
  'PartitionId',
  'EventHub',
  'User',
  '$metadata',
  '$version',
]);

/**
 * Judges a message body (UTF-8 JSON text) of component `component` (the message's `$.sub`), sent by
 * the device or, with `module`, by its edge module of that name.
 *
 * @example
 * judgeTelemetry(template, '{"temperature":"hot","x":1}', 'thermostat1');
 * // { modeled: {}, unmodeled: [
 * //   { name: 'thermostat1.temperature', value: 'hot', reason: 'expected double, got "hot"' },
 * //   { name: 'thermostat1.x', value: 1, reason: 'the template defines no telemetry x in component thermostat1' } ] }
 */
export function judgeTelemetry(
  template: VerdictTemplate | undefined,
  text: string,
  component: string | undefined,
  module?: string,
): TelemetryVerdict {
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch (error) {
    return { modeled: {}, unmodeled: [], invalid: `not JSON: ${(error as Error).message}` };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { modeled: {}, unmodeled: [], invalid: 'the body is not a JSON object' };
  }
  const members = Object.entries(body as Record<string, JsonValue>).filter(
    ([name]) => !IGNORED_TELEMETRY_NAMES.has(name),
  );
  const prefix = component === undefined ? '' : `${component}.`;
  const all = (reason: string): TelemetryVerdict => ({
    modeled: {},
    unmodeled: members.map(([name, value]) => ({ name: `${prefix}${name}`, value, reason })),
  });
  if (template === undefined) return all('the device has no template');
  let interfaceId = template.modelId;
  const of = module === undefined ? '' : ` of module ${module}`;
  if (module !== undefined) {
    const found = template.modules?.find((m) => m.name === module);
    if (found === undefined) return all(`the template defines no module ${module}`);
    interfaceId = found.interfaceId;
  }
  let result;
  try {
    result = validateTelemetry(template.model, interfaceId, text, component === undefined ? {} : { component });
  } catch {
    return all(`the template has no component ${component ?? ''}${of}`);
  }
  const reasons = new Map<string, string>();
  for (const issue of result.issues) {
    const member = issue.path.slice(prefix.length).split('.')[0] ?? '';
    const detail = issue.path === `${prefix}${member}` ? issue.message : `${issue.path}: ${issue.message}`;
    if (!reasons.has(member)) reasons.set(member, detail);
  }
  const unknown = new Set(result.unmodeled.map((path) => path.slice(prefix.length)));
  const verdict: TelemetryVerdict = { modeled: {}, unmodeled: [] };
  for (const [name, value] of members) {
    const reason = unknown.has(name)
      ? `the template defines no telemetry ${name}${component === undefined ? '' : ` in component ${component}`}${of}`
      : reasons.get(name);
    if (reason === undefined) verdict.modeled[name] = value;
    else verdict.unmodeled.push({ name: `${prefix}${name}`, value, reason });
  }
  return verdict;
}

/**
 * The time Central displays a message at: its `iothub-creation-time-utc` when that is a valid time,
 * otherwise the hub's enqueued time.
 *
 * @example
 * displayedTime('2026-01-01T00:00:01.000Z', '2026-01-01T00:00:00.500Z'); // '2026-01-01T00:00:00.500Z'
 */
export function displayedTime(enqueuedTime: string, creationTime: string | undefined): string {
  if (creationTime === undefined) return enqueuedTime;
  const ms = Date.parse(creationTime);
  return Number.isNaN(ms) ? enqueuedTime : new Date(ms).toISOString();
}
