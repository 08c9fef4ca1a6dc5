/**
 * The closed set of error codes thrown by the TLS module. Documented in `docs/errors.md`.
 *
 * - `HUB_TLS_MATERIAL_INVALID`: files in the TLS directory exist but cannot be used (unparsable CA, missing or
 *   mismatched CA key, expired CA). Plugboard never replaces an existing CA silently, because devices and
 *   `NODE_EXTRA_CA_CERTS` already trust it.
 * - `HUB_TLS_CERTIFICATE_INVALID`: a certificate, key or name given to this module is unusable (not a
 *   certificate, key does not match, issuer is not a CA, invalid host name or IP address).
 *
 * @example
 * ```ts
 * if (err instanceof TlsError && err.code === TLS_ERROR_CODES[0]) process.exitCode = 2;
 * ```
 */
export const TLS_ERROR_CODES = ['HUB_TLS_MATERIAL_INVALID', 'HUB_TLS_CERTIFICATE_INVALID'] as const;

/**
 * One of {@link TLS_ERROR_CODES}.
 *
 * @example
 * ```ts
 * const code: TlsErrorCode = 'HUB_TLS_MATERIAL_INVALID';
 * ```
 */
export type TlsErrorCode = (typeof TLS_ERROR_CODES)[number];

/**
 * The error class of the TLS module: a stable `code`, a message that says what to do, and the `cause`.
 *
 * @example
 * ```ts
 * try {
 *   await ensureTlsMaterial({ directory, hostNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
 * } catch (err) {
 *   if (err instanceof TlsError && err.code === 'HUB_TLS_MATERIAL_INVALID') logger.error(err.message);
 *   throw err;
 * }
 * ```
 */
export class TlsError extends Error {
  readonly code: TlsErrorCode;

  constructor(code: TlsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TlsError';
    this.code = code;
  }
}

/**
 * The logger the TLS module writes to; a `pino` logger (or child) fits as is.
 *
 * @example
 * ```ts
 * const logger: TlsLogger = pino().child({ component: 'tls' });
 * ```
 */
export interface TlsLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}
