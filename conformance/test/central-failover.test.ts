/**
 * Manual failover and failback (protocol.md §7.6) with an official-SDK device written as the IoT
 * Central high-availability samples write one: a retry policy that stops on "Server unavailable" and a
 * disconnect handler that provisions again through DPS. Failing the device over moves it to the other
 * hub — its live connection drops, the old hub refuses it, DPS gives it the new hub — with its twin;
 * there its telemetry is stored and its commands answered; failback, or the end of the time to live,
 * brings it back the same way. The system routes answer as `az iot central device manual-failover`
 * reads them.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import common from 'azure-iot-common';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { deriveDeviceKey } from '@plugboard/protocol';
import { provisionDevice, sampleModel } from './central-fixtures.js';
import { HighAvailabilityDevice } from './ha-device.js';
import { centralRequest, eventually, runCli, startTestPlatform, type TestPlatform } from './harness.js';

const { NoRetry } = common;
const { Client } = deviceSdk;
const { Mqtt } = mqttTransport;

const TEMPLATE_ID = 'dtmi:plugboard:failoverThermostat;1';
const GROUP_KEY = 'ZmFpbG92ZXJncm91cGtleWZhaWxvdmVyZ3JvdXBrZXk=';
const GA = 'api-version=2022-07-31';

let platform: TestPlatform;
let device: HighAvailabilityDevice;

function system(path: string, body?: unknown, token?: string) {
  return centralRequest(platform, {
    method: 'POST',
    path,
    ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
    ...(token === undefined ? {} : { token }),
  });
}

async function details(deviceId: string): Promise<Record<string, unknown>> {
  const response = await centralRequest(platform, { method: 'GET', path: `/plugboard/devices/${deviceId}` });
  assert.equal(response.status, 200, response.text);
  return response.body as Record<string, unknown>;
}

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  const imported = await centralRequest(platform, {
    method: 'PUT',
    path: `/api/deviceTemplates/${TEMPLATE_ID}?${GA}`,
    body: { displayName: 'Thermostat', capabilityModel: sampleModel('Thermostat.json') },
  });
  assert.equal(imported.status, 200, imported.text);
  device = new HighAvailabilityDevice(platform, 'ha-device-1', GROUP_KEY);
  await device.connect();
});
after(async () => {
  await device?.stop();
  await platform?.dispose();
});

describe('[Central] manual failover and failback', () => {
  it('a failed-over device reprovisions to the other hub with its twin; telemetry and commands work there', async () => {
    const original = device.hubs[0]!;
    const set = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/${device.deviceId}/properties?${GA}`,
      body: { targetTemperature: 24.5 },
    });
    assert.equal(set.status, 200, set.text);
    await eventually(
      async () => {
        const view = await centralRequest(platform, {
          method: 'GET',
          path: `/api/devices/${device.deviceId}/properties?${GA}`,
        });
        const meta = (view.body as { $metadata: Record<string, { syncState?: string }> }).$metadata;
        return meta['targetTemperature']?.syncState === 'accepted' ? true : undefined;
      },
      10_000,
      'the acknowledged property',
    );

    const answer = await system(`/system/iothub/devices/${device.deviceId}/manual-failover`, { ttl: 30 });
    assert.equal(answer.status, 200, answer.text);
    const body = answer.body as { hubIdentifier: string; message: string };
    assert.match(body.hubIdentifier, /^[0-9a-f]{64}$/);
    assert.match(body.message, /will revert to its original hub at \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT/);

    const moved = await device.movedFrom(1);
    assert.notEqual(moved, original, 'DPS gave the device the other hub');
    const state = await details(device.deviceId);
    assert.equal((state['registration'] as { substatus: string }).substatus, 'deviceDataMigrated');
    assert.equal(
      (state['failover'] as { originalHub: string }).originalHub,
      platform.hubs.find((h) => h.hostName === original)!.name,
    );
    assert.equal(state['connected'], true);

    // The old hub refuses the device (CONNACK 3, "Server unavailable"), as the samples expect.
    const oldHub = platform.hubs.find((h) => h.hostName === original)!;
    const key = await deriveDeviceKey(GROUP_KEY, device.deviceId);
    const stale = Client.fromConnectionString(
      `HostName=${original};DeviceId=${device.deviceId};SharedAccessKey=${key}`,
      Mqtt,
    );
    stale.setRetryPolicy(new NoRetry() as never);
    await assert.rejects(stale.open(), /Connection refused: Server unavailable/);
    assert.equal(oldHub.getIdentity({ deviceId: device.deviceId }).record.status, 'disabled');

    // The twin came along: the writable value and its acknowledgement are there.
    const view = await centralRequest(platform, {
      method: 'GET',
      path: `/api/devices/${device.deviceId}/properties?${GA}`,
    });
    assert.equal((view.body as Record<string, unknown>)['targetTemperature'], 24.5);

    await device.send({ temperature: 21.25 });
    const last = await eventually(
      async () => {
        const r = await centralRequest(platform, {
          method: 'GET',
          path: `/api/devices/${device.deviceId}/telemetry/temperature?${GA}`,
        });
        return (r.body as { value?: number }).value === 21.25 ? r.body : undefined;
      },
      10_000,
      'telemetry sent on the new hub',
    );
    assert.ok(last);
    const newHub = platform.hubs.find((h) => h.hostName === moved)!;
    assert.equal((await newHub.queryTelemetry({ deviceId: device.deviceId })).length, 1, 'stored on the new hub');

    const command = await centralRequest(platform, {
      method: 'POST',
      path: `/api/devices/${device.deviceId}/commands/getMaxMinReport?${GA}`,
      body: { request: '2026-12-01T00:00:00Z' },
    });
    assert.equal(command.status, 201, command.text);
    assert.equal((command.body as { responseCode: number }).responseCode, 200);
  });

  it('failback returns the device to its original hub at once', async () => {
    const before = device.hubs.length;
    const answer = await system(`/system/iothub/devices/${device.deviceId}/manual-failback`);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(
      (answer.body as { message: string }).message,
      'Device has successfully failed back to its original hub',
    );
    assert.equal(await device.movedFrom(before), device.hubs[0]);
    const state = await details(device.deviceId);
    assert.equal((state['registration'] as { substatus: string }).substatus, 'reprovisionedToInitialAssignment');
    assert.equal(state['failover'], undefined);
  });

  it('after the time to live the device reverts by itself; its next connection reprovisions it back', async () => {
    const before = device.hubs.length;
    // 0.05 minutes: three seconds.
    assert.equal(
      (await system(`/system/iothub/devices/${device.deviceId}/manual-failover`, { ttl: 0.05 })).status,
      200,
    );
    assert.notEqual(await device.movedFrom(before), device.hubs[0]);
    assert.equal(await device.movedFrom(before + 1), device.hubs[0], 'back on the original hub');
    assert.equal((await details(device.deviceId))['failover'], undefined);
  });

  it('the CLI runs failover and failback as az does (--ttl-minutes)', async () => {
    writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
    const cli = async (...args: string[]): Promise<Record<string, unknown>> =>
      JSON.parse(await runCli(...args, '--data-dir', platform.dataDir, '--json')) as Record<string, unknown>;
    const before = device.hubs.length;
    const over = await cli('device', 'manual-failover', '--device-id', device.deviceId, '--ttl-minutes', '30');
    assert.match(String(over['message']), /being failed over/);
    await device.movedFrom(before);
    const info = await cli('device', 'registration-info', '--device-id', device.deviceId);
    assert.equal(info['@device_id'], device.deviceId);
    assert.equal((info['device_registration_info'] as { device_status: string }).device_status, 'provisioned');
    const dps = info['dps_state'] as { status: string; error: string; assignedHub: string; substatus: string };
    assert.equal(dps.status, 'assigned');
    assert.equal(dps.error, 'None.');
    assert.equal(dps.substatus, 'deviceDataMigrated');
    assert.equal(dps.assignedHub, device.hubs[device.hubs.length - 1]);
    assert.equal(typeof (info['failover'] as { revertAt: string }).revertAt, 'string');
    const back = await cli('device', 'manual-failback', '--device-id', device.deviceId);
    assert.match(String(back['message']), /failed back/);
    await device.movedFrom(before + 1);
  });

  it('refusals: unknown device, bad ttl, failback without failover, an operator-only token, a device not provisioned', async () => {
    const id = device.deviceId;
    assert.equal((await system('/system/iothub/devices/nobody/manual-failover', {})).status, 404);
    for (const ttl of [0, -1, 31, 'ten', null]) {
      const r = await system(`/system/iothub/devices/${id}/manual-failover`, { ttl });
      assert.equal(r.status, 400, `ttl ${JSON.stringify(ttl)}: ${r.text}`);
    }
    assert.equal((await system(`/system/iothub/devices/${id}/manual-failover`, { ttl: 5, extra: 1 })).status, 400);
    assert.equal((await system(`/system/iothub/devices/${id}/manual-failback`)).status, 409);
    assert.equal(
      (await system(`/system/iothub/devices/${id}/manual-failover`, {}, 'SharedAccessSignature sr=x&sig=y&skn=z&se=1'))
        .status,
      401,
    );
    const created = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/devices/never-connected?${GA}`,
      body: { displayName: 'n' },
    });
    assert.equal(created.status, 200, created.text);
    assert.equal((await system('/system/iothub/devices/never-connected/manual-failover', {})).status, 409);
  });
});

describe('[Central] the other system routes az calls', () => {
  it("get-twin answers the device twin as its hub has it; generateEventSasTokens gives each hub's built-in endpoint", async () => {
    const twin = await centralRequest(platform, {
      method: 'GET',
      path: `/system/iothub/devices/${device.deviceId}/get-twin?extendedInfo=true`,
    });
    assert.equal(twin.status, 200, twin.text);
    const body = twin.body as {
      deviceId: string;
      properties: { desired: Record<string, unknown>; reported: Record<string, unknown> };
    };
    assert.equal(body.deviceId, device.deviceId);
    assert.equal(body.properties.desired['targetTemperature'], 24.5);
    assert.equal(typeof body.properties.reported['$version'], 'number');
    const missing = await centralRequest(platform, {
      method: 'GET',
      path: '/system/iothub/devices/never-connected/get-twin',
    });
    assert.equal(missing.status, 404);
    const tokens = await system('/system/iothubs/generateEventSasTokens');
    assert.equal(tokens.status, 200, tokens.text);
    const values = Object.values(
      tokens.body as Record<string, { expiry: number; eventhubSasToken: Record<string, string> }>,
    );
    assert.deepEqual(
      values.map((v) => v.eventhubSasToken['entityPath']).sort(),
      platform.hubs.map((h) => h.name).sort(),
    );
    for (const value of values) {
      const hub = platform.hubs.find((h) => h.name === value.eventhubSasToken['entityPath']);
      assert.equal(value.eventhubSasToken['hostname'], `sb://${hub?.hostName}/`);
      assert.match(value.eventhubSasToken['sasToken'] ?? '', /^SharedAccessSignature sr=sb%3A%2F%2F.+&skn=service$/);
      assert.ok(value.expiry > Date.now() / 1000);
    }
  });
});

describe('[Central] failover in a single-hub application', () => {
  it('is refused with a conflict that says why', async () => {
    const single = await startTestPlatform();
    try {
      await single.dps.putEnrollmentGroup('SAS-IoT-Devices', {
        attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
      });
      await provisionDevice(single, 'lonely', GROUP_KEY);
      const r = await centralRequest(single, {
        method: 'POST',
        path: '/system/iothub/devices/lonely/manual-failover',
        body: {},
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 409, r.text);
      assert.match((r.body as { error: { message: string } }).error.message, /single IoT hub/);
    } finally {
      await single.dispose();
    }
  });
});

describe('[Central] failover across a restart', () => {
  it('a pending revert is kept; one that fell due while the platform was down happens at start', async () => {
    let two = await startTestPlatform({ hubs: 2 });
    try {
      await two.dps.putEnrollmentGroup('SAS-IoT-Devices', {
        attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
      });
      for (const id of ['kept-1', 'due-1']) await provisionDevice(two, id, GROUP_KEY);
      const initial = (id: string): string => two.dps.getRegistration(id).initialHub;
      const fail = (id: string, ttl: number) =>
        centralRequest(two, {
          method: 'POST',
          path: `/system/iothub/devices/${id}/manual-failover`,
          body: { ttl },
          headers: { 'content-type': 'application/json' },
        });
      assert.equal((await fail('kept-1', 30)).status, 200);
      assert.equal((await fail('due-1', 0.01)).status, 200);
      const kept = two.central.failover.state('kept-1')!;
      const dataDir = two.dataDir;
      await two.close();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      two = await startTestPlatform({ hubs: 2, dataDir });
      assert.deepEqual(two.central.failover.state('kept-1'), kept);
      assert.notEqual(two.dps.getRegistration('kept-1').hub, initial('kept-1'));
      await eventually(
        () => (two.dps.getRegistration('due-1').hub === initial('due-1') ? true : undefined),
        5000,
        'the due revert',
      );
      assert.equal(two.central.failover.state('due-1'), undefined);
      assert.equal(two.dps.getRegistration('due-1').substatus, 'reprovisionedToInitialAssignment');
    } finally {
      await two.dispose();
    }
  });
});
