/**
 * DPS allocation, refusals, quotas and bad input: the official provisioning SDK where it matters, raw
 * HTTPS to see exact statuses and bodies. protocol.md §3.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningHttp from 'azure-iot-provisioning-device-http';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetricKeySecurity from 'azure-iot-security-symmetric-key';
import { deriveDeviceKey } from '@plugboard/protocol';
import { dpsRequest, dpsToken, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { ProvisioningDeviceClient } = provisioningSdk;
const { Http: ProvisioningHttp } = provisioningHttp;
const { Mqtt: ProvisioningMqtt } = provisioningMqtt;
const { SymmetricKeySecurityClient } = symmetricKeySecurity;

const GROUP = 'SAS-IoT-Devices';
const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';
const SECONDARY = 'c2Vjb25kYXJ5a2V5c2Vjb25kYXJ5a2V5MTIzNDU2Nzg=';

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform({ hubs: 3 });
  await platform.dps.putEnrollmentGroup(GROUP, {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: SECONDARY } },
  });
});
after(async () => {
  await platform?.dispose();
});

async function sdkRegister(registrationId: string, key: string, transport: 'mqtt' | 'http' = 'mqtt') {
  const client = ProvisioningDeviceClient.create(
    platform.dps.hostName,
    platform.dps.idScope,
    transport === 'mqtt' ? new ProvisioningMqtt() : new ProvisioningHttp(),
    // Two copies of azure-iot-common make the SDK's own types disagree; the objects are what it expects.
    new SymmetricKeySecurityClient(registrationId, key) as never,
  );
  client.setProvisioningPayload({ modelId: 'dtmi:com:example:Thermostat;1' });
  return (await withTimeout(client.register() as Promise<unknown>, 30_000, 'register')) as {
    assignedHub: string;
    deviceId: string;
  };
}

function register(registrationId: string, token: string, body: unknown = { registrationId }) {
  return dpsRequest(platform, {
    method: 'PUT',
    path: `/${platform.dps.idScope}/registrations/${registrationId}/register?api-version=2019-03-31`,
    body,
    token,
  });
}

describe('DPS allocation', () => {
  it('[DPS: hashed] 1,000 registrations over 3 evenly weighted hubs give each hub 333 ± 5%', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const registrationId = `alloc-${i}`;
      const key = await deriveDeviceKey(GROUP_KEY, registrationId);
      await platform.dps.register({
        idScope: platform.dps.idScope,
        registrationId,
        credentials: { token: await dpsToken(platform.dps.idScope, registrationId, key) },
        body: { registrationId },
      });
      const hub = platform.dps.getRegistration(registrationId).hub;
      counts.set(hub, (counts.get(hub) ?? 0) + 1);
    }
    assert.equal(counts.size, 3);
    for (const [hub, n] of counts) {
      assert.ok(n >= 317 && n <= 349, `${hub} got ${n} of 1,000`);
      assert.equal(
        platform.hubs.find((h) => h.name === hub)?.has({ deviceId: 'alloc-0' }),
        platform.dps.getRegistration('alloc-0').hub === hub,
      );
    }
  });

  it('[DPS: idempotent] registering the same id again (official SDK) returns the same hub', async () => {
    const key = await deriveDeviceKey(GROUP_KEY, 'again-1');
    const first = await sdkRegister('again-1', key);
    const second = await sdkRegister('again-1', key, 'http');
    assert.equal(second.assignedHub, first.assignedHub);
    assert.equal(platform.dps.getRegistration('again-1').substatus, 'initialAssignment');
  });

  it('[DPS: static, weighted] a static enrollment uses its hub; weights skew the split', async () => {
    const hubs = platform.hubs.map((h) => h.name);
    await platform.dps.putIndividualEnrollment('static-1', {
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: SECONDARY } },
      allocationPolicy: 'static',
      staticHub: hubs[2]!,
    });
    const result = await sdkRegister('static-1', GROUP_KEY);
    assert.equal(result.assignedHub, platform.hubs[2]!.hostName);

    const weightedKey = 'd2VpZ2h0ZWRrZXl3ZWlnaHRlZGtleTEyMzQ1Njc4OTA=';
    await platform.dps.putEnrollmentGroup('weighted', {
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: weightedKey, secondaryKey: SECONDARY } },
      allocationPolicy: 'weighted',
      weights: { [hubs[0]!]: 3, [hubs[1]!]: 1 },
    });
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const registrationId = `weighted-${i}`;
      const key = await deriveDeviceKey(weightedKey, registrationId);
      await platform.dps.register({
        idScope: platform.dps.idScope,
        registrationId,
        credentials: { token: await dpsToken(platform.dps.idScope, registrationId, key) },
        body: {},
      });
      const hub = platform.dps.getRegistration(registrationId).hub;
      counts.set(hub, (counts.get(hub) ?? 0) + 1);
    }
    assert.equal(counts.get(hubs[2]!), undefined, 'a hub without weight gets nothing');
    const heavy = counts.get(hubs[0]!) ?? 0;
    assert.ok(heavy >= 270 && heavy <= 330, `weight 3 of 4 got ${heavy} of 400`);
  });
});

describe('DPS refusals', () => {
  it('[§3.4] a disabled enrollment answers status "disabled" and the SDK fails', async () => {
    const key = 'ZGlzYWJsZWRrZXlkaXNhYmxlZGtleTEyMzQ1Njc4OTA=';
    await platform.dps.putIndividualEnrollment('disabled-1', {
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: key, secondaryKey: SECONDARY } },
      provisioningStatus: 'disabled',
    });
    await assert.rejects(sdkRegister('disabled-1', key), /disabled/);
    const res = await register('disabled-1', await dpsToken(platform.dps.idScope, 'disabled-1', key));
    assert.equal(res.status, 202);
    const { operationId } = res.body as { operationId: string };
    const status = await dpsRequest(platform, {
      method: 'GET',
      path: `/${platform.dps.idScope}/registrations/disabled-1/operations/${operationId}?api-version=2019-03-31`,
      token: await dpsToken(platform.dps.idScope, 'disabled-1', key),
    });
    assert.equal(status.status, 200);
    assert.equal((status.body as { status: string }).status, 'disabled');
    assert.equal(
      platform.hubs.some((h) => h.has({ deviceId: 'disabled-1' })),
      false,
      'no hub identity was created',
    );
  });

  it('[§3.3] a wrong key gets 401 with errorCode 401002 (raw) and UnauthorizedError (official SDK)', async () => {
    const wrong = 'd3JvbmdrZXl3cm9uZ2tleXdyb25na2V5MTIzNDU2Nzg='; // derived from no enrolled key
    const res = await register('wrong-key-1', await dpsToken(platform.dps.idScope, 'wrong-key-1', wrong));
    assert.equal(res.status, 401);
    assert.match(String(res.headers['content-type']), /application\/json/);
    const body = res.body as { errorCode: number; trackingId: string; message: string; timestampUtc: string };
    assert.equal(body.errorCode, 401002);
    assert.ok(body.trackingId && body.message && body.timestampUtc);
    await assert.rejects(sdkRegister('wrong-key-1', wrong), (err: Error) => err.name === 'UnauthorizedError');
    assert.throws(() => platform.dps.getRegistration('wrong-key-1'), /has not registered/);
  });

  it('[§3.4] an unknown ID scope gets 404; a token for another scope gets 401', async () => {
    const key = await deriveDeviceKey(GROUP_KEY, 'scope-1');
    const res = await dpsRequest(platform, {
      method: 'PUT',
      path: `/0ne00000000/registrations/scope-1/register?api-version=2019-03-31`,
      body: { registrationId: 'scope-1' },
      token: await dpsToken('0ne00000000', 'scope-1', key),
    });
    assert.equal(res.status, 404);
    assert.equal((res.body as { errorCode: number }).errorCode, 404001);
    const other = await register('scope-1', await dpsToken('0ne00000000', 'scope-1', key));
    assert.equal(other.status, 401);
  });

  it('[DPS: quotas] over quota gets 429 with retry-after; the official SDK (MQTT) retries and succeeds', async () => {
    platform.dps.setQuotas({ registrations: { limit: 1, windowSeconds: 3 } });
    try {
      const keyA = await deriveDeviceKey(GROUP_KEY, 'quota-a');
      const keyB = await deriveDeviceKey(GROUP_KEY, 'quota-b');
      assert.equal((await register('quota-a', await dpsToken(platform.dps.idScope, 'quota-a', keyA))).status, 202);
      const throttled = await register('quota-b', await dpsToken(platform.dps.idScope, 'quota-b', keyB));
      assert.equal(throttled.status, 429);
      assert.equal((throttled.body as { errorCode: number }).errorCode, 429001);
      const retryAfter = Number(throttled.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 3, `retry-after ${retryAfter}`);
      const before = platform.dps.stats.throttled;
      const result = await sdkRegister('quota-b', keyB);
      assert.ok(platform.dps.stats.throttled > before, 'the SDK was throttled at least once before succeeding');
      assert.equal(result.deviceId, 'quota-b');
    } finally {
      platform.dps.setQuotas({});
    }
  });
});

describe('DPS bad input', () => {
  const registrationsBefore = () => platform.dps.listRegistrations().length;

  it('[DPS: bad input] malformed JSON, invalid registration ids and oversized payloads get coded errors and change nothing', async () => {
    const key = await deriveDeviceKey(GROUP_KEY, 'bad-1');
    const token = await dpsToken(platform.dps.idScope, 'bad-1', key);
    const before = registrationsBefore();
    const malformed = await dpsRequest(platform, {
      method: 'PUT',
      path: `/${platform.dps.idScope}/registrations/bad-1/register?api-version=2019-03-31`,
      rawBody: Buffer.from('{"registrationId": "bad-1", '),
      token,
    });
    assert.equal(malformed.status, 400);
    assert.equal(typeof (malformed.body as { errorCode: unknown }).errorCode, 'number');

    for (const id of ['bad id', '-leading', 'x'.repeat(129), 'semi;colon']) {
      const res = await register(encodeURIComponent(id), token, { registrationId: id });
      assert.equal(res.status, 400, `${id}: ${res.text}`);
      assert.equal((res.body as { errorCode: number }).errorCode, 400003);
    }

    const bigPayload = await register('bad-1', token, { registrationId: 'bad-1', payload: { blob: 'x'.repeat(5000) } });
    assert.equal(bigPayload.status, 413);
    const hugeBody = await dpsRequest(platform, {
      method: 'PUT',
      path: `/${platform.dps.idScope}/registrations/bad-1/register?api-version=2019-03-31`,
      rawBody: Buffer.alloc(2 * 1024 * 1024, 0x20),
      token,
    });
    assert.equal(hugeBody.status, 413);
    const mismatch = await register('bad-1', token, { registrationId: 'someone-else' });
    assert.equal(mismatch.status, 400);
    assert.equal(registrationsBefore(), before, 'nothing was registered');
    assert.equal(
      platform.hubs.some((h) => h.has({ deviceId: 'bad-1' })),
      false,
    );
    // The same device with a good request still works afterwards.
    assert.equal((await register('bad-1', token)).status, 202);
  });

  it('[DPS: bad input] an operation id of another device or an unknown one gets 404', async () => {
    const key = await deriveDeviceKey(GROUP_KEY, 'op-1');
    const token = await dpsToken(platform.dps.idScope, 'op-1', key);
    const res = await dpsRequest(platform, {
      method: 'GET',
      path: `/${platform.dps.idScope}/registrations/op-1/operations/4.0000.unknown?api-version=2019-03-31`,
      token,
    });
    assert.equal(res.status, 404);
  });
});

describe('DPS over MQTT: bad input', () => {
  it('[§3.2] a malformed register body gets res/400 with an errorCode; an unknown topic closes the connection', async () => {
    const { RawMqtt, isPacket } = await import('./harness.js');
    const key = await deriveDeviceKey(GROUP_KEY, 'mqtt-bad-1');
    const raw = await RawMqtt.connect({
      host: platform.dpsEndpoint.address,
      port: platform.dpsEndpoint.mqttPort,
      ca: platform.tls.caCertificatePem,
    });
    try {
      const connack = await raw.handshake({
        clientId: 'mqtt-bad-1',
        username: `${platform.dps.idScope}/registrations/mqtt-bad-1/api-version=2019-03-31`,
        password: await dpsToken(platform.dps.idScope, 'mqtt-bad-1', key),
        clean: true,
      });
      assert.equal(connack.returnCode, 0);
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$dps/registrations/res/#', qos: 1 }] });
      await raw.next(isPacket('suback'));
      raw.send({
        cmd: 'publish',
        topic: '$dps/registrations/PUT/iotdps-register/?$rid=7',
        payload: Buffer.from('{not json'),
        qos: 0,
        dup: false,
        retain: false,
      });
      const res = await raw.next(isPacket('publish'));
      assert.equal(res.topic, '$dps/registrations/res/400/?$rid=7');
      assert.equal((JSON.parse(res.payload.toString()) as { errorCode: number }).errorCode, 400004);
      assert.throws(() => platform.dps.getRegistration('mqtt-bad-1'), /has not registered/);
      raw.send({
        cmd: 'publish',
        topic: 'devices/x/messages/events/',
        payload: Buffer.from('x'),
        qos: 0,
        dup: false,
        retain: false,
      });
      await raw.waitClosed();
    } finally {
      raw.end();
    }
  });
});

describe('DPS payload forms and poll quota', () => {
  it('[§7.3] the model id is read from {modelId}, {iotcModelId}, a JSON-string payload and the legacy {data:{iotcModelId}}', async () => {
    const forms: [string, unknown][] = [
      ['form-model-id', { registrationId: 'form-model-id', payload: { modelId: 'dtmi:a:b;1' } }],
      ['form-iotc', { registrationId: 'form-iotc', payload: { iotcModelId: 'dtmi:a:b;1' } }],
      ['form-string', { registrationId: 'form-string', payload: JSON.stringify({ iotcModelId: 'dtmi:a:b;1' }) }],
      ['form-legacy', { registrationId: 'form-legacy', data: { iotcModelId: 'dtmi:a:b;1' } }],
    ];
    for (const [registrationId, body] of forms) {
      const key = await deriveDeviceKey(GROUP_KEY, registrationId);
      const res = await register(registrationId, await dpsToken(platform.dps.idScope, registrationId, key), body);
      assert.equal(res.status, 202, res.text);
      assert.equal(platform.dps.getRegistration(registrationId).modelId, 'dtmi:a:b;1', registrationId);
    }
  });

  it('[DPS: quotas] more than the allowed status polls per device get 429 with retry-after', async () => {
    const key = await deriveDeviceKey(GROUP_KEY, 'poller');
    const token = await dpsToken(platform.dps.idScope, 'poller', key);
    const { operationId } = (await register('poller', token)).body as { operationId: string };
    platform.dps.setQuotas({ pollsPerDevice: { limit: 2, windowSeconds: 10 } });
    try {
      const poll = () =>
        dpsRequest(platform, {
          method: 'GET',
          path: `/${platform.dps.idScope}/registrations/poller/operations/${operationId}?api-version=2019-03-31`,
          token,
        });
      assert.equal((await poll()).status, 200);
      assert.equal((await poll()).status, 200);
      const third = await poll();
      assert.equal(third.status, 429);
      assert.ok(Number(third.headers['retry-after']) >= 1);
    } finally {
      platform.dps.setQuotas({});
    }
  });
});
