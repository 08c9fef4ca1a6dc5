// @plugboard/dtdl is a pure package: no Node built-ins (except the on-disk resolver in src/fs/) and no console.
// (The root ESLint config enforces this for packages/protocol; this test guards packages/dtdl until it does too.)
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

const src = join(import.meta.dirname, '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : name.endsWith('.ts') ? [p] : [];
  });
}

describe('purity', () => {
  it('src/ imports no node: modules outside src/fs/ and never uses console', () => {
    const offenders: string[] = [];
    for (const f of files(src)) {
      const rel = relative(src, f);
      const text = readFileSync(f, 'utf8');
      if (!rel.startsWith('fs') && /from ['"]node:/.test(text)) offenders.push(`${rel}: node: import`);
      if (/\bconsole\.(log|error|warn|info|debug)\(/.test(text.replace(/^\s*\*.*$/gm, '')))
        offenders.push(`${rel}: console`);
    }
    assert.deepEqual(offenders, []);
  });
});
