/**
 * Cloud-to-device messages ("offline commands") and module identities with the official SDKs.
 * protocol.md §1.6, §1.9.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import serviceSdk from 'azure-iothub';
import type { Hub } from '@plugboard/server';
import { eventually, hubRequest, onlyHub, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { Client, Message, ModuleClient } = deviceSdk;
const { Mqtt, MqttWs } = mqttTransport;
const { Client: ServiceClient, Registry } = serviceSdk;

type DeviceMessage = InstanceType<typeof Message>;

let platform: TestPlatform;
let hub: Hub;

before(async () => {
  platform = await startTestPlatform();
  hub = onlyHub(platform);
});
after(async () => {
  await platform?.dispose();
});

async function sendC2d(deviceId: string, body: string, headers: Record<string, string>): Promise<void> {
  const res = await hubRequest(platform, hub, {
    method: 'POST',
    path: `/plugboard/devices/${encodeURIComponent(deviceId)}/messages/deviceBound`,
    body: Buffer.from(body),
    headers: { 'content-type': 'application/octet-stream', ...headers },
  });
  assert.equal(res.status, 201, res.text);
}

for (const [name, transport] of [
  ['Mqtt', Mqtt],
  ['MqttWs', MqttWs],
] as const) {
  describe(`C2D with the official device SDK over ${name}`, () => {
    it('[§1.6] a message sent while the device is offline is delivered after it reconnects, with its properties', async () => {
      const deviceId = `c2d-offline-${name}`;
      await hub.createIdentity({ deviceId });
      const connectionString = hub.deviceConnectionString({ deviceId });

      // First connection: the device subscribes to C2D (persistent session), then goes offline.
      const first = Client.fromConnectionString(connectionString, transport);
      first.on('message', () => undefined);
      await withTimeout(first.open(), 15_000, 'open');
      await eventually(() => (hub.getSession(deviceId)?.length ? true : undefined), 10_000, 'the C2D subscription');
      await first.close();
      await eventually(() => (hub.isConnected({ deviceId }) ? undefined : true), 10_000, 'the disconnect');

      await sendC2d(deviceId, 'offline command', {
        'iothub-messageid': 'm-offline',
        'iothub-correlationid': 'corr-1',
        'iothub-ack': 'full',
        'iothub-app-method-name': 'reboot',
        'iothub-app-path': 'a/b&c=d e',
      });
      assert.equal(hub.c2dQueueLength({ deviceId }), 1);

      // The device comes back (a new process: a new client object).
      const second = Client.fromConnectionString(connectionString, transport);
      const received = new Promise<DeviceMessage>((resolve) => second.on('message', (m: DeviceMessage) => resolve(m)));
      await withTimeout(second.open(), 15_000, 'reopen');
      try {
        const message = await withTimeout(received, 10_000, 'C2D delivery');
        assert.equal(message.data.toString(), 'offline command');
        assert.equal(message.messageId, 'm-offline');
        assert.equal(message.correlationId, 'corr-1');
        assert.equal(message.properties.getValue('method-name'), 'reboot');
        assert.equal(message.properties.getValue('path'), 'a/b&c=d e', '[§0.1 trap 10] values are percent-encoded');
        assert.equal(message.properties.getValue('iothub-ack'), 'full');
        // PUBACK completes the message: the queue empties and a feedback record is written (ack=full).
        await eventually(() => (hub.c2dQueueLength({ deviceId }) === 0 ? true : undefined), 10_000, 'completion');
        const feedback = await eventually(async () => {
          const res = await hubRequest(platform, hub, { method: 'GET', path: '/plugboard/feedback' });
          const value = (res.body as { value: { originalMessageId: string; statusCode: string }[] }).value;
          return value.find((f) => f.originalMessageId === 'm-offline');
        });
        assert.equal(feedback.statusCode, 'Success');
      } finally {
        await second.close();
      }
    });
  });
}

describe('C2D queue limits', () => {
  it('[§4.3] a device queue holds at most 50 messages; the 51st is refused with 403004', async () => {
    const deviceId = 'c2d-full';
    await hub.createIdentity({ deviceId });
    for (let i = 0; i < 50; i++) await sendC2d(deviceId, `m${i}`, {});
    const res = await hubRequest(platform, hub, {
      method: 'POST',
      path: `/plugboard/devices/${deviceId}/messages/deviceBound`,
      body: Buffer.from('one too many'),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(res.status, 403);
    assert.equal(res.headers['iothub-errorcode'], 'DeviceMaximumQueueDepthExceeded');
    assert.equal(hub.c2dQueueLength({ deviceId }), 50);
  });
});

describe('module identity with the official ModuleClient', () => {
  it('[§1.9] telemetry, twin (get, reported, desired) and a direct method work for a module', async () => {
    const deviceId = 'edge-device';
    const moduleId = 'module-a';
    await hub.createIdentity({ deviceId });
    await hub.createIdentity({ deviceId, moduleId });
    const client = ModuleClient.fromConnectionString(hub.deviceConnectionString({ deviceId, moduleId }), Mqtt);
    await withTimeout(client.open(), 15_000, 'open');
    try {
      const message = new Message('{"level":3}');
      message.properties.add('kind', 'module');
      await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
      const [record] = await hub.queryTelemetry({ deviceId, moduleId });
      assert.ok(record);
      assert.equal(record.moduleId, moduleId);
      assert.equal(record.systemProperties['iothub-connection-module-id'], moduleId);
      assert.equal(record.properties['kind'], 'module');

      const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
      await new Promise<void>((resolve, reject) =>
        twin.properties.reported.update({ health: 'ok' }, (err?: Error) => (err ? reject(err) : resolve())),
      );
      const registry = Registry.fromConnectionString(hub.serviceConnectionString());
      const moduleTwin = (await registry.getModuleTwin(deviceId, moduleId)).responseBody;
      assert.equal(moduleTwin.properties.reported['health'], 'ok');
      assert.equal(moduleTwin.moduleId, moduleId);

      const desired = new Promise<Record<string, unknown>>((resolve) =>
        twin.on('properties.desired', (d: Record<string, unknown>) => {
          if (d['interval'] !== undefined) resolve(d);
        }),
      );
      await eventually(
        () => (hub.getSession(`${deviceId}/${moduleId}`)?.some((s) => s.topic.includes('desired')) ? true : undefined),
        10_000,
        'the desired subscription',
      );
      await registry.updateModuleTwin(deviceId, moduleId, { properties: { desired: { interval: 5 } } }, '*');
      assert.equal((await withTimeout(desired, 10_000, 'desired patch'))['interval'], 5);

      client.onMethod('getLevel', (req, res) => void res?.send(200, { level: 3, asked: req?.payload }));
      const service = ServiceClient.fromConnectionString(hub.serviceConnectionString());
      const result = await eventually(async () => {
        try {
          return await service.invokeDeviceMethod(deviceId, moduleId, {
            methodName: 'getLevel',
            payload: 'now',
            responseTimeoutInSeconds: 10,
          });
        } catch {
          return undefined;
        }
      });
      assert.equal(result.result.status, 200);
      assert.deepEqual(result.result.payload, { level: 3, asked: 'now' });
      // The device itself has no telemetry: the module's is its own.
      assert.equal(
        (await hub.queryTelemetry({ deviceId })).every((r) => r.moduleId === moduleId),
        true,
      );
    } finally {
      await client.close();
    }
  });
});

describe('direct method failures', () => {
  it('[§9.3] 404103 DeviceNotOnline when the device is not connected; 504101 when it does not answer', async () => {
    const deviceId = 'method-errors';
    await hub.createIdentity({ deviceId });
    const offline = await hubRequest(platform, hub, {
      method: 'POST',
      path: `/twins/${deviceId}/methods?api-version=2021-04-12`,
      body: { methodName: 'reboot', payload: null, responseTimeoutInSeconds: 5, connectTimeoutInSeconds: 0 },
    });
    assert.equal(offline.status, 404);
    assert.equal(offline.headers['iothub-errorcode'], 'DeviceNotOnline');

    const client = Client.fromConnectionString(hub.deviceConnectionString({ deviceId }), Mqtt);
    await withTimeout(client.open(), 15_000, 'open');
    try {
      client.onDeviceMethod('slow', () => undefined); // never answers
      await eventually(() =>
        hub.getSession(deviceId)?.some((s) => s.topic.startsWith('$iothub/methods')) ? true : undefined,
      );
      const timedOut = await hubRequest(platform, hub, {
        method: 'POST',
        path: `/twins/${deviceId}/methods?api-version=2021-04-12`,
        body: { methodName: 'slow', payload: { a: 1 }, responseTimeoutInSeconds: 1 },
      });
      assert.equal(timedOut.status, 504);
      assert.match(JSON.stringify(timedOut.body), /504101|GatewayTimeout/);
    } finally {
      await client.close();
    }
  });
});
