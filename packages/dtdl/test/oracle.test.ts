// Differential tests against the official parser (DTDLParser 1.1.3 compiled to WebAssembly, devDependency only):
// same verdict on fast-check-generated models, on mutations of the sample models, and on real DMR models.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { getInterop } from '@digicatapult/dtdl-parser';
import fc from 'fast-check';

import { parse } from '../src/index.js';
import { corporaDir, extractDmr, jsonFilesUnder, readJsonFile } from './corpus.js';
import { modelArb } from './generators.js';

type Oracle = (docs: readonly unknown[]) => { valid: boolean; detail: string; codes: string[] };

const seed = Number(process.env['DTDL_FC_SEED'] ?? 20261126);

describe('differential: official parser (WASM) vs @plugboard/dtdl', () => {
  let oracle: Oracle;

  before(async () => {
    const interop = await getInterop();
    oracle = (docs) => {
      try {
        interop.parse(JSON.stringify(docs));
        return { valid: true, detail: '', codes: [] };
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        const codes = ((): string[] => {
          try {
            const report = JSON.parse(message) as { Errors?: { ValidationID: string }[] };
            return (report.Errors ?? []).map((x) => x.ValidationID);
          } catch {
            return [];
          }
        })();
        return { valid: false, detail: message.slice(0, 300), codes };
      }
    };
  });

  const verdicts = (docs: readonly unknown[]): { ours: boolean; theirs: boolean; why: string } => {
    const r = parse(docs.map((d) => JSON.stringify(d)));
    const o = oracle(docs);
    return {
      ours: r.ok,
      theirs: o.valid,
      why: `ours: ${r.errors.map((e) => e.code).join(',')} ${r.unresolved.join(',')} | official: ${o.detail}`,
    };
  };

  it(`same verdict on 400 generated models (fast-check seed ${seed}, set DTDL_FC_SEED to vary)`, () => {
    process.stdout.write(`fast-check seed: ${seed}\n`);
    let valid = 0;
    fc.assert(
      fc.property(modelArb, (docs) => {
        const v = verdicts(docs);
        if (v.theirs) valid++;
        assert.equal(v.ours, v.theirs, `${JSON.stringify(docs)}\n${v.why}`);
      }),
      { numRuns: 400, seed },
    );
    assert.ok(valid > 20, `the generator must produce valid models too (got ${valid})`);
  });

  it('same ValidationIDs (as a set) as the official parser on at least 90% of invalid generated models', () => {
    let compared = 0;
    let same = 0;
    for (const docs of fc.sample(modelArb, { numRuns: 300, seed: seed + 1 })) {
      const o = oracle(docs);
      if (o.valid || o.codes.length === 0) continue; // valid, or incomplete (resolution)
      const r = parse(docs.map((d) => JSON.stringify(d)));
      compared++;
      const ours = [...new Set(r.errors.map((e) => e.code))].sort().join(' ');
      if (ours === [...new Set(o.codes)].sort().join(' ')) same++;
    }
    process.stdout.write(`ValidationID sets equal to the official parser's: ${same}/${compared}\n`);
    assert.ok(compared > 100);
    assert.ok(same >= compared * 0.9, `${same}/${compared}`);
  });

  it('same verdict on random mutations of the Thermostat sample', () => {
    const thermostat = readJsonFile(join(corporaDir, 'dtdl-spec', 'v2', 'samples', 'Thermostat.json')) as Record<
      string,
      unknown
    >;
    const contents = thermostat['contents'] as Record<string, unknown>[];
    const mutation = fc.record({
      index: fc.nat({ max: contents.length - 1 }),
      key: fc.constantFrom(
        '@type',
        'name',
        'schema',
        'unit',
        'writable',
        'displayName',
        'description',
        'request',
        'comment',
      ),
      value: fc.constantFrom<unknown>(
        undefined,
        null,
        3,
        'x',
        ['Property', 'Humidity'],
        'dtmi:x:y;1',
        { en: 'x' },
        [],
        true,
        'double',
      ),
    });
    fc.assert(
      fc.property(mutation, ({ index, key, value }) => {
        const copy = structuredClone(thermostat);
        const item = (copy['contents'] as Record<string, unknown>[])[index];
        assert.ok(item);
        if (value === undefined) delete item[key];
        else item[key] = value;
        const v = verdicts([copy]);
        assert.equal(v.ours, v.theirs, `${key}=${JSON.stringify(value)} in contents[${index}]\n${v.why}`);
      }),
      { numRuns: 150, seed },
    );
  });

  describe('real models', () => {
    let repo = '';
    before(() => {
      repo = extractDmr('plugboard-dmr-oracle-');
    });
    after(() => {
      if (repo !== '') rmSync(repo, { recursive: true, force: true });
    });

    it('same verdict on every 8th hand-written DMR model, alone (unresolved) and with mutations', () => {
      const files = jsonFilesUnder(join(repo, 'dtmi'));
      const sample = files.filter((_, i) => i % 8 === 0);
      assert.ok(sample.length > 100);
      const rand = fc.sample(fc.nat({ max: 1_000_000 }), { numRuns: sample.length, seed });
      sample.forEach((f, i) => {
        const model = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
        const v = verdicts([model]);
        assert.equal(v.ours, v.theirs, `${f}\n${v.why}`);
        // One mutation per model: drop or break a member of one content element.
        const contents = Array.isArray(model['contents']) ? (model['contents'] as Record<string, unknown>[]) : [];
        const r = rand[i] ?? 0;
        const target = contents[r % Math.max(contents.length, 1)];
        if (target === undefined) return;
        const keys = Object.keys(target);
        const key = keys[r % keys.length] ?? 'name';
        if (r % 3 === 0) delete target[key];
        else target[key] = r % 3 === 1 ? 42 : 'not a valid thing';
        const m = verdicts([model]);
        assert.equal(m.ours, m.theirs, `${f} with ${key} mutated\n${m.why}`);
      });
    });
  });
});
