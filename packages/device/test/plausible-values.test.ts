import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse, validateValue, type DtdlModel } from '@plugboard/dtdl';
import { PlausibleValues, capabilitiesOf, seededRandom } from '../src/index.js';

const MODEL_ID = 'dtmi:plugboard:test:Sensor;1';

function model(): DtdlModel {
  const result = parse([
    JSON.stringify({
      '@context': 'dtmi:dtdl:context;2',
      '@id': MODEL_ID,
      '@type': 'Interface',
      contents: [
        { '@type': ['Telemetry', 'Temperature'], name: 'temperature', schema: 'double', unit: 'degreeCelsius' },
        { '@type': ['Telemetry', 'Temperature'], name: 'outside', schema: 'double', unit: 'degreeFahrenheit' },
        { '@type': ['Telemetry', 'RelativeHumidity'], name: 'humidity', schema: 'double', unit: 'percent' },
        { '@type': 'Telemetry', name: 'battery', schema: 'integer' },
        { '@type': 'Telemetry', name: 'open', schema: 'boolean' },
        { '@type': 'Telemetry', name: 'seen', schema: 'dateTime' },
        {
          '@type': 'Telemetry',
          name: 'mode',
          schema: {
            '@type': 'Enum',
            valueSchema: 'string',
            enumValues: [
              { name: 'idle', enumValue: 'idle' },
              { name: 'busy', enumValue: 'busy' },
            ],
          },
        },
        {
          '@type': 'Telemetry',
          name: 'status',
          schema: {
            '@type': 'Object',
            fields: [
              { name: 'code', schema: 'integer' },
              { name: 'note', schema: 'string' },
            ],
          },
        },
        { '@type': 'Property', name: 'target', schema: 'double', writable: true },
        { '@type': 'Command', name: 'reset' },
      ],
    }),
  ]);
  assert.ok(result.ok && result.model, JSON.stringify(result.errors));
  return result.model;
}

describe('PlausibleValues', () => {
  const m = model();
  const element = (name: string) => {
    const found = m.capability(MODEL_ID, undefined, name);
    assert.ok(found, name);
    return found;
  };

  it('[Simulator] every value validates against its schema', () => {
    const values = new PlausibleValues(m, seededRandom(3));
    for (const caps of capabilitiesOf(m, MODEL_ID)) {
      for (const t of [...caps.telemetry, ...caps.writable]) {
        for (let i = 0; i < 50; i++) {
          const result = validateValue(m, t.schema ?? '', { value: values.next(t) });
          assert.ok(result.ok, `${t.name}: ${JSON.stringify(result.issues)}`);
        }
      }
    }
  });

  it('[Simulator] a temperature in °C drifts around 20, in °F around 68, a humidity stays in 0..100', () => {
    const values = new PlausibleValues(m, seededRandom(5));
    const series = (name: string) => Array.from({ length: 500 }, () => Number(values.next(element(name))));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const celsius = series('temperature');
    assert.ok(Math.abs(mean(celsius) - 20) < 3, `mean ${mean(celsius)}`);
    assert.ok(celsius.every((v) => v > 5 && v < 35));
    // A walk, not noise: consecutive readings are close.
    assert.ok(celsius.slice(1).every((v, i) => Math.abs(v - (celsius[i] ?? v)) < 2));
    assert.ok(Math.abs(mean(series('outside')) - 68) < 6);
    assert.ok(series('humidity').every((v) => v >= 0 && v <= 100));
  });

  it('[Simulator] a battery level falls slowly and stays within 0..100', () => {
    const values = new PlausibleValues(m, seededRandom(9));
    const levels = Array.from({ length: 400 }, () => Number(values.next(element('battery'))));
    assert.ok(levels.every((v) => v >= 0 && v <= 100));
    assert.ok((levels.at(-1) ?? 0) < (levels[0] ?? 0), `${levels[0]} → ${levels.at(-1)}`);
  });

  it('[Simulator] the same seed gives the same values', () => {
    const a = new PlausibleValues(m, seededRandom(11));
    const b = new PlausibleValues(m, seededRandom(11));
    for (let i = 0; i < 20; i++) assert.equal(a.next(element('temperature')), b.next(element('temperature')));
  });

  it('[Simulator] capabilitiesOf lists telemetry, read-only and writable properties and commands', () => {
    const [root] = capabilitiesOf(m, MODEL_ID);
    assert.equal(root?.telemetry.length, 8);
    assert.deepEqual(
      root?.writable.map((p) => p.name),
      ['target'],
    );
    assert.deepEqual(
      root?.commands.map((c) => c.name),
      ['reset'],
    );
  });
});
