/**
 * IoT Central REST API errors. Each code has its HTTP status and the `error.code` name Central puts in
 * its bodies (`{"error":{"code","message","requestId","time"}}`); the REST edge maps them once. Codes are
 * documented in docs/errors.md and never reused.
 */

/** What each code means on the wire. */
export const CENTRAL_ERRORS = {
  CENTRAL_BAD_REQUEST: { status: 400, name: 'BadRequest' },
  CENTRAL_UNAUTHORIZED: { status: 401, name: 'Unauthorized' },
  CENTRAL_FORBIDDEN: { status: 403, name: 'Forbidden' },
  CENTRAL_NOT_FOUND: { status: 404, name: 'NotFound' },
  CENTRAL_CONFLICT: { status: 409, name: 'Conflict' },
  CENTRAL_PRECONDITION_FAILED: { status: 412, name: 'PreconditionFailed' },
  CENTRAL_PAYLOAD_TOO_LARGE: { status: 413, name: 'PayloadTooLarge' },
  CENTRAL_INVALID_MODEL: { status: 422, name: 'UnprocessableEntity' },
  CENTRAL_DEVICE_NOT_CONNECTED: { status: 404, name: 'DeviceNotConnected' },
  CENTRAL_COMMAND_TIMEOUT: { status: 504, name: 'GatewayTimeout' },
  CENTRAL_INTERNAL: { status: 500, name: 'InternalServerError' },
} as const satisfies Record<string, { status: number; name: string }>;

/** The closed set of Central error codes. */
export type CentralErrorCode = keyof typeof CENTRAL_ERRORS;

/** Every Central error code, for documentation checks. */
export const CENTRAL_ERROR_CODES = Object.keys(CENTRAL_ERRORS) as CentralErrorCode[];

/**
 * A refusal by the Central application.
 *
 * @example
 * throw new CentralError('CENTRAL_NOT_FOUND', 'Device template dtmi:x:y;1 does not exist.');
 */
export class CentralError extends Error {
  override readonly name = 'CentralError';
  readonly code: CentralErrorCode;
  readonly status: number;
  /** Central's `error.code` (`NotFound`, `Forbidden`, …). */
  readonly centralCode: string;

  constructor(code: CentralErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = CENTRAL_ERRORS[code].status;
    this.centralCode = CENTRAL_ERRORS[code].name;
  }
}
