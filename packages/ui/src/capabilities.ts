/**
 * What the UI shows of a device template: the telemetry, property and command capabilities of its model
 * (the root interface's and each component's), with their display names, schemas and units, and a
 * template's components with their capabilities for its page. The template is the Central API's
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

/** One property capability: where it is, its name and schema, and whether an operator may set it. */
export interface PropertyCapability {
  component?: string;
  name: string;
  displayName: string;
  schema: unknown;
  writable: boolean;
}

/** One command capability: where it is, its name, and its request's name and schema (if it has one). */
export interface CommandCapability {
  component?: string;
  name: string;
  displayName: string;
  request?: { name: string; displayName: string; schema: unknown };
}

function contentsOf(template: unknown): { component: string | undefined; item: Json }[] {
  if (!isObject(template) || !isObject(template['capabilityModel'])) return [];
  const out: { component: string | undefined; item: Json }[] = [];
  const walk = (contents: unknown, component: string | undefined): void => {
    if (!Array.isArray(contents)) return;
    for (const item of contents) {
      if (!isObject(item) || typeof item['name'] !== 'string') continue;
      if (types(item).includes('Component')) {
        if (component === undefined && isObject(item['schema'])) walk(item['schema']['contents'], item['name']);
      } else out.push({ component, item });
    }
  };
  walk(template['capabilityModel']['contents'], undefined);
  return out;
}

/** The property capabilities of a template, root first, then by component. */
export function propertyCapabilities(template: unknown): PropertyCapability[] {
  return contentsOf(template)
    .filter(({ item }) => types(item).includes('Property'))
    .map(({ component, item }) => {
      const name = item['name'] as string;
      const capability: PropertyCapability = {
        name,
        displayName: displayText(item['displayName'], name),
        schema: item['schema'],
        writable: item['writable'] === true,
      };
      if (component !== undefined) capability.component = component;
      return capability;
    });
}

/** The command capabilities of a template, root first, then by component. */
export function commandCapabilities(template: unknown): CommandCapability[] {
  return contentsOf(template)
    .filter(({ item }) => types(item).includes('Command'))
    .map(({ component, item }) => {
      const name = item['name'] as string;
      const capability: CommandCapability = { name, displayName: displayText(item['displayName'], name) };
      if (component !== undefined) capability.component = component;
      const request = item['request'];
      if (isObject(request) && typeof request['name'] === 'string') {
        capability.request = {
          name: request['name'],
          displayName: displayText(request['displayName'], request['name']),
          schema: request['schema'],
        };
      }
      return capability;
    });
}

/** One capability as a template's view lists it. */
export interface CapabilityRow {
  kind: 'Telemetry' | 'Property' | 'Command';
  name: string;
  displayName: string;
  /** The schema's name (`double`, `string`, …) or its kind (`Object`, `Enum`, `Map`, `Array`). */
  schema: string;
  unit?: string;
  writable?: boolean;
}

/** A template's root interface or one of its components, with its capabilities. */
export interface TemplateComponent {
  /** The component's name; none for the root interface. */
  name?: string;
  displayName: string;
  interfaceId: string;
  capabilities: CapabilityRow[];
}

function schemaName(schema: unknown): string {
  if (typeof schema === 'string') return schema;
  if (isObject(schema)) return types(schema)[0] ?? 'complex';
  return '—';
}

function rowsOf(contents: unknown): CapabilityRow[] {
  if (!Array.isArray(contents)) return [];
  const rows: CapabilityRow[] = [];
  for (const item of contents) {
    if (!isObject(item) || typeof item['name'] !== 'string') continue;
    const kind = (['Telemetry', 'Property', 'Command'] as const).find((k) => types(item).includes(k));
    if (kind === undefined) continue;
    const schema =
      kind === 'Command'
        ? schemaName(isObject(item['request']) ? item['request']['schema'] : undefined)
        : schemaName(item['schema']);
    const row: CapabilityRow = {
      kind,
      name: item['name'],
      displayName: displayText(item['displayName'], item['name']),
      schema,
    };
    if (typeof item['unit'] === 'string') row.unit = item['unit'];
    if (kind === 'Property') row.writable = item['writable'] === true;
    rows.push(row);
  }
  return rows;
}

/**
 * A template's root interface and its components, each with its capabilities (a command's schema is
 * its request's).
 *
 * @example
 * templateComponents(template).map((c) => `${c.name ?? 'root'}: ${c.capabilities.length}`);
 */
export function templateComponents(template: unknown): TemplateComponent[] {
  if (!isObject(template) || !isObject(template['capabilityModel'])) return [];
  const root = template['capabilityModel'];
  const rootId = typeof root['@id'] === 'string' ? root['@id'] : '';
  const out: TemplateComponent[] = [
    {
      displayName: displayText(root['displayName'], 'Root interface'),
      interfaceId: rootId,
      capabilities: rowsOf(root['contents']),
    },
  ];
  const contents = Array.isArray(root['contents']) ? root['contents'] : [];
  for (const item of contents) {
    if (!isObject(item) || typeof item['name'] !== 'string' || !types(item).includes('Component')) continue;
    const schema = item['schema'];
    out.push({
      name: item['name'],
      displayName: displayText(item['displayName'], item['name']),
      interfaceId:
        typeof schema === 'string'
          ? schema
          : isObject(schema) && typeof schema['@id'] === 'string'
            ? schema['@id']
            : '',
      capabilities: isObject(schema) ? rowsOf(schema['contents']) : [],
    });
  }
  return out;
}

/** DTDL v2 unit names (../shared/reference/dtdl.md, semantic types) and their symbols. */
const UNIT_SYMBOLS: Readonly<Record<string, string>> = {
  degreeCelsius: '°C',
  degreeFahrenheit: '°F',
  kelvin: 'K',
  percent: '%',
  partsPerMillion: 'ppm',
  metre: 'm',
  centimetre: 'cm',
  millimetre: 'mm',
  micrometre: 'µm',
  kilometre: 'km',
  foot: 'ft',
  inch: 'in',
  mile: 'mi',
  second: 's',
  millisecond: 'ms',
  microsecond: 'µs',
  minute: 'min',
  hour: 'h',
  day: 'd',
  hertz: 'Hz',
  kilohertz: 'kHz',
  megahertz: 'MHz',
  gigahertz: 'GHz',
  revolutionPerMinute: 'rpm',
  revolutionPerSecond: 'rps',
  volt: 'V',
  millivolt: 'mV',
  microvolt: 'µV',
  kilovolt: 'kV',
  ampere: 'A',
  milliampere: 'mA',
  microampere: 'µA',
  ohm: 'Ω',
  watt: 'W',
  milliwatt: 'mW',
  kilowatt: 'kW',
  megawatt: 'MW',
  joule: 'J',
  kilojoule: 'kJ',
  wattHour: 'Wh',
  kilowattHour: 'kWh',
  newton: 'N',
  pascal: 'Pa',
  kilopascal: 'kPa',
  hectopascal: 'hPa',
  bar: 'bar',
  millibar: 'mbar',
  poundPerSquareInch: 'psi',
  gram: 'g',
  kilogram: 'kg',
  milligram: 'mg',
  microgram: 'µg',
  metrePerSecond: 'm/s',
  kilometrePerHour: 'km/h',
  milePerHour: 'mph',
  knot: 'kn',
  metrePerSecondSquared: 'm/s²',
  gForce: 'g',
  litre: 'L',
  millilitre: 'mL',
  cubicMetre: 'm³',
  litrePerSecond: 'L/s',
  cubicMetrePerSecond: 'm³/s',
  microgramPerCubicMetre: 'µg/m³',
  degreeOfArc: '°',
  radian: 'rad',
  radianPerSecond: 'rad/s',
  degreePerSecond: '°/s',
  lux: 'lx',
  candela: 'cd',
  decibel: 'dB',
  bel: 'B',
  bit: 'bit',
  byte: 'B',
  kilobyte: 'kB',
  megabyte: 'MB',
  gigabyte: 'GB',
  bitPerSecond: 'bit/s',
  kilobitPerSecond: 'kbit/s',
  megabitPerSecond: 'Mbit/s',
  bytePerSecond: 'B/s',
  kilobytePerSecond: 'kB/s',
  megabytePerSecond: 'MB/s',
};

/**
 * A DTDL unit's symbol, or the unit's own name when it has none here.
 *
 * @example
 * unitSymbol('degreeCelsius'); // '°C'
 */
export function unitSymbol(unit: string): string {
  return UNIT_SYMBOLS[unit] ?? unit;
}
