/**
 * Device Provisioning Service errors. Each code maps once per edge to an HTTP / MQTT `res/{status}` and
 * the numeric `errorCode` DPS puts in its bodies (`{"errorCode","trackingId","message","timestampUtc"}`).
 */
import { ProtocolError } from '@plugboard/protocol';

/** What each code means on the wire. */
export const DPS_ERRORS = {
  DPS_BAD_REQUEST: { status: 400, errorCode: 400004 },
  DPS_INVALID_REGISTRATION_ID: { status: 400, errorCode: 400003 },
  DPS_INVALID_CERTIFICATE: { status: 400, errorCode: 400004 },
  DPS_UNAUTHORIZED: { status: 401, errorCode: 401002 },
  DPS_DEVICE_BLOCKED: { status: 401, errorCode: 400209 },
  DPS_NOT_FOUND: { status: 404, errorCode: 404001 },
  DPS_ENROLLMENT_NOT_FOUND: { status: 404, errorCode: 404201 },
  DPS_REGISTRATION_NOT_FOUND: { status: 404, errorCode: 404202 },
  DPS_CONFLICT: { status: 409, errorCode: 409001 },
  DPS_PRECONDITION_FAILED: { status: 412, errorCode: 412001 },
  DPS_PAYLOAD_TOO_LARGE: { status: 413, errorCode: 413001 },
  DPS_THROTTLED: { status: 429, errorCode: 429001 },
  DPS_INTERNAL: { status: 500, errorCode: 500001 },
} as const satisfies Record<string, { status: number; errorCode: number }>;

/** The closed set of DPS error codes. */
export type DpsErrorCode = keyof typeof DPS_ERRORS;

/** Every DPS error code, for documentation checks. */
export const DPS_ERROR_CODES = Object.keys(DPS_ERRORS) as DpsErrorCode[];

/** Largest register request body (`{"registrationId", "payload"}` with a 4 KB payload) read, in bytes. */
export const DPS_MAX_BODY_BYTES = 16 * 1024;

/**
 * The DPS error for JSON the bounded reader refused: `DPS_PAYLOAD_TOO_LARGE` (413) for size, otherwise
 * `DPS_BAD_REQUEST` (400) naming what was wrong.
 *
 * @example
 * try { readJson(body, { maxBytes: DPS_MAX_BODY_BYTES }); } catch (e) { throw dpsJsonError(e, 'The body'); }
 */
export function dpsJsonError(cause: unknown, what: string): DpsError {
  const detail = cause instanceof ProtocolError ? cause.message : 'It is not valid JSON.';
  return cause instanceof ProtocolError && cause.code === 'PROTOCOL_JSON_TOO_LARGE'
    ? new DpsError('DPS_PAYLOAD_TOO_LARGE', `${what} is too large: ${detail}`, { cause })
    : new DpsError('DPS_BAD_REQUEST', `${what} is refused: ${detail}`, { cause });
}

/**
 * A refusal by the provisioning service.
 *
 * @example
 * throw new DpsError('DPS_UNAUTHORIZED', 'The token does not match the enrollment.');
 */
export class DpsError extends Error {
  override readonly name = 'DpsError';
  readonly code: DpsErrorCode;
  readonly status: number;
  readonly errorCode: number;
  /** Seconds the client should wait (429). */
  readonly retryAfter: number | undefined;

  constructor(code: DpsErrorCode, message: string, options?: { cause?: unknown; retryAfter?: number }) {
    super(message, options);
    this.code = code;
    this.status = DPS_ERRORS[code].status;
    this.errorCode = DPS_ERRORS[code].errorCode;
    this.retryAfter = options?.retryAfter;
  }

  /** DPS's JSON error body. */
  toBody(): { errorCode: number; trackingId: string; message: string; timestampUtc: string } {
    return {
      errorCode: this.errorCode,
      trackingId: globalThis.crypto.randomUUID(),
      message: this.message,
      timestampUtc: new Date().toISOString(),
    };
  }
}
