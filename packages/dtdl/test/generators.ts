// fast-check generators of DTDL-like models: mostly valid shapes with frequent rule violations mixed in.
import fc from 'fast-check';

const names = fc.oneof(
  { weight: 12, arbitrary: fc.stringMatching(/^[a-z][a-zA-Z0-9_]{0,6}[a-z0-9]$/) },
  { weight: 1, arbitrary: fc.constantFrom('dup', '1bad', 'bad_', 'n'.repeat(64), 'n'.repeat(65), 'n'.repeat(512)) },
);
const primitive = fc.constantFrom(
  'double',
  'float',
  'integer',
  'long',
  'boolean',
  'string',
  'date',
  'dateTime',
  'time',
  'duration',
);
const oddSchema = fc.constantFrom(
  'point',
  'lineString',
  'vector',
  'geopoint',
  'dtmi:dtdl:instance:Schema:double;2',
  'decimal',
  'dtmi:ex:Missing;1',
);
const langString = fc.oneof(
  fc.constantFrom('Temperature', '', 'x'.repeat(64), 'x'.repeat(65)),
  fc.constantFrom({ en: 'T', de: 'T' }, { 'en-us': 'T' }, { en: 5 }),
  fc.constantFrom(['a', { '@value': 'b', '@language': 'de' }], ['a', 'b']),
);

const schema: fc.Arbitrary<unknown> = fc.letrec<{ schema: unknown }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    primitive,
    primitive,
    oddSchema,
    fc.record({
      '@type': fc.constant('Array'),
      elementSchema: tie('schema'),
    }),
    fc.record(
      {
        '@type': fc.constant('Enum'),
        valueSchema: fc.constantFrom('integer', 'string', 'double'),
        enumValues: fc.array(
          fc.record(
            { name: names, enumValue: fc.constantFrom(1, 2, 'a', 'b', 1.5) },
            { requiredKeys: ['name', 'enumValue'] },
          ),
          { maxLength: 3 },
        ),
      },
      { requiredKeys: ['@type', 'valueSchema', 'enumValues'] },
    ),
    fc.record({
      '@type': fc.constant('Object'),
      fields: fc.array(fc.record({ name: names, schema: tie('schema') }), { maxLength: 3 }),
    }),
    fc.record({
      '@type': fc.constant('Map'),
      mapKey: fc.record({ name: fc.constant('k'), schema: fc.constantFrom('string', 'integer') }),
      mapValue: fc.record({ name: fc.constant('v'), schema: tie('schema') }),
    }),
  ),
})).schema;

const semantic = fc.constantFrom<unknown[]>(
  [],
  [],
  [],
  [],
  [],
  [],
  ['Historized'],
  ['Temperature'],
  ['Temperature', 'NumberValue'],
  ['Cloud'],
  ['Event'],
  ['State'],
  ['Location'],
  ['Velocity'],
  ['Array'],
);
const unit = fc.constantFrom('kelvin', 'degreeCelsius', 'metre', 'metrePerSecond', undefined);

const content = fc.oneof(
  fc
    .record(
      {
        kind: fc.constantFrom('Telemetry', 'Property'),
        cotypes: semantic,
        name: names,
        schema,
        unit,
        writable: fc.constantFrom(true, false, 'true', null, undefined),
        displayName: fc.option(langString, { nil: undefined }),
        decimalPlaces: fc.option(fc.constant(2), { nil: undefined }),
      },
      { requiredKeys: ['kind', 'cotypes', 'name', 'schema'] },
    )
    .map(({ kind, cotypes, writable, unit: u, ...rest }) => {
      const out: Record<string, unknown> = { '@type': cotypes.length > 0 ? [kind, ...cotypes] : kind, ...rest };
      if (u !== undefined) out['unit'] = u;
      if (writable !== undefined && kind === 'Property') out['writable'] = writable;
      for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
      return out;
    }),
  fc.record(
    {
      '@type': fc.constant('Command'),
      name: names,
      request: fc.record({ name: names, schema }),
      response: fc.record({ name: names, schema }),
      commandType: fc.constantFrom('synchronous', 'sometimes'),
    },
    { requiredKeys: ['@type', 'name'] },
  ),
  fc.record(
    {
      '@type': fc.constant('Component'),
      name: names,
      schema: fc.constantFrom('dtmi:ex:Base;1', 'dtmi:ex:Root;1', 'double'),
    },
    { requiredKeys: ['@type', 'name', 'schema'] },
  ),
  fc.record(
    {
      '@type': fc.constant('Relationship'),
      name: names,
      target: fc.constantFrom('dtmi:ex:Base;1', 'http://x'),
      maxMultiplicity: fc.constantFrom(0, 1, 500, 501),
      minMultiplicity: fc.constantFrom(0, 1),
    },
    { requiredKeys: ['@type', 'name'] },
  ),
);

/** A model of one or two documents (a root Interface and a base Interface it may extend or use as component). */
export const modelArb: fc.Arbitrary<unknown[]> = fc
  .record({
    version: fc.constantFrom(2, 2, 2, 3, 3),
    iotc: fc.boolean(),
    qt: fc.boolean(),
    versionless: fc.boolean(),
    rootCotype: fc.constantFrom<unknown[]>([], [], ['NamedInterface']),
    contents: fc.array(content, { maxLength: 4 }),
    baseContents: fc.array(content, { maxLength: 2 }),
    extendsBase: fc.boolean(),
    withBase: fc.boolean(),
  })
  .map(({ version, iotc, qt, versionless, rootCotype, contents, baseContents, extendsBase, withBase }) => {
    const context =
      version === 2
        ? iotc
          ? ['dtmi:dtdl:context;2', 'dtmi:iotcentral:context;2']
          : 'dtmi:dtdl:context;2'
        : qt
          ? ['dtmi:dtdl:context;3', 'dtmi:dtdl:extension:quantitativeTypes;1', 'dtmi:dtdl:extension:historization;1']
          : 'dtmi:dtdl:context;3';
    const root: Record<string, unknown> = {
      '@context': context,
      '@id': versionless && version === 3 ? 'dtmi:ex:Root' : 'dtmi:ex:Root;1',
      '@type': rootCotype.length > 0 ? ['Interface', ...rootCotype] : 'Interface',
      contents,
    };
    if (extendsBase) root['extends'] = 'dtmi:ex:Base;1';
    const docs: unknown[] = [root];
    if (withBase)
      docs.push({ '@context': context, '@id': 'dtmi:ex:Base;1', '@type': 'Interface', contents: baseContents });
    return docs;
  });

/**
 * Models that stress references and structure: reusable `schemas` referenced across Interfaces, `extends` chains
 * (inline and by reference, possibly cyclic or deep), components, value objects, language maps and contexts.
 */
export const structureArb: fc.Arbitrary<unknown[]> = fc
  .record({
    version: fc.constantFrom(2, 2, 3),
    count: fc.integer({ min: 1, max: 12 }),
    extendsEdges: fc.array(fc.tuple(fc.nat({ max: 11 }), fc.nat({ max: 11 })), { maxLength: 14 }),
    componentEdges: fc.array(fc.tuple(fc.nat({ max: 11 }), fc.nat({ max: 11 })), { maxLength: 3 }),
    schemaRefs: fc.array(fc.tuple(fc.nat({ max: 11 }), fc.nat({ max: 11 })), { maxLength: 3 }),
    inlineExtends: fc.boolean(),
    dupName: fc.boolean(),
    literalForm: fc.constantFrom<unknown>(
      true,
      { '@value': true },
      { '@value': true, '@type': 'xsd:boolean' },
      [true],
      [],
      { '@value': 'true' },
    ),
    label: fc.constantFrom<unknown>(
      'x',
      { en: 'x', 'de-DE': 'y' },
      [{ '@value': 'x', '@language': 'fr' }, 'y'],
      [{ '@value': 'x' }, 'y'],
      { 'en-us': 'x' },
    ),
    extraContext: fc.constantFrom<string[]>([], [], ['dtmi:com:example:ext;1'], ['dtmi:iotcentral:context;2']),
  })
  .map(
    ({
      version,
      count,
      extendsEdges,
      componentEdges,
      schemaRefs,
      inlineExtends,
      dupName,
      literalForm,
      label,
      extraContext,
    }) => {
      const id = (i: number): string => `dtmi:ex:I${i};1`;
      const docs: Record<string, unknown>[] = [];
      for (let i = 0; i < count; i++) {
        docs.push({
          '@context': [`dtmi:dtdl:context;${version}`, ...extraContext],
          '@id': id(i),
          '@type': 'Interface',
          displayName: label,
          contents: [
            {
              '@type': 'Property',
              name: dupName && i % 2 === 0 ? 'common' : `p${i}`,
              schema: 'string',
              writable: literalForm,
            },
          ],
          schemas: [
            {
              '@id': `dtmi:ex:I${i}:s;1`,
              '@type': 'Object',
              fields: [{ name: 'f', schema: 'double' }],
            },
          ],
        });
      }
      const at = (i: number): Record<string, unknown> | undefined => docs[i % count];
      for (const [a, b] of extendsEdges) {
        const d = at(a);
        if (d === undefined) continue;
        const list = (d['extends'] as unknown[] | undefined) ?? [];
        list.push(
          inlineExtends && list.length === 0
            ? { '@id': `dtmi:ex:Inline${a}x${b};1`, '@type': 'Interface', extends: id(b % count) }
            : id(b % count),
        );
        d['extends'] = list;
      }
      for (const [a, b] of componentEdges) {
        (at(a)?.['contents'] as unknown[] | undefined)?.push({
          '@type': 'Component',
          name: `c${b}`,
          schema: id(b % count),
        });
      }
      for (const [a, b] of schemaRefs) {
        (at(a)?.['contents'] as unknown[] | undefined)?.push({
          '@type': 'Telemetry',
          name: `t${b}`,
          schema: `dtmi:ex:I${b % count}:s;1`,
        });
      }
      return docs;
    },
  );
