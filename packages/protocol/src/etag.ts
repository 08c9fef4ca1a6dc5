/**
 * The `If-Match` request header (RFC 9110 §13.1.1) as IoT Hub reads it: `*` (or `"*"`, which the official
 * service SDKs send for forced updates) matches any etag; one quoted etag matches only itself; anything
 * else — empty, a lone quote, a space, a weak or unquoted tag — is not a precondition that can hold.
 */

/**
 * What an `If-Match` header asks for: `any` etag, one `etag`, or `malformed` (answer 412: it cannot match).
 *
 * @example
 * ```ts
 * const wanted: IfMatch = { kind: 'etag', etag: 'AAAAAAAAAAE=' };
 * ```
 */
export type IfMatch = { kind: 'any' } | { kind: 'etag'; etag: string } | { kind: 'malformed'; header: string };

/** Options for {@link parseIfMatch}. */
export interface ParseIfMatchOptions {
  /** Also read a bare (unquoted) token as an etag, as DPS's service API does. Default false. */
  allowUnquoted?: boolean;
}

/**
 * Reads an `If-Match` header; `undefined` when the request has none (the write is unconditional).
 *
 * @example
 * ```ts
 * parseIfMatch('"*"'); // { kind: 'any' }
 * parseIfMatch('"AAAAAAAAAAE="'); // { kind: 'etag', etag: 'AAAAAAAAAAE=' }
 * parseIfMatch('""'); // { kind: 'malformed', header: '""' }
 * parseIfMatch(undefined); // undefined
 * ```
 */
export function parseIfMatch(header: string | undefined, options: ParseIfMatchOptions = {}): IfMatch | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '*' || value === '"*"') return { kind: 'any' };
  if (value.length >= 3 && value.startsWith('"') && value.endsWith('"')) {
    const etag = value.slice(1, -1);
    if (!etag.includes('"')) return { kind: 'etag', etag };
  }
  if (options.allowUnquoted === true && value.length > 0 && !value.includes('"') && !/\s/.test(value)) {
    return { kind: 'etag', etag: value };
  }
  return { kind: 'malformed', header };
}

/**
 * Whether a parsed `If-Match` holds for the resource's current etag (absent header: always).
 *
 * @example
 * ```ts
 * ifMatchHolds(parseIfMatch('"MA=="'), 'MA=='); // true
 * ifMatchHolds(parseIfMatch(''), 'MA=='); // false: empty is not "any"
 * ```
 */
export function ifMatchHolds(ifMatch: IfMatch | undefined, current: string | undefined): boolean {
  if (ifMatch === undefined || ifMatch.kind === 'any') return true;
  if (ifMatch.kind === 'malformed' || current === undefined) return false;
  return ifMatch.etag === current;
}
