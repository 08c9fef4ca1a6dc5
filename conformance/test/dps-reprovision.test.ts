/**
 * Reprovisioning: initial twin, moving a device to another hub with its data migrated or reset, and the
 * stale identity disabled on the hub it left (protocol.md §3.1 substatus, §7.6).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { deriveDeviceKey } from '@plugboard/protocol';
import type { Hub, JsonObject } from '@plugboard/server';
import { dpsToken, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { Client } = deviceSdk;
const { Mqtt } = mqttTransport;

const KEY = 'cmVwcm92aXNpb25rZXlyZXByb3Zpc2lvbmtleTEyMzQ=';
let platform: TestPlatform;
let hub1: Hub;
let hub2: Hub;

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  [hub1, hub2] = platform.hubs as [Hub, Hub];
});
after(async () => {
  await platform?.dispose();
});

async function register(registrationId: string): Promise<void> {
  const deviceKey = await deriveDeviceKey(KEY, registrationId);
  await platform.dps.register({
    idScope: platform.dps.idScope,
    registrationId,
    credentials: { token: await dpsToken(platform.dps.idScope, registrationId, deviceKey) },
    body: { registrationId },
  });
}

/** The device reports a property through its hub with the official SDK. */
async function report(hub: Hub, deviceId: string, patch: JsonObject): Promise<void> {
  const key = await deriveDeviceKey(KEY, deviceId);
  const client = Client.fromConnectionString(
    `HostName=${hub.hostName};DeviceId=${deviceId};SharedAccessKey=${key}`,
    Mqtt,
  );
  await withTimeout(client.open(), 15_000, 'open');
  try {
    const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update(patch, (err?: Error) => (err ? reject(err) : resolve())),
    );
  } finally {
    await client.close();
  }
}

function properties(hub: Hub, deviceId: string) {
  return hub.getTwin({ deviceId }) as { tags: JsonObject; properties: { desired: JsonObject; reported: JsonObject } };
}

describe('DPS reprovisioning', () => {
  for (const migrate of [true, false]) {
    it(`[DPS: reprovision] moving to another hub ${migrate ? 'migrates' : 'resets'} the twin and disables the old identity`, async () => {
      const group = `move-${migrate}`;
      const id = `mover-${migrate}`;
      await platform.dps.putEnrollmentGroup(group, {
        attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: KEY, secondaryKey: KEY } },
        allocationPolicy: 'static',
        staticHub: hub1.name,
        initialTwin: { tags: { site: 'north' }, properties: { desired: { interval: 5 } } },
        reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: migrate },
      });
      // Only one group may prove this device: the others use other keys.
      for (const other of platform.dps.listEnrollmentGroups()) {
        if (other.enrollmentGroupId !== group) await platform.dps.deleteEnrollmentGroup(other.enrollmentGroupId);
      }
      await register(id);
      assert.equal(platform.dps.getRegistration(id).hub, hub1.name);
      const initial = properties(hub1, id);
      assert.equal(initial.tags['site'], 'north', 'the initial twin is applied');
      assert.equal(initial.properties.desired['interval'], 5);
      await report(hub1, id, { firmware: '1.0' });

      await platform.dps.putEnrollmentGroup(group, { staticHub: hub2.name }, '*');
      await register(id);
      const record = platform.dps.getRegistration(id);
      assert.equal(record.hub, hub2.name);
      assert.equal(record.substatus, migrate ? 'deviceDataMigrated' : 'deviceDataReset');
      const moved = properties(hub2, id);
      if (migrate) {
        assert.equal(moved.properties.reported['firmware'], '1.0', 'reported properties moved along');
        assert.equal(moved.tags['site'], 'north');
      } else {
        assert.equal(moved.properties.reported['firmware'], undefined, 'the twin starts again from the initial twin');
        assert.equal(moved.properties.desired['interval'], 5);
      }
      const stale = hub1.getIdentity({ deviceId: id }).record;
      assert.equal(stale.status, 'disabled', 'the identity on the old hub is disabled');
      // The device now works on its new hub.
      await report(hub2, id, { firmware: '1.1' });
      assert.equal(properties(hub2, id).properties.reported['firmware'], '1.1');
    });
  }

  it('[DPS: reprovision] with updateHubAssignment false the device stays on its hub', async () => {
    const id = 'stayer';
    await platform.dps.putEnrollmentGroup('stay', {
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: KEY, secondaryKey: KEY } },
      allocationPolicy: 'static',
      staticHub: hub1.name,
      reprovisionPolicy: { updateHubAssignment: false, migrateDeviceData: false },
    });
    for (const other of platform.dps.listEnrollmentGroups()) {
      if (other.enrollmentGroupId !== 'stay') await platform.dps.deleteEnrollmentGroup(other.enrollmentGroupId);
    }
    await register(id);
    await platform.dps.putEnrollmentGroup('stay', { staticHub: hub2.name }, '*');
    await register(id);
    assert.equal(platform.dps.getRegistration(id).hub, hub1.name);
    assert.equal(hub2.has({ deviceId: id }), false);
  });

  it('[§7.6] moveDevice fails a device over and back (reprovisionedToInitialAssignment)', async () => {
    const id = 'stayer';
    const over = await platform.dps.moveDevice(id, hub2.name);
    assert.equal(over.hub, hub2.name);
    assert.equal(over.substatus, 'deviceDataMigrated');
    assert.equal(hub1.getIdentity({ deviceId: id }).record.status, 'disabled');
    assert.equal(hub2.getIdentity({ deviceId: id }).record.status, 'enabled');
    const back = await platform.dps.moveDevice(id, hub1.name);
    assert.equal(back.substatus, 'reprovisionedToInitialAssignment');
    assert.equal(hub1.getIdentity({ deviceId: id }).record.status, 'enabled');
    assert.equal(hub2.getIdentity({ deviceId: id }).record.status, 'disabled');
  });
});
