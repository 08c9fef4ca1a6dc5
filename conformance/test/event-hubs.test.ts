/**
 * The hub's Event Hub-compatible endpoint read by the unmodified `@azure/event-hubs`
 * `EventHubConsumerClient` with the built-in endpoint's connection string (`plugboard.json`
 * `hubs[].eventHubConnectionString`): every telemetry message an official-SDK device sent over MQTT,
 * AMQP or HTTPS, with its system and application properties, from the earliest position and from an
 * enqueued time, in each of two consumer groups; a wrong key is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  EventHubConsumerClient,
  earliestEventPosition,
  latestEventPosition,
  type EventPosition,
  type ReceivedEventData,
} from '@azure/event-hubs';
import amqpTransport from 'azure-iot-device-amqp';
import deviceSdk from 'azure-iot-device';
import httpTransport from 'azure-iot-device-http';
import mqttTransport from 'azure-iot-device-mqtt';
import rhea from 'rhea';
import {
  RawAmqp,
  centralRequest,
  eventually,
  onlyHub,
  sasDeviceClient,
  startTestPlatform,
  withTimeout,
  type TestPlatform,
} from './harness.js';

const { Message } = deviceSdk;

let platform: TestPlatform;
const hub = () => onlyHub(platform);
const DEVICES = [
  { deviceId: 'eh-mqtt', transport: mqttTransport.Mqtt },
  { deviceId: 'eh-amqp', transport: amqpTransport.Amqp },
  { deviceId: 'eh-http', transport: httpTransport.Http },
] as const;
/** When the second batch started (between the two batches' enqueued times). */
let secondBatchAfter: Date;

async function sendBatch(batch: number): Promise<void> {
  for (const { deviceId, transport } of DEVICES) {
    const client = await sasDeviceClient(hub(), deviceId, transport);
    await withTimeout(client.open(), 15_000, `${deviceId} open`);
    try {
      for (let i = 0; i < 2; i++) {
        const message = new Message(JSON.stringify({ temperature: 20 + i, batch }));
        message.messageId = `${deviceId}-${batch}-${i}`;
        message.contentType = 'application/json';
        message.contentEncoding = 'utf-8';
        message.properties.add('batch', String(batch));
        message.properties.add('iothub-creation-time-utc', '2021-04-21T11:30:16.000Z');
        await withTimeout(client.sendEvent(message), 10_000, `${deviceId} sendEvent`);
      }
    } finally {
      await client.close();
    }
  }
}

before(async () => {
  platform = await startTestPlatform({ hubs: 1 });
  await sendBatch(1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  secondBatchAfter = new Date();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await sendBatch(2);
});
after(async () => {
  await platform?.dispose();
});

/** Subscribes to every partition and collects events until `count` arrived. */
async function receive(
  consumerGroup: string,
  count: number,
  startPosition: EventPosition,
  during?: () => Promise<void>,
): Promise<ReceivedEventData[]> {
  const connectionString = hub().eventHubConnectionString();
  const client = new EventHubConsumerClient(consumerGroup, connectionString);
  const events: ReceivedEventData[] = [];
  const errors: Error[] = [];
  const subscription = client.subscribe(
    {
      processEvents: async (received) => {
        events.push(...received);
      },
      processError: async (error) => {
        errors.push(error);
      },
    },
    { startPosition, maxWaitTimeInSeconds: 1 },
  );
  try {
    await during?.();
    await eventually(() => (events.length >= count || errors.length > 0 ? true : undefined), 20_000);
    assert.deepEqual(errors, [], 'no receive errors');
    // Nothing more arrives than was sent.
    await new Promise((resolve) => setTimeout(resolve, 500));
    return events;
  } finally {
    await subscription.close();
    await client.close();
  }
}

describe('Event Hub-compatible endpoint (@azure/event-hubs EventHubConsumerClient)', () => {
  it('getPartitionIds and partition properties describe the hub entity', async () => {
    const client = new EventHubConsumerClient('$default', hub().eventHubConnectionString());
    try {
      const ids = await client.getPartitionIds();
      assert.deepEqual(ids, ['0', '1', '2', '3']);
      const properties = await client.getEventHubProperties();
      assert.equal(properties.name, hub().name);
      const stored = await hub().queryTelemetry({ limit: 100 });
      let last = -1;
      for (const id of ids) {
        const partition = await client.getPartitionProperties(id);
        if (!partition.isEmpty) last = Math.max(last, partition.lastEnqueuedSequenceNumber);
      }
      assert.equal(last, stored.at(-1)?.sequenceNumber, 'the newest partition position is the newest stored message');
    } finally {
      await client.close();
    }
  });

  it('from the earliest position: every message of MQTT, AMQP and HTTPS devices with its properties', async () => {
    const events = await receive('$default', 12, earliestEventPosition);
    assert.equal(events.length, 12);
    const stored = await hub().queryTelemetry({ limit: 100 });
    for (const record of stored) {
      const event = events.find((e) => e.messageId === record.messageId);
      assert.ok(event, `${record.messageId} received`);
      assert.deepEqual(event.body, JSON.parse(Buffer.from(record.body).toString()));
      assert.deepEqual(event.properties, { batch: record.properties['batch'] });
      assert.equal(event.contentType, 'application/json');
      assert.equal(event.sequenceNumber, record.sequenceNumber);
      assert.equal(event.offset, String(record.sequenceNumber));
      assert.equal(event.enqueuedTimeUtc.toISOString(), new Date(record.enqueuedTime).toISOString());
      const system = event.systemProperties ?? {};
      assert.equal(system['iothub-connection-device-id'], record.deviceId);
      assert.equal(system['iothub-creation-time-utc'], '2021-04-21T11:30:16.000Z');
      assert.equal(system['iothub-message-source'], 'Telemetry');
      assert.equal(system['iothub-connection-auth-method'], record.systemProperties['iothub-connection-auth-method']);
    }
    // Each device's messages in one partition, in the order sent.
    for (const { deviceId } of DEVICES) {
      const mine = events.filter((e) => e.systemProperties?.['iothub-connection-device-id'] === deviceId);
      assert.equal(mine.length, 4);
      assert.deepEqual(
        mine.map((e) => e.messageId),
        [`${deviceId}-1-0`, `${deviceId}-1-1`, `${deviceId}-2-0`, `${deviceId}-2-1`],
      );
    }
  });

  it('a second consumer group receives everything too', async () => {
    const events = await receive('second', 12, earliestEventPosition);
    assert.equal(new Set(events.map((e) => e.messageId)).size, 12);
  });

  it('from an enqueued time: only the messages enqueued after it', async () => {
    const events = await receive('$default', 6, { enqueuedOn: secondBatchAfter });
    assert.equal(events.length, 6);
    assert.ok(events.every((e) => e.properties?.['batch'] === '2'));
  });

  it('from a sequence number: only the messages after it', async () => {
    const stored = await hub().queryTelemetry({ limit: 100 });
    const pivot = stored[8]?.sequenceNumber ?? 0;
    const events = await receive('$default', 3, { sequenceNumber: pivot });
    assert.deepEqual(
      events.map((e) => e.sequenceNumber).sort((a, b) => a - b),
      stored.slice(9).map((r) => r.sequenceNumber),
    );
  });

  it('from the latest position: a message sent while subscribed arrives live', async () => {
    const events = await receive('$default', 1, latestEventPosition, async () => {
      // Give the receivers time to attach at the end of the stream, then send.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const client = await sasDeviceClient(hub(), 'eh-mqtt', mqttTransport.Mqtt);
      await withTimeout(client.open(), 15_000, 'open');
      const message = new Message('{"live":true}');
      message.messageId = 'live-1';
      await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
      await client.close();
    });
    assert.deepEqual(
      events.map((e) => e.messageId),
      ['live-1'],
    );
  });

  it("az iot central diagnostics' path: a generateEventSasTokens token, $management READ, an x-opt-enqueuedtimeutc filter", async () => {
    const tokens = (await centralRequest(platform, { method: 'POST', path: '/system/iothubs/generateEventSasTokens' }))
      .body as Record<string, { eventhubSasToken: { sasToken: string; entityPath: string; hostname: string } }>;
    const target = Object.values(tokens)[0]?.eventhubSasToken;
    assert.ok(target !== undefined);
    const host = new URL(target.hostname).hostname;
    const amqp = RawAmqp.connect(host, platform.tls.caCertificatePem);
    try {
      assert.equal(await amqp.putToken(`sb://${host}/${target.entityPath}`, target.sasToken, 3000), '200');
      const management = await new Promise<Record<string, unknown>>((resolve) => {
        const replies = amqp.connection.open_receiver({ source: { address: '$management' } });
        replies.on('message', (context) => resolve(context.message?.body as Record<string, unknown>));
        const requests = amqp.connection.open_sender({ target: { address: '$management' } });
        requests.once('sendable', () =>
          requests.send({
            message_id: 'm-1',
            reply_to: 'reply',
            application_properties: { operation: 'READ', name: target.entityPath, type: 'com.microsoft:eventhub' },
            body: '',
          }),
        );
      });
      assert.equal(management['partition_count'], 4);
      const after = secondBatchAfter.getTime();
      const received: unknown[] = [];
      for (let partition = 0; partition < 4; partition++) {
        const receiver = amqp.connection.open_receiver({
          source: {
            address: `${target.entityPath}/ConsumerGroups/$Default/Partitions/${partition}`,
            filter: {
              'apache.org:selector-filter:string': rhea.types.wrap_described(
                `amqp.annotation.x-opt-enqueuedtimeutc > '${after}'`,
                0x468c00000004,
              ),
            },
          },
        });
        receiver.on('message', (context) =>
          received.push(context.message?.message_annotations?.['x-opt-sequence-number']),
        );
      }
      await eventually(() => (received.length >= 7 ? true : undefined), 10_000);
      // The second batch (6) and the live message of the previous test.
      assert.equal(received.length, 7);
    } finally {
      amqp.close();
    }
  });

  it('a connection string with a wrong key is refused', async () => {
    const wrong = hub()
      .eventHubConnectionString()
      .replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 9).toString('base64')}`);
    const client = new EventHubConsumerClient('$default', wrong, {
      retryOptions: { maxRetries: 0, timeoutInMs: 5000 },
    });
    try {
      await assert.rejects(client.getPartitionIds(), (error: Error) => {
        assert.match(`${error.name} ${error.message}`, /Unauthorized|signature/i);
        return true;
      });
    } finally {
      await client.close();
    }
  });
});
