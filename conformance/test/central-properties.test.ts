/**
 * Device properties in the Central application, with an official-SDK TemperatureController device:
 * read-only properties it reports show with their update time; an operator's writable-property update
 * through REST reaches the device as a desired patch with the component marker, and the device's
 * Plug and Play acknowledgement (`{value, ac, av, ad}`, without `__t` as the Node sample sends it) shows
 * as accepted, rejected or device-initialized in `$metadata` (protocol.md §6.3–6.4, §7.7).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type deviceSdk from 'azure-iot-device';
import { connectDevice, modelRepository, provisionDevice, sampleModel } from './central-fixtures.js';
import { centralRequest, eventually, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const CONTROLLER_ID = 'dtmi:com:example:TemperatureController;1';
const TEMPLATE_ID = 'dtmi:plugboard:controllerTemplate;1';
const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';
const GA = 'api-version=2022-07-31';
const DEVICE = 'props-1';

type Twin = Awaited<ReturnType<InstanceType<typeof deviceSdk.Client>['getTwin']>>;

let platform: TestPlatform;
let models: string;
let client: InstanceType<typeof deviceSdk.Client>;
let twin: Twin;
const desiredPatches: Record<string, unknown>[] = [];

before(async () => {
  models = modelRepository();
  platform = await startTestPlatform({ central: { modelRepository: models } });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  const imported = await centralRequest(platform, {
    method: 'PUT',
    path: `/api/deviceTemplates/${TEMPLATE_ID}?${GA}`,
    body: { displayName: 'Temperature controller', capabilityModel: sampleModel('TemperatureController.json') },
  });
  assert.equal(imported.status, 200, imported.text);
  const registration = await provisionDevice(platform, DEVICE, GROUP_KEY, { modelId: CONTROLLER_ID });
  client = await connectDevice(registration, GROUP_KEY, CONTROLLER_ID);
  twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
  twin.on('properties.desired', (patch: Record<string, unknown>) => desiredPatches.push(patch));
});
after(async () => {
  await client?.close();
  await platform?.dispose();
  rmSync(models, { recursive: true, force: true });
});

function report(patch: Record<string, unknown>): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) =>
      twin.properties.reported.update(patch, (error?: Error) => (error ? reject(error) : resolve())),
    ),
    10_000,
    'reported update',
  );
}

async function properties(path = ''): Promise<Record<string, unknown>> {
  const response = await centralRequest(platform, {
    method: 'GET',
    path: `/api/devices/${DEVICE}${path}/properties?${GA}`,
  });
  assert.equal(response.status, 200, response.text);
  return response.body as Record<string, unknown>;
}

function metadataOf(view: Record<string, unknown>, name: string): Record<string, unknown> {
  return ((view['$metadata'] as Record<string, unknown>)[name] ?? {}) as Record<string, unknown>;
}

describe('[Central] device properties', () => {
  it('read-only properties the device reports show with their last update time, root and component', async () => {
    await report({ serialNumber: 'SN-0042', thermostat1: { __t: 'c', maxTempSinceLastReboot: 38.7 } });
    const root = await properties();
    assert.equal(root['serialNumber'], 'SN-0042');
    assert.equal(typeof metadataOf(root, 'serialNumber')['lastUpdateTime'], 'string');
    const thermostat1 = root['thermostat1'] as Record<string, unknown>;
    assert.equal(thermostat1['maxTempSinceLastReboot'], 38.7);
    const component = await properties('/components/thermostat1');
    assert.equal(component['maxTempSinceLastReboot'], 38.7);
    assert.equal('serialNumber' in component, false);
  });

  it('the components of the device template are listed as Central lists them', async () => {
    const response = await centralRequest(platform, { method: 'GET', path: `/api/devices/${DEVICE}/components?${GA}` });
    assert.equal(response.status, 200, response.text);
    const value = (response.body as { value: { '@type': string; name: string }[] }).value;
    assert.deepEqual(value.map((c) => [c['@type'], c.name]).sort(), [
      ['Component', 'deviceInformation'],
      ['Component', 'thermostat1'],
      ['Component', 'thermostat2'],
    ]);
  });

  it('a value the device sets without a desired one (ac 203) shows as device-initialized', async () => {
    await report({ thermostat2: { __t: 'c', targetTemperature: { value: 20, ac: 203, av: 0, ad: 'initialize' } } });
    const view = await properties('/components/thermostat2');
    assert.equal(view['targetTemperature'], 20);
    assert.deepEqual(
      { ...metadataOf(view, 'targetTemperature'), lastUpdateTime: undefined },
      {
        ackCode: 203,
        ackVersion: 0,
        ackDescription: 'initialize',
        syncState: 'deviceInitialized',
        lastUpdateTime: undefined,
      },
    );
  });

  it('a writable property set through REST reaches the device with the component marker; its ack shows accepted', async () => {
    const updated = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/${DEVICE}/components/thermostat1/properties?${GA}`,
      body: { targetTemperature: 22.5 },
    });
    assert.equal(updated.status, 200, updated.text);
    const pending = metadataOf(updated.body as Record<string, unknown>, 'targetTemperature');
    assert.equal(pending['desiredValue'], 22.5);
    assert.equal(pending['syncState'], 'pending');
    const version = pending['desiredVersion'];
    assert.equal(typeof version, 'number');
    const patch = await eventually(() =>
      desiredPatches.find(
        (p) => (p['thermostat1'] as { targetTemperature?: number } | undefined)?.targetTemperature === 22.5,
      ),
    );
    assert.deepEqual(patch['thermostat1'], { __t: 'c', targetTemperature: 22.5 });
    assert.equal(patch['$version'], version);
    // The Node sample's acknowledgement: no `__t`.
    await report({
      thermostat1: { targetTemperature: { value: 22.5, ac: 200, av: version, ad: 'Successfully executed patch' } },
    });
    const view = await properties('/components/thermostat1');
    assert.equal(view['targetTemperature'], 22.5);
    assert.deepEqual(
      { ...metadataOf(view, 'targetTemperature'), lastUpdateTime: undefined },
      {
        desiredValue: 22.5,
        desiredVersion: version,
        ackCode: 200,
        ackVersion: version,
        ackDescription: 'Successfully executed patch',
        syncState: 'accepted',
        lastUpdateTime: undefined,
      },
    );
  });

  it('a device that answers ac 400 shows the update rejected, with the value it kept', async () => {
    const updated = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/${DEVICE}/properties?${GA}`,
      body: { thermostat1: { targetTemperature: 99 } },
    });
    assert.equal(updated.status, 200, updated.text);
    const version = metadataOf(
      (updated.body as Record<string, Record<string, unknown>>)['thermostat1']!,
      'targetTemperature',
    )['desiredVersion'];
    await eventually(() =>
      desiredPatches.find(
        (p) => (p['thermostat1'] as { targetTemperature?: number } | undefined)?.targetTemperature === 99,
      ),
    );
    await report({ thermostat1: { targetTemperature: { value: 22.5, ac: 400, av: version, ad: 'out of range' } } });
    const view = await properties('/components/thermostat1');
    assert.equal(view['targetTemperature'], 22.5, 'the value in use');
    const meta = metadataOf(view, 'targetTemperature');
    assert.equal(meta['desiredValue'], 99);
    assert.equal(meta['syncState'], 'rejected');
    assert.equal(meta['ackDescription'], 'out of range');
  });

  it('updates the template does not allow are refused with the reason and change nothing', async () => {
    const before = platform.hubs[0]!.getTwin({ deviceId: DEVICE });
    const cases: [string, unknown, number, RegExp][] = [
      [
        '/components/thermostat1',
        { targetTemperature: 'warm' },
        400,
        /thermostat1\.targetTemperature: expected double/,
      ],
      ['/components/thermostat1', { maxTempSinceLastReboot: 1 }, 400, /is not writable/],
      ['', { serialNumber: 'x' }, 400, /serialNumber: is not writable/],
      ['', { colour: 'red' }, 400, /colour: the template defines no such property/],
      ['/components/nothing', { targetTemperature: 1 }, 404, /no component nothing/],
      ['', [1, 2], 400, /JSON object/],
    ];
    for (const [scope, body, status, message] of cases) {
      const response = await centralRequest(platform, {
        method: 'PATCH',
        path: `/api/devices/${DEVICE}${scope}/properties?${GA}`,
        body,
      });
      assert.equal(response.status, status, `${JSON.stringify(body)}: ${response.text}`);
      assert.match((response.body as { error: { message: string } }).error.message, message);
    }
    assert.deepEqual(platform.hubs[0]!.getTwin({ deviceId: DEVICE }), before);
  });

  it('properties set before the device provisions are kept and reach it as its first desired patch', async () => {
    await centralRequest(platform, {
      method: 'PUT',
      path: `/api/devices/not-yet-1?${GA}`,
      body: { template: TEMPLATE_ID },
    });
    const early = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/not-yet-1/components/thermostat1/properties?${GA}`,
      body: { targetTemperature: 20 },
    });
    assert.equal(early.status, 200, early.text);
    const meta = metadataOf(early.body as Record<string, unknown>, 'targetTemperature');
    assert.equal(meta['desiredValue'], 20);
    assert.equal(meta['syncState'], 'pending');
    const registration = await provisionDevice(platform, 'not-yet-1', GROUP_KEY);
    const late = await connectDevice(registration, GROUP_KEY);
    try {
      const lateTwin = await withTimeout(late.getTwin(), 10_000, 'getTwin');
      const desired = lateTwin.properties.desired as unknown as Record<string, unknown>;
      assert.deepEqual(desired['thermostat1'], { __t: 'c', targetTemperature: 20 });
      const view = await centralRequest(platform, {
        method: 'GET',
        path: `/api/devices/not-yet-1/components/thermostat1/properties?${GA}`,
      });
      const after = metadataOf(view.body as Record<string, unknown>, 'targetTemperature');
      assert.equal(typeof after['desiredVersion'], 'number', 'now a desired property of the twin');
      assert.equal(after['syncState'], 'pending');
    } finally {
      await late.close();
    }
  });
});
