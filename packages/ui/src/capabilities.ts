/**
 * What the UI shows of a device template: the telemetry capabilities of its model (the root interface's
 * and each component's), with their display names, schemas and units. The template is the Central API's
 * `GET /api/deviceTemplates/{id}` answer, its `capabilityModel` a DTDL v2 interface whose components'
 * schemas are inlined (../shared/reference/dtdl.md).
 */

/** One telemetry capability: where it is (component or root), its name, how to show it. */
export interface TelemetryCapability {
  component?: string;
  name: string;
  displayName: string;
  /** The schema's name for primitives (`double`, `integer`, …), `complex` otherwise. */
  schema: string;
  unit?: string;
  /** Whether its values are numbers a chart can draw. */
  numeric: boolean;
}

const NUMERIC = new Set(['double', 'float', 'integer', 'long']);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function types(item: Json): string[] {
  const type = item['@type'];
  return (Array.isArray(type) ? type : [type]).filter((t): t is string => typeof t === 'string');
}

/** A DTDL display name (a string, or a language map) as text; `fallback` when there is none. */
export function displayText(value: unknown, fallback: string): string {
  if (typeof value === 'string') return value;
  if (isObject(value)) {
    const text = value['en'] ?? Object.values(value)[0];
    if (typeof text === 'string') return text;
  }
  return fallback;
}

function telemetryOf(contents: unknown, component: string | undefined): TelemetryCapability[] {
  if (!Array.isArray(contents)) return [];
  const out: TelemetryCapability[] = [];
  for (const item of contents) {
    if (!isObject(item) || typeof item['name'] !== 'string') continue;
    const kinds = types(item);
    if (kinds.includes('Telemetry')) {
      const schema = typeof item['schema'] === 'string' ? item['schema'] : 'complex';
      const capability: TelemetryCapability = {
        name: item['name'],
        displayName: displayText(item['displayName'], item['name']),
        schema,
        numeric: NUMERIC.has(schema),
      };
      if (component !== undefined) capability.component = component;
      if (typeof item['unit'] === 'string') capability.unit = item['unit'];
      out.push(capability);
    } else if (kinds.includes('Component') && component === undefined && isObject(item['schema'])) {
      out.push(...telemetryOf(item['schema']['contents'], item['name']));
    }
  }
  return out;
}

/**
 * The telemetry capabilities of a template, root first, then by component.
 *
 * @example
 * telemetryCapabilities({ capabilityModel: { contents: [{ '@type': 'Telemetry', name: 'temperature', schema: 'double' }] } });
 * // [{ name: 'temperature', displayName: 'temperature', schema: 'double', numeric: true }]
 */
export function telemetryCapabilities(template: unknown): TelemetryCapability[] {
  if (!isObject(template) || !isObject(template['capabilityModel'])) return [];
  return telemetryOf(template['capabilityModel']['contents'], undefined);
}
