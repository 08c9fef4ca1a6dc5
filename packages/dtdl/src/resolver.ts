// Model resolution: fetch the documents that define unresolved dependent references, then parse again.
// Pure: the I/O is injected (a resolver function, or a `read(path)` for the Device Models Repository layout).

import { dtmiToPath, isValidDtmi } from './dtmi.js';
import { DtdlError } from './errors.js';
import type { ParseResult } from './model.js';
import { parse, type ParseOptions } from './parser.js';

/**
 * Supplies documents for DTMIs a model refers to but does not define. Return one entry per DTMI you can supply
 * (JSON text or parsed value; a document may define several of the DTMIs), in any order; omit what you cannot find.
 */
export type DtmiResolver = (
  dtmis: readonly string[],
  options: { readonly signal: AbortSignal },
) => Promise<readonly unknown[]>;

/** Options of {@link parseWithResolver}. */
export interface ResolveOptions extends ParseOptions {
  /** Where to fetch missing models. */
  readonly resolver: DtmiResolver;
  /** Abort the whole operation. */
  readonly signal?: AbortSignal;
  /** Give up after this many milliseconds (default 30,000). */
  readonly timeoutMs?: number;
  /** Maximum resolver rounds (default 32); each round fetches every still-missing DTMI. */
  readonly maxRounds?: number;
}

function abortError(signal: AbortSignal): DtdlError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new DtdlError(
    'DTDL_ABORTED',
    timedOut ? 'Model resolution timed out; raise timeoutMs or check the resolver.' : 'Model resolution was aborted.',
    { cause: reason },
  );
}

function race<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * Parses `documents`, asking `options.resolver` for every dependent reference (extends, component schemas, ...)
 * that no document defines, until the model is closed. DTMIs the resolver cannot supply stay in `unresolved`.
 * Rejects with {@link DtdlError} `DTDL_ABORTED` on abort or timeout; resolver failures are rethrown as-is.
 *
 * @example
 * ```ts
 * const resolver = createDmrResolver({ read: async (path) => files.get(path) });
 * const r = await parseWithResolver([thermostatText], { resolver, timeoutMs: 5000 });
 * ```
 */
export async function parseWithResolver(documents: readonly unknown[], options: ResolveOptions): Promise<ParseResult> {
  // A ref'd timer (unlike AbortSignal.timeout), so a resolver that never answers still ends in a timeout error.
  const timeout = new AbortController();
  const timer = setTimeout(() => {
    const e = new Error('timed out');
    e.name = 'TimeoutError';
    timeout.abort(e);
  }, options.timeoutMs ?? 30_000);
  const signal = options.signal === undefined ? timeout.signal : AbortSignal.any([options.signal, timeout.signal]);
  try {
    return await resolveLoop(documents, options, signal);
  } finally {
    clearTimeout(timer);
  }
}

async function resolveLoop(
  documents: readonly unknown[],
  options: ResolveOptions,
  signal: AbortSignal,
): Promise<ParseResult> {
  const docs = [...documents];
  const known = new Set<string>();
  for (const d of docs) for (const [id] of topLevel(d)) known.add(id);
  const asked = new Set<string>();
  const maxRounds = options.maxRounds ?? 32;
  let result = parse(docs, options);
  for (let round = 0; round < maxRounds && result.unresolved.length > 0; round++) {
    const wanted = result.unresolved.filter((d) => !asked.has(d));
    if (wanted.length === 0) break;
    for (const d of wanted) asked.add(d);
    const fetched = await race(options.resolver(wanted, { signal }), signal);
    let added = 0;
    for (const doc of fetched) {
      const items = topLevel(doc);
      if (items.length === 1 || items.every(([id]) => !known.has(id))) {
        if (items.length === 1 && known.has(items[0]?.[0] ?? '')) continue;
        docs.push(doc);
        added++;
      } else {
        // An expanded document repeats models we already have: keep only the new ones.
        for (const [id, item] of items) {
          if (known.has(id)) continue;
          docs.push(item);
          added++;
        }
      }
      for (const [id] of items) known.add(id);
    }
    if (added === 0) break;
    result = parse(docs, options);
  }
  return result;
}

/** Top-level elements of a document with their `@id`s (empty when it is not JSON or has none). */
function topLevel(doc: unknown): [string, unknown][] {
  let value: unknown = doc;
  if (typeof doc === 'string') {
    try {
      value = JSON.parse(doc.replace(/^\uFEFF/, ''));
    } catch {
      return [];
    }
  }
  const out: [string, unknown][] = [];
  for (const item of Array.isArray(value) ? value : [value]) {
    if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
      const id = (item as Record<string, unknown>)['@id'];
      if (typeof id === 'string') out.push([id, item]);
    }
  }
  return out;
}

/**
 * A resolver over models held in memory, indexed by their top-level `@id`s.
 *
 * @example
 * ```ts
 * const resolver = createMemoryResolver([baseInterfaceText, componentText]);
 * ```
 */
export function createMemoryResolver(documents: readonly unknown[]): DtmiResolver {
  const byId = new Map<string, unknown>();
  for (const doc of documents) for (const [id] of topLevel(doc)) if (!byId.has(id)) byId.set(id, doc);
  return (dtmis) => {
    const out = new Set<unknown>();
    for (const d of dtmis) {
      const doc = byId.get(d);
      if (doc !== undefined) out.add(doc);
    }
    return Promise.resolve([...out]);
  };
}

/** Options of {@link createDmrResolver}. */
export interface DmrResolverOptions {
  /**
   * Reads a file of the repository by its relative path (`dtmi/com/example/thermostat-1.json`); resolves to the
   * text, or `undefined` when it does not exist.
   */
  readonly read: (path: string, options: { readonly signal: AbortSignal }) => Promise<string | undefined>;
  /** Try `*.expanded.json` first (the model plus its dependency closure), falling back to the plain file. */
  readonly expanded?: boolean;
}

/**
 * A resolver over a Device Models Repository (DMR) layout: `dtmi:com:Example:Thermostat;1` is read from
 * `dtmi/com/example/thermostat-1.json`. I/O is injected, so this works for disk, HTTP or memory.
 *
 * @example
 * ```ts
 * const resolver = createDmrResolver({ read: (p) => fetch(`https://devicemodels.azure.com/${p}`).then((r) => (r.ok ? r.text() : undefined)) });
 * ```
 */
export function createDmrResolver(options: DmrResolverOptions): DtmiResolver {
  return async (dtmis, { signal }) => {
    const out: unknown[] = [];
    for (const d of dtmis) {
      if (!isValidDtmi(d) && !isValidDtmi(d, { dtdlVersion: 3 })) continue;
      let text: string | undefined;
      if (options.expanded === true) text = await options.read(dtmiToPath(d, { expanded: true }), { signal });
      text ??= await options.read(dtmiToPath(d), { signal });
      if (text !== undefined) out.push(text);
    }
    return out;
  };
}
