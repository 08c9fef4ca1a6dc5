// Helpers shared by the tests: where the shared corpora are (read in place, never copied into the repo).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/**
 * Extracts the public Device Models Repository into a new temporary directory (the caller removes it). Without
 * `generated`, the 18,321 generated `dtmi/cloudrail` models are left out.
 */
export function extractDmr(prefix: string, options: { generated?: boolean } = {}): string {
  const repo = mkdtempSync(join(tmpdir(), prefix));
  const exclude = options.generated === true ? [] : ['--exclude', 'dtmi/cloudrail'];
  execFileSync('tar', ['-xzf', join(corporaDir, 'iot-plugandplay-models.tar.gz'), '-C', repo, ...exclude]);
  return repo;
}

/** The `.json` files under `dir`, depth first, each directory's entries in sorted order. */
export function jsonFilesUnder(dir: string): string[] {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.json')) files.push(p);
    }
  };
  walk(dir);
  return files;
}
