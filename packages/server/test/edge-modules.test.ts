import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from '@plugboard/dtdl';
import { isEdgeModule, splitEdgeModules } from '../src/central/edge-modules.js';
import type { JsonObject } from '../src/core/model.js';

const CONTEXT = ['dtmi:iotcentral:context;2', 'dtmi:dtdl:context;2'];

function gateway(target: unknown): JsonObject {
  return {
    '@context': CONTEXT,
    '@id': 'dtmi:test:gateway;1',
    '@type': 'Interface',
    contents: [
      { '@type': 'Telemetry', name: 'uptime', schema: 'long' },
      { '@type': ['Relationship', 'EdgeModule'], name: 'filter', displayName: 'Filter', target } as JsonObject,
    ],
  };
}

const FILTER = {
  '@id': 'dtmi:test:filter;1',
  '@type': 'Interface',
  contents: [{ '@type': 'Telemetry', name: 'temperature', schema: 'double' }],
};

describe('edge modules of a Central template', () => {
  it('lifts an inline module interface out as a document of its own, leaving its DTMI as the target', () => {
    const split = splitEdgeModules(gateway([FILTER]), CONTEXT);
    assert.deepEqual(split.modules, [{ name: 'filter', displayName: 'Filter', interfaceId: 'dtmi:test:filter;1' }]);
    assert.deepEqual(split.documents, [{ '@context': CONTEXT, ...FILTER }]);
    const contents = split.capabilityModel['contents'] as JsonObject[];
    assert.equal(contents[1]!['target'], 'dtmi:test:filter;1');
    // What is left is standard DTDL: the parser accepts it and defines the module's interface.
    const parsed = parse([split.capabilityModel, ...split.documents]);
    assert.equal(parsed.ok, true, JSON.stringify(parsed.errors));
    assert.equal(parsed.model?.capability('dtmi:test:filter;1', undefined, 'temperature')?.kind, 'Telemetry');
  });

  it('keeps a target that is already a DTMI, and leaves a model without modules as it was', () => {
    const split = splitEdgeModules(gateway('dtmi:test:filter;1'), CONTEXT);
    assert.deepEqual(split.documents, []);
    assert.equal(split.modules[0]?.interfaceId, 'dtmi:test:filter;1');
    const plain = { '@id': 'dtmi:test:plain;1', '@type': 'Interface', contents: [] };
    assert.equal(splitEdgeModules(plain, CONTEXT).capabilityModel, plain);
  });

  it('refuses a target that is not one interface, naming the module', () => {
    for (const target of [[{ '@type': 'Interface' }], 42, [], [FILTER, 'dtmi:test:other;1'], 'not a dtmi']) {
      assert.throws(() => splitEdgeModules(gateway(target), CONTEXT), /edge module "filter"/i);
    }
  });

  it('recognises only Relationships co-typed EdgeModule', () => {
    assert.equal(isEdgeModule({ '@type': ['Relationship', 'EdgeModule'] }), true);
    assert.equal(isEdgeModule({ '@type': 'Relationship' }), false);
    assert.equal(isEdgeModule({ '@type': ['Relationship', 'GatewayDevice'] }), false);
    assert.equal(isEdgeModule('EdgeModule'), false);
  });
});
