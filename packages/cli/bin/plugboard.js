#!/usr/bin/env node
// The `plugboard` command: runs the built CLI (dist/main.js). In a fresh clone nothing is built yet
// when `npm ci` links this file, so the first run builds the workspace (`tsc -b`) and then goes on.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  let tsc;
  try {
    tsc = createRequire(new URL('../../../package.json', import.meta.url)).resolve('typescript/bin/tsc');
  } catch {
    process.stderr.write('plugboard: the CLI is not built and TypeScript is not installed; run `npm ci` first.\n');
    process.exit(1);
  }
  process.stderr.write('plugboard: building the packages first (tsc -b), once ...\n');
  const built = spawnSync(process.execPath, [tsc, '-b'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (built.status !== 0) {
    process.stderr.write('plugboard: the build failed; see the errors above.\n');
    process.exit(built.status ?? 1);
  }
}
await import(main.href);
