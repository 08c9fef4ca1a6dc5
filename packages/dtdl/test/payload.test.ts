// Payload validation: the official ValidateInstance semantics (reference/dtdl.md §5) and the Plug and Play
// message shapes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  DtdlError,
  parse,
  validateCommandPayload,
  validatePropertyPatch,
  validateTelemetry,
  validateValue,
  type DtdlModel,
} from '../src/index.js';
import { corporaDir, readJsonFile } from './corpus.js';

const S = (t: string): string => `dtmi:dtdl:instance:Schema:${t};2`;

function modelOf(docs: unknown[]): DtdlModel {
  const r = parse(docs);
  assert.deepEqual(r.errors, []);
  assert.ok(r.model);
  return r.model;
}

const schemas = modelOf([
  {
    '@context': ['dtmi:dtdl:context;2', 'dtmi:iotcentral:context;2'],
    '@id': 'dtmi:ex:S;1',
    '@type': 'Interface',
    schemas: [
      {
        '@id': 'dtmi:ex:S:ie;1',
        '@type': 'Enum',
        valueSchema: 'integer',
        enumValues: [
          { name: 'one', enumValue: 1 },
          { name: 'two', enumValue: 2 },
        ],
      },
      {
        '@id': 'dtmi:ex:S:se;1',
        '@type': 'Enum',
        valueSchema: 'string',
        enumValues: [{ name: 'on', enumValue: 'ON' }],
      },
      { '@id': 'dtmi:ex:S:arr;1', '@type': 'Array', elementSchema: 'double' },
      {
        '@id': 'dtmi:ex:S:map;1',
        '@type': 'Map',
        mapKey: { name: 'k', schema: 'string' },
        mapValue: { name: 'v', schema: 'integer' },
      },
      {
        '@id': 'dtmi:ex:S:obj;1',
        '@type': 'Object',
        fields: [
          { name: 'latitude', schema: 'double' },
          { name: 'nested', schema: { '@type': 'Array', elementSchema: 'dtmi:ex:S:se;1' } },
        ],
      },
    ],
    contents: [
      { '@type': 'Telemetry', name: 'p', schema: 'point' },
      { '@type': 'Telemetry', name: 'poly', schema: 'polygon' },
      { '@type': 'Telemetry', name: 'v', schema: 'vector' },
    ],
  },
]);

const ok = (schema: string, text: string): boolean => validateValue(schemas, schema, text).ok;

describe('payload validation: primitives', () => {
  it('boolean accepts only JSON true/false', () => {
    assert.equal(ok(S('boolean'), 'true'), true);
    for (const t of ['"true"', '1', 'null']) assert.equal(ok(S('boolean'), t), false, t);
  });

  it('integer: no fraction or exponent in the token, int32 range', () => {
    for (const t of ['3', '-0', '2147483647', '-2147483648']) assert.equal(ok(S('integer'), t), true, t);
    for (const t of ['0.0', '-0.0', '3.14', '1e2', '2147483648', '"3"', 'null'])
      assert.equal(ok(S('integer'), t), false, t);
  });

  it('long: exact int64 range on the raw token', () => {
    assert.equal(ok(S('long'), '9223372036854775807'), true);
    assert.equal(ok(S('long'), '-9223372036854775808'), true);
    assert.equal(ok(S('long'), '9223372036854775808'), false);
    assert.equal(validateValue(schemas, S('long'), { value: 10n ** 18n }).ok, true);
  });

  it('3 is a valid double; float/double must be finite in their precision', () => {
    assert.equal(ok(S('double'), '3'), true);
    assert.equal(ok(S('double'), '1.79769313486231E+308'), true);
    assert.equal(ok(S('double'), '1.79769313486233E+308'), false);
    assert.equal(ok(S('float'), '3.402823E+38'), true);
    assert.equal(ok(S('float'), '3.402824E+38'), false);
    assert.equal(ok(S('float'), '1e-50'), true);
    assert.equal(ok(S('double'), '"3"'), false);
  });

  it('date: real calendar dates, years 0001-9999 (2023-02-29 is not a date)', () => {
    for (const t of ['1964-02-29', '2000-02-29', '0001-01-01']) assert.equal(ok(S('date'), `"${t}"`), true, t);
    for (const t of ['2023-02-29', '1900-02-29', '0000-01-01', '1965-13-01', '19650101', '1965-01', '1965-04-31']) {
      assert.equal(ok(S('date'), `"${t}"`), false, t);
    }
  });

  it('dateTime: offset and seconds mandatory, no hour 24 or second 60', () => {
    for (const t of [
      '1980-01-01T06:00:00.00015Z',
      '1980-01-01T06:00:00+00:00',
      '1980-01-01T06:00:00-00:00',
      '1980-01-01T06:00:00+11:45',
    ]) {
      assert.equal(ok(S('dateTime'), `"${t}"`), true, t);
    }
    for (const t of [
      '1980-01-01T24:00:00Z',
      '1980-01-01T00:00:60Z',
      '1980-01-01T06:00Z',
      '1980-01-01T06:00:00',
      '1980-01-01T06:00:00+11',
      '1980-01-01t06:00:00z',
    ]) {
      assert.equal(ok(S('dateTime'), `"${t}"`), false, t);
    }
  });

  it('time and duration', () => {
    assert.equal(ok(S('time'), '"06:00:00+11:45"'), true);
    assert.equal(ok(S('time'), '"06:00:00.00015Z"'), true);
    for (const t of ['24:00:00Z', '06:00Z', 'T06:00:00Z', '1980-01-01T06:00:00Z'])
      assert.equal(ok(S('time'), `"${t}"`), false, t);
    for (const t of ['P3Y6M4DT8H9M5S', 'PT0.001S', 'P2W4DT8H', 'P3.4W', 'P0D', 'P163Y16M64DT389999M15S']) {
      assert.equal(ok(S('duration'), `"${t}"`), true, t);
    }
    for (const t of [
      'P3Y6M2W4D',
      'P1Y3W',
      'P3.4W5D',
      'P',
      'PT',
      'P3Y6M4DT',
      'PT.001S',
      'P3.0Y6M',
      'P6M3Y',
      'P8H9M5S',
      '15',
    ]) {
      assert.equal(ok(S('duration'), `"${t}"`), false, t);
    }
  });
});

describe('payload validation: complex schemas', () => {
  it('Enum: value of valueSchema type and one of the enumValues', () => {
    assert.equal(ok('dtmi:ex:S:ie;1', '2'), true);
    for (const t of ['3', '1.0', '"1"']) assert.equal(ok('dtmi:ex:S:ie;1', t), false, t);
    assert.equal(ok('dtmi:ex:S:se;1', '"ON"'), true);
    assert.equal(ok('dtmi:ex:S:se;1', '"on"'), false);
  });

  it('Array and Map: every element/value conforms; empty is fine; nulls are not', () => {
    assert.equal(ok('dtmi:ex:S:arr;1', '[2, 3.14, 555]'), true);
    assert.equal(ok('dtmi:ex:S:arr;1', '[]'), true);
    assert.equal(ok('dtmi:ex:S:arr;1', '[1, null]'), false);
    assert.equal(ok('dtmi:ex:S:map;1', '{"__proto__": 1, "constructor": 2}'), true);
    assert.equal(ok('dtmi:ex:S:map;1', '{"a": 1.5}'), false);
    assert.equal(ok('dtmi:ex:S:map;1', '[]'), false);
  });

  it('Object: fields optional, extra or null fields rejected, with paths', () => {
    assert.equal(ok('dtmi:ex:S:obj;1', '{}'), true);
    assert.equal(ok('dtmi:ex:S:obj;1', '{"latitude": 3.14, "nested": ["ON"]}'), true);
    const extra = validateValue(schemas, 'dtmi:ex:S:obj;1', '{"latitude": 1, "longitude": 2}', 'loc');
    assert.deepEqual(
      extra.issues.map((i) => i.path),
      ['loc.longitude'],
    );
    assert.equal(ok('dtmi:ex:S:obj;1', '{"latitude": null}'), false);
    const deep = validateValue(schemas, 'dtmi:ex:S:obj;1', '{"nested": ["ON", "OFF"]}', 'loc');
    assert.deepEqual(deep.issues, [{ path: 'loc.nested[1]', message: 'expected one of "ON", got "OFF"' }]);
  });

  it('geospatial and IoT Central vector/geopoint', () => {
    const point = 'dtmi:standard:schema:geospatial:point;2';
    assert.equal(ok(point, '{"type": "Point", "coordinates": [47.6, -122.1]}'), true);
    assert.equal(ok(point, '{"type": "LineString", "coordinates": [1, 2]}'), false);
    assert.equal(ok(point, '{"type": "Point", "coordinates": [[1, 2]]}'), false);
    const polygon = 'dtmi:standard:schema:geospatial:polygon;2';
    assert.equal(ok(polygon, '{"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]}'), true);
    assert.equal(ok('dtmi:iotcentral:schema:vector;2', '{"x": 1, "y": 2, "z": 3}'), true);
    assert.equal(ok('dtmi:iotcentral:schema:vector;2', '{"x": 1, "w": 2}'), false);
  });

  it('not JSON is an issue, not an exception; unknown schemas are API misuse', () => {
    const r = validateValue(schemas, S('double'), '{');
    assert.equal(r.ok, false);
    assert.match(r.issues[0]?.message ?? '', /not JSON/);
    assert.throws(
      () => validateValue(schemas, 'dtmi:ex:Nope;1', '1'),
      (e: unknown) => e instanceof DtdlError && e.code === 'DTDL_INVALID_ARGUMENT',
    );
  });
});

describe('payload validation: Plug and Play messages (TemperatureController)', () => {
  const samples = join(corporaDir, 'dtdl-spec', 'v2', 'samples');
  const deviceInfo = {
    '@context': 'dtmi:dtdl:context;2',
    '@id': 'dtmi:azure:DeviceManagement:DeviceInformation;1',
    '@type': 'Interface',
    contents: [{ '@type': 'Property', name: 'manufacturer', schema: 'string' }],
  };
  const model = modelOf([
    readJsonFile(join(samples, 'TemperatureController.json')),
    readJsonFile(join(samples, 'Thermostat.json')),
    deviceInfo,
  ]);
  const tc = 'dtmi:com:example:TemperatureController;1';

  it('telemetry: errors name the component path; unknown names are unmodeled', () => {
    const r = validateTelemetry(model, tc, '{"temperature": "hot", "pressure": 1}', { component: 'thermostat1' });
    assert.deepEqual(r.issues, [{ path: 'thermostat1.temperature', message: 'expected double, got "hot"' }]);
    assert.deepEqual(r.unmodeled, ['thermostat1.pressure']);
    assert.equal(validateTelemetry(model, tc, '{"workingSet": 3}').ok, true);
  });

  it('reported properties: component marker, writable acknowledgement envelope', () => {
    const good =
      '{"serialNumber": "abc", "thermostat1": {"__t": "c", "maxTempSinceLastReboot": 3, "targetTemperature": {"value": 21.5, "ac": 200, "av": 3, "ad": "ok"}}}';
    assert.deepEqual(validatePropertyPatch(model, tc, good, 'reported').issues, []);
    const noMarker = validatePropertyPatch(model, tc, '{"thermostat1": {"maxTempSinceLastReboot": 3}}', 'reported');
    assert.deepEqual(
      noMarker.issues.map((i) => i.path),
      ['thermostat1.__t'],
    );
    const bare = validatePropertyPatch(model, tc, '{"thermostat1": {"__t": "c", "targetTemperature": 21}}', 'reported');
    assert.match(bare.issues[0]?.message ?? '', /acknowledgement/);
    const badAck = validatePropertyPatch(
      model,
      tc,
      '{"thermostat1": {"__t": "c", "targetTemperature": {"value": "x", "ac": 200}}}',
      'reported',
    );
    assert.deepEqual(
      badAck.issues.map((i) => i.path),
      ['thermostat1.targetTemperature.value', 'thermostat1.targetTemperature.av'],
    );
  });

  it('desired properties: only writable ones, $version allowed', () => {
    assert.equal(
      validatePropertyPatch(
        model,
        tc,
        '{"thermostat2": {"__t": "c", "targetTemperature": 20}, "$version": 4}',
        'desired',
      ).ok,
      true,
    );
    const ro = validatePropertyPatch(model, tc, '{"serialNumber": "x"}', 'desired');
    assert.deepEqual(
      ro.issues.map((i) => i.path),
      ['serialNumber'],
    );
  });

  it('command request and response bodies are the raw payload values', () => {
    const since = validateCommandPayload(model, tc, 'getMaxMinReport', '"2024-01-01T00:00:00Z"', 'request', {
      component: 'thermostat1',
    });
    assert.equal(since.ok, true);
    const bad = validateCommandPayload(model, tc, 'getMaxMinReport', '{"since": "yesterday"}', 'request', {
      component: 'thermostat1',
    });
    assert.equal(bad.issues[0]?.path, 'thermostat1*getMaxMinReport.request');
    const resp = validateCommandPayload(
      model,
      tc,
      'getMaxMinReport',
      '{"maxTemp": 1, "minTemp": 0, "avgTemp": 0.5, "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-02T00:00:00Z"}',
      'response',
      { component: 'thermostat1' },
    );
    assert.deepEqual(resp.issues, []);
    assert.equal(validateCommandPayload(model, tc, 'reboot', '5', 'request').ok, true);
    assert.equal(validateCommandPayload(model, tc, 'reboot', '"5"', 'request').ok, false);
    assert.throws(() => validateCommandPayload(model, tc, 'nope', '1', 'request'), DtdlError);
  });
});
