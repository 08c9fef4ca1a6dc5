import { DtdlError } from './errors.js';

/** DTDL language versions this package understands. */
export type DtdlVersion = 2 | 3;

const SEGMENT = '[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?';
const V2_RE = new RegExp(`^dtmi:${SEGMENT}(?::${SEGMENT})*;[1-9][0-9]{0,8}$`);
const V3_RE = new RegExp(`^dtmi:${SEGMENT}(?::${SEGMENT})*(?:;[1-9][0-9]{0,8}(?:\\.[1-9][0-9]{0,5})?)?$`);
// General DTMI grammar (DTMI/README.md): system segments start with '_', optional version, optional fragment.
const SYS_SEGMENT = `${SEGMENT}|_[A-Za-z0-9_]*`;
const GENERAL_RE = new RegExp(
  `^dtmi:((?:${SYS_SEGMENT})(?::(?:${SYS_SEGMENT}))*)(?:;([1-9][0-9]{0,8})(?:\\.([1-9][0-9]{0,5}))?)?(?:#(${SEGMENT}|_[A-Za-z0-9_]*))?$`,
);

/** Maximum length of any DTMI. */
export const MAX_DTMI_LENGTH = 4096;

/** A DTMI split into its parts. */
export interface Dtmi {
  /** The DTMI as given. */
  readonly value: string;
  /** Path segments (labels) between `dtmi:` and the version. */
  readonly labels: readonly string[];
  /** Major version, or `undefined` when the DTMI has none (allowed from DTDL v3). */
  readonly majorVersion: number | undefined;
  /** Minor version (DTDL v3 `;N.M`), or `undefined`. */
  readonly minorVersion: number | undefined;
  /** The DTMI without its `;version` (and without a fragment). */
  readonly versionless: string;
  /** `#fragment` text without `#`, or `undefined`. */
  readonly fragment: string | undefined;
  /** True when a label starts with `_` (system segment, only in generated identifiers). */
  readonly isSystem: boolean;
  /** True when under a reserved prefix (`dtmi:dtdl:`, `dtmi:standard:`). */
  readonly isReserved: boolean;
}

/** Options of {@link isValidDtmi}. */
export interface DtmiValidationOptions {
  /** DTDL version whose `@id` rules apply (default 2): v2 requires `;N`, v3 also allows none or `;N.M`. */
  readonly dtdlVersion?: DtdlVersion;
}

/**
 * True when `value` is a valid user DTMI under the rules of the given DTDL version (default 2): no system
 * segments, no fragment, version rules of that language version, at most 4096 characters.
 *
 * @example
 * ```ts
 * isValidDtmi('dtmi:com:example:Thermostat;1'); // true
 * isValidDtmi('dtmi:com:example:Thermostat'); // false (v2 requires a version)
 * isValidDtmi('dtmi:com:example:Thermostat', { dtdlVersion: 3 }); // true
 * ```
 */
export function isValidDtmi(value: unknown, options: DtmiValidationOptions = {}): boolean {
  if (typeof value !== 'string' || value.length > MAX_DTMI_LENGTH) return false;
  return (options.dtdlVersion === 3 ? V3_RE : V2_RE).test(value);
}

/**
 * Parses a DTMI using the general grammar (system segments, `;N` / `;N.M` versions, `#fragment`).
 * Throws {@link DtdlError} `DTDL_INVALID_DTMI` when it does not match.
 *
 * @example
 * ```ts
 * const d = parseDtmi('dtmi:com:example:Thermostat;1');
 * d.labels; // ['com', 'example', 'Thermostat']
 * d.majorVersion; // 1
 * ```
 */
export function parseDtmi(value: string): Dtmi {
  const m = typeof value === 'string' && value.length <= MAX_DTMI_LENGTH ? GENERAL_RE.exec(value) : null;
  if (m === null) {
    throw new DtdlError(
      'DTDL_INVALID_DTMI',
      `'${String(value)}' is not a DTMI: expected 'dtmi:' followed by ':'-separated labels and an optional ';version', e.g. 'dtmi:com:example:Thermostat;1'.`,
    );
  }
  const labels = (m[1] ?? '').split(':');
  const fragment = m[4];
  const hashAt = value.indexOf('#');
  const noFragment = hashAt >= 0 ? value.slice(0, hashAt) : value;
  const semi = noFragment.indexOf(';');
  return {
    value,
    labels,
    majorVersion: m[2] === undefined ? undefined : Number(m[2]),
    minorVersion: m[3] === undefined ? undefined : Number(m[3]),
    versionless: semi >= 0 ? noFragment.slice(0, semi) : noFragment,
    fragment,
    isSystem: labels.some((l) => l.startsWith('_')),
    isReserved: value.startsWith('dtmi:dtdl:') || value.startsWith('dtmi:standard:'),
  };
}

/**
 * Formats DTMI parts back into a string.
 *
 * @example
 * ```ts
 * formatDtmi({ labels: ['com', 'example', 'Thermostat'], majorVersion: 1 }); // 'dtmi:com:example:Thermostat;1'
 * ```
 */
export function formatDtmi(parts: {
  readonly labels: readonly string[];
  readonly majorVersion?: number | undefined;
  readonly minorVersion?: number | undefined;
  readonly fragment?: string | undefined;
}): string {
  let s = `dtmi:${parts.labels.join(':')}`;
  if (parts.majorVersion !== undefined) {
    s += `;${parts.majorVersion}`;
    if (parts.minorVersion !== undefined) s += `.${parts.minorVersion}`;
  }
  if (parts.fragment !== undefined) s += `#${parts.fragment}`;
  parseDtmi(s);
  return s;
}

/**
 * Maps a DTMI to its path in a Device Models Repository (DMR): lowercased, `:` → `/`, `;` → `-`, plus `.json`
 * (or `.expanded.json`).
 *
 * @example
 * ```ts
 * dtmiToPath('dtmi:com:Example:Thermostat;1'); // 'dtmi/com/example/thermostat-1.json'
 * ```
 */
export function dtmiToPath(dtmi: string, options: { readonly expanded?: boolean } = {}): string {
  if (!isValidDtmi(dtmi) && !isValidDtmi(dtmi, { dtdlVersion: 3 })) {
    throw new DtdlError(
      'DTDL_INVALID_DTMI',
      `'${dtmi}' is not a valid DTMI; a DMR path needs e.g. 'dtmi:com:example:Thermostat;1'.`,
    );
  }
  const base = dtmi.toLowerCase().replace(/:/g, '/').replace(/;/g, '-');
  return `${base}${options.expanded === true ? '.expanded.json' : '.json'}`;
}
