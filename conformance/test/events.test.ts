/**
 * The platform-wide event stream (`platform.events`): one stream for every hub and DPS, with every kind
 * of event the Central app and the device timeline build on — DPS registrations, connects and
 * disconnects with reasons, telemetry with its sequence number and properties, twin patches with their
 * content and versions, method invocations and results, C2D queued/delivered/completed — driven here by
 * the official device SDK. Listeners are isolated (one that throws harms nothing), queues are bounded
 * (overflow is a `dropped` event with the count), and a consumer resumes from storage sequence numbers
 * without missing or repeating a message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { deriveDeviceKey } from '@plugboard/protocol';
import type { PlatformEvent } from '@plugboard/server';
import { dpsToken, eventually, hubRequest, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;

const GROUP_KEY = 'ZXZlbnRzZ3JvdXBrZXlldmVudHNncm91cGtleTEyMzQ=';

let platform: TestPlatform;
const seen: PlatformEvent[] = [];
let stopSeeing: () => void = () => undefined;

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  await platform.dps.putEnrollmentGroup('events-group', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  stopSeeing = platform.events.subscribe((event) => seen.push(event));
});
after(async () => {
  stopSeeing();
  await platform?.dispose();
});

function waitFor<T extends PlatformEvent['type']>(
  type: T,
  match: (e: Extract<PlatformEvent, { type: T }>) => boolean = () => true,
): Promise<Extract<PlatformEvent, { type: T }>> {
  return eventually(
    () => seen.find((e): e is Extract<PlatformEvent, { type: T }> => e.type === type && match(e as never)),
    10_000,
    `a ${type} event`,
  );
}

async function register(registrationId: string, key: string) {
  const { operation } = await platform.dps.register({
    idScope: platform.dps.idScope,
    registrationId,
    credentials: { token: await dpsToken(platform.dps.idScope, registrationId, key) },
    body: { registrationId, payload: { modelId: 'dtmi:com:example:Thermostat;1' } },
  });
  return operation;
}

describe('[events] one stream for the platform', () => {
  it('a device through its whole life: registration, connect, telemetry, twin, method, C2D, disconnect', async () => {
    const deviceId = 'events-dev';
    const key = await deriveDeviceKey(GROUP_KEY, deviceId);
    await register(deviceId, key);
    const registration = await waitFor('registration', (e) => e.registrationId === deviceId);
    assert.equal(registration.outcome, 'assigned');
    assert.equal(registration.modelId, 'dtmi:com:example:Thermostat;1');
    const hub = platform.hubs.find((h) => h.name === registration.hub);
    assert.ok(hub !== undefined, 'the assigned hub is named');
    await assert.rejects(register('events-stranger', Buffer.alloc(32, 3).toString('base64')));
    const refused = await waitFor('registration', (e) => e.registrationId === 'events-stranger');
    assert.equal(refused.outcome, 'refused');
    assert.equal(refused.code, 'DPS_UNAUTHORIZED');

    const client = Client.fromConnectionString(
      `HostName=${hub.hostName};DeviceId=${deviceId};SharedAccessKey=${key}`,
      Mqtt,
    );
    await client.setOptions({ modelId: 'dtmi:com:example:Thermostat;1' });
    await withTimeout(client.open(), 15_000, 'open');
    try {
      const connected = await waitFor('connected', (e) => e.identity.deviceId === deviceId);
      assert.equal(connected.hub, hub.name);
      assert.equal(connected.modelId, 'dtmi:com:example:Thermostat;1');
      assert.equal(connected.auth, 'sas');
      assert.equal(connected.transport, 'mqtt');

      const message = new Message(JSON.stringify({ temperature: 21.5 }));
      message.contentType = 'application/json';
      message.contentEncoding = 'utf-8';
      message.properties.add('$.sub', 'thermostat1');
      message.properties.add('iothub-creation-time-utc', '2026-12-01T10:00:00.000Z');
      await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
      const telemetry = await waitFor('telemetry', (e) => e.record.deviceId === deviceId);
      assert.ok((telemetry.record.sequenceNumber ?? 0) > 0);
      assert.equal(telemetry.record.creationTime, '2026-12-01T10:00:00.000Z');
      assert.equal(telemetry.record.contentType, 'application/json');
      assert.equal(Buffer.from(telemetry.record.body).toString(), '{"temperature":21.5}');

      const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
      await withTimeout(
        new Promise<void>((resolve, reject) =>
          twin.properties.reported.update({ targetTemperature: { value: 22, ac: 200, av: 2 } }, (err?: Error) =>
            err ? reject(err) : resolve(),
          ),
        ),
        10_000,
        'reported update',
      );
      const reported = await waitFor(
        'twinChanged',
        (e) => e.section === 'reported' && e.identity.deviceId === deviceId,
      );
      assert.deepEqual(reported.patch, { targetTemperature: { value: 22, ac: 200, av: 2 } });
      assert.equal(reported.version, 2);
      await hub.updateTwin({ deviceId }, { properties: { desired: { targetTemperature: 23 } } });
      const desired = await waitFor('twinChanged', (e) => e.section === 'desired' && e.identity.deviceId === deviceId);
      assert.equal(desired.patch['targetTemperature'], 23);
      assert.equal(desired.version, 2);

      client.onDeviceMethod('reboot', (_request, response) => void response.send(200, { rebooting: true }));
      await eventually(() => (hub.isConnected({ deviceId }) ? true : undefined));
      const answer = await hubRequest(platform, hub, {
        method: 'POST',
        path: `/twins/${deviceId}/methods`,
        body: { methodName: 'reboot', payload: null, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 5 },
      });
      assert.equal(answer.status, 200, answer.text);
      await waitFor('method', (e) => e.methodName === 'reboot' && e.outcome === 'invoked');
      const answered = await waitFor('method', (e) => e.methodName === 'reboot' && e.outcome === 'answered');
      assert.equal(answered.status, 200);

      client.on('message', (m: InstanceType<typeof Message>) => void client.complete(m));
      const sent = await hub.sendC2d({ deviceId }, { body: Buffer.from('on'), messageId: 'c2d-1' });
      for (const state of ['queued', 'delivered', 'completed'] as const) {
        const e = await waitFor('c2d', (x) => x.id === sent.id && x.state === state);
        assert.equal(e.messageId, 'c2d-1');
      }
    } finally {
      await client.close();
    }
    const disconnected = await waitFor('disconnected', (e) => e.identity.deviceId === deviceId);
    assert.equal(typeof disconnected.reason, 'string');
    const offline = await hubRequest(platform, hub, {
      method: 'POST',
      path: `/twins/${deviceId}/methods`,
      body: { methodName: 'later', responseTimeoutInSeconds: 5 },
    });
    assert.equal(offline.status, 404);
    const failed = await waitFor('method', (e) => e.methodName === 'later');
    assert.equal(failed.outcome, 'failed');
    assert.equal(failed.code, 'HUB_DEVICE_NOT_ONLINE');
    assert.ok(
      seen.every((e) => typeof e.at === 'number' && e.at > 0),
      'every event says when it happened',
    );
  });
});

describe('[events] isolation, bounds and resumption', () => {
  const hub = () => platform.hubs[0]!;

  it('a listener that throws harms neither the other listeners nor the emitter', async () => {
    await hub().createIdentity({ deviceId: 'thrower-target' });
    const stop = platform.events.subscribe(() => {
      throw new Error('listener bug');
    });
    try {
      await hub().updateTwin({ deviceId: 'thrower-target' }, { tags: { a: 1 } });
      await waitFor('twinChanged', (e) => e.identity.deviceId === 'thrower-target' && e.section === 'tags');
    } finally {
      stop();
    }
  });

  it('an overflowing queue drops its oldest events and says how many; emitting never waits', async () => {
    const got: PlatformEvent[] = [];
    const stop = platform.events.subscribe((e) => got.push(e), { maxQueued: 5 });
    try {
      for (let i = 0; i < 50; i++) {
        platform.events.emit({
          type: 'identityChanged',
          hub: 'test',
          identity: { deviceId: `burst-${i}` },
          deleted: false,
        });
      }
      assert.equal(got.length, 0, 'delivery happens after the emitting code returns');
      await eventually(() => (got.length >= 6 ? true : undefined));
      assert.deepEqual(got[0], { type: 'dropped', count: 45, at: got[0]?.at });
      assert.deepEqual(
        got.slice(1).map((e) => (e.type === 'identityChanged' ? e.identity.deviceId : e.type)),
        ['burst-45', 'burst-46', 'burst-47', 'burst-48', 'burst-49'],
      );
    } finally {
      stop();
    }
  });

  it('[resume] a consumer that starts after sequence N gets every later message from storage, then live ones, none twice', async () => {
    const h = hub();
    await h.createIdentity({ deviceId: 'resumer' });
    const { RawMqtt, deviceToken, mqttUsername, rawMqttOptions, isPacket } = await import('./harness.js');
    const device = await RawMqtt.connect(rawMqttOptions(platform, h));
    try {
      await device.handshake({
        clientId: 'resumer',
        username: mqttUsername(h.hostName, 'resumer'),
        password: await deviceToken(h, 'resumer'),
        clean: true,
      });
      const publish = async (n: number): Promise<void> => {
        device.send({
          cmd: 'publish',
          topic: 'devices/resumer/messages/events/',
          payload: Buffer.from(`{"n":${n}}`),
          qos: 1,
          messageId: n,
          retain: false,
          dup: false,
        });
        await device.next(isPacket('puback'));
      };
      for (let n = 1; n <= 3; n++) await publish(n);
      const stored = await h.queryTelemetry({ deviceId: 'resumer' });
      const resumeAfter = stored[0]?.sequenceNumber ?? 0; // the consumer saw message 1, then stopped
      for (let n = 4; n <= 5; n++) await publish(n); // while it was away
      const controller = new AbortController();
      const bodies: string[] = [];
      const consumer = (async () => {
        for await (const event of platform.events.stream({
          signal: controller.signal,
          afterTelemetrySequence: resumeAfter,
          readTelemetry: (afterSequenceNumber, limit) =>
            platform.storage.queryTelemetry({ afterSequenceNumber, limit }),
        })) {
          if (event.type !== 'telemetry' || event.record.deviceId !== 'resumer') continue;
          bodies.push(Buffer.from(event.record.body).toString());
          if (bodies.length === 6) controller.abort();
        }
      })();
      for (let n = 6; n <= 7; n++) await publish(n); // live, perhaps while the stored ones are read
      await withTimeout(consumer, 10_000, 'the consumer');
      assert.deepEqual(
        bodies,
        [2, 3, 4, 5, 6, 7].map((n) => `{"n":${n}}`),
      );
    } finally {
      device.end();
    }
  });
});
