/**
 * Fault injection (protocol.md §7.5): each connection-time condition, added through the REST API,
 * produces on the wire what the real service produces — the CONNACK code of the hub over MQTT, the
 * status and IoT Hub error body of the device HTTPS API (per request), the
 * status and `errorCode` body of DPS over HTTPS and MQTT, no answer at all for an unreachable endpoint —
 * is listed with what it matched, drops the live connections it would invalidate, ends after its
 * attempts or duration, and, once cleared, service is back at once. The official SDK device sees
 * the same: its connection drops and its reconnect is refused until the fault ends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import amqpTransport from 'azure-iot-device-amqp';
import httpTransport from 'azure-iot-device-http';
import mqttTransport from 'azure-iot-device-mqtt';
import common from 'azure-iot-common';
import {
  centralRequest,
  deviceToken,
  dpsRequest,
  dpsToken,
  eventually,
  hubRequest,
  mqttUsername,
  onlyHub,
  RawAmqp,
  RawMqtt,
  rawMqttOptions,
  runCli,
  startTestPlatform,
  withTimeout,
  type TestPlatform,
} from './harness.js';
import { deriveDeviceKey } from '@plugboard/protocol';
import type { Hub } from '@plugboard/server';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const { Client } = deviceSdk;
const { Mqtt } = mqttTransport;
const { Http } = httpTransport;
const { Amqp } = amqpTransport;
const { NoRetry } = common;

const GROUP_KEY = 'ZmF1bHRncm91cGtleWZhdWx0Z3JvdXBrZXkxMjM0NTY=';
const DEVICE = 'fault-dev-1';
const OTHER = 'fault-dev-2';

let platform: TestPlatform;
let hub: Hub;

interface Fault {
  id: string;
  condition: string;
  matched: number;
  lastMatches: { deviceId: string }[];
  endedAt?: string;
}

async function addFault(body: Record<string, unknown>): Promise<Fault> {
  const response = await centralRequest(platform, { method: 'POST', path: '/plugboard/faults', body });
  assert.equal(response.status, 201, response.text);
  return response.body as Fault;
}

async function clearFaults(): Promise<void> {
  assert.equal((await centralRequest(platform, { method: 'DELETE', path: '/plugboard/faults' })).status, 200);
}

/** A raw MQTT connection of `deviceId` that the hub accepted. */
async function connected(deviceId: string): Promise<RawMqtt> {
  const client = await RawMqtt.connect(rawMqttOptions(platform, hub));
  const ack = await client.handshake({
    clientId: deviceId,
    username: mqttUsername(hub.hostName, deviceId),
    password: await deviceToken(hub, deviceId),
  });
  assert.equal(ack.returnCode, 0);
  return client;
}

/** The CONNACK code a raw MQTT CONNECT of `deviceId` gets, or `'no answer'` when the hub closes silently. */
async function connack(deviceId: string): Promise<number | 'no answer'> {
  const client = await RawMqtt.connect(rawMqttOptions(platform, hub));
  try {
    const ack = await client.handshake({
      clientId: deviceId,
      username: mqttUsername(hub.hostName, deviceId),
      password: await deviceToken(hub, deviceId),
    });
    return ack.returnCode ?? 0;
  } catch (error) {
    if (client.closed) return 'no answer';
    throw error;
  } finally {
    client.end();
  }
}

/** A DPS registration over HTTPS: status and body. */
async function register(registrationId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const key = await deriveDeviceKey(GROUP_KEY, registrationId);
  const response = await dpsRequest(platform, {
    method: 'PUT',
    path: `/${platform.dps.idScope}/registrations/${registrationId}/register?api-version=2021-06-01`,
    body: { registrationId },
    headers: { 'content-type': 'application/json' },
    token: await dpsToken(platform.dps.idScope, registrationId, key),
  });
  return { status: response.status, body: (response.body ?? {}) as Record<string, unknown> };
}

before(async () => {
  platform = await startTestPlatform();
  hub = onlyHub(platform);
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  for (const id of [DEVICE, OTHER]) assert.equal((await register(id)).status, 202);
});
after(async () => {
  await platform?.dispose();
});

describe('fault injection: the hub at connect (MQTT)', () => {
  const cases: [string, number | 'no answer'][] = [
    ['tokenExpired', 5],
    ['deviceDisabled', 3],
    ['deviceBlocked', 3],
    ['internalError', 3],
    ['throttled', 3],
    ['unreachable', 'no answer'],
  ];
  for (const [condition, expected] of cases) {
    it(`${condition}: CONNACK ${String(expected)} for the device it names, others unaffected, service back once cleared`, async () => {
      assert.equal(await connack(DEVICE), 0);
      const fault = await addFault({ condition, deviceId: DEVICE });
      assert.equal(await connack(DEVICE), expected);
      assert.equal(await connack(OTHER), 0, 'a device the fault does not name connects');
      const listed = (await centralRequest(platform, { method: 'GET', path: `/plugboard/faults/${fault.id}` }))
        .body as Fault;
      assert.equal(listed.matched, 1);
      assert.equal(listed.lastMatches[0]?.deviceId, DEVICE);
      assert.equal(
        (await centralRequest(platform, { method: 'DELETE', path: `/plugboard/faults/${fault.id}` })).status,
        204,
      );
      assert.equal(await connack(DEVICE), 0, 'cleared: the device connects again');
    });
  }

  it('unreachable with answer silent: no CONNACK ever, the connection left open; back once cleared', async () => {
    await addFault({ condition: 'unreachable', deviceId: DEVICE, answer: 'silent' });
    const client = await RawMqtt.connect(rawMqttOptions(platform, hub));
    try {
      const handshake = client.handshake({
        clientId: DEVICE,
        username: mqttUsername(hub.hostName, DEVICE),
        password: await deviceToken(hub, DEVICE),
      });
      await assert.rejects(
        Promise.race([handshake, new Promise((_, reject) => setTimeout(() => reject(new Error('silence')), 1500))]),
        /silence/,
      );
      assert.equal(client.closed, false, 'the connection is still open, unanswered');
      handshake.catch(() => undefined);
    } finally {
      client.end();
    }
    await clearFaults();
    assert.equal(await connack(DEVICE), 0);
  });

  it('attempts and durations end a fault by themselves; a hub-wide fault names no device', async () => {
    const counted = await addFault({ condition: 'internalError', attempts: 2 });
    assert.equal(await connack(DEVICE), 3);
    assert.equal(await connack(OTHER), 3);
    assert.equal(await connack(DEVICE), 0, 'two attempts matched: it ended');
    const ended = (await centralRequest(platform, { method: 'GET', path: `/plugboard/faults/${counted.id}` }))
      .body as Fault;
    assert.equal(typeof ended.endedAt, 'string');
    await addFault({ condition: 'throttled', durationSeconds: 0.5, hub: hub.name });
    assert.equal(await connack(DEVICE), 3);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(await connack(DEVICE), 0, 'the duration passed');
    await addFault({ condition: 'tokenExpired', hub: 'another-hub' });
    assert.equal(await connack(DEVICE), 0, 'a fault on another hub does not match');
    await clearFaults();
  });

  it('latency delays the answer; drop accepts, then drops the connection', async () => {
    await addFault({ condition: 'latency', deviceId: DEVICE, latencyMs: 400, attempts: 1 });
    const started = Date.now();
    assert.equal(await connack(DEVICE), 0);
    assert.ok(Date.now() - started >= 380, 'the CONNACK waited for the latency');
    await addFault({ condition: 'drop', deviceId: DEVICE, attempts: 1 });
    const client = await RawMqtt.connect(rawMqttOptions(platform, hub));
    const ack = await client.handshake({
      clientId: DEVICE,
      username: mqttUsername(hub.hostName, DEVICE),
      password: await deviceToken(hub, DEVICE),
    });
    assert.equal(ack.returnCode, 0);
    await client.waitClosed();
    await clearFaults();
  });

  it('stall: a live connection stays up but each message is acknowledged only after the stall', async () => {
    const client = await connected(DEVICE);
    try {
      await addFault({ condition: 'stall', deviceId: DEVICE, latencyMs: 600, attempts: 1 });
      const started = Date.now();
      client.send({
        cmd: 'publish',
        topic: `devices/${DEVICE}/messages/events/`,
        payload: Buffer.from('{}'),
        qos: 1,
        messageId: 7,
        dup: false,
        retain: false,
      });
      await client.next((p): p is Extract<typeof p, { cmd: 'puback' }> => p.cmd === 'puback', 5000);
      assert.ok(Date.now() - started >= 580, 'the PUBACK waited for the stall');
      const quick = Date.now();
      client.send({
        cmd: 'publish',
        topic: `devices/${DEVICE}/messages/events/`,
        payload: Buffer.from('{}'),
        qos: 1,
        messageId: 8,
        dup: false,
        retain: false,
      });
      await client.next((p): p is Extract<typeof p, { cmd: 'puback' }> => p.cmd === 'puback', 5000);
      assert.ok(Date.now() - quick < 500, 'the stall ended after its one attempt');
    } finally {
      client.end();
      await clearFaults();
    }
  });

  it('throttling: a burst passes, then PUBACKs come later (shaping), then 429002 closes the connection', async () => {
    /** Connects, publishes `count` QoS 1 messages at once, and reports when each PUBACK came and whether it closed. */
    const burst = async (count: number): Promise<{ acks: number[]; closed: boolean }> => {
      const client = await connected(DEVICE);
      try {
        const started = Date.now();
        for (let id = 1; id <= count; id++) {
          client.send({
            cmd: 'publish',
            topic: `devices/${DEVICE}/messages/events/`,
            payload: Buffer.from(JSON.stringify({ id })),
            qos: 1,
            messageId: id,
            dup: false,
            retain: false,
          });
        }
        const acks: number[] = [];
        try {
          while (acks.length < count) {
            await client.next((p): p is Extract<typeof p, { cmd: 'puback' }> => p.cmd === 'puback', 3000);
            acks.push(Date.now() - started);
          }
        } catch {
          // The hub closed the connection (or stopped acknowledging).
        }
        return { acks, closed: client.closed };
      } finally {
        client.end();
      }
    };
    const fault = await addFault({ condition: 'throttling', deviceId: DEVICE, ratePerSecond: 10, backlogSeconds: 1 });
    const first = await burst(40);
    // One second of traffic (10 messages) passes at once, about one more second is shaped, the rest refused.
    assert.ok(first.acks.length >= 15 && first.acks.length <= 25, `acknowledged ${first.acks.length} of 40`);
    assert.ok(first.acks[9]! < 500, `the burst was acknowledged at once (${first.acks[9]} ms)`);
    assert.ok(first.acks.at(-1)! >= 700, `later messages were acknowledged late (${first.acks.at(-1)} ms)`);
    assert.equal(first.closed, true, 'the connection closed once the backlog was full');
    const listed = (await centralRequest(platform, { method: 'GET', path: `/plugboard/faults/${fault.id}` }))
      .body as Fault & { shaped: number; refused: number };
    assert.ok(listed.shaped >= 5, JSON.stringify(listed));
    assert.ok(listed.refused >= 1, JSON.stringify(listed));

    // Clearing the fault restores service at once.
    await clearFaults();
    const after = await burst(40);
    assert.equal(after.acks.length, 40);
    assert.equal(after.closed, false);
  });

  it('an official SDK device: its live connection drops when the fault is added, reconnects fail until it is cleared', async () => {
    const key = await deriveDeviceKey(GROUP_KEY, DEVICE);
    const client = Client.fromConnectionString(
      `HostName=${hub.hostName};DeviceId=${DEVICE};SharedAccessKey=${key}`,
      Mqtt,
    );
    client.setRetryPolicy(new NoRetry() as never);
    await withTimeout(client.open(), 15_000, 'open');
    const disconnected = new Promise<void>((resolve) => client.once('disconnect', () => resolve()));
    await addFault({ condition: 'deviceDisabled', deviceId: DEVICE });
    await withTimeout(disconnected, 10_000, 'the disconnect');
    await assert.rejects(client.open(), /Server unavailable/);
    await clearFaults();
    await withTimeout(client.open(), 15_000, 'open after clearing');
    await client.close();
  });
});

/** What one telemetry POST of `deviceId` over HTTPS gets: `status [iothub-errorcode]`, or `'no answer'`. */
async function post(deviceId: string, body = '{}'): Promise<string> {
  try {
    const response = await hubRequest(platform, hub, {
      method: 'POST',
      path: `/devices/${deviceId}/messages/events?api-version=2021-04-12`,
      body: Buffer.from(body),
      headers: { 'content-type': 'application/octet-stream' },
      authorization: await deviceToken(hub, deviceId),
    });
    const code = response.headers['iothub-errorcode'];
    return code === undefined ? String(response.status) : `${response.status} ${String(code)}`;
  } catch {
    // The hub closed the connection without a response.
    return 'no answer';
  }
}

describe('fault injection: the hub per request (HTTPS)', () => {
  const cases: [string, string][] = [
    ['tokenExpired', '401 IotHubUnauthorizedAccess'],
    ['deviceDisabled', '403 DeviceDisabled'],
    ['deviceBlocked', '403 DeviceDisabled'],
    ['internalError', '500 ServerError'],
    ['throttled', '429 ThrottlingException'],
    ['unreachable', 'no answer'],
  ];
  for (const [condition, expected] of cases) {
    it(`${condition}: ${expected} for the device it names, others unaffected, service back once cleared`, async () => {
      assert.equal(await post(DEVICE), '204');
      const fault = await addFault({ condition, deviceId: DEVICE });
      assert.equal(await post(DEVICE), expected);
      assert.equal(await post(OTHER), '204', 'a device the fault does not name is served');
      const listed = (await centralRequest(platform, { method: 'GET', path: `/plugboard/faults/${fault.id}` }))
        .body as Fault;
      assert.equal(listed.matched, 1);
      await clearFaults();
      assert.equal(await post(DEVICE), '204', 'cleared: served again');
    });
  }

  it("the error body is IoT Hub's, and the official Http transport maps it (500 → InternalServerError)", async () => {
    await addFault({ condition: 'internalError', deviceId: DEVICE, attempts: 1 });
    const response = await hubRequest(platform, hub, {
      method: 'POST',
      path: `/devices/${DEVICE}/messages/events?api-version=2021-04-12`,
      body: Buffer.from('{}'),
      authorization: await deviceToken(hub, DEVICE),
    });
    assert.equal(response.status, 500);
    assert.match(String((response.body as { Message: string }).Message), /^ErrorCode:ServerError;Internal error/);
    assert.match(String((response.body as { ExceptionMessage: string }).ExceptionMessage), /^Tracking ID:/);
    await addFault({ condition: 'internalError', deviceId: DEVICE, attempts: 1 });
    const key = await deriveDeviceKey(GROUP_KEY, DEVICE);
    const client = Client.fromConnectionString(
      `HostName=${hub.hostName};DeviceId=${DEVICE};SharedAccessKey=${key}`,
      Http,
    );
    client.setRetryPolicy(new NoRetry() as never);
    await withTimeout(client.open(), 10_000, 'open');
    const refused = await client.sendEvent(new deviceSdk.Message('x')).then(
      () => undefined,
      (error: Error) => error,
    );
    assert.equal(refused?.constructor.name, 'InternalServerError');
    await withTimeout(client.sendEvent(new deviceSdk.Message('x')), 10_000, 'served once the fault ended');
    await client.close();
    await clearFaults();
  });

  it('unreachable with answer silent: the request is never answered; back once cleared', async () => {
    await addFault({ condition: 'unreachable', deviceId: DEVICE, answer: 'silent' });
    const answer = post(DEVICE);
    const outcome = await Promise.race([answer, new Promise((resolve) => setTimeout(() => resolve('silence'), 1500))]);
    assert.equal(outcome, 'silence');
    await clearFaults();
    assert.equal(await post(DEVICE), '204');
    // The swallowed request ends with the platform (its connection is held, not answered).
    void answer;
  });

  it('latency delays the answer; drop closes the connection without one', async () => {
    await addFault({ condition: 'latency', deviceId: DEVICE, latencyMs: 400, attempts: 1 });
    const started = Date.now();
    assert.equal(await post(DEVICE), '204');
    assert.ok(Date.now() - started >= 380, 'the answer waited for the latency');
    await addFault({ condition: 'drop', deviceId: DEVICE, attempts: 1 });
    assert.equal(await post(DEVICE), 'no answer');
    assert.equal(await post(DEVICE), '204');
    await clearFaults();
  });

  it('stall: the 204 comes only after the stall, and the message is stored', async () => {
    await addFault({ condition: 'stall', deviceId: DEVICE, latencyMs: 600, attempts: 1 });
    const started = Date.now();
    assert.equal(await post(DEVICE, '{"stalled":true}'), '204');
    assert.ok(Date.now() - started >= 580, 'the answer waited for the stall');
    const stored = await hub.queryTelemetry({ deviceId: DEVICE });
    assert.equal(Buffer.from(stored.at(-1)?.body ?? []).toString(), '{"stalled":true}');
    await clearFaults();
  });

  it('throttling: a burst passes, then answers come later (shaping), then 429 ThrottleBacklogLimitExceeded', async () => {
    const burst = async (count: number): Promise<{ at: number; answer: string }[]> => {
      const started = Date.now();
      return Promise.all(
        Array.from({ length: count }, async () => {
          const answer = await post(DEVICE);
          return { at: Date.now() - started, answer };
        }),
      );
    };
    await addFault({ condition: 'throttling', deviceId: DEVICE, ratePerSecond: 10, backlogSeconds: 1 });
    const answers = await burst(40);
    const accepted = answers.filter((a) => a.answer === '204').sort((a, b) => a.at - b.at);
    const refused = answers.filter((a) => a.answer === '429 ThrottleBacklogLimitExceeded');
    assert.equal(accepted.length + refused.length, 40, JSON.stringify(answers.map((a) => a.answer)));
    assert.ok(accepted.length >= 15 && accepted.length <= 25, `accepted ${accepted.length} of 40`);
    assert.ok(accepted.at(-1)!.at >= 700, `later messages were answered late (${accepted.at(-1)!.at} ms)`);
    assert.ok(refused.length >= 1);
    await clearFaults();
    const after = await burst(20);
    assert.deepEqual(new Set(after.map((a) => a.answer)), new Set(['204']), 'cleared: every message is accepted');
  });
});

/** What a raw AMQP put-token of `deviceId` on `$cbs` gets (see {@link RawAmqp.putToken}). */
async function putToken(deviceId: string): Promise<string> {
  const amqp = RawAmqp.open(hub, platform);
  try {
    return await amqp.putToken(`${hub.hostName}/devices/${deviceId}`, await deviceToken(hub, deviceId));
  } finally {
    amqp.close();
  }
}

describe('fault injection: the hub at put-token (AMQP)', () => {
  const cases: [string, string][] = [
    ['tokenExpired', '401'],
    ['deviceDisabled', '403'],
    ['deviceBlocked', '403'],
    ['internalError', '500'],
    ['throttled', '429'],
    ['unreachable', 'no answer'],
  ];
  for (const [condition, expected] of cases) {
    it(`${condition}: CBS status ${expected} for the device it names, others unaffected, service back once cleared`, async () => {
      assert.equal(await putToken(DEVICE), '200');
      await addFault({ condition, deviceId: DEVICE });
      assert.equal(await putToken(DEVICE), expected);
      assert.equal(await putToken(OTHER), '200', 'a device the fault does not name is served');
      await clearFaults();
      assert.equal(await putToken(DEVICE), '200', 'cleared: served again');
    });
  }

  it('unreachable with answer silent: the put-token is never answered', async () => {
    await addFault({ condition: 'unreachable', deviceId: DEVICE, answer: 'silent' });
    assert.equal(await putToken(DEVICE), 'silence');
    await clearFaults();
  });

  it('an official SDK device over AMQP: its connection drops when the fault is added, open fails until cleared', async () => {
    const key = await deriveDeviceKey(GROUP_KEY, DEVICE);
    const client = Client.fromConnectionString(
      `HostName=${hub.hostName};DeviceId=${DEVICE};SharedAccessKey=${key}`,
      Amqp,
    );
    client.setRetryPolicy(new NoRetry() as never);
    await withTimeout(client.open(), 15_000, 'open');
    const disconnected = new Promise<void>((resolve) => client.once('disconnect', () => resolve()));
    await addFault({ condition: 'deviceDisabled', deviceId: DEVICE });
    await withTimeout(disconnected, 10_000, 'the disconnect');
    await assert.rejects(client.open(), (error: Error) => error.constructor.name === 'UnauthorizedError');
    await clearFaults();
    await withTimeout(client.open(), 15_000, 'open after clearing');
    await client.close();
  });
});

describe("fault injection: the official SDKs' fault-control messages", () => {
  for (const operation of ['KillTcp', 'ShutDownMqtt']) {
    it(`${operation}: the message is accepted, then the connection is severed after its delay`, async () => {
      const key = await deriveDeviceKey(GROUP_KEY, OTHER);
      const client = Client.fromConnectionString(
        `HostName=${hub.hostName};DeviceId=${OTHER};SharedAccessKey=${key}`,
        Mqtt,
      );
      client.setRetryPolicy(new NoRetry() as never);
      await withTimeout(client.open(), 15_000, 'open');
      const disconnected = new Promise<number>((resolve) => client.once('disconnect', () => resolve(Date.now())));
      const message = new deviceSdk.Message('');
      message.properties.add('AzIoTHub_FaultOperationType', operation);
      message.properties.add('AzIoTHub_FaultOperationCloseReason', ' severs the connection ');
      message.properties.add('AzIoTHub_FaultOperationDelayInSecs', '1');
      const sent = Date.now();
      await withTimeout(client.sendEvent(message), 10_000, 'the fault message is acknowledged');
      const at = await withTimeout(disconnected, 10_000, 'the connection severed');
      assert.ok(at - sent >= 900, `severed after the delay (${at - sent} ms)`);
      assert.equal(hub.isConnected({ deviceId: OTHER }), false);
      await client.close().catch(() => undefined);
    });
  }
});

describe("fault injection: the SDKs' refusing fault operations (InvokeThrottling, InvokeMaxMessageQuota, InvokeAuthError)", () => {
  const cases: [string, number, string][] = [
    ['InvokeThrottling', 429, 'Error'],
    ['InvokeMaxMessageQuota', 403, 'IotHubQuotaExceededError'],
    ['InvokeAuthError', 401, 'UnauthorizedError'],
  ];
  for (const [operation, status, errorName] of cases) {
    it(`${operation} over HTTPS: accepted, then telemetry refused with ${status} (${errorName}) for its duration`, async () => {
      const key = await deriveDeviceKey(GROUP_KEY, OTHER);
      const client = Client.fromConnectionString(
        `HostName=${hub.hostName};DeviceId=${OTHER};SharedAccessKey=${key}`,
        Http,
      );
      client.setRetryPolicy(new NoRetry() as never);
      await withTimeout(client.open(), 10_000, 'open');
      const fault = new deviceSdk.Message('');
      fault.properties.add('AzIoTHub_FaultOperationType', operation);
      fault.properties.add('AzIoTHub_FaultOperationCloseReason', ' boom ');
      fault.properties.add('AzIoTHub_FaultOperationDurationInSecs', '1');
      fault.properties.add('AzIoTHub_FaultOperationDelayInSecs', '0');
      await withTimeout(client.sendEvent(fault), 10_000, 'the fault message is accepted');
      const refused = await client.sendEvent(new deviceSdk.Message('refused')).then(
        () => undefined,
        (error: Error & { response?: { statusCode: number } }) => error,
      );
      assert.equal(refused?.response?.statusCode, status);
      assert.equal(refused?.constructor.name, errorName);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await withTimeout(client.sendEvent(new deviceSdk.Message('served')), 10_000, 'served after the duration');
      await client.close();
    });
  }

  it('InvokeThrottling over MQTT: the next message closes the connection (no negative PUBACK); after the duration it is acknowledged', async () => {
    const publish = (client: RawMqtt, messageId: number, bag = '') =>
      client.send({
        cmd: 'publish',
        topic: `devices/${OTHER}/messages/events/${bag}`,
        payload: Buffer.from('{}'),
        qos: 1,
        messageId,
        dup: false,
        retain: false,
      });
    const puback = (p: { cmd: string }): p is Extract<typeof p, { cmd: 'puback' }> => p.cmd === 'puback';
    const client = await connected(OTHER);
    publish(client, 1, 'AzIoTHub_FaultOperationType=InvokeThrottling&AzIoTHub_FaultOperationDurationInSecs=1');
    await client.next(puback, 5000);
    publish(client, 2);
    await client.waitClosed();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const again = await connected(OTHER);
    publish(again, 3);
    await again.next(puback, 5000);
    again.end();
  });
});

describe('fault injection: DPS at registration (HTTPS and MQTT)', () => {
  const cases: [string, number, number][] = [
    ['dpsUnauthorized', 401, 401002],
    ['dpsBlocked', 401, 400209],
    ['dpsThrottled', 429, 429001],
    ['dpsInternalError', 500, 500001],
  ];
  for (const [condition, status, errorCode] of cases) {
    it(`${condition}: HTTP ${status} with errorCode ${errorCode}, then service back once cleared`, async () => {
      await addFault({ condition, deviceId: DEVICE });
      const refused = await register(DEVICE);
      assert.equal(refused.status, status);
      assert.equal(refused.body['errorCode'], errorCode);
      assert.equal((await register(OTHER)).status, 202, 'another registration is unaffected');
      await clearFaults();
      assert.equal((await register(DEVICE)).status, 202);
    });
  }

  it('the official provisioning SDK over MQTT gets the injected refusal', async () => {
    const { provisionDevice } = await import('./central-fixtures.js');
    await addFault({ condition: 'dpsBlocked', deviceId: DEVICE, attempts: 1 });
    await assert.rejects(provisionDevice(platform, DEVICE, GROUP_KEY), (error: Error) => {
      // The SDK rejects with its UnauthorizedError carrying DPS's answer.
      assert.match(`${error.name} ${JSON.stringify(error)}`, /400209/);
      return true;
    });
    const registration = await provisionDevice(platform, DEVICE, GROUP_KEY);
    assert.equal(registration.deviceId, DEVICE, 'one attempt matched, the next registers');
  });
});

describe('fault injection: the API and the CLI', () => {
  it('bad faults are refused with the reason and add nothing', async () => {
    for (const body of [
      { condition: 'meteor' },
      { condition: 'tokenExpired', attempts: 0 },
      { condition: 'tokenExpired', attempts: 1.5 },
      { condition: 'dpsBlocked', hub: hub.name },
      { condition: 'tokenExpired', latencyMs: 10 },
      { condition: 'tokenExpired', extra: true },
      { condition: 'tokenExpired', answer: 'silent' },
      { condition: 'unreachable', answer: 'maybe' },
      [],
    ]) {
      const response = await centralRequest(platform, { method: 'POST', path: '/plugboard/faults', body });
      assert.equal(response.status, 400, `${JSON.stringify(body)}: ${response.text}`);
    }
    const list = (await centralRequest(platform, { method: 'GET', path: '/plugboard/faults' })).body as {
      value: Fault[];
    };
    assert.equal(list.value.filter((f) => f.endedAt === undefined).length, 0);
    assert.equal((await centralRequest(platform, { method: 'DELETE', path: '/plugboard/faults/nope' })).status, 404);
  });

  it('plugboard fault add | list | clear', async () => {
    writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
    const cli = async (...args: string[]): Promise<unknown> =>
      JSON.parse(await runCli(...args, '--data-dir', platform.dataDir, '--json')) as unknown;
    const added = (await cli(
      'fault',
      'add',
      '--condition',
      'tokenExpired',
      '--device-id',
      DEVICE,
      '--attempts',
      '3',
    )) as Fault;
    assert.equal(added.condition, 'tokenExpired');
    assert.equal(await connack(DEVICE), 5);
    const listed = (await cli('fault', 'list')) as Fault[];
    assert.equal(listed.find((f) => f.id === added.id)?.matched, 1);
    const cleared = (await cli('fault', 'clear')) as { cleared: number };
    assert.equal(cleared.cleared, 1);
    await eventually(async () => ((await connack(DEVICE)) === 0 ? true : undefined), 5000, 'service back');
  });
});

describe('the device timeline', () => {
  interface Timeline {
    value: { kind: string; outcome?: string; code?: string; sincePreviousAttemptMs?: number; sequence: number }[];
    summary: { attempts: number; refusals: number; eager: boolean; retryIntervalsMs: number[] };
  }
  const timeline = async (id: string, after = 0): Promise<Timeline> => {
    const response = await centralRequest(platform, {
      method: 'GET',
      path: `/plugboard/devices/${id}/timeline?after=${after}`,
    });
    assert.equal(response.status, 200, response.text);
    return response.body as Timeline;
  };

  it('shows provisioning, connects, refusals with their codes and disconnects, in order', async () => {
    const start = (await timeline(OTHER)).value.at(-1)?.sequence ?? 0;
    assert.equal((await register(OTHER)).status, 202);
    await addFault({ condition: 'tokenExpired', deviceId: OTHER, attempts: 1 });
    assert.equal(await connack(OTHER), 5);
    assert.equal(await connack(OTHER), 0);
    const entries = await eventually(
      async () => {
        const t = await timeline(OTHER, start);
        return t.value.some((e) => e.kind === 'disconnected') ? t.value : undefined;
      },
      5000,
      'the timeline entries',
    );
    assert.deepEqual(
      entries.map((e) => [e.kind, e.outcome ?? e.code ?? '']),
      [
        ['provisioning', 'assigned'],
        ['refused', 'HUB_TOKEN_EXPIRED'],
        ['connected', ''],
        ['disconnected', ''],
      ],
    );
    assert.ok(entries.slice(1, 3).every((e) => typeof e.sincePreviousAttemptMs === 'number'));
    await clearFaults();
  });

  it('a device that retries in a tight loop while throttled is marked eager; one that backs off is not', async () => {
    const mark = (await timeline(DEVICE)).value.at(-1)?.sequence ?? 0;
    await addFault({ condition: 'throttled', deviceId: DEVICE });
    const key = await deriveDeviceKey(GROUP_KEY, DEVICE);
    const eager = Client.fromConnectionString(
      `HostName=${hub.hostName};DeviceId=${DEVICE};SharedAccessKey=${key}`,
      Mqtt,
    );
    eager.setRetryPolicy(new NoRetry() as never);
    for (let i = 0; i < 6; i++) {
      await assert.rejects(eager.open());
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const storm = await eventually(
      async () => {
        const t = await timeline(DEVICE, mark);
        return t.summary.refusals >= 6 ? t.summary : undefined;
      },
      5000,
      'the refusals',
    );
    assert.equal(storm.eager, true, JSON.stringify(storm));
    await clearFaults();

    // OTHER backs off: waits longer after each refusal, never under a second.
    const otherMark = (await timeline(OTHER)).value.at(-1)?.sequence ?? 0;
    await addFault({ condition: 'throttled', deviceId: OTHER, attempts: 3 });
    for (const wait of [1100, 1500, 0]) {
      assert.equal(await connack(OTHER), 3);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    assert.equal(await connack(OTHER), 0);
    const calm = (await timeline(OTHER, otherMark)).summary;
    assert.equal(calm.eager, false, JSON.stringify(calm));
  });

  it('plugboard device timeline prints the entries and the verdict', async () => {
    writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
    const text = await runCli('device', 'timeline', '--device-id', DEVICE, '--data-dir', platform.dataDir);
    assert.match(text, /refused {2}hub hub-1 {2}HUB_THROTTLED/);
    assert.match(text, /\d+ attempts, \d+ refused, shortest retry \d+ ms/);
  });
});
