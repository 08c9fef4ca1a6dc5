/**
 * Codes of {@link DtdlError}: misuse of the `@plugboard/dtdl` API (not model diagnostics, which carry the
 * official DTDL ValidationIDs in {@link Diagnostic.code}).
 */
export const DtdlErrorCode = {
  /** A DTMI string given to {@link parseDtmi} (or another API that requires one) is not a valid DTMI. */
  InvalidDtmi: 'DTDL_INVALID_DTMI',
  /** An argument has the wrong type or an out-of-range value. */
  InvalidArgument: 'DTDL_INVALID_ARGUMENT',
  /** The operation was aborted through its `AbortSignal` or timed out. */
  Aborted: 'DTDL_ABORTED',
} as const;

/** Union of every {@link DtdlError} code. */
export type DtdlErrorCode = (typeof DtdlErrorCode)[keyof typeof DtdlErrorCode];

/**
 * The single error class thrown by `@plugboard/dtdl` for API misuse. Model problems are never thrown: they are
 * returned as diagnostics by {@link parse}.
 *
 * @example
 * ```ts
 * try { parseDtmi('urn:x'); } catch (e) { if (e instanceof DtdlError && e.code === 'DTDL_INVALID_DTMI') {} }
 * ```
 */
export class DtdlError extends Error {
  /** Stable, documented code. */
  readonly code: DtdlErrorCode;

  constructor(code: DtdlErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DtdlError';
    this.code = code;
  }
}
