// The DTDL metamodel as data: the material classes of v2 and v3, their members and member constraints.
// Mirrors DTDL/v{2,3}/metamodel/*RDF-SHACL.json (Azure/opendigitaltwins-dtdl) in a shape the parser can walk.

import type { DtdlVersion } from './dtmi.js';

/** Material (instantiable) DTDL classes the parser builds, plus the standard schema classes. */
export type ClassName =
  | 'Interface'
  | 'Telemetry'
  | 'Property'
  | 'Command'
  | 'Component'
  | 'Relationship'
  | 'CommandPayload'
  | 'CommandRequest'
  | 'CommandResponse'
  | 'Array'
  | 'Enum'
  | 'EnumValue'
  | 'Map'
  | 'MapKey'
  | 'MapValue'
  | 'Object'
  | 'Field'
  | 'Boolean'
  | 'Date'
  | 'DateTime'
  | 'Double'
  | 'Duration'
  | 'Float'
  | 'Integer'
  | 'Long'
  | 'String'
  | 'Time';

/** How a member's value is written. */
export type MemberKind = 'string' | 'langString' | 'boolean' | 'integer' | 'literal' | 'element' | 'iri' | 'target';

/** One member of a class. */
export interface MemberDef {
  readonly kind: MemberKind;
  readonly min?: number;
  readonly max?: number;
  readonly maxLength?: number;
  readonly pattern?: RegExp;
  /** For `element`: classes an included or referenced element must have. */
  readonly classes?: readonly ClassName[];
  /** For `element`: the value may only be a reference or an element with an `@id` (sh:IRI). */
  readonly refOnly?: boolean;
  /** For `element`: class assumed when the inline element has no material `@type`. */
  readonly inferable?: ClassName;
  /** For `iri`: allowed standard values (terms). */
  readonly values?: readonly string[];
  readonly minInclusive?: number;
  readonly maxInclusive?: number;
  /** For `element`: plural member whose auto ids use `:_member:__name` and whose `name`s must be unique. */
  readonly segment?: boolean;
  /** The member is deprecated (SHOULD NOT be used). */
  readonly deprecated?: boolean;
  /** DTDL v3: the value may also be an element of an earlier DTDL version. */
  readonly crossVersion?: boolean;
}

export const NAME_RE = /^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$/;

export const PRIMITIVE_SCHEMAS = {
  boolean: 'Boolean',
  date: 'Date',
  dateTime: 'DateTime',
  double: 'Double',
  duration: 'Duration',
  float: 'Float',
  integer: 'Integer',
  long: 'Long',
  string: 'String',
  time: 'Time',
} as const satisfies Record<string, ClassName>;

export const GEOSPATIAL_SCHEMAS = ['point', 'multiPoint', 'lineString', 'multiLineString', 'polygon', 'multiPolygon'];

export const COMPLEX_SCHEMA: readonly ClassName[] = ['Array', 'Enum', 'Map', 'Object'];
export const PRIMITIVE_CLASSES: readonly ClassName[] = Object.values(PRIMITIVE_SCHEMAS);
export const SCHEMA: readonly ClassName[] = [...PRIMITIVE_CLASSES, ...COMPLEX_SCHEMA];
export const NUMERIC_CLASSES: readonly ClassName[] = ['Double', 'Float', 'Integer', 'Long'];
export const CONTENT: readonly ClassName[] = ['Telemetry', 'Property', 'Command', 'Component', 'Relationship'];

/** Classes that may appear as a `@type` in each version. */
export const MATERIAL_TERMS: Readonly<Record<DtdlVersion, readonly ClassName[]>> = {
  2: [
    'Interface',
    'Telemetry',
    'Property',
    'Command',
    'Component',
    'Relationship',
    'CommandPayload',
    'Array',
    'Enum',
    'EnumValue',
    'Map',
    'MapKey',
    'MapValue',
    'Object',
    'Field',
  ],
  3: [
    'Interface',
    'Telemetry',
    'Property',
    'Command',
    'Component',
    'Relationship',
    'CommandRequest',
    'CommandResponse',
    'Array',
    'Enum',
    'EnumValue',
    'Map',
    'MapKey',
    'MapValue',
    'Object',
    'Field',
  ],
};

/** Per-version limits. */
export interface VersionLimits {
  readonly nameMaxLength: number;
  readonly displayNameMaxLength: number;
  readonly maxContents: number | undefined;
  readonly maxExtends: number | undefined;
  readonly maxExtendsDepth: number;
  readonly maxSchemaDepth: number;
  readonly maxMultiplicity: number | undefined;
}

export const LIMITS: Readonly<Record<DtdlVersion, VersionLimits>> = {
  2: {
    nameMaxLength: 64,
    displayNameMaxLength: 64,
    maxContents: 300,
    maxExtends: 2,
    maxExtendsDepth: 10,
    maxSchemaDepth: 5,
    maxMultiplicity: 500,
  },
  3: {
    nameMaxLength: 512,
    displayNameMaxLength: 512,
    maxContents: undefined,
    maxExtends: undefined,
    maxExtendsDepth: 10,
    maxSchemaDepth: 5,
    maxMultiplicity: undefined,
  },
};

type Members = Readonly<Record<string, MemberDef>>;

function entity(v: DtdlVersion): Members {
  return {
    displayName: { kind: 'langString', maxLength: LIMITS[v].displayNameMaxLength },
    description: { kind: 'langString', maxLength: 512 },
    comment: { kind: 'string', max: 1, maxLength: 512 },
  };
}

function named(v: DtdlVersion): Members {
  return {
    ...entity(v),
    name: { kind: 'string', min: 1, max: 1, maxLength: LIMITS[v].nameMaxLength, pattern: NAME_RE },
  };
}

function schemaField(v: DtdlVersion): Members {
  return { ...named(v), schema: { kind: 'element', min: 1, max: 1, classes: SCHEMA, crossVersion: true } };
}

function build(v: DtdlVersion): Readonly<Partial<Record<ClassName, Members>>> {
  const payload: ClassName[] = v === 2 ? ['CommandPayload'] : ['CommandRequest'];
  const responsePayload: ClassName[] = v === 2 ? ['CommandPayload'] : ['CommandResponse'];
  const classes: Partial<Record<ClassName, Members>> = {
    Interface: {
      ...entity(v),
      contents: {
        kind: 'element',
        classes: CONTENT,
        segment: true,
        crossVersion: true,
        ...(v === 2 ? { max: 300 } : {}),
      },
      extends: {
        kind: 'element',
        classes: ['Interface'],
        refOnly: true,
        crossVersion: true,
        ...(v === 2 ? { max: 2 } : {}),
      },
      schemas: { kind: 'element', classes: COMPLEX_SCHEMA, refOnly: true },
    },
    Telemetry: schemaField(v),
    Property: { ...schemaField(v), writable: { kind: 'boolean', max: 1 } },
    Command: {
      ...named(v),
      request: { kind: 'element', max: 1, classes: payload, inferable: payload[0] ?? 'CommandPayload' },
      response: {
        kind: 'element',
        max: 1,
        classes: responsePayload,
        inferable: responsePayload[0] ?? 'CommandPayload',
      },
      commandType: { kind: 'iri', max: 1, values: ['asynchronous', 'synchronous'], deprecated: true },
    },
    Component: {
      ...named(v),
      schema: { kind: 'element', min: 1, max: 1, classes: ['Interface'], refOnly: true, crossVersion: true },
    },
    Relationship: {
      ...named(v),
      maxMultiplicity: {
        kind: 'integer',
        max: 1,
        minInclusive: 1,
        ...(LIMITS[v].maxMultiplicity === undefined ? {} : { maxInclusive: LIMITS[v].maxMultiplicity }),
      },
      minMultiplicity: { kind: 'integer', max: 1, minInclusive: 0, maxInclusive: 0 },
      target: { kind: 'target', max: 1 },
      properties: {
        kind: 'element',
        classes: ['Property'],
        segment: true,
        crossVersion: true,
        ...(v === 2 ? { max: 300 } : {}),
      },
      writable: { kind: 'boolean', max: 1 },
    },
    Array: { ...entity(v), elementSchema: { kind: 'element', min: 1, max: 1, classes: SCHEMA, crossVersion: true } },
    Enum: {
      ...entity(v),
      valueSchema: { kind: 'iri', min: 1, max: 1, values: ['integer', 'string'] },
      enumValues: {
        kind: 'element',
        classes: ['EnumValue'],
        inferable: 'EnumValue',
        segment: true,
        ...(v === 2 ? { min: 1, max: 100 } : {}),
      },
    },
    EnumValue: { ...named(v), enumValue: { kind: 'literal', min: 1, max: 1 } },
    Map: {
      ...entity(v),
      mapKey: { kind: 'element', min: 1, max: 1, classes: ['MapKey'], inferable: 'MapKey' },
      mapValue: { kind: 'element', min: 1, max: 1, classes: ['MapValue'], inferable: 'MapValue' },
    },
    MapKey: { ...named(v), schema: { kind: 'iri', min: 1, max: 1, values: ['string'] } },
    MapValue: schemaField(v),
    Object: {
      ...entity(v),
      fields: {
        kind: 'element',
        classes: ['Field'],
        inferable: 'Field',
        segment: true,
        ...(v === 2 ? { min: 1, max: 30 } : {}),
      },
    },
    Field: schemaField(v),
  };
  if (v === 2) classes.CommandPayload = schemaField(v);
  else {
    classes.CommandRequest = schemaField(v);
    classes.CommandResponse = schemaField(v);
  }
  return classes;
}

export const CLASSES: Readonly<Record<DtdlVersion, Readonly<Partial<Record<ClassName, Members>>>>> = {
  2: build(2),
  3: build(3),
};

/** Every member term of a version (used to tell reserved terms from undefined ones). */
export function memberTerms(v: DtdlVersion): ReadonlySet<string> {
  const s = new Set<string>();
  for (const members of Object.values(CLASSES[v])) for (const k of Object.keys(members)) s.add(k);
  return s;
}
