// A small JSON reader that records where every value starts, so diagnostics can carry line:column.
// It also bounds nesting depth, so hostile input (10,000 nested arrays) gives an error instead of a stack overflow.

/** A 1-based line and column in a JSON text. */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

/** Result of {@link readJson}. */
export type JsonReadResult =
  | {
      readonly ok: true;
      readonly value: unknown;
      readonly positionOf: (pointer: string) => TextPosition | undefined;
      /** The number token as written (e.g. `1.0`, `9223372036854775807`), for exact integer checks. */
      readonly rawNumberOf: (pointer: string) => string | undefined;
    }
  | { readonly ok: false; readonly message: string; readonly position: TextPosition };

/** Escapes one JSON Pointer reference token (RFC 6901). */
export function escapePointerToken(token: string | number): string {
  const t = String(token);
  return t.includes('~') || t.includes('/') ? t.replace(/~/g, '~0').replace(/\//g, '~1') : t;
}

class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * Parses `text` as JSON (a leading BOM is ignored), recording the offset of each value by JSON pointer.
 * Never throws for bad input.
 */
export function readJson(text: string, maxDepth = 256): JsonReadResult {
  const offsets = new Map<string, number>();
  const numbers = new Map<string, string>();
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;

  const lineStarts = (): number[] => {
    const starts = [0];
    for (let k = 0; k < n; k++) if (text.charCodeAt(k) === 10) starts.push(k + 1);
    return starts;
  };
  let starts: number[] | undefined;
  const toPosition = (offset: number): TextPosition => {
    starts ??= lineStarts();
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (starts[lo] ?? 0) + 1 };
  };

  const ws = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };

  const str = (): string => {
    const start = i;
    i++; // opening quote
    let out = '';
    let chunk = i;
    for (;;) {
      if (i >= n) throw new JsonSyntaxError('unterminated string', start);
      const c = text.charCodeAt(i);
      if (c === 34) {
        out += text.slice(chunk, i);
        i++;
        return out;
      }
      if (c < 32) throw new JsonSyntaxError('control character in string', i);
      if (c === 92) {
        out += text.slice(chunk, i);
        const e = text[i + 1];
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e;
            i += 2;
            break;
          case 'b':
            out += '\b';
            i += 2;
            break;
          case 'f':
            out += '\f';
            i += 2;
            break;
          case 'n':
            out += '\n';
            i += 2;
            break;
          case 'r':
            out += '\r';
            i += 2;
            break;
          case 't':
            out += '\t';
            i += 2;
            break;
          case 'u': {
            const hex = text.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new JsonSyntaxError('bad \\u escape', i);
            out += String.fromCharCode(parseInt(hex, 16));
            i += 6;
            break;
          }
          default:
            throw new JsonSyntaxError('bad escape', i);
        }
        chunk = i;
        continue;
      }
      i++;
    }
  };

  const NUM_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

  const value = (pointer: string, depth: number): unknown => {
    ws();
    if (i >= n) throw new JsonSyntaxError('unexpected end of input', i);
    offsets.set(pointer, i);
    const c = text[i];
    if (c === '{') {
      if (depth >= maxDepth) throw new JsonSyntaxError(`nesting deeper than ${maxDepth} levels`, i);
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw new JsonSyntaxError('expected a member name in double quotes', i);
        const key = str();
        ws();
        if (text[i] !== ':') throw new JsonSyntaxError("expected ':'", i);
        i++;
        const v = value(`${pointer}/${escapePointerToken(key)}`, depth + 1);
        Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        throw new JsonSyntaxError("expected ',' or '}'", i);
      }
    }
    if (c === '[') {
      if (depth >= maxDepth) throw new JsonSyntaxError(`nesting deeper than ${maxDepth} levels`, i);
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(`${pointer}/${arr.length}`, depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        throw new JsonSyntaxError("expected ',' or ']'", i);
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    NUM_RE.lastIndex = i;
    const m = NUM_RE.exec(text);
    if (m !== null) {
      i += m[0].length;
      numbers.set(pointer, m[0]);
      return Number(m[0]);
    }
    throw new JsonSyntaxError(`unexpected character '${c ?? ''}'`, i);
  };

  try {
    const v = value('', 0);
    ws();
    if (i < n) throw new JsonSyntaxError('unexpected text after the JSON value', i);
    return {
      ok: true,
      value: v,
      positionOf: (pointer) => {
        const o = offsets.get(pointer);
        return o === undefined ? undefined : toPosition(o);
      },
      rawNumberOf: (pointer) => numbers.get(pointer),
    };
  } catch (e) {
    if (e instanceof JsonSyntaxError) return { ok: false, message: e.message, position: toPosition(e.offset) };
    throw e;
  }
}
