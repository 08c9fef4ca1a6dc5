// Helpers shared by the tests: where the shared corpora are (read in place, never copied into the repo).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const corporaDir = resolve(repoRoot, '..', 'shared', 'corpora');

export interface SpecCase {
  readonly valid: boolean;
  readonly options?: readonly string[];
  readonly input: readonly unknown[];
  readonly desirable?: boolean;
  readonly expect?: { readonly unresolvedIdentifiers?: readonly string[] };
}

export function readJsonFile(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8').replace(/^\uFEFF/, ''));
}

/** Every case of a spec suite, keyed `<file>#<index>`. */
export function specCases(version: 'v2' | 'v3'): [string, SpecCase][] {
  const dir = join(corporaDir, 'dtdl-spec', version, 'spec');
  const out: [string, SpecCase][] = [];
  for (const f of readdirSync(dir).sort()) {
    const cases = readJsonFile(join(dir, f)) as SpecCase[];
    cases.forEach((c, i) => out.push([`${f}#${i}`, c]));
  }
  return out;
}
