/**
 * The official azure-iot-device + azure-iot-device-amqp packages (the `Amqp` transport over TLS on 5671,
 * SAS through claims-based security and X.509) against a Plugboard hub: telemetry stored as over MQTT,
 * C2D completed / rejected / abandoned, twin GET / reported patch / desired patch, a direct method from
 * azure-iothub, and a SAS renewal on the live connection. protocol.md §5.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqpTransport from 'azure-iot-device-amqp';
import deviceSdk from 'azure-iot-device';
import serviceSdk from 'azure-iothub';
import {
  assertStoredAsSent,
  assertX509DeviceSends,
  sasDeviceClient,
  eventually,
  onlyHub,
  startTestPlatform,
  withTimeout,
  type TestPlatform,
} from './harness.js';

const { Message } = deviceSdk;
const { Amqp, AmqpWs } = amqpTransport;
const { Client: ServiceClient, Registry } = serviceSdk;

type DeviceClient = InstanceType<typeof deviceSdk.Client>;
type Received = InstanceType<typeof Message>;

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform();
});
after(async () => {
  await platform?.dispose();
});

const hub = () => onlyHub(platform);

const sasClient = (deviceId: string): Promise<DeviceClient> => sasDeviceClient(hub(), deviceId, Amqp);

/** The example message of every transport's test (see assertStoredAsSent). */
function exampleMessage(): Received {
  const message = new Message(JSON.stringify({ temperature: 21.5 }));
  message.messageId = 'mid-1';
  message.correlationId = 'cid/1';
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  message.properties.add('myProp', 'a&b=c');
  message.properties.add('dt-subject', 'thermostat1');
  message.properties.add('iothub-creation-time-utc', '2021-04-21T11:30:16Z');
  return message;
}

for (const [name, transport] of [
  ['Amqp', Amqp],
  ['AmqpWs', AmqpWs],
] as const) {
  describe(`official device SDK over AMQP (azure-iot-device-amqp, ${name})`, () => {
    const deviceId = name === 'Amqp' ? 'amqp-sas' : 'amqp-ws-sas';
    let client: DeviceClient;

    before(async () => {
      client = await sasDeviceClient(hub(), deviceId, transport);
      await client.setOptions({ modelId: 'dtmi:com:example:Thermostat;1' }).catch(() => undefined);
      await withTimeout(client.open(), 15_000, 'open');
    });
    after(async () => {
      await client?.close();
    });

    it('[§5.4] sendEvent is stored as over MQTT, with dt-subject from the annotations', async () => {
      const sentAt = Date.now();
      await withTimeout(client.sendEvent(exampleMessage()), 10_000, 'sendEvent');
      const [record] = await hub().queryTelemetry({ deviceId });
      assertStoredAsSent(record, deviceId, sentAt);
      assert.deepEqual(record?.properties, { myProp: 'a&b=c', 'iothub-creation-time-utc': '2021-04-21T11:30:16Z' });
      assert.equal(hub().isConnected({ deviceId }), true, 'an AMQP device is connected');
    });

    it('[§5.5] C2D: completed gives positive feedback, rejected is dead-lettered, abandoned comes back', async () => {
      const seen: string[] = [];
      // Each message is settled in a turn of its own: rhea (under the SDK) writes two settlements made in
      // the same turn as one disposition frame with the first one's outcome, so a reject followed at once by
      // an abandon would reach any hub as two rejects.
      let turn = Promise.resolve();
      const done = new Promise<void>((resolve, reject) => {
        client.on('message', (message: Received) => {
          seen.push(message.messageId);
          const first = seen.filter((id) => id === message.messageId).length === 1;
          turn = turn
            .then(() => new Promise((r) => setTimeout(r, 50)))
            .then(() =>
              message.messageId === 'a-reject'
                ? client.reject(message)
                : message.messageId === 'a-abandon' && first
                  ? client.abandon(message)
                  : client.complete(message),
            )
            .then(() => {
              if (seen.length >= 4) resolve();
            }, reject);
        });
      });
      await eventually(() => (hub().isConnected({ deviceId }) ? true : undefined));
      await new Promise((r) => setTimeout(r, 300));
      for (const id of ['a-complete', 'a-reject', 'a-abandon']) {
        await hub().sendC2d(
          { deviceId },
          { body: Buffer.from(id), messageId: id, ack: 'full', properties: { k: 'v' } },
        );
      }
      await withTimeout(done, 15_000, `every message settled (seen ${seen.join(', ')})`);
      await eventually(() => (hub().c2dQueueLength({ deviceId }) === 0 ? true : undefined), 5000, 'empty queue');
      assert.deepEqual(seen, ['a-complete', 'a-reject', 'a-abandon', 'a-abandon']);
      const feedback = await hub().takeFeedback(64);
      assert.deepEqual(
        feedback
          .filter((f) => f.deviceId === deviceId)
          .map((f) => [f.originalMessageId, f.statusCode])
          .sort(),
        [
          ['a-abandon', 'Success'],
          ['a-complete', 'Success'],
          ['a-reject', 'Rejected'],
        ],
      );
    });

    it('[§5.6] getTwin, reported patch and desired patch delivery', async () => {
      const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
      assert.equal(twin.properties.desired.$version, 1);
      await new Promise<void>((resolve, reject) =>
        twin.properties.reported.update({ serialNumber: name }, (err?: Error) => (err ? reject(err) : resolve())),
      );
      const registry = Registry.fromConnectionString(hub().serviceConnectionString());
      const serviceTwin = (await registry.getTwin(deviceId)).responseBody;
      assert.equal(serviceTwin.properties.reported['serialNumber'], name);
      const desired = new Promise<Record<string, unknown>>((resolve) =>
        twin.on('properties.desired', (delta: Record<string, unknown>) => {
          if (delta['targetTemperature'] !== undefined) resolve(delta);
        }),
      );
      await new Promise((r) => setTimeout(r, 300));
      await registry.updateTwin(deviceId, { properties: { desired: { targetTemperature: 25 } } }, '*');
      const delta = await withTimeout(desired, 10_000, 'desired patch');
      assert.equal(delta['targetTemperature'], 25);
      assert.equal(delta['$version'], 2);
    });

    it('[§5.7] a direct method invoked through azure-iothub reaches the handler and returns its status', async () => {
      client.onDeviceMethod('reboot', (request, response) => {
        void response.send(201, { echoed: request.payload });
      });
      const service = ServiceClient.fromConnectionString(hub().serviceConnectionString());
      const result = await service.invokeDeviceMethod(deviceId, {
        methodName: 'reboot',
        payload: { delay: 5 },
        responseTimeoutInSeconds: 10,
        connectTimeoutInSeconds: 10,
      });
      assert.equal(result.result.status, 201);
      assert.deepEqual(result.result.payload, { echoed: { delay: 5 } });
    });
  });
}

describe('official device SDK over AMQP: token renewal and modules', () => {
  it("[§5.2] a SAS renewal on $cbs keeps the live connection past the first token's expiry", async () => {
    const deviceId = 'amqp-renew';
    const client = await sasClient(deviceId);
    // Tokens valid 4 s, renewed 2 s before they expire: without renewal the hub closes at 4 s.
    await client.setOptions({ tokenRenewal: { tokenValidTimeInSeconds: 4, tokenRenewalMarginInSeconds: 2 } });
    const events: string[] = [];
    const unsubscribe = platform.events.subscribe((event) => {
      if ((event.type === 'connected' || event.type === 'disconnected') && event.identity.deviceId === deviceId) {
        events.push(event.type);
      }
    });
    let disconnects = 0;
    client.on('disconnect', () => disconnects++);
    await withTimeout(client.open(), 15_000, 'open');
    await new Promise((r) => setTimeout(r, 6500));
    await withTimeout(client.sendEvent(new Message('after renewal')), 10_000, 'sendEvent after 6.5 s');
    assert.equal(disconnects, 0);
    assert.equal(hub().isConnected({ deviceId }), true);
    await client.close();
    await eventually(() => (events.length >= 2 ? true : undefined));
    unsubscribe();
    assert.deepEqual(events, ['connected', 'disconnected'], 'one connection throughout');
  });

  it('[§5.3] a module identity (ModuleClient) sends telemetry, reads its twin and answers a method', async () => {
    const deviceId = 'amqp-edge';
    const moduleId = 'filter';
    await hub().createIdentity({ deviceId });
    await hub().createIdentity({ deviceId, moduleId });
    const client = deviceSdk.ModuleClient.fromConnectionString(
      hub().deviceConnectionString({ deviceId, moduleId }),
      Amqp,
    );
    await withTimeout(client.open(), 15_000, 'open');
    await withTimeout(client.sendEvent(new Message('from module')), 10_000, 'sendEvent');
    const [record] = await hub().queryTelemetry({ deviceId, moduleId });
    assert.equal(Buffer.from(record?.body ?? []).toString(), 'from module');
    assert.equal(record?.systemProperties['iothub-connection-module-id'], moduleId);
    const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
    assert.equal(twin.properties.desired.$version, 1);
    client.onMethod('ping', (_request, response) => {
      if (response !== undefined) void response.send(200, { pong: true });
    });
    const service = ServiceClient.fromConnectionString(hub().serviceConnectionString());
    const result = await service.invokeDeviceMethod(deviceId, moduleId, {
      methodName: 'ping',
      payload: null,
      responseTimeoutInSeconds: 10,
      connectTimeoutInSeconds: 10,
    });
    assert.equal(result.result.status, 200);
    assert.deepEqual(result.result.payload, { pong: true });
    await client.close();
  });
});

describe('official device SDK over AMQP over WebSockets (AmqpWs, wss://…/$iothub/websocket, AMQPWSB10)', () => {
  it('[§5.1] opens with SAS, sends telemetry, reads its twin and takes a C2D message', async () => {
    const deviceId = 'amqp-ws';
    const client = await sasDeviceClient(hub(), deviceId, AmqpWs);
    await withTimeout(client.open(), 15_000, 'open');
    const sentAt = Date.now();
    await withTimeout(client.sendEvent(exampleMessage()), 10_000, 'sendEvent');
    const [record] = await hub().queryTelemetry({ deviceId });
    assertStoredAsSent(record, deviceId, sentAt);
    const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
    assert.equal(twin.properties.reported.$version, 1);
    const received = new Promise<Received>((resolve) => client.on('message', resolve));
    await hub().sendC2d({ deviceId }, { body: Buffer.from('over ws'), messageId: 'ws-1' });
    const message = await withTimeout(received, 10_000, 'the C2D message');
    assert.equal(message.data.toString(), 'over ws');
    await client.complete(message);
    await eventually(() => (hub().c2dQueueLength({ deviceId }) === 0 ? true : undefined), 5000, 'completion');
    await client.close();
  });

  it("[§5.1] an X.509 device over WebSockets is authenticated by the HTTPS connection's certificate", async () => {
    await assertX509DeviceSends(hub(), 'amqp-ws-x509', AmqpWs);
  });
});

describe('official device SDK over AMQP with X.509', () => {
  it('[§5.1] a self-signed certificate device sends telemetry without CBS', async () => {
    await assertX509DeviceSends(hub(), 'amqp-x509', Amqp);
  });
});
