import { encodeBase64, tryDecodeBase64 } from './base64.js';
import { ProtocolError } from './errors.js';

/**
 * A parsed `SharedAccessSignature …` token (protocol.md §2.1).
 *
 * @example
 * ```ts
 * const sas: SharedAccessSignature = {
 *   resource: 'localhost%2Fdevices%2Fdev1',
 *   signature: 'b9TgL6UZqS14451hdQFxRenG6wWuc3g6K+v2uoeLqXw=',
 *   expiry: 1795689874,
 * };
 * ```
 */
export interface SharedAccessSignature {
  /** `sr` exactly as it appears in the token (not decoded): the string-to-sign uses this text. */
  resource: string;
  /** `sig` percent-decoded, i.e. the base64 text of the HMAC. */
  signature: string;
  /** `se` as an integer. Seconds since the epoch for hub/DPS tokens; IoT Central API tokens use ms. */
  expiry: number;
  /** `skn` (percent-decoded) if present: the shared access policy name. */
  keyName?: string;
}

const SAS_PREFIX = /^SharedAccessSignature\s/;
const CANONICAL_INTEGER = /^(?:0|[1-9][0-9]*)$/;

function sasError(message: string, cause?: unknown): ProtocolError {
  return new ProtocolError('PROTOCOL_SAS_MALFORMED', message, cause === undefined ? undefined : { cause });
}

/**
 * Parses a SAS token (protocol.md §2.1). Fields may come in any order; `sr`, `sig` and `se` are required,
 * `skn` is optional, unknown fields are ignored and duplicate fields are rejected. `sr` is kept verbatim,
 * `sig` and `skn` are percent-decoded. `se` must be a non-negative integer written without leading zeros
 * (the signature covers the `se` text, so a non-canonical form could never be verified from the number).
 *
 * @throws {@link ProtocolError} `PROTOCOL_SAS_MALFORMED` when the token does not follow the grammar.
 * @example
 * ```ts
 * const sas = parseSharedAccessSignature(
 *   'SharedAccessSignature sr=0ne00ABCDEF/registrations/dev1&sig=9zDt%2B%3D&skn=registration&se=1795689900',
 * );
 * // { resource: '0ne00ABCDEF/registrations/dev1', signature: '9zDt+=', expiry: 1795689900, keyName: 'registration' }
 * ```
 */
export function parseSharedAccessSignature(token: string): SharedAccessSignature {
  if (!SAS_PREFIX.test(token)) throw sasError("SAS token must start with 'SharedAccessSignature '");
  const fields = new Map<string, string>();
  for (const part of token.slice('SharedAccessSignature '.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw sasError(`SAS token field '${part}' has no '='`);
    const key = part.slice(0, eq);
    if (fields.has(key)) throw sasError(`SAS token repeats field '${key}'`);
    fields.set(key, part.slice(eq + 1));
  }
  const resource = fields.get('sr');
  const rawSignature = fields.get('sig');
  const rawExpiry = fields.get('se');
  const rawKeyName = fields.get('skn');
  if (resource === undefined || resource === '') throw sasError("SAS token lacks 'sr'");
  if (rawSignature === undefined || rawSignature === '') throw sasError("SAS token lacks 'sig'");
  if (rawExpiry === undefined || !CANONICAL_INTEGER.test(rawExpiry)) {
    throw sasError("SAS token 'se' must be a non-negative integer");
  }
  const expiry = Number(rawExpiry);
  if (!Number.isSafeInteger(expiry)) throw sasError("SAS token 'se' is out of range");
  const signature = percentDecodeField('sig', rawSignature);
  const sas: SharedAccessSignature = { resource, signature, expiry };
  if (rawKeyName !== undefined) {
    if (rawKeyName === '') throw sasError("SAS token 'skn' is empty");
    sas.keyName = percentDecodeField('skn', rawKeyName);
  }
  return sas;
}

function percentDecodeField(name: string, value: string): string {
  try {
    return decodeURIComponent(value);
  } catch (cause) {
    throw sasError(`SAS token '${name}' is not valid percent-encoding`, cause);
  }
}

/**
 * `encodeURIComponent` that also escapes `! ' ( ) *` (as `%21 %27 %28 %29 %2a`, lower-case hex exactly
 * like `azure-iot-common`'s `encodeUriComponentStrict`).
 *
 * @example
 * ```ts
 * encodeUriComponentStrict('myhub.local/devices/dev(1)*'); // 'myhub.local%2Fdevices%2Fdev%281%29%2a'
 * ```
 */
export function encodeUriComponentStrict(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
}

/**
 * Options for {@link createSharedAccessSignature}.
 *
 * @example
 * ```ts
 * const options: CreateSharedAccessSignatureOptions = {
 *   resource: 'myhub.local/devices/dev1',
 *   key: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
 *   expiry: 1795689874,
 * };
 * ```
 */
export interface CreateSharedAccessSignatureOptions {
  /** The raw (unencoded) resource, e.g. `myhub.local/devices/dev1`. */
  resource: string;
  /** The shared access key, base64. */
  key: string;
  /** `se`: a non-negative integer, normally seconds since the epoch. */
  expiry: number;
  /** `skn`: the policy name (omit for device-scoped tokens). */
  keyName?: string;
  /**
   * `true` (default): `sr = encodeUriComponentStrict(resource)`, as the Node device SDK does.
   * `false`: `sr` is the raw resource, as the Node DPS SDK does.
   */
  encodeResource?: boolean;
}

/**
 * Creates a SAS token exactly as `azure-iot-common` does (protocol.md §2.1-2.2): fields in the Node order
 * `sr, sig, skn, se`, `sig = encodeUriComponentStrict(base64(HMAC-SHA256(key, sr + "\n" + se)))`.
 *
 * @throws `TypeError` when `key` is not base64 or `expiry` is not a non-negative safe integer.
 * @example
 * ```ts
 * await createSharedAccessSignature({
 *   resource: '0ne00ABCDEF/registrations/dev1',
 *   key: 'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU=',
 *   expiry: 1795689900,
 *   keyName: 'registration',
 *   encodeResource: false,
 * });
 * // 'SharedAccessSignature sr=0ne00ABCDEF/registrations/dev1&sig=9zDtHmRfImQoDxMLzr5JjBJTj%2B96%2BWs58i%2FTk5hQM6U%3D&skn=registration&se=1795689900'
 * ```
 */
export async function createSharedAccessSignature(options: CreateSharedAccessSignatureOptions): Promise<string> {
  const { expiry, keyName } = options;
  if (!Number.isSafeInteger(expiry) || expiry < 0) throw new TypeError('expiry must be a non-negative integer');
  const resource = options.encodeResource === false ? options.resource : encodeUriComponentStrict(options.resource);
  const signature = await hmacSha256Base64(options.key, `${resource}\n${expiry}`);
  const skn = keyName === undefined ? '' : `&skn=${encodeUriComponentStrict(keyName)}`;
  return `SharedAccessSignature sr=${resource}&sig=${encodeUriComponentStrict(signature)}${skn}&se=${expiry}`;
}

/**
 * Checks a parsed token's signature against a base64 key (protocol.md §2.2). The HMAC is computed over the
 * raw `sr` first; if that does not match, over `encodeURIComponent(decodeURIComponent(sr))` and over that
 * text with lower-case escapes (`%2f`, as .NET writes). Signature bytes are compared in constant time.
 * It does not check expiry or scope. Never throws: a malformed key or signature yields `false`.
 *
 * @example
 * ```ts
 * const sas = parseSharedAccessSignature(password);
 * if (!(await verifySharedAccessSignature(sas, device.primaryKey))) {
 *   // CONNACK 5
 * }
 * ```
 */
export async function verifySharedAccessSignature(sas: SharedAccessSignature, key: string): Promise<boolean> {
  try {
    const keyBytes = tryDecodeBase64(key);
    const expected = tryDecodeBase64(sas.signature);
    if (keyBytes === undefined || keyBytes.length === 0 || expected === undefined) return false;
    const cryptoKey = await importHmacKey(keyBytes);
    let matched = false;
    for (const resource of signingCandidates(sas.resource)) {
      const actual = await hmac(cryptoKey, `${resource}\n${sas.expiry}`);
      // Keep comparing after a match so the number of HMACs does not depend on which form matched.
      matched = constantTimeEqual(actual, expected) || matched;
    }
    return matched;
  } catch {
    return false;
  }
}

/**
 * The `sr` forms a verifier should try, in order: exactly as sent, re-encoded with `encodeURIComponent`, and
 * that with lower-case escapes (`%2f`, as .NET sends). Exposed so that a server can verify with its own HMAC.
 *
 * @example
 * ```ts
 * sasSigningCandidates('localhost/devices/dev1'); // ['localhost/devices/dev1', 'localhost%2Fdevices%2Fdev1', 'localhost%2fdevices%2fdev1']
 * ```
 */
export function sasSigningCandidates(resource: string): string[] {
  return signingCandidates(resource);
}

function signingCandidates(resource: string): string[] {
  const candidates = [resource];
  let reencoded: string;
  try {
    reencoded = encodeURIComponent(decodeURIComponent(resource));
  } catch {
    return candidates;
  }
  const lowerEscapes = reencoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());
  for (const candidate of [reencoded, lowerEscapes]) if (!candidates.includes(candidate)) candidates.push(candidate);
  return candidates;
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i += 1) difference |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return difference === 0;
}

/**
 * Percent-decodes an `sr` value; returns the input unchanged if it is not valid percent-encoding.
 *
 * @example
 * ```ts
 * decodeResource('localhost%2Fdevices%2Fdev1'); // 'localhost/devices/dev1'
 * decodeResource('100%'); // '100%'
 * ```
 */
export function decodeResource(resource: string): string {
  try {
    return decodeURIComponent(resource);
  } catch {
    return resource;
  }
}

function resourceSegments(resource: string): string[] {
  const segments = resource.replace(/\/+$/, '').split('/');
  segments[0] = (segments[0] ?? '').toLowerCase();
  return segments;
}

/**
 * Whether a token granted for `granted` may be used for `target` (protocol.md §2.3). Both are DECODED
 * resources. The host (first segment) compares case-insensitively, the path by whole segments (`/a/b`
 * covers `/a/b/c` but not `/a/bc`); trailing slashes are ignored.
 *
 * @example
 * ```ts
 * resourceCovers('MyHub.local', 'myhub.local/devices/dev1'); // true
 * resourceCovers('myhub.local/devices/dev1', 'myhub.local/devices/dev10'); // false
 * ```
 */
export function resourceCovers(granted: string, target: string): boolean {
  const grantedSegments = resourceSegments(granted);
  const targetSegments = resourceSegments(target);
  if (grantedSegments.length > targetSegments.length) return false;
  return grantedSegments.every((segment, i) => segment === targetSegments[i]);
}

/**
 * Whether `key` is a non-empty standard base64 string usable as a shared access key.
 *
 * @example
 * ```ts
 * isBase64Key('MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY='); // true
 * isBase64Key('not a key'); // false
 * ```
 */
export function isBase64Key(key: string): boolean {
  const bytes = tryDecodeBase64(key);
  return bytes !== undefined && bytes.length > 0;
}

const utf8 = new TextEncoder();

// The global `CryptoKey` type is not in the ES lib, so name it through the Web Crypto API itself.
type HmacKey = Awaited<ReturnType<typeof globalThis.crypto.subtle.importKey>>;

function importHmacKey(keyBytes: Uint8Array): Promise<HmacKey> {
  return globalThis.crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

async function hmac(cryptoKey: HmacKey, message: string): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.sign('HMAC', cryptoKey, utf8.encode(message)));
}

/**
 * `base64(HMAC-SHA256(key = base64decode(key), msg = utf8(message)))`.
 *
 * @throws `TypeError` when `key` is not a non-empty base64 string (see {@link isBase64Key}).
 * @example
 * ```ts
 * await hmacSha256Base64('MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=', 'localhost%2Fdevices%2Fdev1\n1795689874');
 * // 'b9TgL6UZqS14451hdQFxRenG6wWuc3g6K+v2uoeLqXw='
 * ```
 */
export async function hmacSha256Base64(key: string, message: string): Promise<string> {
  const keyBytes = tryDecodeBase64(key);
  if (keyBytes === undefined || keyBytes.length === 0) throw new TypeError('key must be a non-empty base64 string');
  return encodeBase64(await hmac(await importHmacKey(keyBytes), message));
}

/**
 * Derives a device key from an enrollment-group key (protocol.md §2.6):
 * `base64(HMAC-SHA256(base64decode(groupKey), utf8(registrationId)))`.
 *
 * @throws `TypeError` when `groupKey` is not a non-empty base64 string.
 * @example
 * ```ts
 * await deriveDeviceKey('Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=', 'dev1');
 * // 'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU='
 * ```
 */
export function deriveDeviceKey(groupKey: string, registrationId: string): Promise<string> {
  return hmacSha256Base64(groupKey, registrationId);
}
