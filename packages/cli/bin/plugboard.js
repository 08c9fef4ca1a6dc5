#!/usr/bin/env node
// The `plugboard` command: runs the built CLI (dist/main.js). In a fresh clone nothing is built yet
// when `npm ci` links this file, so the first run builds the workspace (`tsc -b`, then the web UI with
// Vite; their output goes to stderr, so `--json` stays clean) and then goes on.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main.js', import.meta.url);
const ui = new URL('../../ui/dist/index.html', import.meta.url);
const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs a build tool of the workspace (`pkg`'s file `file`), or exits with what went wrong. */
function build(what, pkg, file, args, cwd) {
  let bin;
  try {
    bin = join(
      dirname(createRequire(new URL('../../../package.json', import.meta.url)).resolve(`${pkg}/package.json`)),
      file,
    );
  } catch {
    process.stderr.write(`plugboard: the packages are not built and ${what} is not installed; run \`npm ci\` first.\n`);
    process.exit(1);
  }
  process.stderr.write(
    `plugboard: building ${what === 'TypeScript' ? 'the packages (tsc -b)' : 'the web UI (vite build)'} first, once ...\n`,
  );
  const built = spawnSync(process.execPath, [bin, ...args], { cwd, stdio: ['ignore', 2, 'inherit'] });
  if (built.status !== 0) {
    process.stderr.write('plugboard: the build failed; see the errors above.\n');
    process.exit(built.status ?? 1);
  }
}

if (!existsSync(main)) build('TypeScript', 'typescript', 'bin/tsc', ['-b'], root);
if (!existsSync(ui))
  build('Vite', 'vite', 'bin/vite.js', ['build'], fileURLToPath(new URL('../../ui/', import.meta.url)));
await import(main.href);
