import type { DtdlVersion } from './dtmi.js';
import type { ClassName } from './metamodel.js';

/** Where a diagnostic points. */
export interface DiagnosticLocation {
  /** Index of the document in the `documents` argument of {@link parse}. */
  readonly documentIndex: number;
  /** JSON Pointer (RFC 6901) into that document. */
  readonly pointer: string;
  /** 1-based line, when the document was given as JSON text. */
  readonly line?: number;
  /** 1-based column, when the document was given as JSON text. */
  readonly column?: number;
}

/** One error or warning about a model. */
export interface Diagnostic {
  /**
   * The official DTDL ValidationID, e.g. `dtmi:dtdl:parsingError:invalidId`. Conditions the official parser has no
   * ValidationID for (malformed JSON text) use `dtmi:plugboard:parsingError:*`; warnings use
   * `dtmi:plugboard:parsingWarning:*`.
   */
  readonly code: string;
  /** What is wrong and how to fix it. */
  readonly message: string;
  /** The element the problem is in, when known. */
  readonly primaryId?: string;
  /** The member (property) concerned, when known. */
  readonly property?: string;
  /** Location, when known. */
  readonly location?: DiagnosticLocation;
}

/** Kind of a model element: a DTDL material class. */
export type ElementKind = ClassName;

/** One element of a parsed model (object model in the style of the official parser: references are DTMIs). */
export interface ModelElement {
  readonly id: string;
  readonly kind: ElementKind;
  readonly dtdlVersion: DtdlVersion;
  /** The element's `@id` was generated (it had none). */
  readonly generatedId: boolean;
  /** DTMI of the element this one is defined in, if any. */
  readonly definedIn?: string;
  /** For elements that are a child value of a member: that member's name. */
  readonly childOf?: string;
  readonly name?: string;
  readonly displayName: Readonly<Record<string, string>>;
  readonly description: Readonly<Record<string, string>>;
  readonly comment?: string;
  /** Semantic and adjunct co-types (DTMIs), e.g. `dtmi:standard:class:Temperature;2`. */
  readonly supplementalTypes: readonly string[];
  /** Undefined co-types (informal co-typing), e.g. `NumberValue`. */
  readonly undefinedTypes: readonly string[];
  /** Members allowed by informal co-typing, with their raw JSON values. */
  readonly undefinedProperties: Readonly<Record<string, unknown>>;
  /** Telemetry/Property/Component/CommandPayload/Field/MapKey/MapValue: DTMI of the schema. */
  readonly schema?: string;
  /** Property/Relationship. */
  readonly writable?: boolean;
  /** Telemetry/Property with a semantic type: the unit term. */
  readonly unit?: string;
  /** Interface: contents by name, including inherited ones. */
  readonly contents?: Readonly<Record<string, string>>;
  /** Interface: directly extended Interfaces. */
  readonly extends?: readonly string[];
  /** Interface: reusable schemas. */
  readonly schemas?: readonly string[];
  /** Command. */
  readonly request?: string;
  readonly response?: string;
  readonly commandType?: string;
  /** Relationship. */
  readonly target?: string;
  readonly minMultiplicity?: number;
  readonly maxMultiplicity?: number;
  readonly properties?: readonly string[];
  /** Array. */
  readonly elementSchema?: string;
  /** Enum. */
  readonly valueSchema?: string;
  readonly enumValues?: readonly string[];
  /** EnumValue. */
  readonly enumValue?: string | number;
  /** Map. */
  readonly mapKey?: string;
  readonly mapValue?: string;
  /** Object. */
  readonly fields?: readonly string[];
}

/** A parsed, valid model: every element by DTMI, plus standard schema elements that are used. */
export interface DtdlModel {
  /** All elements by DTMI (user elements, generated ids and the standard schemas referenced). */
  readonly elements: ReadonlyMap<string, ModelElement>;
  /** DTMIs of top-level Interfaces, in document order. */
  readonly roots: readonly string[];
  /** The element with this DTMI. */
  get(id: string): ModelElement | undefined;
  /**
   * The content named `name` of Interface `interfaceId` (inherited contents included); with `component`, of the
   * Interface of that component.
   */
  capability(interfaceId: string, component: string | undefined, name: string): ModelElement | undefined;
}

/** Result of {@link parse}. */
export interface ParseResult {
  /** True when there are no errors and nothing is unresolved. */
  readonly ok: boolean;
  readonly errors: readonly Diagnostic[];
  /** Valid but discouraged constructs (SHOULD / SHOULD NOT of the specification). */
  readonly warnings: readonly Diagnostic[];
  /** Dependent references (DTMIs) that no document defines; resolve them and parse again. */
  readonly unresolved: readonly string[];
  /** The object model, when `ok`. */
  readonly model: DtdlModel | undefined;
}
