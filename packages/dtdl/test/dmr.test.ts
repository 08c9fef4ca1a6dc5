// The public Device Models Repository (19,255 real DTDL v2 models, all valid per the official parser): every model
// must be accepted when resolved from the extracted repository tree.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { parseWithResolver, sampleValue, validateValue } from '../src/index.js';
import { createFsDmrResolver } from '../src/fs/index.js';
import { extractDmr, jsonFilesUnder } from './corpus.js';

describe('Device Models Repository corpus', () => {
  let repo = '';
  const files: string[] = [];

  before(() => {
    repo = extractDmr('plugboard-dmr-', { generated: true });
    files.push(...jsonFilesUnder(join(repo, 'dtmi')));
    files.sort();
  });

  after(() => {
    if (repo !== '') rmSync(repo, { recursive: true, force: true });
  });

  it('accepts all 19,255 models, resolving dependencies from the repository layout', async () => {
    assert.equal(files.length, 19_255);
    const resolver = createFsDmrResolver(repo);
    const rejected: string[] = [];
    let handWritten = 0;
    let withDependencies = 0;
    for (const f of files) {
      if (!f.includes(`${join('dtmi', 'cloudrail')}`)) handWritten++;
      const r = await parseWithResolver([readFileSync(f, 'utf8')], { resolver });
      if (r.model !== undefined && r.model.roots.length > 1) withDependencies++;
      if (!r.ok) {
        rejected.push(`${relative(repo, f)}: ${r.errors.map((e) => e.code).join(', ')} ${r.unresolved.join(', ')}`);
      }
    }
    assert.equal(handWritten, 934);
    assert.ok(withDependencies > 100, `models whose components/bases were resolved: ${withDependencies}`);
    assert.deepEqual(rejected, []);
  });

  it('every schema of every tenth model has an example value (sampleValue) that validates against it', async () => {
    const resolver = createFsDmrResolver(repo);
    let checked = 0;
    const failures: string[] = [];
    for (const f of files.filter((_, i) => i % 10 === 0)) {
      const r = await parseWithResolver([readFileSync(f, 'utf8')], { resolver });
      if (r.model === undefined) continue;
      for (const element of r.model.elements.values()) {
        if (element.kind === 'Component') continue;
        const schemas = [element.schema, element.elementSchema].filter((s): s is string => s !== undefined);
        for (const schema of schemas) {
          checked++;
          const result = validateValue(r.model, schema, { value: sampleValue(r.model, schema) });
          if (!result.ok) failures.push(`${element.id} ${schema}: ${result.issues[0]?.message ?? ''}`);
        }
      }
    }
    assert.ok(checked > 10_000, `schemas checked: ${checked}`);
    assert.deepEqual(failures.slice(0, 10), []);
  });

  it('[DMR] the file path of every model is the DMR mapping of its @id', () => {
    const resolverPathOk = files.filter((f) => {
      const id = (JSON.parse(readFileSync(f, 'utf8')) as { '@id': string })['@id'];
      return relative(repo, f) === `${id.toLowerCase().replace(/:/g, '/').replace(/;/g, '-')}.json`;
    });
    assert.equal(resolverPathOk.length, files.length);
  });
});
