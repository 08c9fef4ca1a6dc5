/**
 * The one reader for untrusted JSON (REST bodies, DPS register requests, twin patches, method payloads
 * and method responses): size, nesting depth and member count are bounded before anything is built, and
 * `__proto__` keys are refused, so no input can overflow the stack (V8's `JSON.parse` accepts any depth,
 * but `JSON.stringify` and every recursive walk after it do not) or reshape an object's prototype.
 */
import { ProtocolError } from './errors.js';

/** A parsed JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Bounds for {@link readJson}. Each edge passes the limit of what it reads (a twin patch, a 4 KB DPS
 * payload, a 128 KB method payload); the defaults fit a 1 MB REST body.
 *
 * @example
 * ```ts
 * const limits: JsonLimits = { maxBytes: 4096, maxDepth: 64, maxKeys: 1000 };
 * ```
 */
export interface JsonLimits {
  /** Largest accepted text, in UTF-8 bytes. */
  maxBytes: number;
  /** Deepest accepted nesting of objects and arrays (a scalar is depth 0, `{}` and `[]` are depth 1). */
  maxDepth: number;
  /** Most object members accepted in the whole document. */
  maxKeys: number;
}

/**
 * The limits {@link readJson} applies when given none: 1 MB, 64 levels, 100,000 members.
 *
 * @example
 * ```ts
 * readJson(text, { ...DEFAULT_JSON_LIMITS, maxBytes: 4096 });
 * ```
 */
export const DEFAULT_JSON_LIMITS: Readonly<JsonLimits> = Object.freeze({
  maxBytes: 1024 * 1024,
  maxDepth: 64,
  maxKeys: 100_000,
});

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
/** `"__proto__"` as a key, with any of its characters written as a `\u` escape. */
const PROTO_KEY =
  /"(?:_|\\u005[fF])(?:_|\\u005[fF])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[fF])(?:t|\\u0074)(?:o|\\u006[fF])(?:_|\\u005[fF])(?:_|\\u005[fF])"\s*:/;

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Checks nesting depth and member count in one pass over the text (strings skipped), before any value
 * is built. Brackets need not balance here: `JSON.parse` judges the syntax afterwards.
 */
function scan(text: string, limits: JsonLimits): void {
  let depth = 0;
  let keys = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote.
      for (i++; i < n; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limits.maxDepth) {
        throw new ProtocolError(
          'PROTOCOL_JSON_TOO_DEEP',
          `The JSON nests deeper than ${limits.maxDepth} levels; flatten the document.`,
        );
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x3a) {
      if (++keys > limits.maxKeys) {
        throw new ProtocolError('PROTOCOL_JSON_TOO_MANY_KEYS', `The JSON has more than ${limits.maxKeys} members.`);
      }
    }
  }
}

function hasProtoKey(value: JsonValue): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(hasProtoKey);
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return true;
  return Object.values(value).some(hasProtoKey);
}

/**
 * Parses untrusted JSON text (or UTF-8 bytes) within `limits`. A leading byte-order mark is ignored.
 * Throws a {@link ProtocolError}: `PROTOCOL_JSON_TOO_LARGE` (over `maxBytes`; answer 413),
 * `PROTOCOL_JSON_TOO_DEEP`, `PROTOCOL_JSON_TOO_MANY_KEYS`, `PROTOCOL_JSON_FORBIDDEN_KEY` (a `__proto__`
 * key) or `PROTOCOL_JSON_MALFORMED` (not UTF-8, not JSON, empty); answer those 400.
 *
 * @example
 * ```ts
 * readJson('{"temperature":21.5}'); // { temperature: 21.5 }
 * readJson('['.repeat(100_000)); // throws PROTOCOL_JSON_TOO_DEEP, in microseconds
 * readJson(bytes, { maxBytes: 4096 }); // a DPS registration payload
 * ```
 */
export function readJson(input: string | Uint8Array, limits: Partial<JsonLimits> = {}): JsonValue {
  const bounds: JsonLimits = { ...DEFAULT_JSON_LIMITS, ...limits };
  let text: string;
  if (typeof input === 'string') {
    if (input.length > bounds.maxBytes || (input.length * 3 > bounds.maxBytes && utf8Length(input) > bounds.maxBytes)) {
      throw new ProtocolError('PROTOCOL_JSON_TOO_LARGE', `The JSON is larger than ${bounds.maxBytes} bytes.`);
    }
    text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  } else {
    if (input.length > bounds.maxBytes) {
      throw new ProtocolError('PROTOCOL_JSON_TOO_LARGE', `The JSON is larger than ${bounds.maxBytes} bytes.`);
    }
    try {
      text = decoder.decode(input);
    } catch (cause) {
      throw new ProtocolError('PROTOCOL_JSON_MALFORMED', 'The JSON is not valid UTF-8.', { cause });
    }
  }
  scan(text, bounds);
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (cause) {
    const detail = cause instanceof SyntaxError ? `: ${cause.message}` : '';
    throw new ProtocolError('PROTOCOL_JSON_MALFORMED', `The text is not valid JSON${detail}.`, { cause });
  }
  if (PROTO_KEY.test(text) && hasProtoKey(value)) {
    throw new ProtocolError(
      'PROTOCOL_JSON_FORBIDDEN_KEY',
      'JSON keys named "__proto__" are not accepted; rename the property.',
    );
  }
  return value;
}
