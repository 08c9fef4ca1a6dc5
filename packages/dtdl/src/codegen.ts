// TypeScript code generation: types for each Interface's telemetry, read-only and writable properties (with the
// writable-property acknowledgement) and command request/response, per component, plus a runtime descriptor.

import { DtdlError } from './errors.js';
import type { DtdlModel, ModelElement } from './model.js';

/** Options of {@link generateTypeScript}. */
export interface CodegenOptions {
  /** Root Interfaces to generate (default: the model's top-level Interfaces that no other root uses). */
  readonly interfaceIds?: readonly string[];
}

/** Runtime description of a schema, as emitted in the descriptor. */
export type SchemaDescriptor =
  | string
  | { readonly kind: 'Array'; readonly elementSchema: SchemaDescriptor }
  | { readonly kind: 'Map'; readonly mapValue: SchemaDescriptor }
  | { readonly kind: 'Object'; readonly fields: Readonly<Record<string, SchemaDescriptor>> }
  | {
      readonly kind: 'Enum';
      readonly valueSchema: 'integer' | 'string';
      readonly values: Readonly<Record<string, string | number>>;
    };

const PRIMITIVE_TS: Readonly<Record<string, string>> = {
  boolean: 'boolean',
  date: 'DtdlDate',
  dateTime: 'DtdlDateTime',
  double: 'number',
  duration: 'DtdlDuration',
  float: 'number',
  integer: 'number',
  long: 'number',
  string: 'string',
  time: 'DtdlTime',
};

const GEO_TS: Readonly<Record<string, string>> = {
  point: "{ readonly type?: 'Point'; readonly coordinates?: readonly number[] }",
  multiPoint: "{ readonly type?: 'MultiPoint'; readonly coordinates?: readonly (readonly number[])[] }",
  lineString: "{ readonly type?: 'LineString'; readonly coordinates?: readonly (readonly number[])[] }",
  multiLineString:
    "{ readonly type?: 'MultiLineString'; readonly coordinates?: readonly (readonly (readonly number[])[])[] }",
  polygon: "{ readonly type?: 'Polygon'; readonly coordinates?: readonly (readonly (readonly number[])[])[] }",
  multiPolygon:
    "{ readonly type?: 'MultiPolygon'; readonly coordinates?: readonly (readonly (readonly (readonly number[])[])[])[] }",
};

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function key(name: string): string {
  return IDENT.test(name) && name !== '__proto__' ? name : JSON.stringify(name);
}

function pascal(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase());
  const p = cleaned.charAt(0).toUpperCase() + cleaned.slice(1);
  return /^[A-Za-z_]/.test(p) ? p : `I${p}`;
}

function camel(s: string): string {
  const p = pascal(s);
  return p.charAt(0).toLowerCase() + p.slice(1);
}

function lit(v: unknown): string {
  return JSON.stringify(v);
}

class Generator {
  readonly names = new Map<string, string>();
  readonly used = new Set<string>();

  constructor(readonly model: DtdlModel) {}

  el(id: string | undefined): ModelElement | undefined {
    return id === undefined ? undefined : this.model.get(id);
  }

  /** A unique TypeScript base name for an Interface. */
  nameOf(i: ModelElement): string {
    const known = this.names.get(i.id);
    if (known !== undefined) return known;
    const label = i.id.replace(/;.*$/, '').split(':').pop() ?? 'Interface';
    let base = pascal(label);
    if (this.used.has(base)) base = `${base}V${i.id.replace(/^.*;/, '').replace(/\./g, '_')}`;
    let n = base;
    for (let k = 2; this.used.has(n); k++) n = `${base}${k}`;
    this.used.add(n);
    this.names.set(i.id, n);
    return n;
  }

  tsType(schemaId: string | undefined, depth = 0): string {
    if (schemaId === undefined || depth > 16) return 'unknown';
    const prim = /^dtmi:dtdl:instance:Schema:(\w+);[23]$/.exec(schemaId)?.[1];
    if (prim !== undefined) return PRIMITIVE_TS[prim] ?? 'unknown';
    const geo = /^dtmi:standard:schema:geospatial:(\w+);[23]$/.exec(schemaId)?.[1];
    if (geo !== undefined) return GEO_TS[geo] ?? 'unknown';
    if (schemaId === 'dtmi:iotcentral:schema:vector;2')
      return '{ readonly x?: number; readonly y?: number; readonly z?: number }';
    if (schemaId === 'dtmi:iotcentral:schema:geopoint;2') {
      return '{ readonly lon?: number; readonly lat?: number; readonly alt?: number }';
    }
    const s = this.el(schemaId);
    switch (s?.kind) {
      case 'Enum': {
        const values = (s.enumValues ?? []).map((id) => this.el(id)?.enumValue).filter((v) => v !== undefined);
        return values.length === 0 ? 'never' : values.map(lit).join(' | ');
      }
      case 'Array':
        return `readonly (${this.tsType(s.elementSchema, depth + 1)})[]`;
      case 'Map':
        return `{ readonly [key: string]: ${this.tsType(this.el(s.mapValue)?.schema, depth + 1)} }`;
      case 'Object': {
        const fields = (s.fields ?? [])
          .map((id) => this.el(id))
          .filter((f): f is ModelElement => f?.name !== undefined)
          .map((f) => `readonly ${key(f.name ?? '')}?: ${this.tsType(f.schema, depth + 1)}`);
        return fields.length === 0 ? 'Record<string, never>' : `{ ${fields.join('; ')} }`;
      }
      default:
        return 'unknown';
    }
  }

  descriptor(schemaId: string | undefined, depth = 0): SchemaDescriptor {
    if (schemaId === undefined || depth > 16) return 'unknown';
    const prim = /^dtmi:dtdl:instance:Schema:(\w+);[23]$/.exec(schemaId)?.[1];
    if (prim !== undefined) return prim;
    const s = this.el(schemaId);
    switch (s?.kind) {
      case 'Enum': {
        const values: Record<string, string | number> = {};
        for (const id of s.enumValues ?? []) {
          const v = this.el(id);
          if (v?.name !== undefined && v.enumValue !== undefined) values[v.name] = v.enumValue;
        }
        return {
          kind: 'Enum',
          valueSchema: s.valueSchema?.includes(':integer;') === true ? 'integer' : 'string',
          values,
        };
      }
      case 'Array':
        return { kind: 'Array', elementSchema: this.descriptor(s.elementSchema, depth + 1) };
      case 'Map':
        return { kind: 'Map', mapValue: this.descriptor(this.el(s.mapValue)?.schema, depth + 1) };
      case 'Object': {
        const fields: Record<string, SchemaDescriptor> = {};
        for (const id of s.fields ?? []) {
          const f = this.el(id);
          if (f?.name !== undefined) fields[f.name] = this.descriptor(f.schema, depth + 1);
        }
        return { kind: 'Object', fields };
      }
      default:
        return schemaId; // geospatial, vector, geopoint: by DTMI
    }
  }

  contents(i: ModelElement): ModelElement[] {
    return Object.values(i.contents ?? {})
      .map((id) => this.el(id))
      .filter((c): c is ModelElement => c !== undefined);
  }

  doc(e: ModelElement, indent: string): string {
    const text = e.description['en'] ?? e.displayName['en'];
    return text === undefined ? '' : `${indent}/** ${text.replace(/\*\//g, '*\\/').replace(/\s+/g, ' ')} */\n`;
  }

  /** Types and descriptor entry of one Interface (no components). */
  emitInterface(i: ModelElement): { code: string; descriptor: Record<string, unknown> } {
    const n = this.nameOf(i);
    const items = this.contents(i);
    const tel = items.filter((c) => c.kind === 'Telemetry');
    const ro = items.filter((c) => c.kind === 'Property' && c.writable !== true);
    const rw = items.filter((c) => c.kind === 'Property' && c.writable === true);
    const cmds = items.filter((c) => c.kind === 'Command');
    const block = (name: string, what: string, members: ModelElement[]): string =>
      `/** ${what} of ${i.id}. */\nexport interface ${name} {\n${members
        .map((m) => `${this.doc(m, '  ')}  readonly ${key(m.name ?? '')}?: ${this.tsType(m.schema)};\n`)
        .join('')}}\n`;
    let code = `// ---- ${i.id} ----\n\n`;
    code += block(`${n}Telemetry`, 'Telemetry', tel);
    code += block(`${n}ReadOnlyProperties`, 'Read-only (reported) properties', ro);
    code += block(`${n}WritableProperties`, 'Writable (desired) properties', rw);
    code += `/** Reported acknowledgements of the writable properties of ${i.id}. */\nexport type ${n}WritableAcks = { readonly [K in keyof ${n}WritableProperties]?: WritableAck<NonNullable<${n}WritableProperties[K]>> };\n`;
    code += `/** Commands of ${i.id}: request and response payload types. */\nexport interface ${n}Commands {\n`;
    for (const c of cmds) {
      const req = this.el(c.request);
      const resp = this.el(c.response);
      code += `${this.doc(c, '  ')}  readonly ${key(c.name ?? '')}: { readonly request: ${req === undefined ? 'undefined' : this.tsType(req.schema)}; readonly response: ${resp === undefined ? 'undefined' : this.tsType(resp.schema)} };\n`;
    }
    code += '}\n';
    code += `/** Everything a device implementing ${i.id} exchanges. */\nexport interface ${n}Capabilities {\n  readonly telemetry: ${n}Telemetry;\n  readonly readOnlyProperties: ${n}ReadOnlyProperties;\n  readonly writableProperties: ${n}WritableProperties;\n  readonly writableAcks: ${n}WritableAcks;\n  readonly commands: ${n}Commands;\n}\n\n`;
    const telemetry: Record<string, unknown> = {};
    for (const t of tel) telemetry[t.name ?? ''] = { schema: this.descriptor(t.schema) };
    const properties: Record<string, unknown> = {};
    for (const p of [...ro, ...rw])
      properties[p.name ?? ''] = { schema: this.descriptor(p.schema), writable: p.writable === true };
    const commands: Record<string, unknown> = {};
    for (const c of cmds) {
      const req = this.el(c.request);
      const resp = this.el(c.response);
      commands[c.name ?? ''] = {
        ...(req === undefined ? {} : { request: this.descriptor(req.schema) }),
        ...(resp === undefined ? {} : { response: this.descriptor(resp.schema) }),
      };
    }
    return { code, descriptor: { telemetry, properties, commands } };
  }
}

/**
 * Generates one TypeScript module with types for each root Interface (and the Interfaces of its components) and a
 * runtime descriptor the device SDK consumes. The output compiles under `strict`, `exactOptionalPropertyTypes` and
 * `noUncheckedIndexedAccess`.
 *
 * @example
 * ```ts
 * const r = parse([controllerText, thermostatText, deviceInfoText]);
 * if (r.model) writeFileSync('model.ts', generateTypeScript(r.model));
 * // import type { TemperatureControllerDevice } from './model.js';
 * ```
 */
export function generateTypeScript(model: DtdlModel, options: CodegenOptions = {}): string {
  const g = new Generator(model);
  let roots = options.interfaceIds ?? model.roots;
  if (options.interfaceIds === undefined) {
    // Skip roots that are only used as components or bases of other roots.
    const used = new Set<string>();
    for (const r of model.roots) {
      const i = model.get(r);
      for (const c of g.contents(i ?? ({} as ModelElement)))
        if (c.kind === 'Component' && c.schema !== undefined) used.add(c.schema);
      for (const e of i?.extends ?? []) used.add(e);
    }
    const top = model.roots.filter((r) => !used.has(r));
    roots = top.length > 0 ? top : model.roots;
  }
  const emitted = new Map<string, Record<string, unknown>>();
  let body = '';
  const emit = (i: ModelElement): void => {
    if (emitted.has(i.id)) return;
    const r = g.emitInterface(i);
    emitted.set(i.id, r.descriptor);
    body += r.code;
  };
  const rootInfo: { id: string; name: string; components: [string, string][] }[] = [];
  for (const id of roots) {
    const i = model.get(id);
    if (i?.kind !== 'Interface')
      throw new DtdlError('DTDL_INVALID_ARGUMENT', `${id} is not an Interface of the model.`);
    emit(i);
    const components: [string, string][] = [];
    for (const c of g.contents(i)) {
      if (c.kind !== 'Component') continue;
      const ci = g.el(c.schema);
      if (ci?.kind !== 'Interface') continue;
      emit(ci);
      components.push([c.name ?? '', ci.id]);
    }
    rootInfo.push({ id, name: g.nameOf(i), components });
  }
  let devices = '';
  for (const r of rootInfo) {
    devices += `/** A device implementing ${r.id}: the root capabilities and each component's. */\nexport interface ${r.name}Device {\n  readonly modelId: ${lit(r.id)};\n  readonly root: ${r.name}Capabilities;\n  readonly components: {\n${r.components
      .map(([name, ci]) => `    readonly ${key(name)}: ${g.names.get(ci) ?? 'never'}Capabilities;\n`)
      .join('')}  };\n}\n\n`;
    const descriptor = {
      modelId: r.id,
      interfaces: Object.fromEntries([r.id, ...r.components.map(([, ci]) => ci)].map((id) => [id, emitted.get(id)])),
      components: Object.fromEntries(r.components),
    };
    devices += `/** Runtime descriptor of ${r.id} for the device SDK. */\nexport const ${camel(r.name)}Descriptor = ${JSON.stringify(descriptor, null, 2)} as const;\n\n`;
  }
  const header = `// Generated by @plugboard/dtdl from ${roots.join(', ')}. Do not edit.
/* eslint-disable */

/** DTDL date: RFC 3339 full-date, e.g. "2024-02-29". */
export type DtdlDate = string;
/** DTDL dateTime: RFC 3339 date-time with offset, e.g. "2024-02-29T06:00:00Z". */
export type DtdlDateTime = string;
/** DTDL time: RFC 3339 partial-time with offset, e.g. "06:00:00Z". */
export type DtdlTime = string;
/** DTDL duration: ISO 8601 duration, e.g. "PT1H30M". */
export type DtdlDuration = string;

/** Reported acknowledgement of a writable property (IoT Plug and Play convention). */
export interface WritableAck<T> {
  readonly value: T;
  /** HTTP-like status: 200 accepted, 202 in progress, 203 set by device, 400 rejected, 500 error. */
  readonly ac: number;
  /** The desired $version being acknowledged. */
  readonly av: number;
  readonly ad?: string;
}

`;
  return header + body + devices;
}
