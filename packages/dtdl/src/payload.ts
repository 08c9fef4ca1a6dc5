// Payload validation: does a JSON value conform to a DTDL schema? Semantics of the official parser's
// ValidateInstance (DTDLParser DT*Info.g.cs), plus the IoT Plug and Play message shapes (telemetry, reported and
// desired properties with the component marker, writable-property acknowledgements, command payloads).

import { DtdlError } from './errors.js';
import { escapePointerToken, readJson } from './json.js';
import type { DtdlModel, ModelElement } from './model.js';

/** One reason a payload does not conform. */
export interface PayloadIssue {
  /** Dotted path of the value, e.g. `thermostat1.targetTemperature` or `report.avgTemp`. */
  readonly path: string;
  /** What was expected and what was found, e.g. `expected double, got "hot"`. */
  readonly message: string;
}

/** Result of a payload validation. */
export interface PayloadResult {
  readonly ok: boolean;
  readonly issues: readonly PayloadIssue[];
  /** Members of a telemetry message or property patch that the model does not define (kept, not rejected). */
  readonly unmodeled: readonly string[];
}

const R_DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const R_DATETIME =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?(?:Z|(?:\+|-)([0-9]{2}):([0-9]{2}))$/;
const R_TIME = /^([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?(?:Z|(?:\+|-)([0-9]{2}):([0-9]{2}))$/;
const R_DURATION =
  /^P(?!$)(?:(?:(?:(?:\d+Y)|(?:\d+\.\d+Y$))?(?:(?:\d+M)|(?:\d+\.\d+M$))?)|(?:(?:(?:\d+W)|(?:\d+\.\d+W$))?))(?:(?:\d+D)|(?:\d+\.\d+D$))?(?:T(?!$)(?:(?:\d+H)|(?:\d+\.\d+H$))?(?:(?:\d+M)|(?:\d+\.\d+M$))?(?:\d+(?:\.\d+)?S)?)?$/;
const R_INTEGER_TOKEN = /^-?(?:0|[1-9][0-9]*)$/;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function validDate(y: number, m: number, d: number): boolean {
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1] ?? 0;
  return d <= days;
}

function validClock(h: number, mi: number, s: number, oh: number, om: number): boolean {
  return h < 24 && mi < 60 && s < 60 && oh < 24 && om < 60;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const GEO_TYPES: Readonly<Record<string, string>> = {
  point: 'Point',
  multiPoint: 'MultiPoint',
  lineString: 'LineString',
  multiLineString: 'MultiLineString',
  polygon: 'Polygon',
  multiPolygon: 'MultiPolygon',
};
// Array nesting of `coordinates` below a position (Array<double>).
const GEO_DEPTH: Readonly<Record<string, number>> = {
  point: 0,
  multiPoint: 1,
  lineString: 1,
  multiLineString: 2,
  polygon: 2,
  multiPolygon: 3,
};

class Validator {
  readonly issues: PayloadIssue[] = [];

  constructor(
    readonly model: DtdlModel,
    readonly rawNumberOf: ((pointer: string) => string | undefined) | undefined,
  ) {}

  issue(path: string, message: string): false {
    this.issues.push({ path, message });
    return false;
  }

  /** Validates `v` (at JSON pointer `ptr` of the input, dotted `path`) against the schema with DTMI `schemaId`. */
  value(schemaId: string, v: unknown, path: string, ptr: string, depth = 0): boolean {
    if (depth > 64) return this.issue(path, 'value is nested too deeply');
    const geo = /^dtmi:standard:schema:geospatial:(\w+);[23]$/.exec(schemaId)?.[1];
    if (geo !== undefined) return this.geospatial(geo, v, path, ptr);
    if (schemaId === 'dtmi:iotcentral:schema:vector;2')
      return this.fixedObject(['x', 'y', 'z'], 'vector', v, path, ptr);
    if (schemaId === 'dtmi:iotcentral:schema:geopoint;2') {
      return this.fixedObject(['lon', 'lat', 'alt'], 'geopoint', v, path, ptr);
    }
    const prim = /^dtmi:dtdl:instance:Schema:(\w+);[23]$/.exec(schemaId)?.[1];
    if (prim !== undefined) return this.primitive(prim, v, path, ptr);
    const s = this.model.get(schemaId);
    if (s === undefined) throw new DtdlError('DTDL_INVALID_ARGUMENT', `Schema ${schemaId} is not in the model.`);
    return this.complex(s, v, path, ptr, depth);
  }

  primitive(kind: string, v: unknown, path: string, ptr: string): boolean {
    const bad = (): false => this.issue(path, `expected ${kind}, got ${show(v)}`);
    switch (kind) {
      case 'boolean':
        return typeof v === 'boolean' || bad();
      case 'string':
        return typeof v === 'string' || bad();
      case 'double':
        return (typeof v === 'number' && Number.isFinite(v)) || bad();
      case 'float':
        return (typeof v === 'number' && Number.isFinite(v) && Number.isFinite(Math.fround(v))) || bad();
      case 'integer':
      case 'long': {
        const raw = this.rawNumberOf?.(ptr);
        let big: bigint | undefined;
        if (typeof v === 'bigint') big = v;
        else if (typeof v === 'number') {
          if (raw !== undefined) {
            if (!R_INTEGER_TOKEN.test(raw)) return bad();
            big = BigInt(raw);
          } else if (Number.isSafeInteger(v)) big = BigInt(v);
          else if (Number.isInteger(v))
            return this.issue(path, `expected ${kind}, got ${show(v)} (beyond exact range; pass JSON text)`);
        }
        if (big === undefined) return bad();
        const ok =
          kind === 'integer'
            ? big >= BigInt(INT32_MIN) && big <= BigInt(INT32_MAX)
            : big >= INT64_MIN && big <= INT64_MAX;
        return ok || this.issue(path, `expected ${kind}, got ${raw ?? show(v)} (out of range)`);
      }
      case 'date': {
        const m = typeof v === 'string' ? R_DATE.exec(v) : null;
        return (m !== null && validDate(Number(m[1]), Number(m[2]), Number(m[3]))) || bad();
      }
      case 'dateTime': {
        const m = typeof v === 'string' ? R_DATETIME.exec(v) : null;
        return (
          (m !== null &&
            validDate(Number(m[1]), Number(m[2]), Number(m[3])) &&
            validClock(Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7] ?? 0), Number(m[8] ?? 0))) ||
          bad()
        );
      }
      case 'time': {
        const m = typeof v === 'string' ? R_TIME.exec(v) : null;
        return (
          (m !== null && validClock(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0))) ||
          bad()
        );
      }
      case 'duration':
        return (typeof v === 'string' && R_DURATION.test(v)) || bad();
      default:
        return this.issue(path, `schema ${kind} is not supported`);
    }
  }

  isObject(v: unknown): v is Record<string, unknown> {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  }

  complex(s: ModelElement, v: unknown, path: string, ptr: string, depth: number): boolean {
    const sub = (key: string | number): { path: string; ptr: string } => ({
      path: typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`,
      ptr: `${ptr}/${escapePointerToken(key)}`,
    });
    switch (s.kind) {
      case 'Enum': {
        const vs = s.valueSchema ?? 'dtmi:dtdl:instance:Schema:string;2';
        if (!this.value(vs, v, path, ptr, depth + 1)) return false;
        const values = (s.enumValues ?? []).map((id) => this.model.get(id)?.enumValue);
        if (values.some((x) => x === v)) return true;
        return this.issue(path, `expected one of ${values.map((x) => show(x)).join(', ')}, got ${show(v)}`);
      }
      case 'Array': {
        if (!Array.isArray(v)) return this.issue(path, `expected an array, got ${show(v)}`);
        let ok = true;
        v.forEach((item, i) => {
          const c = sub(i);
          if (!this.value(s.elementSchema ?? '', item, c.path, c.ptr, depth + 1)) ok = false;
        });
        return ok;
      }
      case 'Map': {
        if (!this.isObject(v)) return this.issue(path, `expected an object (map), got ${show(v)}`);
        const mv = s.mapValue === undefined ? undefined : this.model.get(s.mapValue);
        let ok = true;
        for (const [k, x] of Object.entries(v)) {
          const c = sub(k);
          if (!this.value(mv?.schema ?? '', x, c.path, c.ptr, depth + 1)) ok = false;
        }
        return ok;
      }
      case 'Object': {
        if (!this.isObject(v)) return this.issue(path, `expected an object, got ${show(v)}`);
        const fields = new Map<string, ModelElement>();
        for (const id of s.fields ?? []) {
          const f = this.model.get(id);
          if (f?.name !== undefined) fields.set(f.name, f);
        }
        let ok = true;
        for (const [k, x] of Object.entries(v)) {
          const c = sub(k);
          const f = fields.get(k);
          if (f === undefined) {
            ok = this.issue(c.path, `is not a field of the object (fields: ${[...fields.keys()].join(', ')})`);
          } else if (!this.value(f.schema ?? '', x, c.path, c.ptr, depth + 1)) ok = false;
        }
        return ok;
      }
      default:
        throw new DtdlError('DTDL_INVALID_ARGUMENT', `${s.id} is a ${s.kind}, not a schema.`);
    }
  }

  fixedObject(fields: readonly string[], what: string, v: unknown, path: string, ptr: string): boolean {
    if (!this.isObject(v)) return this.issue(path, `expected a ${what} object, got ${show(v)}`);
    let ok = true;
    for (const [k, x] of Object.entries(v)) {
      const p = path === '' ? k : `${path}.${k}`;
      if (!fields.includes(k)) ok = this.issue(p, `is not a field of ${what} (fields: ${fields.join(', ')})`);
      else if (!this.primitive('double', x, p, `${ptr}/${escapePointerToken(k)}`)) ok = false;
    }
    return ok;
  }

  geospatial(kind: string, v: unknown, path: string, ptr: string): boolean {
    if (!this.isObject(v))
      return this.issue(path, `expected a GeoJSON ${GEO_TYPES[kind] ?? kind} object, got ${show(v)}`);
    let ok = true;
    for (const [k, x] of Object.entries(v)) {
      const p = path === '' ? k : `${path}.${k}`;
      if (k === 'type') {
        if (x !== GEO_TYPES[kind]) ok = this.issue(p, `expected "${GEO_TYPES[kind] ?? ''}", got ${show(x)}`);
      } else if (k === 'coordinates') {
        if (!this.coordinates(x, GEO_DEPTH[kind] ?? 0, p, `${ptr}/coordinates`)) ok = false;
      } else ok = this.issue(p, 'is not a field of a GeoJSON geometry (fields: type, coordinates)');
    }
    return ok;
  }

  coordinates(v: unknown, depth: number, path: string, ptr: string): boolean {
    if (!Array.isArray(v)) return this.issue(path, `expected an array, got ${show(v)}`);
    let ok = true;
    v.forEach((x, i) => {
      const ok1 =
        depth === 0
          ? this.primitive('double', x, `${path}[${i}]`, `${ptr}/${i}`)
          : this.coordinates(x, depth - 1, `${path}[${i}]`, `${ptr}/${i}`);
      if (!ok1) ok = false;
    });
    return ok;
  }
}

/** A payload: JSON text (numbers checked exactly as written) or an already-parsed value. */
export type Payload = string | { readonly value: unknown };

function load(
  payload: Payload,
): { value: unknown; raw: ((p: string) => string | undefined) | undefined } | PayloadIssue {
  if (typeof payload !== 'string') return { value: payload.value, raw: undefined };
  const r = readJson(payload, 128);
  if (!r.ok)
    return { path: '', message: `not JSON: ${r.message} at line ${r.position.line}, column ${r.position.column}` };
  return { value: r.value, raw: r.rawNumberOf };
}

function result(v: Validator, unmodeled: string[] = []): PayloadResult {
  return { ok: v.issues.length === 0, issues: v.issues, unmodeled };
}

/**
 * Validates a value against a schema of the model (a DTMI of an Enum/Object/Map/Array element, a primitive such as
 * `dtmi:dtdl:instance:Schema:double;2`, a geospatial schema, or IoT Central's vector/geopoint).
 *
 * @example
 * ```ts
 * validateValue(model, 'dtmi:dtdl:instance:Schema:double;2', '3').ok; // true
 * validateValue(model, 'dtmi:dtdl:instance:Schema:date;2', { value: '2023-02-29' }).ok; // false
 * ```
 */
export function validateValue(model: DtdlModel, schemaId: string, payload: Payload, path = ''): PayloadResult {
  const loaded = load(payload);
  if (!('value' in loaded)) return { ok: false, issues: [loaded], unmodeled: [] };
  const v = new Validator(model, loaded.raw);
  v.value(schemaId, loaded.value, path, '');
  return result(v);
}

function iface(model: DtdlModel, interfaceId: string, component: string | undefined): ModelElement {
  let i = model.get(interfaceId);
  if (i?.kind !== 'Interface')
    throw new DtdlError('DTDL_INVALID_ARGUMENT', `${interfaceId} is not an Interface of the model.`);
  if (component !== undefined) {
    const cid = i.contents?.[component];
    const c = cid === undefined ? undefined : model.get(cid);
    if (c?.kind !== 'Component' || c.schema === undefined) {
      throw new DtdlError('DTDL_INVALID_ARGUMENT', `${interfaceId} has no component '${component}'.`);
    }
    i = model.get(c.schema);
    if (i === undefined) throw new DtdlError('DTDL_INVALID_ARGUMENT', `Component '${component}' has no Interface.`);
  }
  return i;
}

function contentsOf(model: DtdlModel, i: ModelElement, kind: ModelElement['kind']): Map<string, ModelElement> {
  const out = new Map<string, ModelElement>();
  for (const [name, id] of Object.entries(i.contents ?? {})) {
    const c = model.get(id);
    if (c?.kind === kind) out.set(name, c);
  }
  return out;
}

/** Options of the message validators. */
export interface MessageOptions {
  /** Component the message belongs to (telemetry: the `$.sub` / `dt-subject` of the message). */
  readonly component?: string;
}

/**
 * Validates a telemetry message `{ "<name>": value, ... }` of an Interface (or of one of its components). Names the
 * model does not define are returned in `unmodeled`, as IoT Central keeps them as unmodeled data.
 *
 * @example
 * ```ts
 * const r = validateTelemetry(model, 'dtmi:com:example:TemperatureController;1', '{"temperature": "hot"}', { component: 'thermostat1' });
 * r.issues[0]; // { path: 'thermostat1.temperature', message: 'expected double, got "hot"' }
 * ```
 */
export function validateTelemetry(
  model: DtdlModel,
  interfaceId: string,
  message: Payload,
  options: MessageOptions = {},
): PayloadResult {
  const i = iface(model, interfaceId, options.component);
  const loaded = load(message);
  if (!('value' in loaded)) return { ok: false, issues: [loaded], unmodeled: [] };
  const v = new Validator(model, loaded.raw);
  const prefix = options.component === undefined ? '' : `${options.component}.`;
  const unmodeled: string[] = [];
  if (!v.isObject(loaded.value)) {
    v.issue(options.component ?? '', `expected a telemetry object, got ${show(loaded.value)}`);
    return result(v);
  }
  const telemetry = contentsOf(model, i, 'Telemetry');
  for (const [k, x] of Object.entries(loaded.value)) {
    const t = telemetry.get(k);
    if (t?.schema === undefined) unmodeled.push(`${prefix}${k}`);
    else v.value(t.schema, x, `${prefix}${k}`, `/${escapePointerToken(k)}`);
  }
  return result(v, unmodeled);
}

/** Which side of the twin a property patch is. */
export type PropertyPatchKind = 'reported' | 'desired';

/**
 * Validates a device twin property patch against the Interface: root properties as `{ "<name>": value }`, component
 * properties as `{ "<component>": { "__t": "c", "<name>": value } }`. For `reported` patches a writable property
 * must be the acknowledgement `{ "value", "ac", "av", "ad"? }`; a `desired` patch may only set writable properties
 * and may carry `$version`.
 *
 * @example
 * ```ts
 * validatePropertyPatch(model, id, '{"thermostat1":{"__t":"c","targetTemperature":{"value":21,"ac":200,"av":3}}}', 'reported').ok;
 * ```
 */
export function validatePropertyPatch(
  model: DtdlModel,
  interfaceId: string,
  patch: Payload,
  kind: PropertyPatchKind,
): PayloadResult {
  const root = iface(model, interfaceId, undefined);
  const loaded = load(patch);
  if (!('value' in loaded)) return { ok: false, issues: [loaded], unmodeled: [] };
  const v = new Validator(model, loaded.raw);
  const unmodeled: string[] = [];
  if (!v.isObject(loaded.value)) {
    v.issue('', `expected a property patch object, got ${show(loaded.value)}`);
    return result(v);
  }
  const components = contentsOf(model, root, 'Component');
  const checkProps = (i: ModelElement, obj: Record<string, unknown>, prefix: string, ptr: string): void => {
    const props = contentsOf(model, i, 'Property');
    for (const [k, x] of Object.entries(obj)) {
      const path = `${prefix}${k}`;
      const p = `${ptr}/${escapePointerToken(k)}`;
      if (k === '$version' && kind === 'desired' && prefix === '') continue;
      if (k === '__t' && prefix !== '') continue;
      const prop = props.get(k);
      if (prop?.schema === undefined) {
        unmodeled.push(path);
        continue;
      }
      if (kind === 'desired') {
        if (prop.writable !== true) v.issue(path, 'is not writable; only writable properties can be desired');
        else if (x !== null) v.value(prop.schema, x, path, p);
        continue;
      }
      if (prop.writable !== true) {
        v.value(prop.schema, x, path, p);
        continue;
      }
      if (!v.isObject(x)) {
        v.issue(path, `expected a writable-property acknowledgement {"value", "ac", "av"}, got ${show(x)}`);
        continue;
      }
      for (const key of Object.keys(x)) {
        if (!['value', 'ac', 'av', 'ad'].includes(key))
          v.issue(`${path}.${key}`, 'is not a member of an acknowledgement (value, ac, av, ad)');
      }
      if (!('value' in x)) v.issue(`${path}.value`, 'is missing');
      else v.value(prop.schema, x['value'], `${path}.value`, `${p}/value`);
      if (!('ac' in x)) v.issue(`${path}.ac`, 'is missing');
      else v.primitive('integer', x['ac'], `${path}.ac`, `${p}/ac`);
      if (!('av' in x)) v.issue(`${path}.av`, 'is missing');
      else v.primitive('long', x['av'], `${path}.av`, `${p}/av`);
      if ('ad' in x) v.primitive('string', x['ad'], `${path}.ad`, `${p}/ad`);
    }
  };
  const rootProps: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(loaded.value)) {
    const comp = components.get(k);
    if (comp?.schema === undefined) {
      rootProps[k] = x;
      continue;
    }
    if (!v.isObject(x)) {
      v.issue(k, `expected a component object {"__t": "c", ...}, got ${show(x)}`);
      continue;
    }
    if (x['__t'] !== 'c' && !(kind === 'desired' && Object.keys(x).length === 0)) {
      v.issue(`${k}.__t`, `expected "c" (the component marker), got ${show(x['__t'])}`);
    }
    const ci = model.get(comp.schema);
    if (ci !== undefined) checkProps(ci, x, `${k}.`, `/${escapePointerToken(k)}`);
  }
  checkProps(root, rootProps, '', '');
  return result(v, unmodeled);
}

/** Which payload of a command. */
export type CommandPayloadKind = 'request' | 'response';

/**
 * Validates a command request or response body (the raw value of the payload's schema; the payload `name` is not a
 * wrapper key). A command without a request accepts an empty body (`undefined` text, `""` or `null`).
 *
 * @example
 * ```ts
 * validateCommandPayload(model, id, 'getMaxMinReport', '"2024-01-01T00:00:00Z"', 'request', { component: 'thermostat1' }).ok;
 * ```
 */
export function validateCommandPayload(
  model: DtdlModel,
  interfaceId: string,
  command: string,
  payload: Payload | undefined,
  kind: CommandPayloadKind,
  options: MessageOptions = {},
): PayloadResult {
  const i = iface(model, interfaceId, options.component);
  const cmd = contentsOf(model, i, 'Command').get(command);
  if (cmd === undefined) throw new DtdlError('DTDL_INVALID_ARGUMENT', `${i.id} has no command '${command}'.`);
  const pid = kind === 'request' ? cmd.request : cmd.response;
  const path = `${options.component === undefined ? '' : `${options.component}*`}${command}.${kind}`;
  const empty = payload === undefined || payload === '' || (typeof payload !== 'string' && payload.value == null);
  if (pid === undefined) {
    return empty
      ? { ok: true, issues: [], unmodeled: [] }
      : {
          ok: false,
          issues: [{ path, message: `the command has no ${kind}; expected an empty payload` }],
          unmodeled: [],
        };
  }
  const p = model.get(pid);
  if (p?.schema === undefined)
    throw new DtdlError('DTDL_INVALID_ARGUMENT', `Command '${command}' has no ${kind} schema.`);
  if (empty)
    return { ok: false, issues: [{ path, message: `expected a ${kind} payload, got nothing` }], unmodeled: [] };
  return validateValue(model, p.schema, payload, path);
}
