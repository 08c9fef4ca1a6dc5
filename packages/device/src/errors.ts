/**
 * The device SDK's errors: one class, a closed code union, documented in `docs/errors.md`. Failures the
 * services report keep what they said (`status`, Azure's numeric `errorCode`, the CONNACK return code) so the
 * connection policy can choose between reprovisioning and backing off.
 */

/**
 * The closed set of {@link DeviceError} codes.
 *
 * @example
 * ```ts
 * DEVICE_ERROR_CODES.includes('DEVICE_NOT_CONNECTED'); // true
 * ```
 */
export const DEVICE_ERROR_CODES = [
  'DEVICE_INVALID_OPTIONS',
  'DEVICE_PROVISIONING_FAILED',
  'DEVICE_CONNECTION_REFUSED',
  'DEVICE_CONNECTION_LOST',
  'DEVICE_NOT_CONNECTED',
  'DEVICE_TIMEOUT',
  'DEVICE_TWIN_REQUEST_FAILED',
  'DEVICE_PAYLOAD_INVALID',
  'DEVICE_QUEUE_FULL',
  'DEVICE_CLOSED',
] as const;

/**
 * One of {@link DEVICE_ERROR_CODES}.
 *
 * @example
 * ```ts
 * const code: DeviceErrorCode = 'DEVICE_PROVISIONING_FAILED';
 * ```
 */
export type DeviceErrorCode = (typeof DEVICE_ERROR_CODES)[number];

/** What a service said when it refused (all optional: a socket error says none of it). */
export interface DeviceErrorDetails {
  /** HTTP-like status (DPS and twin responses; 401/503 for the matching CONNACK codes). */
  status?: number | undefined;
  /** Azure's numeric error code from the response body, e.g. 400209 (waiting for approval or blocked). */
  errorCode?: number | undefined;
  /** MQTT CONNACK return code (protocol.md §1.2). */
  returnCode?: number | undefined;
  /** Seconds the service asked to wait (`retry-after`). */
  retryAfter?: number | undefined;
  cause?: unknown;
}

/**
 * Every failure the device SDK reports. `code` says what failed; `status`, `errorCode` and `returnCode`
 * say what the service answered.
 *
 * @example
 * ```ts
 * try {
 *   await device.start();
 * } catch (error) {
 *   if (error instanceof DeviceError && error.code === 'DEVICE_PROVISIONING_FAILED' && error.status === 401) {
 *     // wrong enrollment group key or registration id
 *   }
 * }
 * ```
 */
export class DeviceError extends Error {
  override readonly name = 'DeviceError';
  readonly code: DeviceErrorCode;
  readonly status: number | undefined;
  readonly errorCode: number | undefined;
  readonly returnCode: number | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: DeviceErrorCode, message: string, details: DeviceErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.errorCode = details.errorCode;
    this.returnCode = details.returnCode;
    this.retryAfter = details.retryAfter;
  }
}
