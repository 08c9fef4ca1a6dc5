/**
 * Security: every way a device or a back end can present the wrong credentials, or step outside its own
 * topics, is refused with the documented code and leaves nothing behind. protocol.md §1.2 (CONNACK codes),
 * §1.4 (topics), §2.3 (scope), §2.4 (expiry), §4.4 (error bodies), §9.1 (service authorisation).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import common from 'azure-iot-common';
import mqttPacket from 'mqtt-packet';
import { createSharedAccessSignature } from '@plugboard/protocol';
import type { Hub } from '@plugboard/server';
import {
  RawMqtt,
  deviceToken,
  eventually,
  hubRequest,
  isPacket,
  mqttUsername,
  onlyHub,
  policyToken,
  rawMqttOptions,
  startTestPlatform,
  withTimeout,
  type RawMqttOptions,
  type TestPlatform,
} from './harness.js';

const { Client } = deviceSdk;
const { Mqtt } = mqttTransport;
const { NoRetry } = common;

const API = 'api-version=2021-04-12';

let platform: TestPlatform;
let hub: Hub;
let mqttOptions: RawMqttOptions;

before(async () => {
  // No grace after a token's expiry, so the live-expiry test sees the hub act at `se` (§2.4).
  platform = await startTestPlatform({ tokenExpiryGraceSeconds: 0 });
  hub = onlyHub(platform);
  mqttOptions = rawMqttOptions(platform, hub);
});
after(async () => {
  await platform?.dispose();
});

const clients = new Set<RawMqtt>();
afterEach(() => {
  for (const client of clients) client.end();
  clients.clear();
});

async function rawClient(): Promise<RawMqtt> {
  const client = await RawMqtt.connect(mqttOptions);
  clients.add(client);
  return client;
}

let counter = 0;
/** A fresh device per test, so "nothing stored" is about this test alone. */
async function newDevice(prefix: string): Promise<string> {
  const deviceId = `${prefix}-${++counter}`;
  await hub.createIdentity({ deviceId });
  return deviceId;
}

function randomKey(): string {
  return randomBytes(32).toString('base64');
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

async function assertNothingStored(...deviceIds: string[]): Promise<void> {
  for (const deviceId of deviceIds) {
    assert.deepEqual(await hub.queryTelemetry({ deviceId }), [], `no telemetry is stored for ${deviceId}`);
  }
}

interface ConnectAttempt {
  clientId: string;
  username: string;
  password?: string;
  protocolVersion?: 3 | 4;
  /** Telemetry topic of the PUBLISH sent in the same write as the CONNECT. */
  publishTo: string;
}

/**
 * Writes CONNECT and a QoS 1 telemetry PUBLISH in one TLS write, so the PUBLISH is already queued while
 * the hub authenticates, and returns the CONNACK code.
 */
async function connectAndPublish(attempt: ConnectAttempt): Promise<{ returnCode: number; client: RawMqtt }> {
  const client = await rawClient();
  const connect = mqttPacket.generate({
    cmd: 'connect',
    protocolId: attempt.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: attempt.protocolVersion ?? 4,
    clean: false,
    keepalive: 60,
    clientId: attempt.clientId,
    username: attempt.username,
    ...(attempt.password === undefined ? {} : { password: Buffer.from(attempt.password) }),
  });
  const publish = mqttPacket.generate({
    cmd: 'publish',
    topic: attempt.publishTo,
    payload: Buffer.from('{"mustNotBeStored":true}'),
    qos: 1,
    messageId: 1,
    retain: false,
    dup: false,
  });
  client.socket.write(Buffer.concat([connect, publish]));
  const connack = await client.next(isPacket('connack'));
  return { returnCode: connack.returnCode ?? -1, client };
}

/** The CONNECT of `deviceId` (as the Node SDK sends it) with `password`, plus a PUBLISH to its own topic. */
function asDevice(deviceId: string, password: string | undefined): ConnectAttempt {
  const attempt: ConnectAttempt = {
    clientId: deviceId,
    username: mqttUsername(hub.hostName, deviceId),
    publishTo: `devices/${deviceId}/messages/events/`,
  };
  if (password !== undefined) attempt.password = password;
  return attempt;
}

async function assertRefused(attempt: ConnectAttempt, returnCode: number, ...deviceIds: string[]): Promise<void> {
  const result = await connectAndPublish(attempt);
  assert.equal(result.returnCode, returnCode, `CONNACK return code ${returnCode}`);
  await result.client.waitClosed();
  assert.equal(
    result.client.packets.find((p) => p.cmd === 'puback'),
    undefined,
    'the PUBLISH after a refused CONNECT is not acknowledged',
  );
  await assertNothingStored(...deviceIds);
}

/** A connected raw client for `deviceId` (CONNACK 0 asserted). */
async function connected(deviceId: string, password?: string): Promise<RawMqtt> {
  const client = await rawClient();
  const connack = await client.handshake({
    clientId: deviceId,
    username: mqttUsername(hub.hostName, deviceId),
    password: password ?? (await deviceToken(hub, deviceId)),
    clean: true,
  });
  assert.equal(connack.returnCode, 0);
  return client;
}

async function ping(client: RawMqtt): Promise<void> {
  client.send({ cmd: 'pingreq' });
  await client.next(isPacket('pingresp'));
}

describe('device authentication over MQTT (raw CONNECT)', () => {
  it('[§1.2 CONNACK 0] control: a valid token is accepted and the PUBLISH queued behind the CONNECT is stored', async () => {
    const deviceId = await newDevice('control');
    const { returnCode, client } = await connectAndPublish(asDevice(deviceId, await deviceToken(hub, deviceId)));
    assert.equal(returnCode, 0);
    await client.next(isPacket('puback'));
    const stored = await hub.queryTelemetry({ deviceId });
    assert.equal(stored.length, 1, 'the negative tests below would notice a stored message');
  });

  it('[§1.2 CONNACK 5][§2.2] a token signed with the wrong key is refused and nothing is stored', async () => {
    const deviceId = await newDevice('wrongkey');
    await assertRefused(asDevice(deviceId, await deviceToken(hub, deviceId, { key: randomKey() })), 5, deviceId);
  });

  it('[§1.2 CONNACK 5][§2.4 expiry] an expired token is refused and nothing is stored', async () => {
    const deviceId = await newDevice('expired');
    const password = await deviceToken(hub, deviceId, { expiry: nowSeconds() - 60 });
    await assertRefused(asDevice(deviceId, password), 5, deviceId);
  });

  it("[§1.2 CONNACK 5][§2.3 scope] another device's valid token is refused and nothing is stored for either", async () => {
    const dev1 = await newDevice('victim');
    const dev2 = await newDevice('other');
    await assertRefused(asDevice(dev1, await deviceToken(hub, dev2)), 5, dev1, dev2);
  });

  it("[§1.2 CONNACK 5][§2.3 scope] a token whose sr names dev1 but is signed with dev2's key is refused", async () => {
    const dev1 = await newDevice('victim');
    const dev2 = await newDevice('other');
    const auth = hub.getIdentity({ deviceId: dev2 }).record.authentication;
    assert.equal(auth.type, 'sas');
    const forged = await deviceToken(hub, dev1, { key: auth.symmetricKey.primaryKey });
    await assertRefused(asDevice(dev1, forged), 5, dev1, dev2);
  });

  it('[§1.2 CONNACK 5] an unknown device id is refused', async () => {
    const deviceId = `ghost-${++counter}`;
    const password = await createSharedAccessSignature({
      resource: `${hub.hostName}/devices/${deviceId}`,
      key: randomKey(),
      expiry: nowSeconds() + 3600,
    });
    await assertRefused(asDevice(deviceId, password), 5, deviceId);
    assert.equal(hub.has({ deviceId }), false);
  });

  it('[§1.2 CONNACK 3] a disabled device is refused with Server unavailable, even with a valid token', async () => {
    const deviceId = await newDevice('disabled');
    await hub.updateIdentity({ deviceId, status: 'disabled' });
    await assertRefused(asDevice(deviceId, await deviceToken(hub, deviceId)), 3, deviceId);
  });

  it('[§1.2 CONNACK 4] a password that is not a SAS token is refused as bad username or password', async () => {
    const deviceId = await newDevice('badpass');
    await assertRefused(asDevice(deviceId, 'hunter2'), 4, deviceId);
  });

  it('[§1.2 CONNACK 4] neither a password nor a client certificate is refused as bad username or password', async () => {
    const deviceId = await newDevice('nopass');
    await assertRefused(asDevice(deviceId, undefined), 4, deviceId);
  });

  it('[§1.2 CONNACK 4][§1.1] an unparsable user name is refused as bad username or password', async () => {
    const deviceId = await newDevice('badname');
    const attempt = asDevice(deviceId, await deviceToken(hub, deviceId));
    attempt.username = 'not a user name';
    await assertRefused(attempt, 4, deviceId);
  });

  it('[§1.2 CONNACK 2][§1.1] a client id that differs from the identity in the user name is rejected', async () => {
    const deviceId = await newDevice('clientid');
    const other = await newDevice('clientid-other');
    const attempt = asDevice(deviceId, await deviceToken(hub, deviceId));
    attempt.clientId = other;
    await assertRefused(attempt, 2, deviceId, other);
  });

  it('[§1.2 CONNACK 1] MQTT 3.1 (protocol level 3) is refused as unacceptable protocol version', async () => {
    const deviceId = await newDevice('mqtt31');
    const attempt = asDevice(deviceId, await deviceToken(hub, deviceId));
    attempt.protocolVersion = 3;
    await assertRefused(attempt, 1, deviceId);
  });

  it('[§1.2 CONNACK 5][§1.1] a user name naming another hub host is refused', async () => {
    const deviceId = await newDevice('otherhost');
    const attempt = asDevice(deviceId, await deviceToken(hub, deviceId));
    attempt.username = mqttUsername('other-hub.example', deviceId);
    await assertRefused(attempt, 5, deviceId);
  });

  it('[§2.3 policy token] skn=device (DeviceConnect) is accepted; skn=service (no DeviceConnect) is refused with 5', async () => {
    const deviceId = await newDevice('policy');
    const resource = `${hub.hostName}/devices/${deviceId}`;
    const refused = await policyToken(hub, 'service', { resource, encodeResource: true });
    await assertRefused(asDevice(deviceId, refused), 5, deviceId);

    const accepted = await policyToken(hub, 'device', { resource, encodeResource: true });
    const { returnCode, client } = await connectAndPublish(asDevice(deviceId, accepted));
    assert.equal(returnCode, 0);
    await client.next(isPacket('puback'));
    assert.equal((await hub.queryTelemetry({ deviceId })).length, 1);
  });

  it('[§2.3 scope] a device-policy token for devices/X does not cover devices/X0 (path segments, not string prefix)', async () => {
    const short = await newDevice('seg');
    const long = `${short}0`;
    await hub.createIdentity({ deviceId: long });
    const password = await policyToken(hub, 'device', {
      resource: `${hub.hostName}/devices/${short}`,
      encodeResource: true,
    });
    await assertRefused(asDevice(long, password), 5, long, short);
  });

  it('[§2.3 policy token] skn=device signed with a wrong key is refused with 5', async () => {
    const deviceId = await newDevice('policy-wrongkey');
    const password = await policyToken(hub, 'device', {
      resource: `${hub.hostName}/devices/${deviceId}`,
      encodeResource: true,
      key: randomKey(),
    });
    await assertRefused(asDevice(deviceId, password), 5, deviceId);
  });

  it('[§2.4 expiry] a live connection is closed by the hub once its token expires', async () => {
    const deviceId = await newDevice('live-expiry');
    const expiry = nowSeconds() + 3;
    const client = await connected(deviceId, await deviceToken(hub, deviceId, { expiry }));
    await ping(client);
    assert.equal(hub.isConnected({ deviceId }), true);
    await client.waitClosed(10_000);
    assert.ok(Date.now() >= expiry * 1000, 'not closed before the token expired');
    await eventually(
      () => (hub.isConnected({ deviceId }) ? undefined : true),
      5000,
      'the hub to forget the connection',
    );
  });

  it('[§1.2 CONNACK 3] disabling a connected device closes its live connection; reconnecting gets 3', async () => {
    const deviceId = await newDevice('disable-live');
    const client = await connected(deviceId);
    await ping(client);
    await hub.updateIdentity({ deviceId, status: 'disabled' });
    await client.waitClosed();
    assert.equal(hub.isConnected({ deviceId }), false);
    await assertRefused(asDevice(deviceId, await deviceToken(hub, deviceId)), 3, deviceId);
  });

  it('[§1.2 CONNACK 3] a module of a disabled device is refused with 3', async () => {
    const deviceId = await newDevice('disabled-parent');
    const moduleId = 'mod1';
    await hub.createIdentity({ deviceId, moduleId });
    await hub.updateIdentity({ deviceId, status: 'disabled' });
    const auth = hub.getIdentity({ deviceId, moduleId }).record.authentication;
    assert.equal(auth.type, 'sas');
    await assertRefused(
      {
        clientId: `${deviceId}/${moduleId}`,
        username: mqttUsername(hub.hostName, deviceId, moduleId),
        password: await createSharedAccessSignature({
          resource: `${hub.hostName}/devices/${deviceId}/modules/${moduleId}`,
          key: auth.symmetricKey.primaryKey,
          expiry: nowSeconds() + 3600,
        }),
        publishTo: `devices/${deviceId}/modules/${moduleId}/messages/events/`,
      },
      3,
      deviceId,
    );
  });

  it("[§2.3 scope] a module cannot connect with its parent device's token", async () => {
    const deviceId = await newDevice('parent-token');
    const moduleId = 'mod1';
    await hub.createIdentity({ deviceId, moduleId });
    await assertRefused(
      {
        clientId: `${deviceId}/${moduleId}`,
        username: mqttUsername(hub.hostName, deviceId, moduleId),
        password: await deviceToken(hub, deviceId),
        publishTo: `devices/${deviceId}/modules/${moduleId}/messages/events/`,
      },
      5,
      deviceId,
    );
  });
});

describe('device authentication with the official SDK (azure-iot-device + Mqtt)', () => {
  it('[§1.2 CONNACK 5 -> UnauthorizedError] a wrong key makes client.open() reject with UnauthorizedError', async () => {
    const deviceId = await newDevice('sdk-wrongkey');
    const client = Client.fromConnectionString(
      `HostName=${hub.hostName};DeviceId=${deviceId};SharedAccessKey=${randomKey()}`,
      Mqtt,
    );
    try {
      await assert.rejects(withTimeout(client.open(), 20_000, 'open'), (error: Error) => {
        assert.equal(error.name, 'UnauthorizedError', `got ${error.constructor.name}: ${error.message}`);
        return true;
      });
    } finally {
      await client.close().catch(() => undefined);
    }
    assert.equal(hub.isConnected({ deviceId }), false);
    await assertNothingStored(deviceId);
  });

  it('[§1.2 CONNACK 3 -> ServiceUnavailableError] a disabled device makes client.open() fail (NoRetry policy)', async () => {
    const deviceId = await newDevice('sdk-disabled');
    await hub.updateIdentity({ deviceId, status: 'disabled' });
    const client = Client.fromConnectionString(hub.deviceConnectionString({ deviceId }), Mqtt);
    // rc 3 is retryable for the SDK (240 s of back-off); without retries open() reports the first refusal.
    client.setRetryPolicy(new NoRetry());
    try {
      await assert.rejects(withTimeout(client.open(), 20_000, 'open'), (error: Error) => {
        assert.equal(error.name, 'ServiceUnavailableError', `got ${error.constructor.name}: ${error.message}`);
        return true;
      });
    } finally {
      await client.close().catch(() => undefined);
    }
    assert.equal(hub.isConnected({ deviceId }), false);
    await assertNothingStored(deviceId);
  });
});

describe('topic confinement (§1.4)', () => {
  it("[§1.4] publishing to another device's telemetry topic closes the connection and stores nothing", async () => {
    const dev1 = await newDevice('confined');
    const dev2 = await newDevice('neighbour');
    const client = await connected(dev1);
    client.send({
      cmd: 'publish',
      topic: `devices/${dev2}/messages/events/`,
      payload: Buffer.from('{"spoofed":true}'),
      qos: 1,
      messageId: 7,
      retain: false,
      dup: false,
    });
    await client.waitClosed();
    assert.equal(
      client.packets.find((p) => p.cmd === 'puback'),
      undefined,
    );
    await assertNothingStored(dev1, dev2);
  });

  it('[§1.4] publishing to an undocumented topic (foo/bar) closes the connection', async () => {
    const deviceId = await newDevice('unknown-topic');
    const client = await connected(deviceId);
    client.send({
      cmd: 'publish',
      topic: 'foo/bar',
      payload: Buffer.from('x'),
      qos: 1,
      messageId: 8,
      retain: false,
      dup: false,
    });
    await client.waitClosed();
    await assertNothingStored(deviceId);
  });

  it("[§1.4 SUBACK 0x80] filters outside the device's own (other device, #, $iothub/#, +) fail; its own is granted", async () => {
    const dev1 = await newDevice('sub');
    const dev2 = await newDevice('sub-other');
    const client = await connected(dev1);
    client.send({
      cmd: 'subscribe',
      messageId: 3,
      subscriptions: [
        { topic: `devices/${dev2}/messages/devicebound/#`, qos: 1 },
        { topic: '#', qos: 1 },
        { topic: '$iothub/#', qos: 0 },
        { topic: 'devices/+/messages/events/#', qos: 1 },
        { topic: `devices/${dev1}/messages/devicebound/#`, qos: 1 },
      ],
    });
    const suback = await client.next(isPacket('suback'));
    assert.equal(suback.messageId, 3);
    assert.deepEqual(suback.granted, [0x80, 0x80, 0x80, 0x80, 1]);
    await ping(client);
  });

  it("[§1.9] a module cannot publish to its parent device's topic, nor subscribe to its C2D or a sibling's inputs", async () => {
    const deviceId = await newDevice('parent');
    const moduleId = 'mod1';
    await hub.createIdentity({ deviceId, moduleId });
    const auth = hub.getIdentity({ deviceId, moduleId }).record.authentication;
    assert.equal(auth.type, 'sas');
    const password = await createSharedAccessSignature({
      resource: `${hub.hostName}/devices/${deviceId}/modules/${moduleId}`,
      key: auth.symmetricKey.primaryKey,
      expiry: nowSeconds() + 3600,
    });
    const client = await rawClient();
    const connack = await client.handshake({
      clientId: `${deviceId}/${moduleId}`,
      username: mqttUsername(hub.hostName, deviceId, moduleId),
      password,
      clean: true,
    });
    assert.equal(connack.returnCode, 0);
    client.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: `devices/${deviceId}/messages/devicebound/#`, qos: 1 },
        { topic: `devices/${deviceId}/modules/other/inputs/#`, qos: 1 },
        { topic: `devices/${deviceId}/modules/${moduleId}/inputs/#`, qos: 1 },
      ],
    });
    assert.deepEqual((await client.next(isPacket('suback'))).granted, [0x80, 0x80, 1]);
    // Its own topic works (control) ...
    client.send({
      cmd: 'publish',
      topic: `devices/${deviceId}/modules/${moduleId}/messages/events/`,
      payload: Buffer.from('{"own":true}'),
      qos: 1,
      messageId: 2,
      retain: false,
      dup: false,
    });
    await client.next(isPacket('puback'));
    // ... the parent's does not.
    client.send({
      cmd: 'publish',
      topic: `devices/${deviceId}/messages/events/`,
      payload: Buffer.from('{"asParent":true}'),
      qos: 1,
      messageId: 3,
      retain: false,
      dup: false,
    });
    await client.waitClosed();
    const stored = await hub.queryTelemetry({ deviceId });
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.moduleId, moduleId);
    assert.equal(Buffer.from(stored[0]?.body ?? []).toString(), '{"own":true}');
  });
});

describe('service REST API authorisation (§9.1, §4.4)', () => {
  async function assertUnauthorized(response: Awaited<ReturnType<typeof hubRequest>>): Promise<void> {
    assert.equal(response.status, 401, response.text);
    assert.equal(response.headers['iothub-errorcode'], 'IotHubUnauthorizedAccess');
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const body = response.body as { Message?: unknown; ExceptionMessage?: unknown };
    assert.equal(typeof body.Message, 'string');
    assert.ok(
      (body.Message as string).startsWith('ErrorCode:IotHubUnauthorizedAccess;'),
      `Message is ${String(body.Message)}`,
    );
    assert.equal(typeof body.ExceptionMessage, 'string');
  }

  it('[§4.4 401] no Authorization header: 401 IotHubUnauthorizedAccess with the IoT Hub error body', async () => {
    const deviceId = await newDevice('rest');
    await assertUnauthorized(
      await hubRequest(platform, hub, { method: 'GET', path: `/devices/${deviceId}?${API}`, authorization: null }),
    );
  });

  it('[§9.1 401] a token that is not a SharedAccessSignature is refused', async () => {
    const deviceId = await newDevice('rest');
    await assertUnauthorized(
      await hubRequest(platform, hub, {
        method: 'GET',
        path: `/devices/${deviceId}?${API}`,
        authorization: 'Bearer abc',
      }),
    );
  });

  it('[§9.1 401][§2.2] an iothubowner token signed with a wrong key is refused', async () => {
    const deviceId = await newDevice('rest');
    await assertUnauthorized(
      await hubRequest(platform, hub, {
        method: 'GET',
        path: `/devices/${deviceId}?${API}`,
        authorization: await policyToken(hub, 'iothubowner', { key: randomKey() }),
      }),
    );
  });

  it('[§9.1 401][§2.4 expiry] an expired iothubowner token is refused', async () => {
    const deviceId = await newDevice('rest');
    await assertUnauthorized(
      await hubRequest(platform, hub, {
        method: 'GET',
        path: `/devices/${deviceId}?${API}`,
        authorization: await policyToken(hub, 'iothubowner', { expiry: nowSeconds() - 60 }),
      }),
    );
  });

  it('[§9.1 401][§2.3] an iothubowner token for another hub host is refused', async () => {
    const deviceId = await newDevice('rest');
    await assertUnauthorized(
      await hubRequest(platform, hub, {
        method: 'GET',
        path: `/devices/${deviceId}?${API}`,
        authorization: await policyToken(hub, 'iothubowner', { resource: 'other-hub.example' }),
      }),
    );
  });

  it('[§2.3 rights] the device policy (DeviceConnect only) cannot read the registry', async () => {
    const deviceId = await newDevice('rest');
    await assertUnauthorized(
      await hubRequest(platform, hub, {
        method: 'GET',
        path: `/devices/${deviceId}?${API}`,
        authorization: await policyToken(hub, 'device'),
      }),
    );
  });

  it('[§2.3 rights] registryRead can GET a device but cannot PUT one (nothing created)', async () => {
    const existing = await newDevice('rest');
    const read = await hubRequest(platform, hub, {
      method: 'GET',
      path: `/devices/${existing}?${API}`,
      authorization: await policyToken(hub, 'registryRead'),
    });
    assert.equal(read.status, 200);
    assert.equal((read.body as { deviceId?: unknown }).deviceId, existing);

    const deviceId = `rest-new-${++counter}`;
    await assertUnauthorized(
      await hubRequest(platform, hub, {
        method: 'PUT',
        path: `/devices/${deviceId}?${API}`,
        body: { deviceId, authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } } },
        authorization: await policyToken(hub, 'registryRead'),
      }),
    );
    assert.equal(hub.has({ deviceId }), false);
  });

  it('[§2.3 rights] the service policy can read twins and invoke methods but cannot PUT a device', async () => {
    const deviceId = await newDevice('rest-svc');
    const authorization = await policyToken(hub, 'service');
    const twin = await hubRequest(platform, hub, { method: 'GET', path: `/twins/${deviceId}?${API}`, authorization });
    assert.equal(twin.status, 200);
    assert.equal((twin.body as { deviceId?: unknown }).deviceId, deviceId);

    // A device that answers methods, so the invocation round-trips.
    const device = await connected(deviceId);
    device.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$iothub/methods/POST/#', qos: 0 }] });
    assert.deepEqual((await device.next(isPacket('suback'))).granted, [0]);
    const invocation = hubRequest(platform, hub, {
      method: 'POST',
      path: `/twins/${deviceId}/methods?${API}`,
      body: { methodName: 'ping', payload: { n: 1 }, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 0 },
      authorization,
    });
    const request = await device.next(isPacket('publish'), 10_000);
    const rid = /^\$iothub\/methods\/POST\/ping\/\?\$rid=(.+)$/.exec(request.topic)?.[1];
    assert.ok(rid !== undefined, `method request topic ${request.topic}`);
    device.send({
      cmd: 'publish',
      topic: `$iothub/methods/res/200/?$rid=${rid}`,
      payload: Buffer.from('{"pong":true}'),
      qos: 0,
      retain: false,
      dup: false,
    });
    const result = await invocation;
    assert.equal(result.status, 200, result.text);
    assert.deepEqual(result.body, { status: 200, payload: { pong: true } });

    const newId = `rest-svc-new-${++counter}`;
    await assertUnauthorized(
      await hubRequest(platform, hub, {
        method: 'PUT',
        path: `/devices/${newId}?${API}`,
        body: { deviceId: newId },
        authorization,
      }),
    );
    assert.equal(hub.has({ deviceId: newId }), false);
  });

  it('[§2.3 rights] registryReadWrite cannot read twins (no ServiceConnect)', async () => {
    const deviceId = await newDevice('rest');
    await assertUnauthorized(
      await hubRequest(platform, hub, {
        method: 'GET',
        path: `/twins/${deviceId}?${API}`,
        authorization: await policyToken(hub, 'registryReadWrite'),
      }),
    );
  });

  it('[§9.1] a device-scoped SAS token (no skn) is not a service credential', async () => {
    const deviceId = await newDevice('rest');
    await assertUnauthorized(
      await hubRequest(platform, hub, {
        method: 'GET',
        path: `/twins/${deviceId}?${API}`,
        authorization: await deviceToken(hub, deviceId),
      }),
    );
  });
});
