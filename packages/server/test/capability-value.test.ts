/**
 * The chart's reader of one capability gives, for every message, the value the full verdict models:
 * fast-check bodies (numbers, strings, booleans, null, nested objects, duplicate and ignored names,
 * non-JSON, non-objects) against double, float, integer and string capabilities, at the root, in a
 * component and in a component the template lacks, and with no template.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from '@plugboard/dtdl';
import { capabilityReader } from '../src/central/capability-value.js';
import { judgeTelemetry, type VerdictTemplate } from '../src/central/telemetry-verdict.js';

const CONTEXT = 'dtmi:dtdl:context;2';
const SENSOR = {
  '@context': CONTEXT,
  '@id': 'dtmi:test:Sensor;1',
  '@type': 'Interface',
  contents: [
    { '@type': 'Telemetry', name: 'temperature', schema: 'double' },
    { '@type': 'Telemetry', name: 'ratio', schema: 'float' },
    { '@type': 'Telemetry', name: 'count', schema: 'integer' },
    { '@type': 'Telemetry', name: 'label', schema: 'string' },
    { '@type': 'Telemetry', name: 'User', schema: 'double' },
  ],
};
const ROOT = {
  '@context': CONTEXT,
  '@id': 'dtmi:test:Root;1',
  '@type': 'Interface',
  contents: [...SENSOR.contents, { '@type': 'Component', name: 'sensor1', schema: SENSOR['@id'] }],
};
const result = parse([ROOT, SENSOR]);
assert.ok(result.model, JSON.stringify(result.errors));
const TEMPLATE: VerdictTemplate = { modelId: ROOT['@id'], model: result.model };
const NAMES = ['temperature', 'ratio', 'count', 'label', 'User', 'missing'] as const;

const member = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(1e39, -1e39, 3.4e38, 1.5, 2 ** 31, 0),
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
  fc.array(fc.integer(), { maxLength: 2 }),
);
const body = fc.oneof(
  fc
    .dictionary(fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 5 })), member, { maxKeys: 5 })
    .map((o) => JSON.stringify(o)),
  // Duplicate names (the last counts), and texts that are no object.
  fc
    .tuple(fc.constantFrom(...NAMES), member, member)
    .map(([n, a, b]) => `{"${n}":${JSON.stringify(a)},"${n}":${JSON.stringify(b)}}`),
  // Nesting deeper than the validator reads: the full verdict's own answer must come back.
  fc
    .tuple(fc.constantFrom(...NAMES), member, fc.integer({ min: 120, max: 140 }))
    .map(([n, v, depth]) => `{"${n}":${JSON.stringify(v)},"deep":${'['.repeat(depth)}${']'.repeat(depth)}}`),
  fc.constantFrom('not json', '[1,2]', '42', 'null', '"text"', '\uFEFF{"temperature":1}', '{"temperature":1e400}'),
  fc.string(),
);

function agree(template: VerdictTemplate | undefined, component: string | undefined, text: string): void {
  for (const name of NAMES) {
    const expected = judgeTelemetry(template, text, component).modeled[name];
    assert.deepEqual(capabilityReader(template, component, name, undefined)(text), expected, `${name} of ${text}`);
  }
}

describe('capabilityReader', () => {
  it('models exactly what the full verdict models, for any body, at the root and in a component', () => {
    fc.assert(
      fc.property(body, fc.constantFrom(undefined, 'sensor1', 'absent'), (text, component) => {
        agree(TEMPLATE, component, text);
      }),
      { numRuns: 3000 },
    );
  });

  it('models nothing without a template', () => {
    fc.assert(
      fc.property(body, (text) => agree(undefined, undefined, text)),
      { numRuns: 200 },
    );
  });

  it('reads a double, refuses a string and an out-of-range float', () => {
    const read = capabilityReader(TEMPLATE, undefined, 'temperature', undefined);
    assert.equal(read('{"temperature":21.5,"other":"x"}'), 21.5);
    assert.equal(read('{"temperature":"hot"}'), undefined);
    assert.equal(capabilityReader(TEMPLATE, undefined, 'ratio', undefined)('{"ratio":1e39}'), undefined);
    assert.equal(capabilityReader(TEMPLATE, 'sensor1', 'ratio', undefined)('{"ratio":0.5}'), 0.5);
  });
});
