/**
 * Twin algebra: pure functions over twin documents (JSON merge patch with `null` deletes, `$version`,
 * `$metadata` with `$lastUpdated` / `$lastUpdatedVersion`) and the validation rules of Azure IoT Hub twins.
 */
import { HubError } from '../errors.js';
import type { JsonObject, JsonValue, TwinRecord, TwinSection } from './model.js';

/** Limits Azure IoT Hub applies to twins. */
export const TWIN_LIMITS = {
  maxSectionBytes: 32 * 1024,
  maxTagsBytes: 8 * 1024,
  maxDepth: 10,
  maxKeyBytes: 1024,
  maxStringBytes: 4 * 1024,
  minInteger: -4503599627370496,
  maxInteger: 4503599627370495,
} as const;

const encoder = new TextEncoder();

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Base64 of the version as 8 big-endian bytes, as IoT Hub formats twin etags (`AAAAAAAAAAE=`). */
export function versionEtag(version: number): string {
  const bytes = new Uint8Array(8);
  let v = BigInt(version);
  for (let i = 7; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return btoa(String.fromCharCode(...bytes));
}

/** A fresh twin: both sections at `$version` 1, no tags. */
export function newTwin(now: string): TwinRecord {
  return {
    tags: {},
    desired: { $version: 1, $metadata: { $lastUpdated: now, $lastUpdatedVersion: 1 } },
    reported: { $version: 1, $metadata: { $lastUpdated: now } },
    version: 1,
    etag: versionEtag(1),
  };
}

/** The section without `$metadata`, as devices receive it. */
export function sectionForDevice(section: TwinSection): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(section)) if (key !== '$metadata') out[key] = value;
  return out;
}

/**
 * Validates a twin patch (or full replacement) for a section. Throws `HUB_INVALID_TWIN_PATCH` naming the
 * offending path.
 *
 * @example
 * validateTwinPatch(JSON.parse(body), 'reported');
 */
export function validateTwinPatch(
  patch: unknown,
  section: 'desired' | 'reported' | 'tags',
): asserts patch is JsonObject {
  if (!isObject(patch as JsonValue)) {
    throw new HubError('HUB_INVALID_TWIN_PATCH', `The ${section} patch must be a JSON object.`);
  }
  validateNode(patch as JsonObject, section, 0);
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20 || text.charCodeAt(i) === 0x7f) return true;
  return false;
}

function validateNode(node: JsonObject, path: string, depth: number): void {
  if (depth > TWIN_LIMITS.maxDepth) {
    throw new HubError(
      'HUB_INVALID_TWIN_PATCH',
      `${path} nests deeper than ${TWIN_LIMITS.maxDepth} levels; flatten the twin document.`,
    );
  }
  for (const [key, value] of Object.entries(node)) {
    const keyPath = `${path}.${key}`;
    if (key === '$version' && depth === 0) continue;
    if (key.length === 0 || /[.$ ]/.test(key) || hasControlCharacter(key)) {
      throw new HubError(
        'HUB_INVALID_TWIN_PATCH',
        `Twin key ${JSON.stringify(key)} at ${path} is invalid: keys must be non-empty and contain no '.', '$', space or control characters.`,
      );
    }
    if (encoder.encode(key).length > TWIN_LIMITS.maxKeyBytes) {
      throw new HubError('HUB_INVALID_TWIN_PATCH', `Twin key at ${path} is longer than 1 KB.`);
    }
    validateValue(value, keyPath, depth);
  }
}

function validateValue(value: JsonValue, path: string, depth: number): void {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new HubError('HUB_INVALID_TWIN_PATCH', `${path} is not a finite number.`);
    if (Number.isInteger(value) && (value < TWIN_LIMITS.minInteger || value > TWIN_LIMITS.maxInteger)) {
      throw new HubError('HUB_INVALID_TWIN_PATCH', `${path}: integers must lie in [-2^52, 2^52 - 1].`);
    }
  } else if (typeof value === 'string') {
    if (encoder.encode(value).length > TWIN_LIMITS.maxStringBytes) {
      throw new HubError('HUB_INVALID_TWIN_PATCH', `${path}: string values are limited to 4 KB.`);
    }
  } else if (Array.isArray(value)) {
    if (depth + 1 > TWIN_LIMITS.maxDepth) {
      throw new HubError(
        'HUB_INVALID_TWIN_PATCH',
        `${path} nests deeper than ${TWIN_LIMITS.maxDepth} levels; flatten the twin document.`,
      );
    }
    for (const [i, item] of value.entries()) {
      if (isObject(item)) validateNode(item, `${path}[${i}]`, depth + 1);
      else validateValue(item, `${path}[${i}]`, depth + 1);
    }
  } else if (isObject(value)) {
    validateNode(value, path, depth + 1);
  }
}

/**
 * A section's size by IoT Hub's documented rule: for every property, the UTF-8 length of its key plus
 * its value — strings by their UTF-8 length without control characters, numbers 8 bytes, booleans 4,
 * objects and arrays the sum of what they contain. `$` keys (`$version`, `$metadata`) do not count.
 */
export function sectionSize(section: JsonObject): number {
  let size = 0;
  for (const [key, value] of Object.entries(section)) {
    if (key.startsWith('$')) continue;
    size += encoder.encode(key).length + valueSize(value);
  }
  return size;
}

function valueSize(value: JsonValue): number {
  if (typeof value === 'number') return 8;
  if (typeof value === 'boolean') return 4;
  if (value === null) return 0;
  if (typeof value === 'string') {
    let controls = 0;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) controls += 1;
    }
    return encoder.encode(value).length - controls;
  }
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + valueSize(item), 0);
  return sectionSize(value);
}

function structuredCopy<T extends JsonValue>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function mergeInto(
  target: JsonObject,
  meta: JsonObject,
  patch: JsonObject,
  stamp: JsonObject,
  now: string,
  version: number | undefined,
): void {
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      delete target[key];
      delete meta[key];
    } else if (isObject(value)) {
      if (!isObject(target[key])) target[key] = {};
      if (!isObject(meta[key])) meta[key] = {};
      const childMeta = meta[key] as JsonObject;
      mergeInto(target[key] as JsonObject, childMeta, value, stamp, now, version);
      Object.assign(childMeta, stamp);
    } else {
      target[key] = structuredCopy(value);
      meta[key] = { ...stamp };
    }
  }
}

/**
 * Applies a JSON merge patch to a section: `null` deletes, objects merge, everything else replaces.
 * Increments `$version` and stamps `$metadata`. The input is not modified.
 *
 * @example
 * const next = applySectionPatch(twin.reported, { temperature: 21 }, new Date().toISOString(), 'reported');
 */
export function applySectionPatch(
  section: TwinSection,
  patch: JsonObject,
  now: string,
  kind: 'desired' | 'reported',
): TwinSection {
  const next = structuredCopy(section as JsonObject) as TwinSection;
  const version = section.$version + 1;
  const stamp: JsonObject =
    kind === 'desired' ? { $lastUpdated: now, $lastUpdatedVersion: version } : { $lastUpdated: now };
  const props = next as JsonObject;
  mergeInto(props, next.$metadata, patch, stamp, now, kind === 'desired' ? version : undefined);
  Object.assign(next.$metadata, stamp);
  next.$version = version;
  const limit = TWIN_LIMITS.maxSectionBytes;
  if (sectionSize(next) > limit) {
    throw new HubError('HUB_INVALID_TWIN_PATCH', `The ${kind} properties would exceed ${limit / 1024} KB.`);
  }
  return next;
}

/**
 * Replaces a section's properties wholesale (service `PUT /twins` semantics), keeping `$version` monotonic.
 */
export function replaceSection(
  section: TwinSection,
  properties: JsonObject,
  now: string,
  kind: 'desired' | 'reported',
): TwinSection {
  const deletions: JsonObject = {};
  for (const key of Object.keys(section)) if (!key.startsWith('$') && !(key in properties)) deletions[key] = null;
  return applySectionPatch(section, { ...deletions, ...properties }, now, kind);
}

/** Merges a tags patch (`null` deletes). Throws when the tags would exceed 8 KB. */
export function applyTagsPatch(tags: JsonObject, patch: JsonObject): JsonObject {
  const next = structuredCopy(tags);
  mergeInto(next, {}, patch, {}, '', undefined);
  if (sectionSize(next) > TWIN_LIMITS.maxTagsBytes) {
    throw new HubError('HUB_INVALID_TWIN_PATCH', 'Tags would exceed 8 KB.');
  }
  return next;
}
