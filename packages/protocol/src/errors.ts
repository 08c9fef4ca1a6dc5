/**
 * The closed set of {@link ProtocolError} codes. Each names the grammar that rejected its input.
 *
 * @example
 * ```ts
 * PROTOCOL_ERROR_CODES.includes('PROTOCOL_SAS_MALFORMED'); // true
 * ```
 */
export const PROTOCOL_ERROR_CODES = [
  'PROTOCOL_SAS_MALFORMED',
  'PROTOCOL_CONNECTION_STRING_MALFORMED',
  'PROTOCOL_USERNAME_MALFORMED',
  'PROTOCOL_PROPERTY_BAG_MALFORMED',
  'PROTOCOL_TOPIC_MALFORMED',
  'PROTOCOL_JSON_MALFORMED',
  'PROTOCOL_JSON_TOO_LARGE',
  'PROTOCOL_JSON_TOO_DEEP',
  'PROTOCOL_JSON_TOO_MANY_KEYS',
  'PROTOCOL_JSON_FORBIDDEN_KEY',
  'PROTOCOL_HTTP_BATCH_MALFORMED',
] as const;

/**
 * One of {@link PROTOCOL_ERROR_CODES}.
 *
 * @example
 * ```ts
 * const code: ProtocolErrorCode = 'PROTOCOL_USERNAME_MALFORMED';
 * ```
 */
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

/**
 * Thrown when wire text (a SAS token, connection string, MQTT user name, property bag, topic or untrusted
 * JSON) does not follow its grammar or exceeds its limits. Programmer errors (for example a key that is not base64) are `TypeError`s instead.
 *
 * @example
 * ```ts
 * try {
 *   parseSharedAccessSignature('Bearer abc');
 * } catch (error) {
 *   if (error instanceof ProtocolError && error.code === 'PROTOCOL_SAS_MALFORMED') {
 *     // answer CONNACK 4 (bad user name or password)
 *   }
 * }
 * ```
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
