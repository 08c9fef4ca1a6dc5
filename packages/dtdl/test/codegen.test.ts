// Codegen: the generated module compiles under the project's strict settings, and wrong payload types fail to
// compile. Checked with the TypeScript compiler API on the samples and on 20 varied real models of the DMR.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import ts from 'typescript';

import { generateTypeScript, parse, parseWithResolver } from '../src/index.js';
import { createFsDmrResolver } from '../src/fs/index.js';
import { corporaDir, extractDmr, jsonFilesUnder, readJsonFile } from './corpus.js';

const compilerOptions: ts.CompilerOptions = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  noImplicitOverride: true,
  noImplicitReturns: true,
  noFallthroughCasesInSwitch: true,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts'],
  types: [],
  noEmit: true,
  skipLibCheck: true,
};

function compile(files: readonly string[]): string[] {
  const program = ts.createProgram(files, compilerOptions);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('codegen', () => {
  let dir = '';
  let repo = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'plugboard-codegen-'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    repo = extractDmr('plugboard-dmr-codegen-');
  });
  after(() => {
    for (const d of [dir, repo]) if (d !== '') rmSync(d, { recursive: true, force: true });
  });

  const samples = join(corporaDir, 'dtdl-spec', 'v2', 'samples');

  it('TemperatureController + Thermostat compile strictly; a wrong telemetry type does not', async () => {
    // The sample controller, with its components (Thermostat, DeviceInformation) resolved from the DMR.
    const r = await parseWithResolver([JSON.stringify(readJsonFile(join(samples, 'TemperatureController.json')))], {
      resolver: createFsDmrResolver(repo),
    });
    assert.ok(r.model, JSON.stringify(r.errors));
    const code = generateTypeScript(r.model);
    writeFileSync(join(dir, 'tc.ts'), code);
    writeFileSync(
      join(dir, 'use-ok.ts'),
      [
        "import { temperatureControllerDescriptor, type TemperatureControllerDevice, type ThermostatTelemetry, type ThermostatWritableAcks, type ThermostatCommands } from './tc.js';",
        'const t: ThermostatTelemetry = { temperature: 21.5 };',
        'const ack: ThermostatWritableAcks = { targetTemperature: { value: 22, ac: 200, av: 3 } };',
        "const resp: ThermostatCommands['getMaxMinReport']['response'] = { maxTemp: 1, startTime: '2024-01-01T00:00:00Z' };",
        "type Comp = TemperatureControllerDevice['components']['thermostat1']['telemetry'];",
        'const c: Comp = t;',
        "const kind: 'double' = temperatureControllerDescriptor.interfaces['dtmi:com:example:Thermostat;1'].telemetry.temperature.schema;",
        'export { t, ack, resp, c, kind };',
      ].join('\n'),
    );
    assert.deepEqual(compile([join(dir, 'use-ok.ts')]), []);
    writeFileSync(
      join(dir, 'use-bad.ts'),
      "import type { ThermostatTelemetry } from './tc.js';\nexport const t: ThermostatTelemetry = { temperature: 'hot' };\n",
    );
    const errors = compile([join(dir, 'use-bad.ts')]);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0] ?? '', /TS2322.*string.*number/s);
  });

  it('20 varied real models generate code that compiles strictly', async () => {
    const files = jsonFilesUnder(join(repo, 'dtmi'));
    const features = [
      '"Component"',
      '"Map"',
      '"Array"',
      '"Object"',
      '"Enum"',
      '"Command"',
      '"writable": true',
      'geopoint',
      '"Relationship"',
      'extends',
    ];
    const chosen: string[] = [];
    for (const f of features) {
      const matches = files.filter((p) => readFileSync(p, 'utf8').includes(f) && !chosen.includes(p));
      chosen.push(...[matches[0], matches[Math.floor(matches.length / 2)]].filter((p): p is string => p !== undefined));
    }
    assert.equal(chosen.length, 20);
    const resolver = createFsDmrResolver(repo);
    const outputs: string[] = [];
    for (const [k, f] of chosen.entries()) {
      const r = await parseWithResolver([readFileSync(f, 'utf8')], { resolver });
      assert.ok(r.model, `${f}: ${JSON.stringify(r.errors)}`);
      const out = join(dir, `model${k}.ts`);
      writeFileSync(out, generateTypeScript(r.model));
      outputs.push(out);
    }
    assert.deepEqual(compile(outputs), []);
  });

  it('handles awkward names (reserved words, one-segment DTMIs) and every schema kind', () => {
    const r = parse([
      {
        '@context': ['dtmi:dtdl:context;2', 'dtmi:iotcentral:context;2'],
        '@id': 'dtmi:default;1',
        '@type': 'Interface',
        contents: [
          {
            '@type': 'Telemetry',
            name: 'delete',
            schema: {
              '@type': 'Map',
              mapKey: { name: 'k', schema: 'string' },
              mapValue: { name: 'v', schema: 'long' },
            },
          },
          {
            '@type': 'Telemetry',
            name: 'class',
            schema: {
              '@type': 'Array',
              elementSchema: { '@type': 'Enum', valueSchema: 'integer', enumValues: [{ name: 'a', enumValue: 1 }] },
            },
          },
          { '@type': 'Telemetry', name: 'pos', schema: 'multiPolygon' },
          { '@type': 'Property', name: 'where', schema: 'geopoint', writable: true },
          { '@type': 'Command', name: 'new' },
        ],
      },
    ]);
    assert.ok(r.model);
    writeFileSync(join(dir, 'odd.ts'), generateTypeScript(r.model));
    writeFileSync(
      join(dir, 'use-odd.ts'),
      "import type { DefaultDevice } from './odd.js';\nexport const t: DefaultDevice['root']['telemetry'] = { delete: { a: 1 }, class: [1], pos: { type: 'MultiPolygon', coordinates: [[[[0, 0]]]] } };\n",
    );
    assert.deepEqual(compile([join(dir, 'use-odd.ts')]), []);
  });
});
