/**
 * Protocol-neutral hub errors. Every refusal the platform makes carries one of these codes; each edge maps
 * the code once (CONNACK return code, `$iothub/twin/res/{status}`, HTTP status + body) through the
 * `status` and `azureErrorCode` below. Codes are documented in `docs/errors.md` and never reused.
 */

/** What each code means on the wire: HTTP-like status, Azure's numeric error code and its name. */
export const HUB_ERRORS = {
  HUB_INVALID_ARGUMENT: { status: 400, azureErrorCode: 400004, azureName: 'ArgumentInvalid' },
  HUB_INVALID_TWIN_PATCH: { status: 400, azureErrorCode: 400004, azureName: 'ArgumentInvalid' },
  HUB_PROTOCOL_VIOLATION: { status: 400, azureErrorCode: 400001, azureName: 'InvalidProtocolVersion' },
  HUB_CONNECTION_REPLACED: {
    status: 400,
    azureErrorCode: 400027,
    azureName: 'ConnectionForcefullyClosedOnNewConnection',
  },
  HUB_UNAUTHORIZED: { status: 401, azureErrorCode: 401002, azureName: 'IotHubUnauthorizedAccess' },
  HUB_TOKEN_EXPIRED: { status: 401, azureErrorCode: 401002, azureName: 'IotHubUnauthorizedAccess' },
  HUB_BAD_CREDENTIALS: { status: 401, azureErrorCode: 401002, azureName: 'IotHubUnauthorizedAccess' },
  HUB_IDENTIFIER_REJECTED: { status: 401, azureErrorCode: 401002, azureName: 'IotHubUnauthorizedAccess' },
  HUB_DEVICE_DISABLED: { status: 403, azureErrorCode: 403005, azureName: 'DeviceDisabled' },
  HUB_TOPIC_NOT_ALLOWED: { status: 403, azureErrorCode: 403002, azureName: 'IotHubUnauthorized' },
  HUB_QUOTA_EXCEEDED: { status: 403, azureErrorCode: 403002, azureName: 'IotHubQuotaExceeded' },
  HUB_C2D_QUEUE_FULL: { status: 403, azureErrorCode: 403004, azureName: 'DeviceMaximumQueueDepthExceeded' },
  HUB_DEVICE_NOT_FOUND: { status: 404, azureErrorCode: 404001, azureName: 'DeviceNotFound' },
  HUB_MODULE_NOT_FOUND: { status: 404, azureErrorCode: 404010, azureName: 'ModuleNotFound' },
  HUB_DEVICE_NOT_ONLINE: { status: 404, azureErrorCode: 404103, azureName: 'DeviceNotOnline' },
  HUB_MESSAGE_NOT_FOUND: { status: 404, azureErrorCode: 404104, azureName: 'DeviceMessageNotFound' },
  HUB_ROUTE_NOT_FOUND: { status: 404, azureErrorCode: 404000, azureName: 'NotFound' },
  HUB_DEVICE_ALREADY_EXISTS: { status: 409, azureErrorCode: 409001, azureName: 'DeviceAlreadyExists' },
  HUB_MODULE_ALREADY_EXISTS: { status: 409, azureErrorCode: 409301, azureName: 'ModuleAlreadyExistsOnDevice' },
  HUB_PRECONDITION_FAILED: { status: 412, azureErrorCode: 412002, azureName: 'PreconditionFailed' },
  HUB_MESSAGE_LOCK_LOST: { status: 412, azureErrorCode: 412020, azureName: 'DeviceMessageLockLost' },
  HUB_MESSAGE_TOO_LARGE: { status: 413, azureErrorCode: 413002, azureName: 'MessageTooLarge' },
  HUB_THROTTLED: { status: 429, azureErrorCode: 429001, azureName: 'ThrottlingException' },
  HUB_THROTTLE_BACKLOG_EXCEEDED: { status: 429, azureErrorCode: 429002, azureName: 'ThrottleBacklogLimitExceeded' },
  HUB_INTERNAL: { status: 500, azureErrorCode: 500001, azureName: 'ServerError' },
  HUB_SERVICE_UNAVAILABLE: { status: 503, azureErrorCode: 503001, azureName: 'ServiceUnavailable' },
  /** The hub does not answer at all (an unreachable endpoint): edges close the connection without a reply. */
  HUB_NO_ANSWER: { status: 503, azureErrorCode: 503001, azureName: 'ServiceUnavailable' },
  /** The hub swallows the connection (a black-holed path): edges answer nothing and leave it open. */
  HUB_SILENT: { status: 503, azureErrorCode: 503001, azureName: 'ServiceUnavailable' },
  HUB_METHOD_TIMEOUT: { status: 504, azureErrorCode: 504101, azureName: 'GatewayTimeout' },
} as const satisfies Record<string, { status: number; azureErrorCode: number; azureName: string }>;

/** The closed set of hub error codes. */
export type HubErrorCode = keyof typeof HUB_ERRORS;

/** Every hub error code, for documentation checks. */
export const HUB_ERROR_CODES = Object.keys(HUB_ERRORS) as HubErrorCode[];

/**
 * A refusal by the hub. `status` is HTTP-like; `azureErrorCode` is the numeric code Azure IoT Hub puts in
 * its error bodies.
 *
 * @example
 * throw new HubError('HUB_DEVICE_NOT_FOUND', `Device ${deviceId} is not registered in hub ${hub}.`);
 */
export class HubError extends Error {
  override readonly name = 'HubError';
  readonly code: HubErrorCode;
  readonly status: number;
  readonly azureErrorCode: number;
  readonly azureName: string;

  constructor(code: HubErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    const entry = HUB_ERRORS[code];
    this.status = entry.status;
    this.azureErrorCode = entry.azureErrorCode;
    this.azureName = entry.azureName;
  }
}

/** True when `error` is a {@link HubError}, optionally with the given code. */
export function isHubError(error: unknown, code?: HubErrorCode): error is HubError {
  return error instanceof HubError && (code === undefined || error.code === code);
}
