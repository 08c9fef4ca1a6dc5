/**
 * The service side over AMQP (protocol.md §9.4) with the official azure-iothub `Client`: `open` with a
 * hub policy token on `$cbs`, `send` (C2D with properties, `ack`, expiry) to an MQTT, an AMQP and an
 * HTTPS device, and `getFeedbackReceiver` with the positive and negative feedback records.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import amqpTransport from 'azure-iot-device-amqp';
import deviceSdk from 'azure-iot-device';
import httpTransport from 'azure-iot-device-http';
import mqttTransport from 'azure-iot-device-mqtt';
import serviceSdk from 'azure-iothub';
import common from 'azure-iot-common';
import {
  eventually,
  onlyHub,
  sasDeviceClient,
  startTestPlatform,
  withTimeout,
  type DeviceTransport,
  type TestPlatform,
} from './harness.js';

const { Message } = deviceSdk;
const { Client: ServiceClient } = serviceSdk;
type Received = InstanceType<typeof Message>;
interface FeedbackRecord {
  originalMessageId: string;
  statusCode: string;
  deviceId: string;
}

let platform: TestPlatform;
let service: InstanceType<typeof ServiceClient>;
const feedback: FeedbackRecord[] = [];

before(async () => {
  platform = await startTestPlatform();
  service = ServiceClient.fromConnectionString(onlyHub(platform).serviceConnectionString());
  await withTimeout(service.open(), 15_000, 'service open');
  const receiver = (await service.getFeedbackReceiver()).result as unknown as {
    on(event: 'message', listener: (message: Received) => void): void;
    complete(message: Received, done: () => void): void;
  };
  receiver.on('message', (message) => {
    feedback.push(...(JSON.parse(Buffer.from(message.data as Buffer).toString('utf8')) as FeedbackRecord[]));
    receiver.complete(message, () => undefined);
  });
});
after(async () => {
  await service?.close();
  await platform?.dispose();
});

const hub = () => onlyHub(platform);

const transports: [string, DeviceTransport][] = [
  ['MQTT', mqttTransport.Mqtt],
  ['AMQP', amqpTransport.Amqp],
  ['HTTPS', httpTransport.Http],
];

describe('azure-iothub Client over AMQP: send and feedback', () => {
  for (const [name, transport] of transports) {
    it(`[§9.4] send reaches an ${name} device with its properties; completed gives Success, rejected (AMQP, HTTPS) Rejected`, async () => {
      const deviceId = `svc-${name.toLowerCase()}`;
      const client = await sasDeviceClient(hub(), deviceId, transport);
      await withTimeout(client.open(), 15_000, 'device open');
      const received: Received[] = [];
      client.on('message', (message: Received) => {
        received.push(message);
        void (message.messageId === `${deviceId}-reject` ? client.reject(message) : client.complete(message));
      });
      // MQTT has no reject: its device gets only the message with positive feedback.
      const rejects = name !== 'MQTT';
      // The MQTT and AMQP devices subscribe, the HTTPS one polls: give the subscription a moment.
      await new Promise((r) => setTimeout(r, 500));
      const ok = new Message('hello');
      ok.messageId = `${deviceId}-ok`;
      ok.ack = 'full';
      ok.expiryTimeUtc = Date.now() + 60_000;
      ok.properties.add('k', 'v');
      await withTimeout(service.send(deviceId, ok), 10_000, 'send');
      const first = await eventually(() => received[0], 10_000, 'the message at the device');
      assert.equal(first.data.toString(), 'hello');
      assert.equal(first.messageId, `${deviceId}-ok`);
      const k = first.properties.getValue('k') ?? first.properties.getValue('iothub-app-k');
      assert.equal(k, 'v');
      if (rejects) {
        const bad = new Message('reject me');
        bad.messageId = `${deviceId}-reject`;
        bad.ack = 'negative';
        await withTimeout(service.send(deviceId, bad), 10_000, 'send');
      }
      const expected: [string, string][] = [[`${deviceId}-ok`, 'Success']];
      if (rejects) expected.push([`${deviceId}-reject`, 'Rejected']);
      const records = await eventually(
        () => {
          const mine = feedback.filter((f) => f.deviceId === deviceId);
          return mine.length >= expected.length ? mine : undefined;
        },
        10_000,
        'the feedback records',
      );
      assert.deepEqual(records.map((f) => [f.originalMessageId, f.statusCode]).sort(), expected);
      await client.close();
    });
  }

  it('[§9.4] a send to an unknown device is refused with DeviceNotFoundError; a full queue with its own error', async () => {
    const refused = await service.send('no-such-device', new Message('x')).then(
      () => undefined,
      (error: Error) => error,
    );
    assert.equal(refused?.constructor.name, 'DeviceNotFoundError');
    await hub().createIdentity({ deviceId: 'svc-full' });
    for (let i = 0; i < 50; i++) await service.send('svc-full', new Message(`m${i}`));
    const full = await service.send('svc-full', new Message('one too many')).then(
      () => undefined,
      (error: Error) => error,
    );
    assert.equal(full?.constructor.name, 'DeviceMaximumQueueDepthExceededError');
    assert.equal(hub().c2dQueueLength({ deviceId: 'svc-full' }), 50);
  });

  it('[§9.1] a wrong policy key is refused at open', async () => {
    const wrong = ServiceClient.fromConnectionString(
      `HostName=${hub().hostName};SharedAccessKeyName=iothubowner;SharedAccessKey=${Buffer.alloc(32, 1).toString('base64')}`,
    );
    wrong.setRetryPolicy(new common.NoRetry() as never);
    // The SDK reports a refused put-token as a failed connect.
    await assert.rejects(wrong.open(), /Could not connect/);
  });
});
