/**
 * One telemetry capability's value in stored messages, as {@link judgeTelemetry} would model it, for
 * charts that read a day of a device's messages: a numeric capability (`double`, `float`) of a flat
 * message is read with `JSON.parse` and a type check, without validating the rest of the message;
 * everything else (other schemas, nested members, a module or component the template lacks) goes
 * through the full verdict. Both give the same value for every message (the tests compare them).
 */
import type { JsonValue } from '../core/model.js';
import { IGNORED_TELEMETRY_NAMES, judgeTelemetry, type VerdictTemplate } from './telemetry-verdict.js';

/** Reads one capability's modeled value from a message body (UTF-8 JSON text), or undefined. */
export type CapabilityReader = (text: string) => JsonValue | undefined;

const DOUBLE = /^dtmi:dtdl:instance:Schema:double;[23]$/;
const FLOAT = /^dtmi:dtdl:instance:Schema:float;[23]$/;

/** The primitive numeric schema (`double` or `float`) of the capability, if that is what it has. */
function numericSchema(
  template: VerdictTemplate,
  component: string | undefined,
  name: string,
  module: string | undefined,
): 'double' | 'float' | undefined {
  const model = template.model;
  const interfaceId =
    module === undefined ? template.modelId : template.modules?.find((m) => m.name === module)?.interfaceId;
  let owner = interfaceId === undefined ? undefined : model.get(interfaceId);
  if (owner?.kind !== 'Interface') return undefined;
  if (component !== undefined) {
    const componentId = owner.contents?.[component];
    const element = componentId === undefined ? undefined : model.get(componentId);
    if (element?.kind !== 'Component' || element.schema === undefined) return undefined;
    owner = model.get(element.schema);
    if (owner?.kind !== 'Interface') return undefined;
  }
  const capabilityId = owner.contents?.[name];
  const capability = capabilityId === undefined ? undefined : model.get(capabilityId);
  if (capability?.kind !== 'Telemetry' || capability.schema === undefined) return undefined;
  if (DOUBLE.test(capability.schema)) return 'double';
  if (FLOAT.test(capability.schema)) return 'float';
  return undefined;
}

/** Whether every member of the body is a primitive (so the validator reads it as `JSON.parse` does). */
function flat(body: Record<string, unknown>): boolean {
  for (const key in body) {
    const value = body[key];
    if (typeof value === 'object' && value !== null) return false;
  }
  return true;
}

/**
 * The reader of capability `name` (of `component`, of the device or of its module `module`) against
 * `template`.
 *
 * @example
 * const read = capabilityReader(template, undefined, 'temperature', undefined);
 * read('{"temperature":21.5}'); // 21.5
 * read('{"temperature":"hot"}'); // undefined (unmodeled: expected double)
 */
export function capabilityReader(
  template: VerdictTemplate | undefined,
  component: string | undefined,
  name: string,
  module: string | undefined,
): CapabilityReader {
  if (template === undefined || IGNORED_TELEMETRY_NAMES.has(name)) return () => undefined;
  const full: CapabilityReader = (text) => judgeTelemetry(template, text, component, module).modeled[name];
  const kind = numericSchema(template, component, name, module);
  if (kind === undefined) return full;
  return (text) => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
    const members = body as Record<string, unknown>;
    if (!flat(members)) return full(text);
    if (!Object.hasOwn(members, name)) return undefined;
    const value = members[name];
    if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
    if (kind === 'float' && !Number.isFinite(Math.fround(value))) return undefined;
    return value;
  };
}
