/**
 * The persistent-session traps of protocol.md §0.1 (trap 1) and §1.3, with the unmodified device SDK:
 * after a forced disconnect it re-subscribes only C2D and methods, and after a SAS renewal it re-subscribes
 * nothing — twin GET/PATCH and desired notifications must keep working from the stored session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import serviceSdk from 'azure-iothub';
import type { Hub, HubEvent } from '@plugboard/server';
import { eventually, onlyHub, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { Client } = deviceSdk;
const { Mqtt } = mqttTransport;
const { Client: ServiceClient, Registry } = serviceSdk;

type DeviceClient = InstanceType<typeof Client>;
type Twin = Awaited<ReturnType<DeviceClient['getTwin']>>;

let platform: TestPlatform;
let hub: Hub;

before(async () => {
  platform = await startTestPlatform();
  hub = onlyHub(platform);
});
after(async () => {
  await platform?.dispose();
});

/** Counts `connected` events for a device. */
function connectionCounter(deviceId: string): { count: () => number; stop: () => void } {
  let n = 0;
  const stop = hub.events.subscribe((e: HubEvent) => {
    if (e.type === 'connected' && e.identity.deviceId === deviceId) n += 1;
  });
  return { count: () => n, stop };
}

/** A device with every feature enabled, as a Plug and Play device would have. */
async function fullDevice(deviceId: string, options: Record<string, unknown> = {}) {
  await hub.createIdentity({ deviceId });
  const client: DeviceClient = Client.fromConnectionString(hub.deviceConnectionString({ deviceId }), Mqtt);
  await client.setOptions(options);
  client.on('message', () => undefined);
  client.on('error', () => undefined);
  await withTimeout(client.open(), 15_000, 'open');
  client.onDeviceMethod('ping', (_req, res) => void res.send(200, { pong: true }));
  const twin: Twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
  const desired: Record<string, unknown>[] = [];
  twin.on('properties.desired', (delta: Record<string, unknown>) => desired.push(delta));
  await eventually(
    () =>
      hub.getSession(deviceId)?.some((s) => s.topic === '$iothub/twin/PATCH/properties/desired/#') ? true : undefined,
    10_000,
    'the desired-properties subscription',
  );
  return { client, twin, desired };
}

/** Twin GET, reported PATCH, desired notification and a method call all work now. */
async function assertAllFeaturesWork(
  deviceId: string,
  device: { client: DeviceClient; twin: Twin; desired: Record<string, unknown>[] },
  round: number,
): Promise<void> {
  const fresh = await withTimeout(device.client.getTwin(), 10_000, `getTwin after round ${round}`);
  assert.ok(fresh.properties.desired.$version >= 1);
  await withTimeout(
    new Promise<void>((resolve, reject) =>
      device.twin.properties.reported.update({ round }, (err?: Error) => (err ? reject(err) : resolve())),
    ),
    10_000,
    `reported patch after round ${round}`,
  );
  assert.equal(hub.getTwin({ deviceId })['properties'] !== undefined, true);
  const reported = (hub.getTwin({ deviceId })['properties'] as { reported: Record<string, unknown> }).reported;
  assert.equal(reported['round'], round);

  const registry = Registry.fromConnectionString(hub.serviceConnectionString());
  await registry.updateTwin(deviceId, { properties: { desired: { round } } }, '*');
  await eventually(
    () => (device.desired.some((d) => d['round'] === round) ? true : undefined),
    10_000,
    `desired notification after round ${round}`,
  );

  const service = ServiceClient.fromConnectionString(hub.serviceConnectionString());
  const result = await service.invokeDeviceMethod(deviceId, {
    methodName: 'ping',
    payload: null,
    responseTimeoutInSeconds: 10,
  });
  assert.equal(result.result.status, 200);
}

describe('persistent MQTT sessions with the official device SDK', () => {
  it('[§0.1 trap 1][§1.3] after a forced disconnect, twin get/patch and desired notifications still work', async () => {
    const deviceId = 'session-drop';
    const connects = connectionCounter(deviceId);
    const device = await fullDevice(deviceId);
    try {
      await assertAllFeaturesWork(deviceId, device, 1);
      assert.equal(connects.count(), 1);
      assert.equal(hub.dropConnections({ deviceId }, 'test: network failure'), 1);
      await eventually(
        () => (connects.count() >= 2 && hub.isConnected({ deviceId }) ? true : undefined),
        20_000,
        'the SDK to reconnect',
      );
      await assertAllFeaturesWork(deviceId, device, 2);
    } finally {
      connects.stop();
      await device.client.close();
    }
  });

  it('[§0.1 trap 1][§2.5] after SAS renewals (no SUBSCRIBE is sent), twin get/patch and desired notifications still work', async () => {
    const deviceId = 'session-renewal';
    const connects = connectionCounter(deviceId);
    // Token valid 6 s, renewed 4 s before expiry: the SDK reconnects with a new token every ~2 s.
    const device = await fullDevice(deviceId, {
      tokenRenewal: { tokenValidTimeInSeconds: 6, tokenRenewalMarginInSeconds: 4 },
    });
    try {
      await eventually(() => (connects.count() >= 3 ? true : undefined), 20_000, 'two token renewals');
      await eventually(() => (hub.isConnected({ deviceId }) ? true : undefined), 10_000, 'the renewed connection');
      await assertAllFeaturesWork(deviceId, device, 1);
      const seen = connects.count();
      await eventually(() => (connects.count() > seen ? true : undefined), 20_000, 'another renewal');
      await eventually(() => (hub.isConnected({ deviceId }) ? true : undefined), 10_000, 'the renewed connection');
      await assertAllFeaturesWork(deviceId, device, 2);
    } finally {
      connects.stop();
      await device.client.close();
    }
  });

  it('[§1.3] a clean=1 connection discards the stored session', async () => {
    const deviceId = 'session-clean';
    const device = await fullDevice(deviceId);
    await device.client.close();
    assert.ok((hub.getSession(deviceId)?.length ?? 0) > 0, 'the persistent session outlives the connection');
    // A clean session (what DPS and other clients use) wipes it.
    const { RawMqtt, deviceToken, mqttUsername } = await import('./harness.js');
    const endpoint = platform.endpoints[0];
    assert.ok(endpoint);
    const raw = await RawMqtt.connect({ host: endpoint.address, ca: platform.tls.caCertificatePem });
    try {
      const connack = await raw.handshake({
        clientId: deviceId,
        username: mqttUsername(hub.hostName, deviceId),
        password: await deviceToken(hub, deviceId),
        clean: true,
      });
      assert.equal(connack.returnCode, 0);
      assert.equal(connack.sessionPresent, false);
      assert.equal(hub.getSession(deviceId), undefined);
    } finally {
      raw.end();
    }
  });
});
