/**
 * DTDL files as device templates: a template export kept as it is, one interface wrapped as a template,
 * a model with its component interfaces in one list inlined under its root, and every file that cannot
 * become a template refused with the reason before anything is sent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { templateFromDtdl, TemplateImportError } from '../src/template-import.js';

const CONTEXT = 'dtmi:dtdl:context;2';
const THERMOSTAT = {
  '@context': CONTEXT,
  '@id': 'dtmi:com:example:Thermostat;1',
  '@type': 'Interface',
  displayName: 'Thermostat',
  contents: [{ '@type': 'Telemetry', name: 'temperature', schema: 'double' }],
};
const CONTROLLER = {
  '@context': CONTEXT,
  '@id': 'dtmi:com:example:TemperatureController;2',
  '@type': 'Interface',
  contents: [
    { '@type': 'Component', name: 'thermostat1', schema: 'dtmi:com:example:Thermostat;1' },
    { '@type': 'Component', name: 'deviceInformation', schema: 'dtmi:azure:DeviceManagement:DeviceInformation;1' },
    { '@type': 'Property', name: 'serialNumber', schema: 'string' },
  ],
};

describe('templateFromDtdl', () => {
  it('wraps one interface as a template whose id is the model id', () => {
    const { id, body } = templateFromDtdl(JSON.stringify(THERMOSTAT));
    assert.equal(id, THERMOSTAT['@id']);
    assert.deepEqual(body, {
      '@type': ['ModelDefinition', 'DeviceModel'],
      displayName: 'Thermostat',
      capabilityModel: THERMOSTAT,
    });
  });

  it('names a template without a display name after the model', () => {
    const { displayName: _name, ...unnamed } = THERMOSTAT;
    assert.equal(templateFromDtdl(JSON.stringify(unnamed)).body['displayName'], 'Thermostat');
  });

  it('keeps a template export as it is, without its etag', () => {
    const exported = {
      '@id': 'dtmi:plugboard:thermostatTemplate;1',
      '@type': ['ModelDefinition', 'DeviceModel'],
      displayName: 'Exported',
      etag: '"abc"',
      capabilityModel: THERMOSTAT,
    };
    const { id, body } = templateFromDtdl(JSON.stringify(exported));
    assert.equal(id, 'dtmi:plugboard:thermostatTemplate;1');
    assert.equal(body['etag'], undefined);
    assert.deepEqual(body['capabilityModel'], THERMOSTAT);
  });

  it('inlines the components a list carries under its one root, leaving the others for the server', () => {
    const { id, body } = templateFromDtdl(JSON.stringify([THERMOSTAT, CONTROLLER]));
    assert.equal(id, CONTROLLER['@id']);
    const contents = (body['capabilityModel'] as { contents: { name: string; schema: unknown }[] }).contents;
    const { '@context': _context, ...inlined } = THERMOSTAT;
    assert.deepEqual(contents[0]?.schema, inlined);
    assert.equal(contents[1]?.schema, 'dtmi:azure:DeviceManagement:DeviceInformation;1');
  });

  for (const [why, text, reason] of [
    ['not JSON', '{"@id": ', /not JSON/],
    ['no DTMI', JSON.stringify({ ...THERMOSTAT, '@id': 'thermostat' }), /DTMI/],
    ['not DTDL', JSON.stringify({ hello: 'world' }), /neither a DTDL Interface/],
    ['an empty list', '[]', /no DTDL Interface/],
    [
      'two roots',
      JSON.stringify([THERMOSTAT, { ...THERMOSTAT, '@id': 'dtmi:com:example:Other;1' }]),
      /one root interface.*2/,
    ],
  ] as const) {
    it(`refuses ${why} with the reason`, () => {
      assert.throws(
        () => templateFromDtdl(text),
        (error: unknown) => error instanceof TemplateImportError && reason.test(error.message),
      );
    });
  }
});
