// The public Device Models Repository (19,255 real DTDL v2 models, all valid per the official parser): every model
// must be accepted when resolved from the extracted repository tree.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { parseWithResolver } from '../src/index.js';
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

  it('[DMR] the file path of every model is the DMR mapping of its @id', () => {
    const resolverPathOk = files.filter((f) => {
      const id = (JSON.parse(readFileSync(f, 'utf8')) as { '@id': string })['@id'];
      return relative(repo, f) === `${id.toLowerCase().replace(/:/g, '/').replace(/;/g, '-')}.json`;
    });
    assert.equal(resolverPathOk.length, files.length);
  });
});
