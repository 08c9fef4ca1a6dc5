import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { DtdlError, parse, type ParseResult } from '../src/index.js';
import { corporaDir, readJsonFile } from './corpus.js';
import { modelArb, structureArb } from './generators.js';

const E = 'dtmi:dtdl:parsingError:';
const samples = join(corporaDir, 'dtdl-spec', 'v2', 'samples');

function iface(contents: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { '@context': 'dtmi:dtdl:context;2', '@id': 'dtmi:com:example:X;1', '@type': 'Interface', contents, ...extra };
}

function codes(r: ParseResult): string[] {
  return r.errors.map((e) => e.code.replace(E, ''));
}

describe('parse: samples and object model', () => {
  it('accepts the Thermostat and TemperatureController samples and exposes capabilities by (component, name)', () => {
    const thermostat = readJsonFile(join(samples, 'Thermostat.json'));
    const controller = readJsonFile(join(samples, 'TemperatureController.json'));
    // The controller's deviceInformation component comes from the public repository; a stub stands in for it.
    const deviceInfo = {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:azure:DeviceManagement:DeviceInformation;1',
      '@type': 'Interface',
      contents: [{ '@type': 'Property', name: 'manufacturer', schema: 'string' }],
    };
    const r = parse([JSON.stringify(controller), JSON.stringify(thermostat), deviceInfo]);
    assert.deepEqual(r.errors, []);
    assert.equal(r.ok, true);
    const m = r.model;
    assert.ok(m);
    assert.deepEqual(m.roots, [
      'dtmi:com:example:TemperatureController;1',
      'dtmi:com:example:Thermostat;1',
      'dtmi:azure:DeviceManagement:DeviceInformation;1',
    ]);
    const target = m.capability('dtmi:com:example:TemperatureController;1', 'thermostat1', 'targetTemperature');
    assert.equal(target?.kind, 'Property');
    assert.equal(target?.writable, true);
    assert.equal(target?.schema, 'dtmi:dtdl:instance:Schema:double;2');
    assert.deepEqual(target?.supplementalTypes, ['dtmi:standard:class:Temperature;2']);
    assert.equal(target?.unit, 'degreeCelsius');
    assert.equal(target?.id, 'dtmi:com:example:Thermostat:_contents:__targetTemperature;1');
    const reboot = m.capability('dtmi:com:example:TemperatureController;1', undefined, 'reboot');
    assert.equal(reboot?.kind, 'Command');
    const req = reboot?.request === undefined ? undefined : m.get(reboot.request);
    assert.equal(req?.kind, 'CommandPayload');
    assert.equal(req?.name, 'delay');
    const serial = m.capability('dtmi:com:example:TemperatureController;1', undefined, 'serialNumber');
    assert.equal(serial?.writable, false, 'writable defaults to false');
    assert.equal(m.capability('dtmi:com:example:TemperatureController;1', 'nope', 'x'), undefined);
  });

  it('generates @ids per DTDL v2 "Automatic Identifier Assignment" (MultiLevelIdGeneration)', () => {
    const r = parse([
      {
        '@context': 'dtmi:dtdl:context;2',
        '@id': 'dtmi:example:start;1',
        '@type': 'Interface',
        contents: [
          {
            '@type': 'Relationship',
            name: 'Friend',
            properties: [
              {
                '@type': 'Property',
                name: 'Friendliness',
                schema: {
                  '@type': 'Object',
                  fields: [
                    {
                      name: 'outerField',
                      schema: {
                        '@type': 'Map',
                        mapKey: { name: 'k', schema: 'string' },
                        mapValue: { name: 'v', schema: 'double' },
                      },
                    },
                  ],
                },
              },
            ],
          },
        ],
      },
    ]);
    assert.equal(r.ok, true, JSON.stringify(r.errors));
    const id =
      'dtmi:example:start:_contents:__Friend:_properties:__Friendliness:_schema:_fields:__outerField:_schema:_mapValue;1';
    assert.equal(r.model?.get(id)?.kind, 'MapValue');
    assert.equal(r.model?.get(id)?.generatedId, true);
  });

  it('flattens inherited contents through extends (diamonds counted once)', () => {
    const base = {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:ex:Base;1',
      '@type': 'Interface',
      contents: [{ '@type': 'Telemetry', name: 'b', schema: 'double' }],
    };
    const left = {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:ex:L;1',
      '@type': 'Interface',
      extends: 'dtmi:ex:Base;1',
    };
    const right = {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:ex:R;1',
      '@type': 'Interface',
      extends: ['dtmi:ex:Base;1'],
    };
    const top = iface([{ '@type': 'Property', name: 'p', schema: 'string' }], {
      extends: ['dtmi:ex:L;1', 'dtmi:ex:R;1'],
    });
    const r = parse([top, left, right, base]);
    assert.equal(r.ok, true, JSON.stringify(r.errors));
    assert.deepEqual(Object.keys(r.model?.get('dtmi:com:example:X;1')?.contents ?? {}).sort(), ['b', 'p']);
  });

  it('[informal co-typing] accepts IoT Central undefined co-types and keeps their members', () => {
    const r = parse([
      {
        '@context': ['dtmi:iotcentral:context;2', 'dtmi:dtdl:context;2'],
        '@id': 'dtmi:com:example:X;1',
        '@type': ['Interface', 'NamedInterface'],
        name: 'X',
        contents: [
          {
            '@type': ['Telemetry', 'NumberValue'],
            name: 't',
            schema: 'double',
            decimalPlaces: 2,
            displayUnit: { en: 'C' },
          },
          { '@type': ['Property', 'Cloud', 'StringValue'], name: 'c', schema: 'string', maxLength: 10 },
          { '@type': ['Telemetry', 'Location'], name: 'loc', schema: 'geopoint' },
          { '@type': ['Telemetry', 'Event'], name: 'ev', schema: 'string' },
        ],
      },
    ]);
    assert.deepEqual(r.errors, []);
    assert.equal(r.warnings.length, 1, 'iotcentral context before the DTDL context is discouraged');
    const t = r.model?.capability('dtmi:com:example:X;1', undefined, 't');
    assert.deepEqual(t?.undefinedTypes, ['NumberValue']);
    assert.deepEqual(t?.undefinedProperties, { decimalPlaces: 2, displayUnit: { en: 'C' } });
    assert.deepEqual(r.model?.capability('dtmi:com:example:X;1', undefined, 'loc')?.supplementalTypes, [
      'dtmi:iotcentral:class:Location;2',
    ]);
  });

  it('[noTypeThatAllows] rejects an undefined member without an undefined co-type', () => {
    const r = parse([JSON.stringify(iface([{ '@type': 'Telemetry', name: 't', schema: 'double', decimalPlaces: 2 }]))]);
    assert.equal(r.ok, false);
    assert.deepEqual(codes(r), ['noTypeThatAllows']);
    const e = r.errors[0];
    assert.equal(e?.property, 'decimalPlaces');
    assert.match(e?.message ?? '', /decimalPlaces/);
    assert.match(e?.message ?? '', /Remove/);
  });

  it('[typeUndefinedTerm] DTDL v3 rejects undefined co-types by default', () => {
    const r = parse([
      {
        '@context': 'dtmi:dtdl:context;3',
        '@id': 'dtmi:ex:A;1',
        '@type': 'Interface',
        contents: [{ '@type': ['Property', 'UndefinedType'], name: 'p', schema: 'string' }],
      },
    ]);
    assert.deepEqual(codes(r), ['typeUndefinedTerm']);
  });

  it('gives warnings on text input a line and column, found when read', () => {
    const text = [
      '{',
      '  "@context": "dtmi:dtdl:context;2",',
      '  "@id": "dtmi:com:example:Warned;1",',
      '  "@type": "Interface",',
      '  "contents": [{ "@type": "Telemetry", "name": "t", "schema": "dtmi:dtdl:instance:Schema:double;2" }]',
      '}',
    ].join('\n');
    const r = parse([text]);
    assert.equal(r.ok, true);
    const warning = r.warnings[0];
    assert.ok(warning !== undefined, 'a DTMI where a term is recommended gives a warning');
    assert.deepEqual(JSON.parse(JSON.stringify(warning.location)), {
      documentIndex: 0,
      pointer: '/contents/0/schema',
      line: 5,
      column: warning.location?.column,
    });
    assert.equal(typeof warning.location?.column, 'number');
    const cloned = structuredClone(warning);
    assert.equal(cloned.code, warning.code, 'diagnostics stay plain data');
    assert.equal(cloned.location?.pointer, '/contents/0/schema');
    assert.equal(
      text
        .split('\n')[4]
        ?.slice((warning.location?.column ?? 1) - 1)
        .startsWith('"dtmi:dtdl:instance'),
      true,
    );
  });

  it('collects all errors, each with code, message and location (pointer, line:column for text)', () => {
    const text = [
      '{',
      '  "@context": "dtmi:dtdl:context;2",',
      '  "@id": "dtmi:com:example:X;1",',
      '  "@type": "Interface",',
      '  "contents": [',
      '    { "@type": "Telemetry", "name": "1bad", "schema": "double" },',
      '    { "@type": "Telemetry", "name": "t", "schema": "double", "displayName": "' + 'x'.repeat(65) + '" },',
      '    { "@type": "Property", "name": "w", "schema": "string", "writable": "yes" }',
      '  ]',
      '}',
    ].join('\n');
    const r = parse([text]);
    assert.equal(r.ok, false);
    assert.deepEqual(codes(r), ['stringInvalid', 'langStringValueTooLong', 'booleanNotBoolean']);
    assert.deepEqual(r.errors[0]?.location, { documentIndex: 0, pointer: '/contents/0/name', line: 6, column: 37 });
    assert.deepEqual(r.errors[1]?.location, {
      documentIndex: 0,
      pointer: '/contents/1/displayName',
      line: 7,
      column: 77,
    });
    assert.deepEqual(r.errors[2]?.location, { documentIndex: 0, pointer: '/contents/2/writable', line: 8, column: 73 });
    for (const e of r.errors) assert.ok(e.message.length > 20 && e.code.startsWith(E), e.message);
  });

  it('checks rules across elements once the elements themselves are valid (as the official parser)', () => {
    const r = parse([
      iface([
        { '@type': ['Telemetry', 'Temperature'], name: 't', schema: 'double', unit: 'metre' },
        { '@type': 'Property', name: 'arr', schema: { '@type': 'Array', elementSchema: 'double' } },
      ]),
    ]);
    assert.deepEqual(codes(r), ['notRequiredType']);
    assert.equal(r.errors[0]?.location?.pointer, '/contents/0/unit');
    const r2 = parse([
      iface([{ '@type': 'Property', name: 'arr', schema: { '@type': 'Array', elementSchema: 'double' } }]),
    ]);
    assert.deepEqual(codes(r2), ['excludedType']);
  });

  it('parsed values (not text) get pointers but no line numbers', () => {
    const r = parse([iface([{ '@type': 'Telemetry', name: 't' }])]);
    assert.deepEqual(codes(r), ['missingObjectProperty']);
    assert.deepEqual(r.errors[0]?.location, { documentIndex: 0, pointer: '/contents/0' });
  });

  it('reports unresolved dependent references separately from errors', () => {
    const r = parse([
      iface([{ '@type': 'Component', name: 'c', schema: 'dtmi:com:example:Missing;1' }], {
        extends: 'dtmi:com:example:Base;1',
      }),
    ]);
    assert.deepEqual(r.errors, []);
    assert.equal(r.ok, false);
    assert.deepEqual(r.unresolved, ['dtmi:com:example:Base;1', 'dtmi:com:example:Missing;1']);
    assert.equal(r.model, undefined);
  });

  it('[recursiveStructureNarrow] rejects cyclic extends', () => {
    const a = { '@context': 'dtmi:dtdl:context;2', '@id': 'dtmi:ex:A;1', '@type': 'Interface', extends: 'dtmi:ex:B;1' };
    const b = { '@context': 'dtmi:dtdl:context;2', '@id': 'dtmi:ex:B;1', '@type': 'Interface', extends: 'dtmi:ex:A;1' };
    const r = parse([a, b]);
    assert.ok(codes(r).includes('recursiveStructureNarrow'));
  });

  it('[excludedType] rejects nested components, also through extends', () => {
    const inner = { '@context': 'dtmi:dtdl:context;2', '@id': 'dtmi:ex:Inner;1', '@type': 'Interface' };
    const mid = {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:ex:Mid;1',
      '@type': 'Interface',
      contents: [{ '@type': 'Component', name: 'i', schema: 'dtmi:ex:Inner;1' }],
    };
    const midChild = {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:ex:MidChild;1',
      '@type': 'Interface',
      extends: 'dtmi:ex:Mid;1',
    };
    const r = parse([iface([{ '@type': 'Component', name: 'm', schema: 'dtmi:ex:MidChild;1' }]), midChild, mid, inner]);
    assert.deepEqual(codes(r), ['excludedType']);
  });

  it('[crossPartitionReference] a schema of another Interface is not referenceable', () => {
    const other = {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:ex:Other;1',
      '@type': 'Interface',
      schemas: [
        {
          '@id': 'dtmi:ex:Other:e;1',
          '@type': 'Enum',
          valueSchema: 'integer',
          enumValues: [{ name: 'a', enumValue: 1 }],
        },
      ],
    };
    const r = parse([iface([{ '@type': 'Telemetry', name: 't', schema: 'dtmi:ex:Other:e;1' }]), other]);
    assert.deepEqual(codes(r), ['crossPartitionReference']);
  });

  it('[DisallowUndefinedExtensions] the option rejects unknown extension contexts in v2', () => {
    const doc = iface([], { '@context': ['dtmi:dtdl:context;2', 'dtmi:com:example:ext;1'] });
    assert.equal(parse([doc]).ok, true);
    assert.deepEqual(codes(parse([doc], { allowUndefinedExtensions: false })), ['unresolvableContextSpecifier']);
  });

  it('maxDtdlVersion limits the accepted language version', () => {
    const doc = { '@context': 'dtmi:dtdl:context;3', '@id': 'dtmi:ex:A', '@type': 'Interface' };
    assert.equal(parse([doc]).ok, true);
    assert.equal(parse([doc], { maxDtdlVersion: 2 }).ok, false);
  });
});

describe('parse: bad input gives coded errors in bounded time', () => {
  it('not JSON', () => {
    const r = parse(['{ "@context": "dtmi:dtdl:context;2", ']);
    assert.equal(r.ok, false);
    assert.equal(r.errors[0]?.code, 'dtmi:plugboard:parsingError:invalidJson');
    assert.equal(r.errors[0]?.location?.line, 1);
  });

  it('[notJsonObject] a root that is not an object or array of objects', () => {
    assert.deepEqual(codes(parse(['"hello"'])), ['notJsonObject']);
    assert.deepEqual(codes(parse(['[1]'])), ['notJsonObject']);
  });

  it('10,000 levels of nesting', () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const r = parse([deep]);
    assert.equal(r.errors[0]?.code, 'dtmi:plugboard:parsingError:invalidJson');
    assert.match(r.errors[0]?.message ?? '', /nesting/);
    const deepObj = `{"@context":"dtmi:dtdl:context;2","@id":"dtmi:a:b;1","@type":"Interface","x":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`;
    assert.equal(parse([deepObj]).ok, false);
  });

  it('a cyclic object graph given as parsed values', () => {
    const tel: Record<string, unknown> = { '@type': 'Telemetry', name: 't' };
    const schema: Record<string, unknown> = { '@type': 'Array' };
    schema['elementSchema'] = schema;
    tel['schema'] = schema;
    const r = parse([iface([tel])]);
    assert.equal(r.ok, false);
    assert.ok(codes(r).includes('excessiveDepthNarrow'));
  });

  it('API misuse throws DtdlError', () => {
    assert.throws(
      () => parse('not an array' as unknown as string[]),
      (e: unknown) => e instanceof DtdlError && e.code === 'DTDL_INVALID_ARGUMENT',
    );
  });

  it('a 5 MB document', () => {
    const contents = Array.from({ length: 40_000 }, (_, i) => ({
      '@type': 'Telemetry',
      name: `t${i}`,
      schema: 'double',
      description: 'x'.repeat(60),
    }));
    const text = JSON.stringify(iface(contents));
    assert.ok(text.length > 5_000_000);
    const t0 = Date.now();
    const r = parse([text]);
    assert.ok(Date.now() - t0 < 20_000);
    assert.deepEqual(codes(r), ['objectCountAboveMax']);
  });

  it('pathological hierarchies stay fast: 40-level diamond extends, shared 30-field Objects, long chains', () => {
    const diamond: unknown[] = [];
    for (let i = 0; i < 40; i++) {
      const ext = [i + 1, i + 2].filter((k) => k < 40).map((k) => `dtmi:ex:I${k};1`);
      diamond.push({ '@context': 'dtmi:dtdl:context;2', '@id': `dtmi:ex:I${i};1`, '@type': 'Interface', extends: ext });
    }
    const chain: unknown[] = [];
    for (let i = 0; i < 5_000; i++) {
      const ext = i + 1 < 5_000 ? [`dtmi:ex:C${i + 1};1`] : [];
      chain.push({ '@context': 'dtmi:dtdl:context;3', '@id': `dtmi:ex:C${i};1`, '@type': 'Interface', extends: ext });
    }
    const fields = (k: number): unknown[] =>
      Array.from({ length: 30 }, (_, f) => ({ name: `f${f}`, schema: k < 4 ? `dtmi:ex:S:o${k + 1};1` : 'double' }));
    const shared = iface([{ '@type': 'Telemetry', name: 't', schema: 'dtmi:ex:S:o0;1' }], {
      '@id': 'dtmi:ex:S;1',
      schemas: Array.from({ length: 5 }, (_, k) => ({
        '@id': `dtmi:ex:S:o${k};1`,
        '@type': 'Object',
        fields: fields(k),
      })),
    });
    const t0 = Date.now();
    assert.ok(codes(parse(diamond)).includes('excessiveDepthNarrow'));
    assert.ok(codes(parse(chain)).includes('excessiveDepthNarrow'));
    const r = parse([shared]);
    assert.deepEqual(r.errors, []);
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  });

  it('never throws, and an accepted model is consistent (fast-check)', () => {
    fc.assert(
      fc.property(fc.oneof(modelArb, structureArb), (docs) => {
        const r = parse(docs.map((d) => JSON.stringify(d)));
        assert.equal(r.ok, r.errors.length === 0 && r.unresolved.length === 0);
        if (!r.ok) return;
        const m = r.model;
        assert.ok(m);
        for (const root of m.roots) {
          const i = m.get(root);
          assert.equal(i?.kind, 'Interface');
          for (const [name, id] of Object.entries(i.contents ?? {})) {
            assert.equal(m.capability(root, undefined, name)?.id, id);
            const el = m.get(id);
            if (el?.schema !== undefined) assert.ok(m.get(el.schema), `schema ${el.schema} of ${id} is in the model`);
          }
        }
      }),
      { numRuns: 300, seed: 4242 },
    );
  });
});
