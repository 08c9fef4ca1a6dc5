/**
 * `@plugboard/device` when things go wrong inside the device rather than at the service: closing while
 * telemetry waits for an acknowledgement that is not coming, a command handler whose answer is not JSON,
 * a handler that throws, a connection-state listener that throws, a cached assignment that cannot be
 * saved. Each is contained — the device answers or closes, the process does not crash or hang.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PnpDevice, memoryAssignmentStore, type AssignmentStore, type DeviceError } from '@plugboard/device';
import { centralRequest, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const GROUP_KEY = 'cm9idXN0bmVzc2dyb3Vwa2V5cm9idXN0bmVzc2tleTE=';
const MODEL_ID = 'dtmi:com:example:Thermostat;1';

let platform: TestPlatform;
const devices: PnpDevice[] = [];

function device(registrationId: string, assignmentStore: AssignmentStore = memoryAssignmentStore()): PnpDevice {
  const created = new PnpDevice({
    idScope: platform.dps.idScope,
    registrationId,
    credentials: { groupKey: GROUP_KEY },
    modelId: MODEL_ID,
    provisioningHost: platform.dps.hostName,
    ca: readFileSync(String(process.env['NODE_EXTRA_CA_CERTS']), 'utf8'),
    assignmentStore,
  });
  devices.push(created);
  return created;
}

before(async () => {
  platform = await startTestPlatform({ hubs: 1 });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
});
after(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await platform?.dispose();
});

describe('@plugboard/device contains its own failures', () => {
  it('close() returns while telemetry waits for an acknowledgement the hub holds back; the message is rejected', async () => {
    const stalled = device('robust-stalled');
    await stalled.start();
    const response = await centralRequest(platform, {
      method: 'POST',
      path: '/plugboard/faults',
      body: { condition: 'stall', deviceId: 'robust-stalled', latencyMs: 60_000 },
    });
    assert.equal(response.status, 201, response.text);
    const pending = stalled.sendTelemetry({ temperature: 21 });
    await withTimeout(stalled.close(), 5000, 'close with an unacknowledged message');
    await assert.rejects(pending, (error: DeviceError) => error.code === 'DEVICE_CLOSED');
    await centralRequest(platform, { method: 'DELETE', path: '/plugboard/faults' });
  });

  it('a command answer that is not JSON (a BigInt) is answered 500; a throwing handler 500 with its message', async () => {
    const odd = device('robust-commands');
    odd.onCommand('getMaxMinReport', () => ({ maxTemp: 10n }) as never);
    odd.onCommand('reboot', () => {
      throw new Error('cannot reboot now');
    });
    odd.on('connectionState', () => {
      throw new Error('a careless listener');
    });
    const warnings: DeviceError[] = [];
    odd.on('warning', (warning) => warnings.push(warning));
    await odd.start();
    const hub = platform.hubs[0];
    assert.ok(hub);
    const bigint = await hub.invokeMethod(
      { deviceId: 'robust-commands' },
      { methodName: 'getMaxMinReport', payload: null },
    );
    assert.equal(bigint.status, 500);
    const thrown = await hub.invokeMethod({ deviceId: 'robust-commands' }, { methodName: 'reboot', payload: 5 });
    assert.equal(thrown.status, 500);
    assert.deepEqual(thrown.payload, { message: 'cannot reboot now' });
    assert.ok(warnings.some((w) => /reboot threw/.test(w.message)));
    await odd.sendTelemetry({ temperature: 20 });
  });

  it('a cached assignment that cannot be saved costs a warning, not the connection', async () => {
    const failing: AssignmentStore = {
      load: () => Promise.resolve(undefined),
      save: () => Promise.reject(new Error('EROFS: read-only file system')),
      clear: () => Promise.resolve(),
    };
    const careful = device('robust-store', failing);
    const warnings: DeviceError[] = [];
    careful.on('warning', (warning) => warnings.push(warning));
    await withTimeout(careful.start(), 15_000, 'start with a failing store');
    assert.equal(careful.client.state, 'connected');
    assert.ok(warnings.some((w) => /could not be cached/.test(w.message)));
  });
});
