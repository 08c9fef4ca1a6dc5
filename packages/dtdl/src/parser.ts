// The DTDL parser: documents -> elements (per-element rules) -> resolved graph (cross-element rules) -> object model.
// Rule text: DTDL/v2/DTDL.Specification.v2.md, DTDL/v3/DTDL.Specification.v3.md; codes: the official ValidationIDs.

import { isValidDtmi, MAX_DTMI_LENGTH, type DtdlVersion } from './dtmi.js';
import { DtdlError } from './errors.js';
import { escapePointerToken, readJson, type TextPosition } from './json.js';
import {
  CLASSES,
  GEOSPATIAL_SCHEMAS,
  LIMITS,
  MATERIAL_TERMS,
  memberTerms,
  NUMERIC_CLASSES,
  PRIMITIVE_SCHEMAS,
  type ClassName,
  type MemberDef,
} from './metamodel.js';
import type { Diagnostic, DiagnosticLocation, DtdlModel, ModelElement, ParseResult } from './model.js';
import {
  HISTORIZATION_TERMS,
  IOTCENTRAL_TERMS,
  QT_SEMANTIC_UNIT_TYPES,
  QT_UNITS,
  QUANTITATIVE_TYPES_TERMS,
  V2_SEMANTIC_UNIT_TYPES,
  V2_TERMS,
  V2_UNITS,
  V3_TERMS,
} from './vocab.generated.js';

/** Options of {@link parse}. */
export interface ParseOptions {
  /**
   * Accept `@context` values that name extensions this parser does not know (the model is then "contextually
   * incomplete" and informally co-typed where needed). Default: per DTDL version — allowed in v2, rejected in v3.
   */
  readonly allowUndefinedExtensions?: boolean;
  /** Highest DTDL version to accept (default 3). */
  readonly maxDtdlVersion?: DtdlVersion;
  /** Maximum nesting depth of a JSON document (default 256). */
  readonly maxJsonDepth?: number;
}

const E = 'dtmi:dtdl:parsingError:';
const W = 'dtmi:plugboard:parsingWarning:';

const LANG_RE = /^[a-z]{2,4}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$/;
const XSD = 'http://www.w3.org/2001/XMLSchema#';

type Ctx = {
  /** de-versioned context DTMI -> full DTMI */
  readonly map: ReadonlyMap<string, string>;
  readonly version: DtdlVersion | undefined;
  readonly iotc: boolean;
  readonly qt: boolean;
  readonly hist: boolean;
  readonly incomplete: boolean;
};

type Val =
  | { readonly kind: 'node'; readonly node: Node; readonly ptr: string }
  | { readonly kind: 'ref'; readonly id: string; readonly ptr: string };

interface Node {
  id: string;
  explicitId: boolean;
  cls: ClassName;
  version: DtdlVersion;
  builtin: boolean;
  /** geospatial builtin or iotcentral vector/geopoint */
  geo?: 'geospatial' | 'iotc';
  doc: number;
  ptr: string;
  ctx: Ctx;
  parent: Node | undefined;
  parentProp: string | undefined;
  partition: Node | undefined;
  topLevel: boolean;
  lits: Map<string, unknown>;
  langs: Map<string, Record<string, string>>;
  refs: Map<string, Val[]>;
  iris: Map<string, string>;
  semantic: string[];
  adjunct: string[];
  undefinedTypes: string[];
  unit: string | undefined;
  unitPtr: string;
  undefinedProps: Record<string, unknown>;
}

interface DocInfo {
  readonly positionOf: ((pointer: string) => TextPosition | undefined) | undefined;
}

const REQUIRED = new Map<string, [string, MemberDef][]>();
/** The required members of a class (cached). */
function requiredMembers(version: DtdlVersion, cls: ClassName): [string, MemberDef][] {
  const k = `${version}${cls}`;
  let r = REQUIRED.get(k);
  if (r === undefined) {
    r = Object.entries(CLASSES[version][cls] ?? {}).filter(([, d]) => (d.min ?? 0) > 0);
    REQUIRED.set(k, r);
  }
  return r;
}

const MATERIAL_SETS: Readonly<Record<DtdlVersion, ReadonlySet<string>>> = {
  2: new Set(MATERIAL_TERMS[2]),
  3: new Set(MATERIAL_TERMS[3]),
};

interface Closure {
  readonly all: readonly Node[];
  readonly cyclic: boolean;
  readonly depth: number;
}

// Shared empty values: most elements have no language strings, IRI members, co-types or undefined members, and
// allocating them per element dominated the garbage collector's work on large models. Never mutated.
const NO_LANGS: Map<string, Record<string, string>> = new Map();
const NO_IRIS: Map<string, string> = new Map();
const NO_LITS: Map<string, unknown> = new Map();
const NO_REFS: Map<string, Val[]> = new Map();
const NO_PROPS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const NONE: string[] = Object.freeze([]) as unknown as string[];

// JSON Pointer steps ('/' + escaped token) for member names and array indexes, made once: building the pointer
// of every member and value as one concatenation instead of two was a large share of the allocations.
const STEPS = new Map<string, string>();
const INDEX_STEPS = Array.from({ length: 256 }, (_, k) => `/${k}`);

/** What an element's `@type` says. */
interface TypeFacts {
  readonly cls: ClassName;
  readonly semantic: string[];
  readonly adjunct: string[];
  readonly undefinedTypes: string[];
  readonly informal: boolean;
  readonly inferred: boolean;
}

/** `'/' + escaped key`; cached for the terms of the DTDL vocabularies. */
function step(key: string): string {
  return STEPS.get(key) ?? `/${escapePointerToken(key)}`;
}

/** The `@type` facts of an element whose `@type` is one material class term (one frozen object per class). */
const PLAIN_TYPES = new Map<ClassName, TypeFacts>();
function plainType(cls: ClassName): TypeFacts {
  let facts = PLAIN_TYPES.get(cls);
  if (facts === undefined) {
    facts = Object.freeze({
      cls,
      semantic: NONE,
      adjunct: NONE,
      undefinedTypes: NONE,
      informal: false,
      inferred: false,
    });
    PLAIN_TYPES.set(cls, facts);
  }
  return facts;
}

/** `list` with `item` added; a new array when `list` is the shared empty {@link NONE}. */
function appended(list: string[], item: string): string[] {
  if (list === NONE) return [item];
  list.push(item);
  return list;
}

/** `'/' + index`. */
function indexStep(k: number): string {
  return INDEX_STEPS[k] ?? `/${k}`;
}

/** Maximum nesting of elements (each element level is at least two JSON levels). */
const MAX_ELEMENT_DEPTH = 100;

const EMPTY_CTX: Ctx = {
  map: new Map(),
  version: undefined,
  iotc: false,
  qt: false,
  hist: false,
  incomplete: false,
};

const V2_MEMBER_TERMS = memberTerms(2);
const V3_MEMBER_TERMS = memberTerms(3);
for (const term of [...V2_MEMBER_TERMS, ...V3_MEMBER_TERMS, '@context', '@id', '@type']) {
  STEPS.set(term, `/${escapePointerToken(term)}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeOfJson(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string '${v.length > 60 ? `${v.slice(0, 57)}...` : v}'`;
  return `${typeof v} ${String(v)}`;
}

/** The element's `name` as written (term or DTMI member, bare, value object or 1-element array), for generated ids. */
function rawName(obj: Record<string, unknown>): string | undefined {
  let v = obj['name'] ?? obj['dtmi:dtdl:property:name;2'] ?? obj['dtmi:dtdl:property:name;3'];
  if (Array.isArray(v)) v = v[0];
  if (isObject(v)) v = v['@value'];
  return typeof v === 'string' ? v : undefined;
}

/** Maximum nesting depth of arrays/objects in a JSON text (strings skipped); stops counting past 10,000. */
function jsonDepth(text: string, limit: number): number {
  // Nesting cannot exceed the number of opening brackets; counting them with the engine's string search is
  // much faster than the scan below, and settles most documents.
  let opening = 0;
  for (let i = text.indexOf('{'); i !== -1 && opening <= limit; i = text.indexOf('{', i + 1)) opening++;
  for (let i = text.indexOf('['); i !== -1 && opening <= limit; i = text.indexOf('[', i + 1)) opening++;
  if (opening <= limit) return opening;
  let depth = 0;
  let max = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // skip the string
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 123 || c === 91) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > 10_000) return max;
      }
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/**
 * A text document's location whose `line` and `column` are found when first read. A class with prototype getters,
 * not an object with its own accessors: those give every object its own hidden class, which the engine keeps in
 * old space, and that kept each parse's garbage alive through minor collections.
 */
class LazyLocation {
  #position: TextPosition | undefined | null = null;
  readonly #positionOf: (pointer: string) => TextPosition | undefined;
  constructor(
    readonly documentIndex: number,
    readonly pointer: string,
    positionOf: (pointer: string) => TextPosition | undefined,
  ) {
    // Private, so the object stays plain data for JSON (see toJSON) and structured cloning.
    this.#positionOf = positionOf;
  }
  #at(): TextPosition | undefined {
    if (this.#position === null) this.#position = this.#positionOf(this.pointer);
    return this.#position;
  }
  get line(): number | undefined {
    return this.#at()?.line;
  }
  get column(): number | undefined {
    return this.#at()?.column;
  }
  toJSON(): DiagnosticLocation {
    const { line, column } = this;
    return line === undefined || column === undefined
      ? { documentIndex: this.documentIndex, pointer: this.pointer }
      : { documentIndex: this.documentIndex, pointer: this.pointer, line, column };
  }
}

/**
 * The object model of a valid parse; its elements are built when first read. Methods on the prototype, not closures
 * assigned per instance: the engine tracked those in the instance's hidden class, which kept every parse's garbage
 * alive through minor collections (see {@link LazyLocation}).
 */
class LazyModel implements DtdlModel {
  #elements: Map<string, ModelElement> | undefined;
  readonly #build: () => Map<string, ModelElement>;
  constructor(
    readonly roots: readonly string[],
    build: () => Map<string, ModelElement>,
  ) {
    this.#build = build;
  }
  get elements(): Map<string, ModelElement> {
    return (this.#elements ??= this.#build());
  }
  get(id: string): ModelElement | undefined {
    return this.elements.get(id);
  }
  capability(interfaceId: string, component: string | undefined, name: string): ModelElement | undefined {
    let iface = this.get(interfaceId);
    if (component !== undefined) {
      const cid = iface?.contents?.[component];
      const comp = cid === undefined ? undefined : this.get(cid);
      if (comp?.kind !== 'Component' || comp.schema === undefined) return undefined;
      iface = this.get(comp.schema);
    }
    const id = iface?.contents?.[name];
    return id === undefined ? undefined : this.get(id);
  }
}

function deversion(dtmi: string): string {
  const i = dtmi.indexOf(';');
  return i < 0 ? dtmi : dtmi.slice(0, i);
}

function versionOf(dtmi: string): string | undefined {
  const i = dtmi.indexOf(';');
  return i < 0 ? undefined : dtmi.slice(i + 1);
}

/** The automatic @id of an element without one: its parent's id extended by the member and position or name. */
function automaticId(
  parent: Node | undefined,
  term: string | undefined,
  def: MemberDef | undefined,
  index: number | undefined,
  siblings: number,
  name: string | undefined,
): string {
  if (parent === undefined || term === undefined || index === undefined) return '';
  return def?.segment === true
    ? extendId(parent.id, `:_${term}:__${name ?? String(index)}`)
    : extendId(parent.id, `:_${term}${siblings > 1 ? `:__${index}` : ''}`);
}

/** Inserts `segments` into `id` before its `;version`. */
function extendId(id: string, segments: string): string {
  const i = id.indexOf(';');
  return i < 0 ? id + segments : id.slice(0, i) + segments + id.slice(i);
}

function vocab(v: DtdlVersion): Readonly<Record<string, string>> {
  return v === 2 ? V2_TERMS : V3_TERMS;
}

function classDtmi(cls: string, v: DtdlVersion): string {
  return `dtmi:dtdl:class:${cls};${v}`;
}

function propDtmi(prop: string, v: DtdlVersion): string {
  return `dtmi:dtdl:property:${prop};${v}`;
}

function schemaDtmi(term: string, v: DtdlVersion): string {
  return `dtmi:dtdl:instance:Schema:${term};${v}`;
}

function geoDtmi(term: string, v: DtdlVersion): string {
  return `dtmi:standard:schema:geospatial:${term};${v}`;
}

const IOTC_SCHEMAS: Readonly<Record<string, string>> = {
  vector: 'dtmi:iotcentral:schema:vector;2',
  geopoint: 'dtmi:iotcentral:schema:geopoint;2',
};
interface StandardValue {
  readonly id: string;
  readonly cls: ClassName;
  readonly version: DtdlVersion;
  readonly viaDtmi: boolean;
  readonly geo?: 'geospatial' | 'iotc';
}

/** Standard schema terms and DTMIs of each version -> the standard element. */
const STANDARD_VALUES: Readonly<Record<DtdlVersion, ReadonlyMap<string, StandardValue>>> = {
  2: standardValues(2),
  3: standardValues(3),
};

function standardValues(version: DtdlVersion): Map<string, StandardValue> {
  const m = new Map<string, StandardValue>();
  for (const [term, cls] of Object.entries(PRIMITIVE_SCHEMAS)) {
    const id = schemaDtmi(term, version);
    m.set(term, { id, cls, version, viaDtmi: false });
    m.set(id, { id, cls, version, viaDtmi: true });
  }
  for (const term of GEOSPATIAL_SCHEMAS) {
    const id = geoDtmi(term, version);
    m.set(term, { id, cls: 'Object', version, viaDtmi: false, geo: 'geospatial' });
    m.set(id, { id, cls: 'Object', version, viaDtmi: true, geo: 'geospatial' });
  }
  return m;
}

const IOTC_VALUES: ReadonlyMap<string, StandardValue> = new Map(
  [
    ['vector', 'dtmi:iotcentral:schema:vector;2'],
    ['geopoint', 'dtmi:iotcentral:schema:geopoint;2'],
  ].flatMap(([term, id]): [string, StandardValue][] => [
    [term ?? '', { id: id ?? '', cls: 'Object', version: 2, viaDtmi: false, geo: 'iotc' }],
    [id ?? '', { id: id ?? '', cls: 'Object', version: 2, viaDtmi: true, geo: 'iotc' }],
  ]),
);

const IOTC_ADJUNCTS = ['State', 'Event', 'Location', 'VelocityVector', 'AccelerationVector'];
const QT_CLASS_PREFIX = 'dtmi:dtdl:extension:quantitativeTypes:v1:class:';
const QT_UNIT_PREFIX = 'dtmi:dtdl:extension:quantitativeTypes:v1:unit:';

class Parser {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  readonly docs: DocInfo[] = [];
  readonly nodes: Node[] = [];
  readonly byId = new Map<string, Node>();
  readonly roots: Node[] = [];
  readonly builtins = new Map<string, Node>();
  readonly unresolved = new Set<string>();
  private readonly seenTerms: string[] = [];
  private readonly seenKeys: string[] = [];
  readonly refSites: { from: Node; prop: string; val: Val & { kind: 'ref' } }[] = [];
  /** Why the last parseElement call returned undefined ('type': no usable @type for the position). */
  lastFailure: 'type' | 'other' = 'other';
  /** Checks that belong to the reference phase. */
  readonly deferred: (() => void)[] = [];

  constructor(readonly options: ParseOptions) {}

  // ---- diagnostics ----

  private diag(
    list: Diagnostic[],
    code: string,
    message: string,
    doc: number | undefined,
    ptr: string | undefined,
    extra: { primaryId?: string | undefined; property?: string | undefined } = {},
  ): void {
    let location: Diagnostic['location'];
    if (doc !== undefined && ptr !== undefined) {
      const positionOf = this.docs[doc]?.positionOf;
      if (positionOf !== undefined && list === this.warnings) {
        // Finding a line and column re-reads the document; a warning does so only when they are read.
        // `line` and `column` read as undefined only when the pointer cannot be located (never for valid JSON).
        location = new LazyLocation(doc, ptr, positionOf) as unknown as DiagnosticLocation;
      } else {
        const pos = positionOf?.(ptr);
        location =
          pos === undefined ? { documentIndex: doc, pointer: ptr } : { documentIndex: doc, pointer: ptr, ...pos };
      }
    }
    list.push({
      code,
      message,
      ...(extra.primaryId === undefined || extra.primaryId === '' ? {} : { primaryId: extra.primaryId }),
      ...(extra.property === undefined ? {} : { property: extra.property }),
      ...(location === undefined ? {} : { location }),
    });
  }

  err(code: string, message: string, doc?: number, ptr?: string, node?: Node, property?: string): void {
    this.diag(this.errors, E + code, message, doc, ptr, { primaryId: node?.id, property });
  }

  warn(code: string, message: string, doc?: number, ptr?: string, node?: Node, property?: string): void {
    this.diag(this.warnings, W + code, message, doc, ptr, { primaryId: node?.id, property });
  }

  /** Human description of an element for messages: its id, or its name and where it is. */
  describe(node: Node): string {
    const name = node.lits.get('name');
    if (node.explicitId || typeof name !== 'string') return `${node.cls} ${node.id || '(no @id)'}`;
    return `${node.cls} '${name}'${node.parent === undefined ? '' : ` in ${node.parent.explicitId ? node.parent.id : this.describe(node.parent)}`}`;
  }

  // ---- documents ----

  addDocument(doc: unknown, index: number): void {
    let value: unknown = doc;
    let positionOf: DocInfo['positionOf'];
    if (typeof doc === 'string') {
      // Fast path: the engine's JSON.parse, with positions computed only if a diagnostic needs them.
      const maxDepth = this.options.maxJsonDepth ?? 256;
      let fast: { value: unknown } | undefined;
      if (jsonDepth(doc, maxDepth) <= maxDepth) {
        try {
          fast = { value: JSON.parse(doc.charCodeAt(0) === 0xfeff ? doc.slice(1) : doc) as unknown };
        } catch {
          fast = undefined;
        }
      }
      if (fast !== undefined) {
        let located: ((pointer: string) => TextPosition | undefined) | undefined;
        this.docs[index] = {
          positionOf: (pointer) => {
            if (located === undefined) {
              const r = readJson(doc, maxDepth);
              located = r.ok ? r.positionOf : () => undefined;
            }
            return located(pointer);
          },
        };
        this.addValue(fast.value, index);
        return;
      }
      const r = readJson(doc, maxDepth);
      if (!r.ok) {
        this.docs[index] = { positionOf: undefined };
        this.errors.push({
          code: 'dtmi:plugboard:parsingError:invalidJson',
          message: `Document ${index} is not valid JSON: ${r.message} at line ${r.position.line}, column ${r.position.column}. Fix the JSON syntax.`,
          location: { documentIndex: index, pointer: '', line: r.position.line, column: r.position.column },
        });
        return;
      }
      value = r.value;
      positionOf = r.positionOf;
    }
    this.docs[index] = { positionOf };
    this.addValue(value, index);
  }

  private addValue(value: unknown, index: number): void {
    if (Array.isArray(value)) {
      if (!value.every(isObject)) {
        this.err(
          'notJsonObject',
          `Document ${index}: the top-level JSON array contains a value that is not a JSON object. Make each array value a DTDL Interface object.`,
          index,
          '',
        );
        return;
      }
      value.forEach((v, k) => this.parseTop(v, index, `/${k}`));
    } else if (isObject(value)) {
      this.parseTop(value, index, '');
    } else {
      this.err(
        'notJsonObject',
        `Document ${index}: top-level JSON value is ${typeOfJson(value)}, neither a JSON object nor an array of JSON objects. Make it a DTDL Interface object.`,
        index,
        '',
      );
    }
  }

  private parseTop(obj: Record<string, unknown>, doc: number, ptr: string): void {
    if (!Object.hasOwn(obj, '@context')) {
      this.err(
        'missingContext',
        `Top-level element has no @context. Add "@context": "dtmi:dtdl:context;2" (or ;3).`,
        doc,
        ptr,
      );
      return;
    }
    const node = this.parseElement(obj, {
      doc,
      ptr,
      parent: undefined,
      parentProp: undefined,
      def: undefined,
      parentCtx: EMPTY_CTX,
      index: undefined,
      siblings: 1,
      partition: undefined,
      depth: 0,
    });
    if (node !== undefined) this.roots.push(node);
  }

  // ---- @context ----

  private parseContext(
    value: unknown,
    parentCtx: Ctx,
    doc: number,
    ptr: string,
    top: boolean,
  ): { ctx: Ctx; ok: boolean; declared: boolean } {
    const items = Array.isArray(value) ? value : [value];
    const map = new Map(parentCtx.map);
    let ok = true;
    let sawDtdl = false;
    let dtdlCount = 0;
    let sawNonDtdlBeforeDtdl = false;
    let sawIotcBeforeDtdl = false;
    const seen = new Set<string>();
    const cptr = `${ptr}/@context`;
    const newlyAdded: string[] = [];
    items.forEach((item, k) => {
      const iptr = Array.isArray(value) ? `${cptr}/${k}` : cptr;
      if (typeof item !== 'string') {
        ok = false;
        if (isObject(item)) {
          this.err(
            'disallowedLocalContext',
            `@context value is a JSON object (a local JSON-LD context), which DTDL does not allow. Use only context DTMI strings such as "dtmi:dtdl:context;2".`,
            doc,
            iptr,
          );
        } else {
          this.err(
            'invalidContext',
            `@context value is ${typeOfJson(item)}, not a string. Use context DTMI strings such as "dtmi:dtdl:context;2".`,
            doc,
            iptr,
          );
        }
        return;
      }
      if (!item.startsWith('dtmi:')) {
        ok = false;
        this.err(
          'nonDtmiContextSpecifier',
          `@context value '${item}' is not a DTMI. Use context DTMIs such as "dtmi:dtdl:context;2".`,
          doc,
          iptr,
        );
        return;
      }
      if (
        !/^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*;[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?$/.test(
          item,
        )
      ) {
        ok = false;
        this.err(
          item.includes(';')
            ? 'invalidContextSpecifier'
            : parentCtx.version === 3 || items.includes('dtmi:dtdl:context;3')
              ? 'missingContextVersion'
              : 'invalidContextSpecifierForVersion',
          `@context value '${item}' is not a valid versioned DTMI. Use e.g. "dtmi:dtdl:context;2".`,
          doc,
          iptr,
        );
        return;
      }
      if (seen.has(item)) {
        this.warn('duplicateContext', `@context includes '${item}' more than once. Remove the duplicate.`, doc, iptr);
      }
      seen.add(item);
      const base = deversion(item);
      if (base === 'dtmi:dtdl:context') {
        dtdlCount++;
        if (sawNonDtdlBeforeDtdl && !sawDtdl) {
          ok = false;
          this.err(
            'dtdlContextFollowsAffiliate',
            `@context value '${item}' follows an extension context. Put the DTDL context first.`,
            doc,
            iptr,
          );
        } else if (sawIotcBeforeDtdl && !sawDtdl) {
          if (item === 'dtmi:dtdl:context;2') {
            this.warn(
              'iotcentralContextFirst',
              `@context lists "dtmi:iotcentral:context;2" before "dtmi:dtdl:context;2"; this is allowed but discouraged. Put the DTDL context first.`,
              doc,
              iptr,
            );
          } else {
            ok = false;
            this.err(
              'dtdlContextFollowsAffiliate',
              `@context value '${item}' follows an extension context. Put the DTDL context first.`,
              doc,
              iptr,
            );
          }
        }
        sawDtdl = true;
      } else if (!sawDtdl) {
        if (item === 'dtmi:iotcentral:context;2') sawIotcBeforeDtdl = true;
        else sawNonDtdlBeforeDtdl = true;
      }
      if (map.has(base) && newlyAdded.includes(base)) {
        this.warn(
          'repeatedContext',
          `@context includes more than one version of '${base}'; the last one is used. Keep only one.`,
          doc,
          iptr,
        );
      }
      map.set(base, item);
      newlyAdded.push(base);
    });
    if (dtdlCount > 1) {
      this.warn('multipleDtdlContexts', `@context includes more than one DTDL context. Keep only one.`, doc, cptr);
    }
    if (top && !sawDtdl && ok) {
      ok = false;
      this.err(
        'missingDtdlContext',
        `Top-level @context does not include a DTDL context. Add "dtmi:dtdl:context;2" (or ;3) as the first value.`,
        doc,
        cptr,
      );
    }
    // Derive language version and extensions.
    const dtdl = map.get('dtmi:dtdl:context');
    let version: DtdlVersion | undefined;
    if (dtdl !== undefined) {
      const v = versionOf(dtdl);
      const max = this.options.maxDtdlVersion ?? 3;
      if (v === '2' || v === '3') {
        version = Number(v) as DtdlVersion;
        if (version > max) {
          ok = false;
          this.err(
            'disallowedContextVersion',
            `DTDL version ${version} is above the maximum allowed (${max}). Use "dtmi:dtdl:context;${max}" or raise maxDtdlVersion.`,
            doc,
            cptr,
          );
        }
      } else if (newlyAdded.includes('dtmi:dtdl:context')) {
        ok = false;
        this.err(
          top ? 'unrecognizedContextVersion' : 'disallowedVersionDefinition',
          `'${dtdl}' is not a DTDL version this parser supports. Use "dtmi:dtdl:context;2" or "dtmi:dtdl:context;3".`,
          doc,
          cptr,
        );
      }
    }
    let iotc = false;
    let qt = false;
    let hist = false;
    let incomplete = parentCtx.incomplete;
    const allowUndefined = this.options.allowUndefinedExtensions ?? version !== 3;
    for (const [base, full] of map) {
      if (base === 'dtmi:dtdl:context') continue;
      if (version === 2 && full === 'dtmi:iotcentral:context;2') {
        iotc = true;
        continue;
      }
      if (version === 3 && full === 'dtmi:dtdl:extension:quantitativeTypes;1') {
        qt = true;
        continue;
      }
      if (version === 3 && full === 'dtmi:dtdl:extension:historization;1') {
        hist = true;
        continue;
      }
      if (!newlyAdded.includes(base)) {
        continue;
      }
      const knownBase =
        base === 'dtmi:iotcentral:context' ||
        base === 'dtmi:dtdl:extension:quantitativeTypes' ||
        base === 'dtmi:dtdl:extension:historization';
      if (allowUndefined && !knownBase) {
        incomplete = true;
      } else if (!allowUndefined || knownBase) {
        ok = false;
        this.err(
          knownBase ? 'unresolvableContextVersion' : 'unresolvableContextSpecifier',
          knownBase
            ? `Extension context '${full}' is not available in DTDL v${version ?? '?'} (unknown version of a known extension). Use a supported extension version.`
            : `Extension context '${full}' is not defined, and undefined extensions are not allowed. Remove it, or allow undefined extensions.`,
          doc,
          cptr,
        );
      }
    }
    // Extensions applied in the parent context stay active only if the version still matches.
    return { ctx: { map, version, iotc, qt, hist, incomplete }, ok, declared: true };
  }

  // ---- elements ----

  private parseElement(
    obj: Record<string, unknown>,
    p: {
      doc: number;
      ptr: string;
      parent: Node | undefined;
      parentProp: string | undefined;
      def: MemberDef | undefined;
      parentCtx: Ctx;
      /** Position among the member's values, for the automatic @id (undefined for top-level elements). */
      index: number | undefined;
      siblings: number;
      partition: Node | undefined;
      depth: number;
    },
  ): Node | undefined {
    const { doc, ptr } = p;
    const top = p.parent === undefined;
    this.lastFailure = 'other';
    if (p.depth > MAX_ELEMENT_DEPTH) {
      // Only reachable with parsed values (JSON text is depth-limited when read), e.g. a cyclic object graph.
      this.err(
        'excessiveDepthNarrow',
        `Elements are nested more than ${MAX_ELEMENT_DEPTH} levels deep (or the input object graph is cyclic). Flatten the model.`,
        doc,
        ptr,
      );
      return undefined;
    }
    let ctx = p.parentCtx;
    if (Object.hasOwn(obj, '@context')) {
      const r = this.parseContext(obj['@context'], p.parentCtx, doc, ptr, top);
      ctx = r.ctx;
      if (!r.ok && top) return undefined;
    }
    const version = ctx.version;
    if (version === undefined) return undefined;
    if (
      p.parent !== undefined &&
      p.parent.version !== version &&
      (p.parent.version === 2 || p.def?.crossVersion !== true)
    ) {
      this.err(
        'disallowedVersionDefinition',
        `A DTDL v${version} element is defined in member '${p.parentProp ?? ''}' of DTDL v${p.parent.version} element ${p.parent.id}, which does not allow other DTDL versions there. Use DTDL v${p.parent.version} for it.`,
        doc,
        ptr,
        p.parent,
      );
      return undefined;
    }
    if (Object.hasOwn(obj, '@graph')) {
      this.err(
        'graphDisallowed',
        `Element has a '@graph' member, which DTDL does not allow. Remove '@graph'.`,
        doc,
        `${ptr}/@graph`,
      );
    }

    // @id
    let explicitId = false;
    let id: string | undefined;
    if (Object.hasOwn(obj, '@id')) {
      const raw = obj['@id'];
      const iptr = `${ptr}/@id`;
      if (typeof raw !== 'string') {
        this.err(
          'idNotString',
          `@id is ${typeOfJson(raw)}, not a string. Make @id a single DTMI string such as "dtmi:com:example:Thing;1".`,
          doc,
          iptr,
        );
      } else if (raw.length > MAX_DTMI_LENGTH || !isValidDtmi(raw, { dtdlVersion: version })) {
        this.err(
          'invalidId',
          `@id '${raw.length > 80 ? raw.slice(0, 77) + '...' : raw}' is not a valid DTDL v${version} DTMI. Use e.g. "dtmi:com:example:Thing;1"${version === 2 ? ' (v2 requires a ;version)' : ''}.`,
          doc,
          iptr,
        );
      } else if (raw.length > 2048) {
        this.err('idTooLong', `@id is ${raw.length} characters; the limit is 2048. Shorten the DTMI.`, doc, iptr);
      } else if (
        raw.startsWith('dtmi:dtdl:') ||
        raw.startsWith('dtmi:standard:') ||
        (ctx.iotc && raw.startsWith('dtmi:iotcentral:'))
      ) {
        this.err(
          'reservedId',
          `@id '${raw}' uses a reserved prefix (dtmi:dtdl:, dtmi:standard:${ctx.iotc ? ', dtmi:iotcentral:' : ''}). Use your own DTMI namespace.`,
          doc,
          iptr,
        );
      } else {
        id = raw;
        explicitId = true;
      }
      if (id === undefined) return undefined;
    }

    // @type
    const typeInfo = this.parseTypes(obj, ctx, version, doc, ptr, p.def, top);
    if (typeInfo === undefined) {
      this.lastFailure = 'type';
      return undefined;
    }
    const cls = typeInfo.cls;

    if (top && cls !== 'Interface') {
      this.err(
        'typeNotRootable',
        `Top-level element has @type '${cls}'; a top-level element must be an Interface. Wrap it in an Interface.`,
        doc,
        `${ptr}/@type`,
      );
      return undefined;
    }
    if (p.def?.classes !== undefined && !p.def.classes.includes(cls)) {
      this.lastFailure = 'type';
      this.err(
        'badType',
        `${p.parent?.id ?? 'Element'} member '${p.parentProp ?? ''}' includes an element of type ${cls}; it must be ${p.def.classes.join(' or ')}. Change the @type or the value.`,
        doc,
        ptr,
        p.parent,
        p.parentProp,
      );
      return undefined;
    }

    if (id === undefined) {
      if (top) {
        this.err(
          'missingTopLevelId',
          `Top-level element has no @id. Add an @id such as "dtmi:com:example:Thing;1".`,
          doc,
          ptr,
        );
        return undefined;
      }
      if (p.def?.refOnly === true || cls === 'Interface') {
        this.err(
          'missingRequiredId',
          `${p.parent?.id ?? 'Element'} member '${p.parentProp ?? ''}' includes an inline ${cls} without @id. Give it an @id.`,
          doc,
          ptr,
          p.parent,
          p.parentProp,
        );
        return undefined;
      }
    }
    if (explicitId && cls === 'Interface' && id !== undefined && id.length > 128) {
      this.err(
        'idTooLongForType',
        `Interface @id is ${id.length} characters; an Interface @id may have at most 128. Shorten it.`,
        doc,
        `${ptr}/@id`,
      );
    }

    const node: Node = {
      id: id ?? '',
      explicitId,
      cls,
      version,
      builtin: false,
      doc,
      ptr,
      ctx,
      parent: p.parent,
      parentProp: p.parentProp,
      partition: undefined,
      topLevel: top,
      lits: NO_LITS,
      langs: NO_LANGS,
      refs: NO_REFS,
      iris: NO_IRIS,
      semantic: typeInfo.semantic,
      adjunct: typeInfo.adjunct,
      undefinedTypes: typeInfo.undefinedTypes,
      unit: undefined,
      unitPtr: ptr,
      undefinedProps: NO_PROPS,
    };
    node.partition = top || cls === 'Interface' ? node : p.partition;
    if (id === undefined) node.id = automaticId(p.parent, p.parentProp, p.def, p.index, p.siblings, rawName(obj));

    this.parseMembers(obj, node, typeInfo.informal, typeInfo.inferred, p.depth);
    this.nodes.push(node);
    if (explicitId) {
      const prev = this.byId.get(node.id);
      if (prev !== undefined) {
        this.err(
          'duplicateDefinition',
          `@id '${node.id}' is defined more than once. Give each element a unique @id.`,
          doc,
          `${ptr}/@id`,
          node,
        );
      } else this.byId.set(node.id, node);
    }
    return node;
  }

  private classifyString(
    s: string,
    version: DtdlVersion,
    ctx: Ctx,
    asMember: boolean,
  ): 'undefinedTerm' | 'notDtmiNorTerm' | 'invalidDtmi' | 'irrelevant' {
    if (s.startsWith('dtmi:')) {
      return isValidDtmi(s, { dtdlVersion: 3 }) || isValidDtmi(s) ? 'irrelevant' : 'invalidDtmi';
    }
    if (s.includes(':')) return 'notDtmiNorTerm';
    if (Object.hasOwn(vocab(version), s)) return 'irrelevant';
    if ((version === 2 ? V2_MEMBER_TERMS : V3_MEMBER_TERMS).has(s)) return 'irrelevant';
    if (ctx.iotc && Object.hasOwn(IOTCENTRAL_TERMS, s)) return 'irrelevant';
    if (ctx.qt && Object.hasOwn(QUANTITATIVE_TYPES_TERMS, s)) return 'irrelevant';
    if (ctx.hist && Object.hasOwn(HISTORIZATION_TERMS, s)) return 'irrelevant';
    void asMember;
    return 'undefinedTerm';
  }

  private parseTypes(
    obj: Record<string, unknown>,
    ctx: Ctx,
    version: DtdlVersion,
    doc: number,
    ptr: string,
    def: MemberDef | undefined,
    top: boolean,
  ): TypeFacts | undefined {
    const raw = obj['@type'];
    // Fast path for the common case: a single material type term allowed here.
    if (
      typeof raw === 'string' &&
      MATERIAL_SETS[version].has(raw) &&
      def?.classes?.includes(raw as ClassName) !== false
    ) {
      return plainType(raw as ClassName);
    }
    const tptr = `${ptr}/@type`;
    let types: string[] = [];
    if (raw !== undefined) {
      const arr = Array.isArray(raw) ? raw : [raw];
      if (!arr.every((t): t is string => typeof t === 'string')) {
        this.err(
          top ? 'typeNotRootable' : 'badType',
          `@type is ${typeOfJson(raw)}; it must be a string or an array of strings. Use e.g. "@type": "Telemetry".`,
          doc,
          tptr,
        );
        return undefined;
      }
      types = arr;
    }
    // Allocated only when needed: most elements have one material type and at most one co-type.
    let materials: Map<ClassName, string[]> | undefined;
    let inferred = false;
    // NONE until a type of the kind appears (most elements have none).
    let semantic: string[] = NONE;
    let adjunct: string[] = NONE;
    let undefinedTypes: string[] = NONE;
    let semanticRows: Map<string, string[]> | undefined;
    let bad = false;
    const materialTerms = MATERIAL_TERMS[version];
    for (const t of types) {
      // material
      let m: ClassName | undefined;
      if ((materialTerms as readonly string[]).includes(t)) m = t as ClassName;
      else if (t.startsWith('dtmi:dtdl:class:')) {
        const c = materialTerms.find((c) => classDtmi(c, version) === t);
        if (c !== undefined) m = c;
      }
      if (m !== undefined) {
        materials ??= new Map();
        const list = materials.get(m) ?? [];
        list.push(t);
        materials.set(m, list);
        continue;
      }
      // semantic types
      const sem = this.semanticTypeOf(t, ctx, version);
      if (sem !== undefined) {
        semantic = appended(semantic, sem);
        semanticRows ??= new Map();
        const list = semanticRows.get(sem) ?? [];
        list.push(t);
        semanticRows.set(sem, list);
        continue;
      }
      const adj = this.adjunctTypeOf(t, ctx);
      if (adj !== undefined) {
        adjunct = appended(adjunct, adj);
        continue;
      }
      const kind = this.classifyString(t, version, ctx, false);
      if (kind === 'invalidDtmi') {
        bad = true;
        this.err(
          'typeInvalidDtmi',
          `@type value '${t}' starts with 'dtmi:' but is not a valid DTMI. Fix or remove it.`,
          doc,
          tptr,
        );
      } else if (kind === 'notDtmiNorTerm') {
        if (version === 2) undefinedTypes = appended(undefinedTypes, t);
        else {
          bad = true;
          this.err('typeNotDtmiNorTerm', `@type value '${t}' is neither a DTDL term nor a DTMI. Remove it.`, doc, tptr);
        }
      } else if (kind === 'undefinedTerm') {
        if (version === 2 || ctx.incomplete) undefinedTypes = appended(undefinedTypes, t);
        else {
          bad = true;
          this.err(
            'typeUndefinedTerm',
            `@type value '${t}' is not defined by DTDL v3 or any extension in the @context. Remove it or add the extension that defines it.`,
            doc,
            tptr,
          );
        }
      } else {
        if (ctx.incomplete) undefinedTypes = appended(undefinedTypes, t);
        else {
          bad = true;
          this.err(
            'typeIrrelevantDtmiOrTerm',
            `@type value '${t}' is a DTDL term or DTMI that does not apply here. Remove it.`,
            doc,
            tptr,
          );
        }
      }
    }
    if (bad) return undefined;
    let cls: ClassName | undefined;
    if (
      materials !== undefined &&
      materials.size > 1 &&
      def?.classes !== undefined &&
      [...materials.keys()].some((m) => !def.classes?.includes(m))
    ) {
      this.err(
        'badType',
        `@type includes ${[...materials.keys()].join(' and ')}; here the element must be ${def.classes.join(' or ')}, and only one element type is allowed. Keep exactly one.`,
        doc,
        tptr,
      );
      return undefined;
    }
    if (materials !== undefined && materials.size > 1) {
      this.err(
        'multipleMaterialTypes',
        `@type includes more than one element type (${[...materials.keys()].join(', ')}). Keep exactly one.`,
        doc,
        tptr,
      );
      return undefined;
    }
    const [entry] = materials ?? [];
    if (entry !== undefined) {
      cls = entry[0];
      const spellings = entry[1];
      if (spellings.length > 1) {
        this.warn(
          new Set(spellings).size > 1 ? 'typeTermAndDtmi' : 'duplicateType',
          `@type includes '${cls}' more than once. Keep a single "${cls}".`,
          doc,
          tptr,
        );
      } else if (spellings[0] !== cls) {
        this.warn(
          'typeDtmi',
          `@type uses the DTMI '${spellings[0] ?? ''}'; the term "${cls}" is recommended.`,
          doc,
          tptr,
        );
      }
    } else if (def?.inferable !== undefined && raw === undefined) {
      cls = def.inferable;
      inferred = true;
    } else {
      this.err(
        top ? 'typeNotRootable' : 'badType',
        raw === undefined
          ? `Element has no @type. Add a @type${def?.classes ? ` (${def.classes.join(' or ')})` : ' such as "Interface"'}.`
          : `@type ${JSON.stringify(raw)} includes no DTDL element type. Add one${def?.classes ? ` (${def.classes.join(' or ')})` : ''}.`,
        doc,
        raw === undefined ? ptr : tptr,
      );
      return undefined;
    }
    for (const [sem, spellings] of semanticRows ?? []) {
      if (spellings.length > 1) {
        this.warn(
          'duplicateSemanticType',
          `@type includes semantic type '${sem}' more than once. Keep one.`,
          doc,
          tptr,
        );
      } else if (spellings[0]?.startsWith('dtmi:') === true) {
        this.warn(
          'semanticTypeDtmi',
          `@type uses a DTMI for semantic type '${sem}'; the term is recommended.`,
          doc,
          tptr,
        );
      }
    }
    const uniqueSemantic = semantic.length < 2 ? semantic : [...new Set(semantic)];
    if (uniqueSemantic.length > 0 || adjunct.length > 0) {
      const allowed =
        cls === 'Telemetry' ||
        cls === 'Property' ||
        (version === 3 &&
          uniqueSemantic.length > 0 &&
          (cls === 'Field' || cls === 'MapValue' || cls === 'CommandRequest' || cls === 'CommandResponse'));
      if (!allowed) {
        this.err(
          'invalidCotype',
          `@type co-type '${[...uniqueSemantic, ...adjunct].join(', ')}' cannot be applied to a ${cls}. Remove it.`,
          doc,
          tptr,
        );
        return undefined;
      }
    }
    if (uniqueSemantic.length > 1) {
      this.err(
        'conflictingSupplementalTypes',
        `@type includes more than one semantic type (${uniqueSemantic.join(', ')}). Keep one.`,
        doc,
        tptr,
      );
      return undefined;
    }
    return {
      cls,
      semantic: uniqueSemantic,
      adjunct: adjunct.length < 2 ? adjunct : [...new Set(adjunct)],
      undefinedTypes,
      informal: undefinedTypes.length > 0,
      inferred,
    };
  }

  private semanticTypeOf(t: string, ctx: Ctx, version: DtdlVersion): string | undefined {
    if (version === 2) {
      if (Object.hasOwn(V2_SEMANTIC_UNIT_TYPES, t)) return t;
      const m = /^dtmi:standard:class:(\w+);2$/.exec(t);
      if (m?.[1] !== undefined && Object.hasOwn(V2_SEMANTIC_UNIT_TYPES, m[1])) return m[1];
      return undefined;
    }
    if (!ctx.qt) return undefined;
    if (Object.hasOwn(QT_SEMANTIC_UNIT_TYPES, t)) return t;
    if (t.startsWith(QT_CLASS_PREFIX)) {
      const local = t.slice(QT_CLASS_PREFIX.length);
      if (Object.hasOwn(QT_SEMANTIC_UNIT_TYPES, local)) return local;
    }
    return undefined;
  }

  private adjunctTypeOf(t: string, ctx: Ctx): string | undefined {
    if (ctx.iotc) {
      if (IOTC_ADJUNCTS.includes(t)) return t;
      const m = /^dtmi:iotcentral:class:(\w+);2$/.exec(t);
      if (m?.[1] !== undefined && IOTC_ADJUNCTS.includes(m[1])) return m[1];
    }
    if (ctx.hist && (t === 'Historized' || t === HISTORIZATION_TERMS['Historized'])) return 'Historized';
    return undefined;
  }

  private unitsFor(node: Node): { unitType: string; units: readonly string[] } | undefined {
    const sem = node.semantic[0];
    if (sem !== undefined) {
      const table = node.version === 2 ? V2_SEMANTIC_UNIT_TYPES : QT_SEMANTIC_UNIT_TYPES;
      const unitType = table[sem];
      if (unitType === undefined) return undefined;
      return { unitType, units: (node.version === 2 ? V2_UNITS : QT_UNITS)[unitType] ?? [] };
    }
    if (node.adjunct.includes('VelocityVector'))
      return { unitType: 'VelocityUnit', units: V2_UNITS['VelocityUnit'] ?? [] };
    if (node.adjunct.includes('AccelerationVector')) {
      return { unitType: 'AccelerationUnit', units: V2_UNITS['AccelerationUnit'] ?? [] };
    }
    return undefined;
  }

  private parseMembers(
    obj: Record<string, unknown>,
    node: Node,
    informal: boolean,
    inferred: boolean,
    depth: number,
  ): void {
    const { version, doc, ptr, ctx } = node;
    const members = CLASSES[version][node.cls] ?? {};
    // Member terms seen and the keys that gave them. Reused arrays: nothing below recurses into another
    // element until the element members at the end, after the last use.
    const seenTerms = this.seenTerms;
    const seenKeys = this.seenKeys;
    seenTerms.length = 0;
    seenKeys.length = 0;
    const elementMembers: [string, string, MemberDef, unknown][] = [];
    const unitDef = this.unitsFor(node);
    const unitAllowed = unitDef !== undefined;
    let unitKey: string | undefined;
    for (const key of Object.keys(obj)) {
      const kptr = ptr + step(key);
      if (key.startsWith('@')) {
        if (key === '@context' || key === '@id' || key === '@type' || key === '@graph') continue;
        if (version === 2) {
          this.warn('keyword', `Member '${key}' is a JSON-LD keyword DTDL does not use. Remove it.`, doc, kptr, node);
        } else {
          this.err(
            'keywordDisallowed',
            `Member '${key}' is a JSON-LD keyword DTDL v3 does not allow. Remove it.`,
            doc,
            kptr,
            node,
          );
        }
        continue;
      }
      let term: string | undefined;
      let viaDtmi = false;
      if (Object.hasOwn(members, key)) term = key;
      else if (key.startsWith('dtmi:dtdl:property:')) {
        const t = Object.keys(members).find((m) => propDtmi(m, version) === key);
        if (t !== undefined) {
          term = t;
          viaDtmi = true;
        }
      }
      const isUnitKey =
        key === 'unit' ||
        (version === 2 && key === propDtmi('unit', 2)) ||
        (version === 3 && ctx.qt && key === QUANTITATIVE_TYPES_TERMS['unit']);
      if (term === undefined && unitAllowed && isUnitKey) {
        if (unitKey !== undefined) {
          this.err(
            'duplicatePropertyName',
            `Member 'unit' is given twice (as '${unitKey}' and '${key}'). Keep only "unit".`,
            doc,
            kptr,
            node,
            'unit',
          );
          continue;
        }
        unitKey = key;
        if (key !== 'unit')
          this.warn('memberDtmi', `Member '${key}' is spelled as a DTMI; "unit" is recommended.`, doc, kptr, node);
        this.parseUnit(node, obj[key], kptr, unitDef);
        continue;
      }
      if (term !== undefined) {
        const seenAt = seenTerms.indexOf(term);
        const prev = seenAt < 0 ? undefined : seenKeys[seenAt];
        if (prev !== undefined) {
          this.err(
            'duplicatePropertyName',
            `Member '${term}' is given twice (as '${prev}' and '${key}'). Keep only "${term}".`,
            doc,
            kptr,
            node,
            term,
          );
          continue;
        }
        seenTerms.push(term);
        seenKeys.push(key);
        if (viaDtmi) {
          this.warn(
            'memberDtmi',
            `Member '${key}' is spelled as a DTMI; the term "${term}" is recommended.`,
            doc,
            kptr,
            node,
          );
        }
        const def = members[term];
        if (def === undefined) continue;
        if (def.deprecated === true) {
          this.warn('deprecated', `Member '${term}' is deprecated. Remove it.`, doc, kptr, node, term);
        }
        if (def.kind === 'element') elementMembers.push([term, key, def, obj[key]]);
        else this.parseLiteralMember(node, term, def, obj[key], kptr);
        continue;
      }
      // Not a member of this class.
      const kind = this.classifyString(key, version, ctx, true);
      const allowed = informal && (version === 2 || kind === 'undefinedTerm' || kind === 'irrelevant');
      if (allowed) {
        if (node.undefinedProps === NO_PROPS) node.undefinedProps = {};
        node.undefinedProps[key] = obj[key];
        continue;
      }
      // The official parser reports noTypeThatAllows in v2 (where a co-type could allow the member) and the kind of
      // the member name in v3.
      const code =
        version === 2
          ? inferred
            ? 'inferredTypeDoesNotAllow'
            : 'noTypeThatAllows'
          : kind === 'undefinedTerm'
            ? 'propertyUndefinedTerm'
            : kind === 'notDtmiNorTerm'
              ? 'propertyNotDtmiNorTerm'
              : kind === 'invalidDtmi'
                ? 'propertyInvalidDtmi'
                : 'propertyIrrelevantDtmiOrTerm';
      this.err(
        code,
        version === 2
          ? `${this.describe(node)} does not have a @type that allows member '${key}'. Remove '${key}' or correct it if misspelled (an undefined co-type in @type, such as the IoT Central ones, would allow it).`
          : `${this.describe(node)} has member '${key}', which is ${kind === 'undefinedTerm' ? 'an undefined term' : kind === 'irrelevant' ? 'a DTDL term or DTMI that does not apply here' : kind === 'invalidDtmi' ? 'an invalid DTMI' : 'neither a DTMI nor a term'} in DTDL v3. Remove '${key}' or correct it if misspelled.`,
        doc,
        kptr,
        node,
        key,
      );
    }
    // Required members.
    for (const [term, def] of requiredMembers(version, node.cls)) {
      if (!seenTerms.includes(term)) {
        this.err(
          def.kind === 'element' || def.kind === 'iri' ? 'missingObjectProperty' : 'missingLiteralProperty',
          `${node.cls} ${node.id || (typeof obj['name'] === 'string' ? `'${obj['name']}'` : '')} has no '${term}' member, which is required. Add '${term}'.`,
          doc,
          ptr,
          node,
          term,
        );
      }
    }
    if (unitAllowed && unitKey === undefined && node.semantic.length > 0) {
      this.err(
        'missingSupplementalObjectProperty',
        `${node.cls} with semantic type '${node.semantic[0] ?? ''}' has no 'unit'. Add a unit such as "${unitDef.units[0] ?? ''}".`,
        doc,
        ptr,
        node,
        'unit',
      );
    }
    // Element members last, so the node's name (for generated ids) is known.
    for (const [term, key, def, value] of elementMembers) {
      this.parseElementMember(node, term, def, value, ptr + step(key), depth);
    }
  }

  private parseUnit(
    node: Node,
    value: unknown,
    kptr: string,
    unitDef: { unitType: string; units: readonly string[] },
  ): void {
    let v = value;
    let vptr = kptr;
    const below = (): void =>
      this.err('objectCountBelowMin', `'unit' has no valid value, but one is required.`, node.doc, kptr, node, 'unit');
    if (Array.isArray(v)) {
      if (v.length === 0) {
        below();
        return;
      }
      if (v.length !== 1) {
        this.err(
          'objectMultipleValues',
          `'unit' must have exactly one value; it has ${v.length}. Give a single unit.`,
          node.doc,
          kptr,
          node,
          'unit',
        );
        return;
      }
      v = v[0];
      vptr = `${kptr}/0`;
    }
    node.unitPtr = vptr;
    if (typeof v !== 'string') {
      this.err(
        isObject(v) ? 'badType' : 'refNotStringOrObject',
        `'unit' is ${typeOfJson(v)}; it must be a unit term such as "${unitDef.units[0] ?? ''}".`,
        node.doc,
        vptr,
        node,
        'unit',
      );
      below();
      return;
    }
    if (v.startsWith('dtmi:') ? !isValidDtmi(v, { dtdlVersion: node.version }) : !this.isKnownTerm(v, node)) {
      this.err(
        'badDtmiOrTerm',
        `'unit' value '${v}' is neither a DTMI nor a DTDL term. Use a unit such as "${unitDef.units[0] ?? ''}".`,
        node.doc,
        vptr,
        node,
        'unit',
      );
      below();
      return;
    }
    let term: string | undefined;
    if (node.version === 2) {
      const m = /^dtmi:standard:unit:(\w+);2$/.exec(v);
      term = m?.[1] ?? v;
      if (m !== null)
        this.warn('valueDtmi', `'unit' uses the DTMI '${v}'; the term is recommended.`, node.doc, vptr, node);
    } else {
      term = v.startsWith(QT_UNIT_PREFIX) ? v.slice(QT_UNIT_PREFIX.length) : v;
    }
    if (!unitDef.units.includes(term)) {
      // The unit is a reference to a unit element: checked in the reference phase, like the official parser.
      this.deferred.push(() =>
        this.err(
          'notRequiredType',
          `'unit' value '${v}' is not a ${unitDef.unitType} (allowed: ${unitDef.units.join(', ')}). Use a unit that matches the semantic type.`,
          node.doc,
          vptr,
          node,
          'unit',
        ),
      );
      return;
    }
    node.unit = term;
  }

  // ---- literal members ----

  /** Unwraps a representational literal. Returns `undefined` after reporting an error. */
  private literal(
    node: Node,
    term: string,
    raw: unknown,
    vptr: string,
    expected: 'string' | 'integer' | 'boolean' | 'any',
  ): { ok: true; value: string | number | boolean } | { ok: false } {
    let v = raw;
    const wrapped = isObject(v);
    if (isObject(v)) {
      const keys = Object.keys(v);
      if (!keys.every((k) => k.startsWith('@'))) {
        this.err(
          'valueObjectNotAllKeywords',
          `'${term}' is an object with members that are not keywords; a literal value object may only have '@value' and '@type'. Use a plain value.`,
          node.doc,
          vptr,
          node,
          term,
        );
        return { ok: false };
      }
      if (keys.includes('@id') || keys.includes('@context') || keys.includes('@graph')) {
        this.err(
          keys.includes('@graph') ? 'valueObjectGraph' : keys.includes('@id') ? 'valueObjectId' : 'valueObjectContext',
          `'${term}' value object has '@id', '@context' or '@graph', which a literal may not have. Remove them.`,
          node.doc,
          vptr,
          node,
          term,
        );
        return { ok: false };
      }
      if (!keys.includes('@value')) {
        this.err(
          expected === 'any' ? 'valueObjectNoValue' : `${expected}ObjectNoValue`,
          `'${term}' value object has no '@value'. Add '@value' or use a plain value.`,
          node.doc,
          vptr,
          node,
          term,
        );
        return { ok: false };
      }
      const rawType = v['@type'];
      const t = Array.isArray(rawType) && rawType.length === 1 ? rawType[0] : rawType;
      if (t !== undefined) {
        const want =
          expected === 'string'
            ? ['string']
            : expected === 'integer'
              ? ['integer']
              : expected === 'boolean'
                ? ['boolean']
                : [];
        const ok =
          typeof t === 'string' &&
          (want.length === 0
            ? /^xsd:(string|integer|boolean)$/.test(t) ||
              /^http:\/\/www\.w3\.org\/2001\/XMLSchema#(string|integer|boolean)$/.test(t)
            : want.some((w) => t === `xsd:${w}` || t === `${XSD}${w}`));
        if (!ok) {
          this.err(
            typeof t === 'string' ? 'valueObjectBadType' : 'literalTypeNotSingular',
            `'${term}' value object has '@type' ${typeOfJson(t)}; expected ${want.length > 0 ? `"xsd:${want[0] ?? ''}"` : 'an xsd datatype'}. Fix or remove '@type'.`,
            node.doc,
            vptr,
            node,
            term,
          );
          return { ok: false };
        }
      } else {
        this.warn(
          'valueObjectNoType',
          `'${term}' value object has no '@type'. Add '@type' or use a plain value.`,
          node.doc,
          vptr,
          node,
        );
      }
      if (keys.some((k) => k !== '@value' && k !== '@type')) {
        const msg = `'${term}' value object has keywords other than '@value' and '@type'. Remove them.`;
        if (node.version === 2) this.warn('valueObjectExtraKeyword', msg, node.doc, vptr, node);
        else {
          this.err('valueObjectDisallowedKeyword', msg, node.doc, vptr, node, term);
          return { ok: false };
        }
      }
      v = v['@value'];
    }
    if (v === null && expected === 'any') {
      this.err('literalNotValid', `'${term}' is null. Give it a value or remove it.`, node.doc, vptr, node, term);
      return { ok: false };
    }
    if (expected === 'string' && typeof v !== 'string') {
      this.err(
        wrapped ? 'stringValueNotString' : 'stringNotString',
        `'${term}' is ${typeOfJson(v)}; it must be a string.`,
        node.doc,
        vptr,
        node,
        term,
      );
      return { ok: false };
    }
    if (expected === 'boolean' && typeof v !== 'boolean') {
      this.err(
        wrapped ? 'booleanValueNotBoolean' : 'booleanNotBoolean',
        `'${term}' is ${typeOfJson(v)}; it must be true or false.`,
        node.doc,
        vptr,
        node,
        term,
      );
      return { ok: false };
    }
    if (expected === 'integer' && !(typeof v === 'number' && Number.isInteger(v))) {
      this.err(
        wrapped ? 'integerValueNotInteger' : 'integerNotInteger',
        `'${term}' is ${typeOfJson(v)}; it must be an integer.`,
        node.doc,
        vptr,
        node,
        term,
      );
      return { ok: false };
    }
    if (expected === 'any' && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      this.err(
        'literalNotLiteral',
        `'${term}' is ${typeOfJson(v)}; it must be a literal value.`,
        node.doc,
        vptr,
        node,
        term,
      );
      return { ok: false };
    }
    return { ok: true, value: v as string | number | boolean };
  }

  private parseLiteralMember(node: Node, term: string, def: MemberDef, raw: unknown, kptr: string): void {
    const { doc } = node;
    if (def.kind === 'langString') {
      this.parseLangString(node, term, def, raw, kptr);
      return;
    }
    const values: unknown[] = Array.isArray(raw) ? raw : [raw];
    const max = def.max ?? Infinity;
    if (values.length > max) {
      this.err(
        def.kind === 'string'
          ? 'stringMultipleValues'
          : def.kind === 'iri'
            ? 'objectMultipleValues'
            : 'literalTypeNotSingular',
        `'${term}' has ${values.length} values; at most ${max} allowed. Give a single value.`,
        doc,
        kptr,
        node,
        term,
      );
      return;
    }
    if (values.length < (def.min ?? 0)) {
      const segmentName =
        term === 'name' &&
        node.parent !== undefined &&
        node.parentProp !== undefined &&
        CLASSES[node.parent.version][node.parent.cls]?.[node.parentProp]?.segment === true;
      this.err(
        segmentName
          ? 'dtmiSegPropertyNotStringOrNumber'
          : def.kind === 'string'
            ? 'stringCountBelowMin'
            : 'literalCountBelowMin',
        `'${term}' has no value; one is required. Give a value.`,
        doc,
        kptr,
        node,
        term,
      );
      return;
    }
    const [v0] = values;
    const vptr = Array.isArray(raw) ? kptr + indexStep(0) : kptr;
    if (values.length === 0) return;
    const segmentName =
      term === 'name' &&
      node.parent !== undefined &&
      node.parentProp !== undefined &&
      CLASSES[node.parent.version][node.parent.cls]?.[node.parentProp]?.segment === true;
    const unwrapped = isObject(v0) ? v0['@value'] : v0;
    if (
      (segmentName && typeof unwrapped !== 'string' && typeof unwrapped !== 'number') ||
      (term === 'name' && !Array.isArray(raw) && (v0 === null || (isObject(v0) && !Object.hasOwn(v0, '@value'))))
    ) {
      // `name` gives the segment of generated ids, so the official parser checks it first.
      {
        this.err(
          'dtmiSegPropertyNotStringOrNumber',
          `'name' is ${typeOfJson(v0)}; it must be a string such as "temperature".`,
          doc,
          vptr,
          node,
          term,
        );
        return;
      }
    }
    if (def.kind === 'iri') {
      this.parseIriMember(node, term, def, v0, vptr);
      return;
    }
    if (def.kind === 'target') {
      if (typeof v0 !== 'string') {
        this.err(
          'identifierNotString',
          `'target' is ${typeOfJson(v0)}; it must be an Interface DTMI.`,
          doc,
          vptr,
          node,
          term,
        );
        return;
      }
      if (!v0.startsWith('dtmi:')) {
        this.err('identifierNotDtmi', `'target' '${v0}' is not a DTMI. Use an Interface DTMI.`, doc, vptr, node, term);
        return;
      }
      if (!isValidDtmi(v0, { dtdlVersion: node.version })) {
        this.err(
          'identifierNotDtmi',
          `'target' '${v0}' is not a valid DTMI. Use an Interface DTMI.`,
          doc,
          vptr,
          node,
          term,
        );
        return;
      }
      if (v0.length > 2048) {
        this.err('idTooLong', `'target' is longer than 2048 characters. Shorten it.`, doc, vptr, node, term);
        return;
      }
      if (node.lits === NO_LITS) node.lits = new Map();
      node.lits.set(term, v0);
      return;
    }
    const expected =
      def.kind === 'string'
        ? 'string'
        : def.kind === 'boolean'
          ? 'boolean'
          : def.kind === 'integer'
            ? 'integer'
            : 'any';
    const r = this.literal(node, term, v0, vptr, expected);
    if (!r.ok) return;
    const v = r.value;
    if (typeof v === 'string') {
      if (def.maxLength !== undefined && v.length > def.maxLength) {
        this.err(
          'stringTooLong',
          `'${term}' is ${v.length} characters; the limit is ${def.maxLength}. Shorten it.`,
          doc,
          vptr,
          node,
          term,
        );
        return;
      }
      if (def.pattern !== undefined && !def.pattern.test(v)) {
        this.err(
          'stringInvalid',
          `'${term}' '${v}' must contain only letters, digits and underscores, start with a letter and not end with an underscore. Rename it.`,
          doc,
          vptr,
          node,
          term,
        );
        return;
      }
    }
    if (typeof v === 'number' && def.kind === 'integer') {
      if (v > 2147483647 || v < -2147483648) {
        this.err('integerNotInteger', `'${term}' ${v} is outside the 4-byte integer range.`, doc, vptr, node, term);
        return;
      }
      if (def.minInclusive !== undefined && def.maxInclusive !== undefined && def.minInclusive === def.maxInclusive) {
        if (v !== def.minInclusive) {
          this.err('valueNotExact', `'${term}' is ${v}; it must be ${def.minInclusive}.`, doc, vptr, node, term);
          return;
        }
      } else if (def.minInclusive !== undefined && v < def.minInclusive) {
        if (def.maxInclusive === undefined) {
          this.err('valueBelowMin', `'${term}' is ${v}; the minimum is ${def.minInclusive}.`, doc, vptr, node, term);
        } else {
          this.err(
            'valueBelowRange',
            `'${term}' is ${v}, below the allowed range [${def.minInclusive}, ${def.maxInclusive}].`,
            doc,
            vptr,
            node,
            term,
          );
        }
        return;
      } else if (def.maxInclusive !== undefined && v > def.maxInclusive) {
        this.err('valueAboveRange', `'${term}' is ${v}; the maximum is ${def.maxInclusive}.`, doc, vptr, node, term);
        return;
      }
    }
    if (node.lits === NO_LITS) node.lits = new Map();
    node.lits.set(term, v);
  }

  private parseIriMember(node: Node, term: string, def: MemberDef, v: unknown, vptr: string): void {
    const allowed = def.values ?? [];
    if (typeof v !== 'string') {
      this.err(
        'refNotStringOrObject',
        `'${term}' is ${typeOfJson(v)}; it must be one of ${allowed.map((a) => `"${a}"`).join(', ')}.`,
        node.doc,
        vptr,
        node,
        term,
      );
      if ((def.min ?? 0) > 0) {
        this.err(
          'objectCountBelowMin',
          `'${term}' has no valid value, but one is required.`,
          node.doc,
          vptr,
          node,
          term,
        );
      }
      return;
    }
    let resolved: string | undefined;
    if (allowed.includes(v)) resolved = v;
    else {
      resolved = allowed.find(
        (a) => v === schemaDtmi(a, node.version) || v === `dtmi:dtdl:instance:CommandType:${a};${node.version}`,
      );
      if (resolved !== undefined) {
        this.warn(
          'valueDtmi',
          `'${term}' uses the DTMI '${v}'; the term "${resolved}" is recommended.`,
          node.doc,
          vptr,
          node,
        );
      }
    }
    if (resolved === undefined && !this.isKnownTerm(v, node)) {
      this.err(
        'badDtmiOrTerm',
        `'${term}' is '${v}', which is neither a DTMI nor a DTDL term; it must be one of ${allowed.map((a) => `"${a}"`).join(', ')}.`,
        node.doc,
        vptr,
        node,
        term,
      );
      return;
    }
    if (resolved === undefined) {
      // A term of the wrong kind is found when references are checked, after resolution (as the official parser).
      this.deferred.push(() => {
        this.err(
          term === 'valueSchema' && (Object.hasOwn(PRIMITIVE_SCHEMAS, v) || v.startsWith('dtmi:dtdl:instance:Schema:'))
            ? 'incorrectPropertyValue'
            : 'badType',
          `'${term}' is '${v}'; it must be one of ${allowed.map((a) => `"${a}"`).join(', ')}.`,
          node.doc,
          vptr,
          node,
          term,
        );
      });
      return;
    }
    if (node.iris === NO_IRIS) node.iris = new Map();
    node.iris.set(term, resolved);
  }

  /** True for a term or DTMI the element's active context defines (or any valid DTMI). */
  private isKnownTerm(v: string, node: Node): boolean {
    if (v.startsWith('dtmi:')) return isValidDtmi(v, { dtdlVersion: node.version });
    return (
      Object.hasOwn(vocab(node.version), v) ||
      (node.ctx.iotc && Object.hasOwn(IOTCENTRAL_TERMS, v)) ||
      (node.ctx.qt && Object.hasOwn(QUANTITATIVE_TYPES_TERMS, v))
    );
  }

  private parseLangString(node: Node, term: string, def: MemberDef, raw: unknown, kptr: string): void {
    const { doc } = node;
    const out: Record<string, string> = {};
    const max = def.maxLength ?? Infinity;
    const checkLen = (s: string, p: string): boolean => {
      if (s.length > max) {
        this.err(
          'langStringValueTooLong',
          `'${term}' value is ${s.length} characters; the limit is ${max}. Shorten it.`,
          doc,
          p,
          node,
          term,
        );
        return false;
      }
      return true;
    };
    if (typeof raw === 'string') {
      if (checkLen(raw, kptr)) out['en'] = raw;
    } else if (Array.isArray(raw)) {
      let defaults = 0;
      const langs = new Set<string>();
      raw.forEach((item, k) => {
        const p = `${kptr}/${k}`;
        if (typeof item === 'string') {
          defaults++;
          if (checkLen(item, p)) out['en'] = item;
          return;
        }
        if (!isObject(item)) {
          this.err(
            'langStringElementNotStringOrObject',
            `'${term}' array value is ${typeOfJson(item)}; it must be a string or {"@value", "@language"}.`,
            doc,
            p,
            node,
            term,
          );
          return;
        }
        const keys = Object.keys(item);
        if (!keys.every((key) => key.startsWith('@'))) {
          this.err(
            'langStringElementInvalidProp',
            `'${term}' array object has members that are not keywords. Use only '@value' and '@language'.`,
            doc,
            p,
            node,
            term,
          );
          if (!keys.includes('@value')) {
            this.err(
              'langStringElementNoValue',
              `'${term}' array object has no '@value'. Add '@value'.`,
              doc,
              p,
              node,
              term,
            );
          }
          return;
        }
        if (keys.includes('@id') || keys.includes('@context') || keys.includes('@graph')) {
          this.err(
            'langStringObjDisallowedKeyword',
            `'${term}' array object has '@id', '@context' or '@graph'. Use only '@value' and '@language'.`,
            doc,
            p,
            node,
            term,
          );
          return;
        }
        const val = item['@value'];
        if (!keys.includes('@value')) {
          this.err(
            'langStringElementNoValue',
            `'${term}' array object has no '@value'. Add '@value'.`,
            doc,
            p,
            node,
            term,
          );
          return;
        }
        if (typeof val !== 'string') {
          this.err(
            'langStringElementValueNotString',
            `'${term}' '@value' is ${typeOfJson(val)}; it must be a string.`,
            doc,
            p,
            node,
            term,
          );
          return;
        }
        if (keys.some((key) => key !== '@value' && key !== '@language')) {
          const msg = `'${term}' array object has keywords other than '@value' and '@language'. Remove them.`;
          if (node.version === 2) this.warn('langStringExtraKeyword', msg, doc, p, node);
          else {
            this.err('langStringObjDisallowedKeyword', msg, doc, p, node, term);
            return;
          }
        }
        const lang = item['@language'];
        if (lang === undefined) {
          this.warn(
            'langStringNoLanguage',
            `'${term}' array object has no '@language'. Add one, e.g. "en".`,
            doc,
            p,
            node,
          );
          defaults++;
          if (checkLen(val, p)) out['en'] = val;
          return;
        }
        if (typeof lang !== 'string' || !LANG_RE.test(lang)) {
          this.err(
            'langStringElementInvalidCode',
            `'${term}' '@language' ${typeOfJson(lang)} is not a valid language code (e.g. "en", "en-US", "zh-Hans-CN"; case-sensitive).`,
            doc,
            p,
            node,
            term,
          );
          return;
        }
        if (langs.has(lang)) {
          this.err(
            'langStringDuplicateCode',
            `'${term}' has more than one value for language '${lang}'. Keep one.`,
            doc,
            p,
            node,
            term,
          );
          return;
        }
        langs.add(lang);
        if (lang === 'en') defaults++;
        if (checkLen(val, p)) out[lang] = val;
      });
      if (defaults > 1) {
        this.err(
          'langStringElementCodeNotUnique',
          `'${term}' has more than one value for the default language (plain strings, untagged values or "en"). Keep one.`,
          doc,
          kptr,
          node,
          term,
        );
      }
    } else if (isObject(raw)) {
      for (const [lang, val] of Object.entries(raw)) {
        const p = `${kptr}/${escapePointerToken(lang)}`;
        if (!LANG_RE.test(lang)) {
          this.err(
            lang.startsWith('@') ? 'langTagValueInLangMap' : 'langStringInvalidCode',
            `'${term}' language map key '${lang}' is not a valid language code (e.g. "en", "en-US"; case-sensitive).`,
            doc,
            p,
            node,
            term,
          );
          continue;
        }
        if (typeof val !== 'string') {
          this.err(
            'langStringValueNotString',
            `'${term}' value for language '${lang}' is ${typeOfJson(val)}; it must be a string.`,
            doc,
            p,
            node,
            term,
          );
          continue;
        }
        if (checkLen(val, p)) out[lang] = val;
      }
    } else {
      this.err(
        'langStringElementNotStringOrObject',
        `'${term}' is ${typeOfJson(raw)}; it must be a string, a language map or an array of strings.`,
        doc,
        kptr,
        node,
        term,
      );
      return;
    }
    if (node.langs === NO_LANGS) node.langs = new Map();
    node.langs.set(term, out);
  }

  // ---- element-valued members ----

  private parseElementMember(
    node: Node,
    term: string,
    def: MemberDef,
    raw: unknown,
    kptr: string,
    depth: number,
  ): void {
    const { doc, version } = node;
    const values = Array.isArray(raw) ? raw : [raw];
    const max = def.max ?? Infinity;
    const min = def.min ?? 0;
    if (values.length > max) {
      this.err(
        max === 1 ? 'objectMultipleValues' : 'objectCountAboveMax',
        `'${term}' has ${values.length} values; at most ${max} allowed. Remove some.`,
        doc,
        kptr,
        node,
        term,
      );
      return;
    }
    if (values.length < min) {
      this.err(
        'objectCountBelowMin',
        `'${term}' has ${values.length} values; at least ${min} required. Add ${min === 1 ? 'one' : 'more'}.`,
        doc,
        kptr,
        node,
        term,
      );
      return;
    }
    const out: Val[] = [];
    let unparseable = false;
    for (let k = 0; k < values.length; k++) {
      const v = values[k];
      const vptr = Array.isArray(raw) ? kptr + indexStep(k) : kptr;
      if (typeof v === 'string') {
        const builtin = this.standardValue(v, node.ctx, version, def);
        if (builtin !== undefined) {
          if (def.classes !== undefined && !def.classes.includes(builtin.node.cls)) {
            // Checked with the references, after resolution (as the official parser does).
            const val = { kind: 'ref', id: builtin.node.id, ptr: vptr } as const;
            out.push(val);
            this.refSites.push({ from: node, prop: term, val });
            continue;
          }
          if (builtin.viaDtmi) {
            this.warn('valueDtmi', `'${term}' uses the DTMI '${v}'; the term is recommended.`, doc, vptr, node);
          }
          out.push({ kind: 'node', node: builtin.node, ptr: vptr });
          continue;
        }
        if (isValidDtmi(v, { dtdlVersion: version })) {
          const val = { kind: 'ref', id: v, ptr: vptr } as const;
          out.push(val);
          this.refSites.push({ from: node, prop: term, val });
          continue;
        }
        unparseable = true;
        if (v.startsWith('dtmi:')) {
          this.err(
            'invalidId',
            `'${term}' value '${v}' is not a valid DTMI. Fix the reference.`,
            doc,
            vptr,
            node,
            term,
          );
          continue;
        }
        this.err(
          'badDtmiOrTerm',
          `'${term}' value '${v}' is neither a DTMI nor a term allowed here${def.classes ? ` (${def.classes.join(', ')})` : ''}. Use a schema term such as "double" or a DTMI.`,
          doc,
          vptr,
          node,
          term,
        );
        continue;
      }
      if (!isObject(v)) {
        unparseable = true;
        this.err(
          'refNotStringOrObject',
          `'${term}' value is ${typeOfJson(v)}; it must be a DTDL element object or a DTMI string.`,
          doc,
          vptr,
          node,
          term,
        );
        continue;
      }
      const child = this.parseElement(v, {
        doc,
        ptr: vptr,
        parent: node,
        parentProp: term,
        def,
        parentCtx: node.ctx,
        index: k,
        siblings: values.length,
        partition: node.partition,
        depth: depth + 1,
      });
      if (child !== undefined) out.push({ kind: 'node', node: child, ptr: vptr });
      else if (this.lastFailure === 'type') unparseable = true;
    }
    if (unparseable && out.length < min && values.length >= min) {
      this.err(
        'objectCountBelowMin',
        `${this.describe(node)} member '${term}' has no valid value, but ${min === 1 ? 'one is' : `${min} are`} required. Fix the value.`,
        doc,
        kptr,
        node,
        term,
      );
    }
    if (node.refs === NO_REFS) node.refs = new Map();
    node.refs.set(term, out);
  }

  /** Names (and enum values) must be unique among the inline elements of a plural member. */
  private checkInlineUnique(node: Node, term: string, vals: readonly Val[]): void {
    const keys: string[] = term === 'enumValues' ? ['name', 'enumValue'] : ['name'];
    for (const k of keys) {
      const seen = new Set<unknown>();
      for (const v of vals) {
        if (v.kind !== 'node') continue;
        const x = v.node.lits.get(k);
        if (x === undefined) continue;
        if (seen.has(x)) {
          this.err(
            'nonUniquePropertyValue',
            `${this.describe(node)} member '${term}' has more than one element with ${k} ${JSON.stringify(x)}. Make each ${k} unique.`,
            v.node.doc,
            v.ptr,
            node,
            term,
          );
        }
        seen.add(x);
      }
    }
  }

  private standardValue(
    v: string,
    ctx: Ctx,
    version: DtdlVersion,
    def: MemberDef,
  ): { node: Node; viaDtmi: boolean } | undefined {
    let hit = STANDARD_VALUES[version].get(v);
    // A v3 member that accepts earlier-version elements also accepts the v2 standard schema DTMIs.
    if (hit === undefined && version === 3 && def.crossVersion === true && v.startsWith('dtmi:')) {
      hit = STANDARD_VALUES[2].get(v);
    }
    if (hit === undefined && ctx.iotc) hit = IOTC_VALUES.get(v);
    if (hit === undefined) return undefined;
    const n = this.builtin(hit.id, hit.cls, hit.version);
    if (hit.geo !== undefined) n.geo = hit.geo;
    return { node: n, viaDtmi: hit.viaDtmi };
  }

  private builtin(id: string, cls: ClassName, version: DtdlVersion): Node {
    let n = this.builtins.get(id);
    if (n === undefined) {
      n = {
        id,
        explicitId: true,
        cls,
        version,
        builtin: true,
        doc: -1,
        ptr: '',
        ctx: EMPTY_CTX,
        parent: undefined,
        parentProp: undefined,
        partition: undefined,
        topLevel: true,
        lits: new Map(),
        langs: NO_LANGS,
        refs: new Map(),
        iris: NO_IRIS,
        semantic: [],
        adjunct: [],
        undefinedTypes: [],
        unit: undefined,
        unitPtr: '',
        undefinedProps: NO_PROPS,
      };
      this.builtins.set(id, n);
    }
    return n;
  }

  // ---- graph ----

  /** Resolves a value to a node, or undefined if unresolved. */
  target(v: Val): Node | undefined {
    return v.kind === 'node' ? v.node : (this.byId.get(v.id) ?? this.builtins.get(v.id));
  }

  children(n: Node, prop: string): Node[] {
    const out: Node[] = [];
    for (const v of n.refs.get(prop) ?? []) {
      const t = this.target(v);
      if (t !== undefined) out.push(t);
    }
    return out;
  }

  /** Collects dependent references that no document defines (and reserved ones that DTDL does not define). */
  findUnresolved(): void {
    for (const { from, prop, val } of this.refSites) {
      if (this.byId.has(val.id) || this.builtins.has(val.id)) continue;
      if (
        val.id.startsWith('dtmi:dtdl:') ||
        val.id.startsWith('dtmi:standard:') ||
        (from.ctx.iotc && val.id.startsWith('dtmi:iotcentral:'))
      ) {
        this.err(
          'undefinedReservedId',
          `'${prop}' refers to '${val.id}', a reserved identifier that DTDL v${from.version} does not define. Use a defined term or identifier.`,
          from.doc,
          val.ptr,
          from,
          prop,
        );
      } else this.unresolved.add(val.id);
    }
  }

  /** Checks every resolved reference: target class, language version, partition. */
  resolve(): void {
    for (const check of this.deferred) check();
    for (const n of this.nodes) if (n.cls === 'Enum') this.checkEnum(n);
    for (const site of this.refSites) {
      const { from, prop, val } = site;
      const t = this.byId.get(val.id) ?? this.builtins.get(val.id);
      if (t === undefined) continue;
      const def = CLASSES[from.version][from.cls]?.[prop];
      if (def?.classes !== undefined && !def.classes.includes(t.cls)) {
        this.err(
          'badType',
          `${from.id} '${prop}' refers to ${t.id}, a ${t.cls}; it must be ${def.classes.join(' or ')}. Refer to an element of the right type.`,
          from.doc,
          val.ptr,
          from,
          prop,
        );
        continue;
      }
      if (!t.builtin && t.version !== from.version && (from.version === 2 || def?.crossVersion !== true)) {
        this.err(
          'disallowedVersionReference',
          `DTDL v${from.version} element ${from.id} '${prop}' refers to DTDL v${t.version} element ${t.id}, which is not allowed there. Use the same DTDL version for both.`,
          from.doc,
          val.ptr,
          from,
          prop,
        );
        continue;
      }
      if (!t.topLevel && t.cls !== 'Interface' && t.partition !== from.partition) {
        this.err(
          'crossPartitionReference',
          `${from.id} '${prop}' refers to ${t.id}, which is defined inside another Interface and is not referenceable from here. Define the schema in this Interface's 'schemas' or inline.`,
          from.doc,
          val.ptr,
          from,
          prop,
        );
      }
    }
  }

  checkGraph(): void {
    for (const n of this.nodes) {
      switch (n.cls) {
        case 'Interface':
          this.checkInterface(n);
          break;
        case 'Component':
          this.checkComponent(n);
          break;
        case 'Object':
          this.checkUniqueNames(n, 'fields');
          break;
        case 'Relationship':
          this.checkUniqueNames(n, 'properties');
          break;
        default:
          break;
      }
      if (n.cls === 'Array' || n.cls === 'Map' || n.cls === 'Object') this.checkSchemaDepth(n);
      if (n.cls === 'Property' && n.version === 2) this.checkPropertyExclusions(n);
      if (n.semantic.length > 0 || n.adjunct.length > 0) this.checkCotypeSchema(n);
    }
  }

  private schemaOf(n: Node): Node | undefined {
    const [v] = n.refs.get('schema') ?? [];
    return v === undefined ? undefined : this.target(v);
  }

  private checkCotypeSchema(n: Node): void {
    const s = this.schemaOf(n);
    if (s === undefined) return;
    if (n.semantic.length > 0 && !(s.builtin && NUMERIC_CLASSES.includes(s.cls))) {
      this.err(
        'notRequiredType',
        `${n.cls} '${String(n.lits.get('name') ?? n.id)}' has semantic type '${n.semantic[0] ?? ''}' but schema ${s.id}; a semantic type needs a numeric schema (double, float, integer, long).`,
        n.doc,
        n.ptr,
        n,
        'schema',
      );
    }
    for (const a of n.adjunct) {
      let ok = true;
      let need = '';
      if (a === 'State') {
        ok = s.cls === 'Enum';
        need = 'an Enum';
      } else if (a === 'Event') {
        ok = s.builtin && (NUMERIC_CLASSES.includes(s.cls) || s.cls === 'String');
        need = 'numeric or string';
      } else if (a === 'Location') {
        ok = s.geo !== undefined && s.id !== IOTC_SCHEMAS['vector'];
        need = 'a geospatial schema or geopoint';
      } else if (a === 'VelocityVector' || a === 'AccelerationVector') {
        ok = s.id === IOTC_SCHEMAS['vector'];
        need = 'vector';
      }
      if (!ok) {
        this.err(
          'notRequiredType',
          `${n.cls} '${String(n.lits.get('name') ?? n.id)}' has co-type '${a}' but schema ${s.id}; '${a}' needs ${need}.`,
          n.doc,
          n.ptr,
          n,
          'schema',
        );
      }
    }
  }

  private checkUniqueNames(n: Node, prop: string): void {
    const seen = new Set<string>();
    for (const c of this.children(n, prop)) {
      const name = c.lits.get('name');
      if (typeof name !== 'string') continue;
      if (seen.has(name)) {
        this.err(
          'nonUniquePropertyValue',
          `${n.cls} ${n.id} '${prop}' has more than one element named '${name}'. Rename one.`,
          c.doc,
          c.ptr,
          n,
          prop,
        );
      }
      seen.add(name);
    }
  }

  private checkEnum(n: Node): void {
    this.checkUniqueNames(n, 'enumValues');
    const vs = n.iris.get('valueSchema');
    const seen = new Set<string | number | boolean>();
    for (const c of this.children(n, 'enumValues')) {
      const v = c.lits.get('enumValue');
      if (v === undefined) continue;
      if (vs !== undefined) {
        const ok = vs === 'integer' ? typeof v === 'number' && Number.isInteger(v) : typeof v === 'string';
        if (!ok) {
          this.err(
            'nonConformantDatatype',
            `EnumValue '${String(c.lits.get('name') ?? c.id)}' has enumValue ${typeOfJson(v)}, but the Enum's valueSchema is ${vs}. Make them match.`,
            c.doc,
            c.ptr,
            c,
            'enumValue',
          );
          continue;
        }
      }
      if (seen.has(v as string | number | boolean)) {
        this.err(
          'nonUniquePropertyValue',
          `Enum ${n.id} has more than one EnumValue with enumValue ${typeOfJson(v)}. Make the values unique.`,
          c.doc,
          c.ptr,
          n,
          'enumValues',
        );
      }
      seen.add(v as string | number | boolean);
    }
  }

  /** Interfaces reachable through `extends` (transitively), with cycle and depth checks. */
  private readonly closures = new Map<Node, Closure>();
  private readonly visiting = new Set<Node>();

  /**
   * Interfaces reachable through `extends`, whether a cycle is reachable, and the longest chain. Memoized, so
   * diamond-heavy hierarchies stay linear; recursion stops at 1,000 levels (reported as too deep).
   */
  private extendsClosure(n: Node, level = 0): Closure {
    const known = this.closures.get(n);
    if (known !== undefined) return known;
    const all = new Set<Node>();
    let cyclic = false;
    let depth = 0;
    this.visiting.add(n);
    for (const e of this.children(n, 'extends')) {
      if (e.cls !== 'Interface') continue;
      if (this.visiting.has(e)) {
        cyclic = true;
        continue;
      }
      all.add(e);
      if (level >= 1000) {
        depth = Math.max(depth, 1001);
        continue;
      }
      const c = this.extendsClosure(e, level + 1);
      if (c.cyclic) cyclic = true;
      for (const x of c.all) all.add(x);
      depth = Math.max(depth, 1 + c.depth);
    }
    this.visiting.delete(n);
    const r: Closure = { all: [...all], cyclic, depth };
    this.closures.set(n, r);
    return r;
  }

  private checkInterface(n: Node): void {
    const { all, cyclic, depth } = this.extendsClosure(n);
    if (cyclic) {
      this.err(
        'recursiveStructureNarrow',
        `Interface ${n.id} extends itself (directly or through other Interfaces). Remove the cycle.`,
        n.doc,
        n.ptr,
        n,
        'extends',
      );
      return;
    }
    const lim = LIMITS[n.version];
    if (depth > lim.maxExtendsDepth) {
      this.err(
        'excessiveDepthNarrow',
        `Interface ${n.id} has an 'extends' chain ${depth} levels deep; the limit is ${lim.maxExtendsDepth}. Flatten the hierarchy.`,
        n.doc,
        n.ptr,
        n,
        'extends',
      );
    }
    if (n.version === 3 && all.length > 1024) {
      this.err(
        'objectCountAboveMax',
        `Interface ${n.id} extends ${all.length} Interfaces in total; the limit is 1024.`,
        n.doc,
        n.ptr,
        n,
        'extends',
      );
    }
    // contents incl. inherited
    const own = this.children(n, 'contents');
    const names = new Map<string, Node>();
    for (const c of own) {
      const name = c.lits.get('name');
      if (typeof name !== 'string') continue;
      if (names.has(name)) {
        this.err(
          'nonUniquePropertyValue',
          `Interface ${n.id} has more than one content named '${name}'. Rename one.`,
          c.doc,
          c.ptr,
          n,
          'contents',
        );
      }
      names.set(name, c);
    }
    const inherited = new Set<Node>();
    for (const base of all) for (const c of this.children(base, 'contents')) inherited.add(c);
    for (const c of inherited) {
      const name = c.lits.get('name');
      if (typeof name !== 'string') continue;
      const prev = names.get(name);
      if (prev !== undefined && prev !== c) {
        this.err(
          'nonUniqueImportedPropertyValue',
          `Interface ${n.id} has content '${name}' both directly or from one base and from another base Interface. Rename one.`,
          n.doc,
          n.ptr,
          n,
          'contents',
        );
      }
      names.set(name, c);
    }
    const total = new Set([...own, ...inherited]).size;
    if (lim.maxContents !== undefined && total > lim.maxContents) {
      this.err(
        'objectCountAboveMax',
        `Interface ${n.id} has ${total} contents including inherited ones; the limit is ${lim.maxContents}. Split it into components.`,
        n.doc,
        n.ptr,
        n,
        'contents',
      );
    }
  }

  private interfaceContents(i: Node): Node[] {
    const out = new Set<Node>(this.children(i, 'contents'));
    for (const b of this.extendsClosure(i).all) for (const c of this.children(b, 'contents')) out.add(c);
    return [...out];
  }

  private checkComponent(n: Node): void {
    const s = this.schemaOf(n);
    if (s === undefined || s.cls !== 'Interface') return;
    // path to self
    const visited = new Set<Node>();
    const stack: Node[] = [s];
    while (stack.length > 0) {
      const i = stack.pop();
      if (i === undefined || visited.has(i)) continue;
      visited.add(i);
      for (const c of this.interfaceContents(i)) {
        if (c === n && n.version === 3) {
          this.err(
            'recursiveStructureNarrow',
            `Component '${String(n.lits.get('name') ?? n.id)}' has a schema that contains the Component itself. Remove the cycle.`,
            n.doc,
            n.ptr,
            n,
            'schema',
          );
        }
        if (c.cls === 'Component') {
          this.err(
            'excludedType',
            `Component '${String(n.lits.get('name') ?? n.id)}' has schema ${s.id}, which contains Component '${String(c.lits.get('name') ?? c.id)}'; components may not be nested. Move the nested component to the top Interface.`,
            n.doc,
            n.ptr,
            n,
            'schema',
          );
          return;
        }
      }
    }
  }

  private readonly heights = new Map<Node, { height: number; cyclic: boolean }>();
  private readonly inSchemaWalk = new Set<Node>();

  /** Schemas one `elementSchema`/`schema` edge below a complex schema. */
  private schemaChildren(x: Node): Node[] {
    const next: Node[] = [];
    if (x.cls === 'Array') next.push(...this.children(x, 'elementSchema'));
    else if (x.cls === 'Object') for (const f of this.children(x, 'fields')) next.push(...this.children(f, 'schema'));
    else if (x.cls === 'Map') for (const mv of this.children(x, 'mapValue')) next.push(...this.children(mv, 'schema'));
    return next;
  }

  /** Longest chain of `elementSchema`/`schema` edges below `x`, and whether a cycle is reachable (memoized). */
  private schemaHeight(x: Node, level = 0): { height: number; cyclic: boolean } {
    const known = this.heights.get(x);
    if (known !== undefined) return known;
    let height = 0;
    let cyclic = false;
    this.inSchemaWalk.add(x);
    for (const c of this.schemaChildren(x)) {
      if (this.inSchemaWalk.has(c)) {
        cyclic = true;
        continue;
      }
      if (c.builtin || level > 1000) {
        height = Math.max(height, 1);
        continue;
      }
      const h = this.schemaHeight(c, level + 1);
      if (h.cyclic) cyclic = true;
      height = Math.max(height, 1 + h.height);
    }
    this.inSchemaWalk.delete(x);
    const r = { height, cyclic };
    this.heights.set(x, r);
    return r;
  }

  private checkSchemaDepth(n: Node): void {
    const max = LIMITS[n.version].maxSchemaDepth;
    const { height, cyclic: recursive } = this.schemaHeight(n);
    const tooDeep = height > max;
    if (recursive) {
      this.err(
        'recursiveStructureWide',
        `${n.cls} ${n.id} contains itself through 'elementSchema' or 'schema'. Remove the self-reference.`,
        n.doc,
        n.ptr,
        n,
      );
    } else if (tooDeep) {
      this.err(
        'excessiveDepthWide',
        `${n.cls} ${n.id} nests complex schemas more than ${max} levels deep. Flatten the schema.`,
        n.doc,
        n.ptr,
        n,
      );
    }
  }

  private checkPropertyExclusions(n: Node): void {
    const seen = new Set<Node>();
    const walk = (x: Node): string | undefined => {
      if (seen.has(x)) return undefined;
      seen.add(x);
      if (x.cls === 'Array') return 'an Array';
      if (x.geo === 'geospatial') return `geospatial schema ${x.id}`;
      const next: Node[] = [];
      if (x.cls === 'Object') for (const f of this.children(x, 'fields')) next.push(...this.children(f, 'schema'));
      else if (x.cls === 'Map')
        for (const mv of this.children(x, 'mapValue')) next.push(...this.children(mv, 'schema'));
      for (const c of next) {
        const r = walk(c);
        if (r !== undefined) return r;
      }
      return undefined;
    };
    const s = this.schemaOf(n);
    if (s === undefined) return;
    const found = walk(s);
    if (found !== undefined) {
      this.err(
        'excludedType',
        `Property '${String(n.lits.get('name') ?? n.id)}' has a schema that contains ${found}; DTDL v2 Properties may not contain Arrays or geospatial schemas. Use a Telemetry, a Map or an Object instead.`,
        n.doc,
        n.ptr,
        n,
        'schema',
      );
    }
  }

  // ---- object model ----

  buildModel(): DtdlModel {
    // The object model is materialized on first use: validation-only callers do not pay for it.
    return new LazyModel(
      this.roots.map((r) => r.id),
      () => this.buildElements(),
    );
  }

  private buildElements(): Map<string, ModelElement> {
    const elements = new Map<string, ModelElement>();
    const idOf = (v: Val): string => (v.kind === 'node' ? v.node.id : v.id);
    const all = [...this.builtins.values(), ...this.nodes];
    for (const n of all) {
      const el: Record<string, unknown> = {
        id: n.id,
        kind: n.cls,
        dtdlVersion: n.version,
        generatedId: !n.explicitId,
        displayName: n.langs.get('displayName') ?? {},
        description: n.langs.get('description') ?? {},
        supplementalTypes: [
          ...n.semantic.map((s) => (n.version === 2 ? `dtmi:standard:class:${s};2` : `${QT_CLASS_PREFIX}${s}`)),
          ...n.adjunct.map((a) =>
            a === 'Historized' ? (HISTORIZATION_TERMS['Historized'] ?? a) : `dtmi:iotcentral:class:${a};2`,
          ),
        ],
        undefinedTypes: n.undefinedTypes,
        undefinedProperties: n.undefinedProps,
      };
      if (n.parent !== undefined) {
        el['definedIn'] = n.parent.id;
        if (n.parentProp !== undefined) el['childOf'] = n.parentProp;
      }
      for (const [k, v] of n.lits) el[k] = v;
      for (const [k, v] of n.iris) {
        el[k] = k === 'commandType' ? `dtmi:dtdl:instance:CommandType:${v};${n.version}` : schemaDtmi(v, n.version);
      }
      if (n.unit !== undefined) el['unit'] = n.unit;
      if (n.cls === 'Property' && !n.lits.has('writable')) el['writable'] = false;
      for (const [k, vals] of n.refs) {
        const ids = vals.map(idOf);
        if (k === 'contents') continue;
        const def = CLASSES[n.version][n.cls]?.[k];
        el[k] = def?.max === 1 ? ids[0] : ids;
      }
      if (n.cls === 'Interface') {
        const contents: Record<string, string> = {};
        for (const c of this.interfaceContents(n)) {
          const name = c.lits.get('name');
          if (typeof name === 'string') contents[name] = c.id;
        }
        el['contents'] = contents;
      }
      elements.set(n.id, el as unknown as ModelElement);
    }
    return elements;
  }
}

/**
 * Parses and validates a DTDL model given as one or more JSON documents (texts, or already-parsed values).
 * All errors are collected; each carries the official ValidationID as `code`, a message with cause and fix, and
 * its location (document index, JSON pointer, and line:column for text input).
 *
 * @example
 * ```ts
 * const r = parse([JSON.stringify({
 *   '@context': 'dtmi:dtdl:context;2', '@id': 'dtmi:com:example:Thermostat;1', '@type': 'Interface',
 *   contents: [{ '@type': 'Telemetry', name: 'temperature', schema: 'double' }],
 * })]);
 * if (r.ok) r.model?.capability('dtmi:com:example:Thermostat;1', undefined, 'temperature');
 * else for (const e of r.errors) console.error(e.code, e.message);
 * ```
 */
export function parse(documents: readonly unknown[], options: ParseOptions = {}): ParseResult {
  if (!Array.isArray(documents)) {
    throw new DtdlError('DTDL_INVALID_ARGUMENT', 'parse() takes an array of documents (JSON texts or parsed values).');
  }
  const p = new Parser(options);
  documents.forEach((d, i) => p.addDocument(d, i));
  // Like the official parser, in phases: element rules; then resolution (unresolved references stop here); then the
  // rules across elements, which on a broken or incomplete model would mostly restate the same problem.
  const elementErrors = p.errors.length;
  p.findUnresolved();
  if (elementErrors === 0 && p.errors.length === 0 && p.unresolved.size === 0) {
    p.resolve();
    if (p.errors.length === 0) p.checkGraph();
  }
  const unresolved = [...p.unresolved].sort();
  const ok = p.errors.length === 0 && unresolved.length === 0;
  return {
    ok,
    errors: p.errors,
    warnings: p.warnings,
    unresolved,
    model: ok ? p.buildModel() : undefined,
  };
}
