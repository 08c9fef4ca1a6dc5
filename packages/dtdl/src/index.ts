// Public surface of @plugboard/dtdl.
export { generateTypeScript, type CodegenOptions, type SchemaDescriptor } from './codegen.js';
export { DtdlError, DtdlErrorCode } from './errors.js';
export {
  dtmiToPath,
  formatDtmi,
  isValidDtmi,
  MAX_DTMI_LENGTH,
  parseDtmi,
  type Dtmi,
  type DtmiValidationOptions,
  type DtdlVersion,
} from './dtmi.js';
export type { ClassName } from './metamodel.js';
export type { Diagnostic, DiagnosticLocation, DtdlModel, ElementKind, ModelElement, ParseResult } from './model.js';
export { parse, type ParseOptions } from './parser.js';
export { sampleValue } from './sample.js';
export {
  validateCommandPayload,
  validatePropertyPatch,
  validateTelemetry,
  validateValue,
  type CommandPayloadKind,
  type MessageOptions,
  type Payload,
  type PayloadIssue,
  type PayloadResult,
  type PropertyPatchKind,
} from './payload.js';
export {
  createDmrResolver,
  createMemoryResolver,
  parseWithResolver,
  type DmrResolverOptions,
  type DtmiResolver,
  type ResolveOptions,
} from './resolver.js';

/** Package version. */
export const VERSION = '0.1.0';
