import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  createDmrResolver,
  createMemoryResolver,
  DtdlError,
  parseWithResolver,
  type DtmiResolver,
} from '../src/index.js';
import { corporaDir, readJsonFile } from './corpus.js';

const samples = join(corporaDir, 'dtdl-spec', 'v2', 'samples');
const thermostat = JSON.stringify(readJsonFile(join(samples, 'Thermostat.json')));
const controller = JSON.stringify(readJsonFile(join(samples, 'TemperatureController.json')));
const deviceInfo = JSON.stringify({
  '@context': 'dtmi:dtdl:context;2',
  '@id': 'dtmi:azure:DeviceManagement:DeviceInformation;1',
  '@type': 'Interface',
  contents: [{ '@type': 'Property', name: 'manufacturer', schema: 'string' }],
});

describe('resolver', () => {
  it('fetches component schemas from memory until the model is closed', async () => {
    const asked: string[][] = [];
    const memory = createMemoryResolver([thermostat, deviceInfo]);
    const resolver: DtmiResolver = (dtmis, o) => {
      asked.push([...dtmis]);
      return memory(dtmis, o);
    };
    const r = await parseWithResolver([controller], { resolver });
    assert.deepEqual(r.errors, []);
    assert.equal(r.ok, true);
    assert.deepEqual(asked, [['dtmi:azure:DeviceManagement:DeviceInformation;1', 'dtmi:com:example:Thermostat;1']]);
    assert.equal(
      r.model?.capability('dtmi:com:example:TemperatureController;1', 'thermostat2', 'getMaxMinReport')?.kind,
      'Command',
    );
  });

  it('reports what the resolver cannot supply as unresolved (not as errors)', async () => {
    const r = await parseWithResolver([controller], { resolver: createMemoryResolver([thermostat]) });
    assert.equal(r.ok, false);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.unresolved, ['dtmi:azure:DeviceManagement:DeviceInformation;1']);
  });

  it('[DMR] reads the repository layout, preferring .expanded.json and skipping models it already has', async () => {
    const expanded = JSON.stringify([JSON.parse(thermostat), JSON.parse(deviceInfo)]);
    const files = new Map([
      ['dtmi/com/example/thermostat-1.expanded.json', expanded],
      ['dtmi/azure/devicemanagement/deviceinformation-1.json', deviceInfo],
    ]);
    const reads: string[] = [];
    const resolver = createDmrResolver({
      expanded: true,
      read: (path) => {
        reads.push(path);
        return Promise.resolve(files.get(path));
      },
    });
    const r = await parseWithResolver([controller], { resolver });
    assert.deepEqual(r.errors, []);
    assert.equal(r.ok, true);
    assert.ok(reads.includes('dtmi/com/example/thermostat-1.expanded.json'));
  });

  it('gives up with DTDL_ABORTED when the resolver never answers (timeout)', async () => {
    const never: DtmiResolver = () => new Promise(() => {});
    const t0 = Date.now();
    await assert.rejects(
      parseWithResolver([controller], { resolver: never, timeoutMs: 100 }),
      (e: unknown) => e instanceof DtdlError && e.code === 'DTDL_ABORTED' && /timed out/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 5_000);
  });

  it('gives up with DTDL_ABORTED when the caller aborts', async () => {
    const ac = new AbortController();
    const never: DtmiResolver = () => {
      ac.abort();
      return new Promise(() => {});
    };
    await assert.rejects(
      parseWithResolver([controller], { resolver: never, signal: ac.signal }),
      (e: unknown) => e instanceof DtdlError && e.code === 'DTDL_ABORTED',
    );
  });

  it('passes resolver failures through', async () => {
    const failing: DtmiResolver = () => Promise.reject(new Error('disk on fire'));
    await assert.rejects(parseWithResolver([controller], { resolver: failing }), /disk on fire/);
  });
});
