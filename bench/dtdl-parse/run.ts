// Benchmark (not a test): parse all 19,255 public DMR models with their dependency closures, with Plugboard and
// with the official parser (DTDLParser 1.1.3 as WebAssembly), in the same run; report both, the ratio and whether
// the verdicts are identical. Measures the compiled package (run `npx tsc -b packages/dtdl` first):
//   node --import tsx bench/dtdl-parse/run.ts
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { getInterop } from '@digicatapult/dtdl-parser';

// The built package (plain tsc output), as users run it.
import { dtmiToPath, parse } from '@plugboard/dtdl';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tarball = resolve(repoRoot, '..', 'shared', 'corpora', 'iot-plugandplay-models.tar.gz');
const dir = mkdtempSync(join(tmpdir(), 'plugboard-bench-dmr-'));
try {
  execFileSync('tar', ['-xzf', tarball, '-C', dir]);
  const texts = new Map<string, string>(); // DMR path -> text
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.json')) texts.set(p.slice(dir.length + 1), readFileSync(p, 'utf8'));
    }
  };
  walk(join(dir, 'dtmi'));

  // Dependency closure of each model (by our resolution), so both parsers get the same complete input.
  const closures: string[][] = [];
  for (const text of texts.values()) {
    const docs = [text];
    for (let round = 0; round < 16; round++) {
      const r = parse(docs);
      if (r.unresolved.length === 0) break;
      const more = r.unresolved.map((id) => texts.get(dtmiToPath(id))).filter((t): t is string => t !== undefined);
      if (more.length === 0) break;
      docs.push(...more);
    }
    closures.push(docs);
  }

  let t0 = performance.now();
  const ours = closures.map((docs) => parse(docs).ok);
  const oursMs = performance.now() - t0;

  t0 = performance.now();
  const interop = await getInterop();
  const initMs = performance.now() - t0;
  t0 = performance.now();
  const theirs = closures.map((docs) => {
    try {
      interop.parse(JSON.stringify(docs.map((d) => JSON.parse(d) as unknown)));
      return true;
    } catch {
      return false;
    }
  });
  const theirsMs = performance.now() - t0;

  const same = ours.filter((v, i) => v === theirs[i]).length;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`machine: ${cpus().length} x ${cpu}, Node ${process.version}`);
  console.log(
    `models: ${closures.length}; accepted: plugboard ${ours.filter(Boolean).length}, official ${theirs.filter(Boolean).length}; same verdict: ${same}`,
  );
  console.log(`plugboard: ${oursMs.toFixed(0)} ms`);
  console.log(`official (WASM): ${theirsMs.toFixed(0)} ms (+ ${initMs.toFixed(0)} ms init)`);
  console.log(`ratio: ${(theirsMs / oursMs).toFixed(1)}x faster`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
