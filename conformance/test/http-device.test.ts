/**
 * The official azure-iot-device + azure-iot-device-http packages (the `Http` transport, SAS and X.509)
 * against a Plugboard hub's device HTTPS API: telemetry stored exactly as over MQTT, batches, C2D polling
 * with complete / reject / abandon and feedback, and the API's errors on the wire. protocol.md §4.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import common from 'azure-iot-common';
import deviceSdk from 'azure-iot-device';
import httpTransport from 'azure-iot-device-http';
import {
  assertStoredAsSent,
  assertX509DeviceSends,
  sasDeviceClient,
  deviceToken,
  eventually,
  hubRequest,
  onlyHub,
  startTestPlatform,
  withTimeout,
  type TestPlatform,
} from './harness.js';

const { Message } = deviceSdk;
const { Http } = httpTransport;
const { NoRetry } = common;

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

const sasClient = (deviceId: string): Promise<DeviceClient> => sasDeviceClient(hub(), deviceId, Http);

/** A raw device request, authenticated with the device's SAS token unless told otherwise. */
async function deviceRequest(
  deviceId: string,
  request: {
    method: string;
    path: string;
    body?: Buffer;
    headers?: Record<string, string>;
    authorization?: string | null;
  },
) {
  const authorization =
    request.authorization === undefined ? await deviceToken(hub(), deviceId) : request.authorization;
  return hubRequest(platform, hub(), { ...request, authorization });
}

const events = (deviceId: string) => `/devices/${deviceId}/messages/events?api-version=2021-04-12`;
const devicebound = (deviceId: string) => `/devices/${deviceId}/messages/devicebound?api-version=2021-04-12`;

describe('official device SDK over HTTPS (azure-iot-device-http)', () => {
  it('[§4.1] sendEvent stores properties, system properties, dt-subject and creation time as MQTT does', async () => {
    const deviceId = 'http-sas';
    const client = await sasClient(deviceId);
    await withTimeout(client.open(), 10_000, 'open');
    const message = new Message(JSON.stringify({ temperature: 21.5 }));
    message.messageId = 'mid-1';
    message.correlationId = 'cid/1';
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    message.properties.add('myProp', 'a&b=c');
    message.properties.add('dt-subject', 'thermostat1');
    message.properties.add('iothub-creation-time-utc', '2021-04-21T11:30:16Z');
    const before = Date.now();
    await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
    const [record] = await hub().queryTelemetry({ deviceId });
    assertStoredAsSent(record, deviceId, before);
    assert.deepEqual(record?.properties, { myProp: 'a&b=c', 'iothub-creation-time-utc': '2021-04-21T11:30:16Z' });
    assert.equal(
      record?.systemProperties['iothub-connection-auth-method'],
      '{"scope":"device","type":"sas","issuer":"iothub"}',
    );
    // The Node Plug and Play samples' `$.sub` arrives as an application property over HTTPS: a component too.
    const pnp = new Message('{"t":2}');
    pnp.properties.add('$.sub', 'thermostat2');
    await withTimeout(client.sendEvent(pnp), 10_000, 'sendEvent $.sub');
    const [, second] = await hub().queryTelemetry({ deviceId });
    assert.equal(second?.component, 'thermostat2');
    assert.deepEqual(second?.properties, {});
    await client.close();
  });

  it('[§4.2] sendEventBatch stores every message, in order, with its properties', async () => {
    const deviceId = 'http-batch';
    const client = await sasClient(deviceId);
    await withTimeout(client.open(), 10_000, 'open');
    const batch = [1, 2, 3].map((n) => {
      const m = new Message(JSON.stringify({ n }));
      m.properties.add('seq', String(n));
      if (n === 2) m.properties.add('dt-subject', 'sensor');
      return m;
    });
    await withTimeout(client.sendEventBatch(batch), 10_000, 'sendEventBatch');
    const records = await hub().queryTelemetry({ deviceId });
    assert.deepEqual(
      records.map((r) => [Buffer.from(r.body).toString(), r.properties['seq'], r.component ?? null]),
      [
        ['{"n":1}', '1', null],
        ['{"n":2}', '2', 'sensor'],
        ['{"n":3}', '3', null],
      ],
    );
    await client.close();
  });

  it('[§4.1] an X.509 device (TLS client certificate, no SAS) sends telemetry', async () => {
    await assertX509DeviceSends(hub(), 'http-x509', Http);
  });

  it('[§4.3] C2D polling: completed gives positive feedback, rejected is dead-lettered, abandoned comes back', async () => {
    const deviceId = 'http-c2d';
    const client = await sasClient(deviceId);
    await withTimeout(client.open(), 10_000, 'open');
    for (const [messageId, data] of [
      ['c-complete', 'complete me'],
      ['c-reject', 'reject me'],
      ['c-abandon', 'abandon me'],
    ] as const) {
      await hub().sendC2d(
        { deviceId },
        { body: Buffer.from(data), messageId, ack: 'full', properties: { kind: messageId } },
      );
    }
    const seen: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      client.on('message', (message: Received) => {
        seen.push(message.messageId);
        const settle =
          message.messageId === 'c-reject'
            ? client.reject(message)
            : message.messageId === 'c-abandon' && !seen.slice(0, -1).includes('c-abandon')
              ? client.abandon(message)
              : client.complete(message);
        settle.then(() => {
          if (hub().c2dQueueLength({ deviceId }) === 0) resolve();
        }, reject);
      });
    });
    await withTimeout(done, 15_000, 'every message settled');
    await client.close();
    assert.deepEqual(seen, ['c-complete', 'c-reject', 'c-abandon', 'c-abandon'], 'the abandoned message came back');
    const feedback = await hub().takeFeedback(64);
    assert.deepEqual(feedback.map((f) => [f.originalMessageId, f.statusCode]).sort(), [
      ['c-abandon', 'Success'],
      ['c-complete', 'Success'],
      ['c-reject', 'Rejected'],
    ]);
  });
});

describe('device HTTPS API on the wire', () => {
  it('[§4.3] GET gives 204 when empty, then the message with its lock as ETag and its properties as headers', async () => {
    const deviceId = 'http-raw';
    await hub().createIdentity({ deviceId });
    const empty = await deviceRequest(deviceId, { method: 'GET', path: devicebound(deviceId) });
    assert.equal(empty.status, 204);
    await hub().sendC2d(
      { deviceId },
      { body: Buffer.from('on'), messageId: 'm1', correlationId: 'c1', ack: 'positive', properties: { color: 'red' } },
    );
    const first = await deviceRequest(deviceId, { method: 'GET', path: devicebound(deviceId) });
    assert.equal(first.status, 200);
    assert.equal(first.text, 'on');
    const etag = String(first.headers['etag']);
    assert.match(etag, /^"[0-9a-f-]{36}"$/);
    assert.equal(first.headers['iothub-messageid'], 'm1');
    assert.equal(first.headers['iothub-correlationid'], 'c1');
    assert.equal(first.headers['iothub-to'], `/devices/${deviceId}/messages/deviceBound`);
    assert.equal(first.headers['iothub-ack'], 'positive');
    assert.equal(first.headers['iothub-deliverycount'], '1');
    assert.equal(first.headers['iothub-app-color'], 'red');
    assert.ok(!Number.isNaN(Date.parse(String(first.headers['iothub-enqueuedtime']))));
    // Locked: not delivered again while the lock holds.
    assert.equal((await deviceRequest(deviceId, { method: 'GET', path: devicebound(deviceId) })).status, 204);
    const lock = etag.slice(1, -1);
    const abandon = await deviceRequest(deviceId, {
      method: 'POST',
      path: `/devices/${deviceId}/messages/devicebound/${lock}/abandon?api-version=2021-04-12`,
      headers: { 'if-match': lock },
    });
    assert.equal(abandon.status, 204, abandon.text);
    const second = await deviceRequest(deviceId, { method: 'GET', path: devicebound(deviceId) });
    assert.equal(second.headers['iothub-deliverycount'], '2', 'an abandoned message comes back with its count raised');
    assert.notEqual(second.headers['etag'], etag);
    const stale = await deviceRequest(deviceId, {
      method: 'DELETE',
      path: `/devices/${deviceId}/messages/devicebound/${lock}?api-version=2021-04-12`,
    });
    assert.equal(stale.status, 412);
    assert.equal(stale.headers['iothub-errorcode'], 'DeviceMessageLockLost');
    assert.match(String((stale.body as { Message: string }).Message), /^ErrorCode:DeviceMessageLockLost;/);
    const current = String(second.headers['etag']);
    const complete = await deviceRequest(deviceId, {
      method: 'DELETE',
      path: `/devices/${deviceId}/messages/devicebound/${current.slice(1, -1)}?api-version=2021-04-12`,
      headers: { 'if-match': current },
    });
    assert.equal(complete.status, 204, complete.text);
    assert.equal(hub().c2dQueueLength({ deviceId }), 0);
    assert.deepEqual(
      (await hub().takeFeedback(64)).filter((f) => f.deviceId === deviceId).map((f) => f.statusCode),
      ['Success'],
    );
  });

  it("[§4.4] errors in IoT Hub format: wrong key 401, another device's token 401, disabled 403, too large 413, bad batch 400", async () => {
    const deviceId = 'http-errors';
    await hub().createIdentity({ deviceId });
    await hub().createIdentity({ deviceId: 'http-other' });
    const wrongKey = await deviceRequest(deviceId, {
      method: 'POST',
      path: events(deviceId),
      body: Buffer.from('x'),
      authorization: await deviceToken(hub(), deviceId, { key: Buffer.alloc(32, 7).toString('base64') }),
    });
    assert.equal(wrongKey.status, 401);
    assert.equal(wrongKey.headers['iothub-errorcode'], 'IotHubUnauthorizedAccess');
    const othersToken = await deviceRequest(deviceId, {
      method: 'POST',
      path: events(deviceId),
      body: Buffer.from('x'),
      authorization: await deviceToken(hub(), 'http-other'),
    });
    assert.equal(othersToken.status, 401);
    const none = await deviceRequest(deviceId, { method: 'GET', path: devicebound(deviceId), authorization: null });
    assert.equal(none.status, 401);
    const tooLarge = await deviceRequest(deviceId, {
      method: 'POST',
      path: events(deviceId),
      body: Buffer.alloc(256 * 1024 + 1, 0x61),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.headers['iothub-errorcode'], 'MessageTooLarge');
    const badBatch = await deviceRequest(deviceId, {
      method: 'POST',
      path: events(deviceId),
      body: Buffer.from('[{"body":"%%%"}]'),
      headers: { 'content-type': 'application/vnd.microsoft.iothub.json' },
    });
    assert.equal(badBatch.status, 400);
    assert.match(String((badBatch.body as { Message: string }).Message), /base64/);
    assert.equal((await hub().queryTelemetry({ deviceId })).length, 0, 'nothing refused was stored');

    await hub().updateIdentity({ deviceId, status: 'disabled' });
    const client = await sasClient(deviceId);
    client.setRetryPolicy(new NoRetry());
    await withTimeout(client.open(), 10_000, 'open');
    const refused = await client.sendEvent(new Message('x')).then(
      () => undefined,
      (error: Error & { response?: { statusCode: number } }) => error,
    );
    assert.equal(refused?.response?.statusCode, 403);
    await client.close();
  });

  it("[§4.1] telemetry updates the device's last activity time; HTTPS is not a connection", async () => {
    const deviceId = 'http-activity';
    await hub().createIdentity({ deviceId });
    const sent = await deviceRequest(deviceId, { method: 'POST', path: events(deviceId), body: Buffer.from('hi') });
    assert.equal(sent.status, 204, sent.text);
    const activity = hub().getIdentity({ deviceId }).activity;
    await eventually(() => (Date.parse(activity.lastActivityTime) > 0 ? true : undefined));
    assert.equal(hub().isConnected({ deviceId }), false);
  });
});
