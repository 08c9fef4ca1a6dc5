/**
 * The defects an independent probe of `plugboard up` found (issue "Hardening the hub and DPS"), one test
 * per finding; the TLS and HTTP time limits (finding 1 and the trickled body of finding 7) are in
 * listener-limits.test.ts. Each test sends what the probe sent and asserts the documented coded answer,
 * that nothing changed, and that the server logged no error.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deriveDeviceKey, methodRequestTopic } from '@plugboard/protocol';
import type { Hub } from '@plugboard/server';
import {
  RawMqtt,
  capturingLogger,
  deviceToken,
  dpsRawMqtt,
  dpsRequest,
  dpsServiceToken,
  dpsToken,
  eventually,
  hubRequest,
  isPacket,
  mqttUsername,
  onlyHub,
  rawMqttOptions,
  startTestPlatform,
  type TestPlatform,
} from './harness.js';

const GROUP = 'hardening-group';
const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';

let platform: TestPlatform;
let hub: Hub;
/** The platform's log lines (level warn and above). */
let logLines: string[] = [];

before(async () => {
  const { logger, lines } = capturingLogger('warn');
  logLines = lines;
  platform = await startTestPlatform({ logger });
  hub = onlyHub(platform);
  await platform.dps.putEnrollmentGroup(GROUP, {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  for (const deviceId of ['deep-target', 'method-dev', 'etag-dev', 'registry-dev']) {
    await hub.createIdentity({ deviceId });
  }
});
after(async () => {
  await platform?.dispose();
  const errors = logLines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
  assert.deepEqual(errors, [], 'no request was logged as an internal error');
});

const nestedArrays = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
const nestedObjects = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

function errorBody(response: { body: unknown }): { code?: string; errorCode?: number; Message?: string } {
  return response.body as { code?: string; errorCode?: number; Message?: string };
}

describe('[finding 2] deeply nested JSON gets 400/413, never 500', () => {
  it('a method payload of 10,000 levels: 400 HUB_INVALID_ARGUMENT', async () => {
    const response = await hubRequest(platform, hub, {
      method: 'POST',
      path: '/twins/deep-target/methods?api-version=2021-04-12',
      body: Buffer.from(`{"methodName":"m","payload":${nestedArrays(10_000)}}`),
    });
    assert.equal(response.status, 400, response.text);
    assert.equal(errorBody(response).code, 'HUB_INVALID_ARGUMENT');
    assert.equal(errorBody(response).errorCode, 400004);
  });

  it('PUT /devices/{id} with a 100k-level statusReason or capabilities: 400, and no device is created', async () => {
    for (const field of ['statusReason', 'capabilities']) {
      const response = await hubRequest(platform, hub, {
        method: 'PUT',
        path: '/devices/deep-new?api-version=2021-04-12',
        body: Buffer.from(`{"deviceId":"deep-new","${field}":${nestedObjects(100_000)}}`),
      });
      assert.equal(response.status, 400, `${field}: ${response.text.slice(0, 200)}`);
      assert.equal(errorBody(response).code, 'HUB_INVALID_ARGUMENT');
    }
    assert.equal(hub.has({ deviceId: 'deep-new' }), false);
  });

  it('a twin PATCH of 100k levels through REST: 400', async () => {
    const before = hub.getTwin({ deviceId: 'deep-target' });
    const response = await hubRequest(platform, hub, {
      method: 'PATCH',
      path: '/twins/deep-target?api-version=2021-04-12',
      body: Buffer.from(`{"properties":{"desired":{"x":${nestedArrays(100_000)}}}}`),
    });
    assert.equal(response.status, 400, response.text);
    assert.deepEqual(hub.getTwin({ deviceId: 'deep-target' }), before);
  });

  it('a device answering a method with 50k-level JSON: the service gets 400 with a reason, not 500', async () => {
    const device = await RawMqtt.connect(rawMqttOptions(platform, hub));
    try {
      const connack = await device.handshake({
        clientId: 'method-dev',
        username: mqttUsername(hub.hostName, 'method-dev'),
        password: await deviceToken(hub, 'method-dev'),
        clean: true,
      });
      assert.equal(connack.returnCode, 0);
      device.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$iothub/methods/POST/#', qos: 0 }] });
      await device.next(isPacket('suback'));
      const call = hubRequest(platform, hub, {
        method: 'POST',
        path: '/twins/method-dev/methods?api-version=2021-04-12',
        body: { methodName: 'deep', payload: null, responseTimeoutInSeconds: 10 },
      });
      const request = await device.next(isPacket('publish'));
      const rid = /\?\$rid=(.+)$/.exec(request.topic)?.[1];
      assert.equal(request.topic, methodRequestTopic('deep', rid ?? ''));
      device.send({
        cmd: 'publish',
        topic: `$iothub/methods/res/200/?$rid=${rid}`,
        payload: Buffer.from(nestedArrays(50_000)),
        qos: 0,
        retain: false,
        dup: false,
      });
      const response = await call;
      assert.equal(response.status, 400, response.text);
      assert.match(errorBody(response).Message ?? '', /method response is refused: .*deeper than 64/);
    } finally {
      device.end();
    }
  });

  const registerPath = (id: string): string =>
    `/${platform.dps.idScope}/registrations/${id}/register?api-version=2019-03-31`;

  it('a DPS register body of 100k levels (600 KB) over HTTPS: 413 DPS_PAYLOAD_TOO_LARGE; a small deep one: 400', async () => {
    const token = await dpsToken(platform.dps.idScope, 'deep-reg', await deriveDeviceKey(GROUP_KEY, 'deep-reg'));
    const big = await dpsRequest(platform, {
      method: 'PUT',
      path: registerPath('deep-reg'),
      rawBody: Buffer.from(`{"registrationId":"deep-reg","payload":${nestedObjects(100_000)}}`),
      headers: { 'content-type': 'application/json' },
      token,
    });
    assert.equal(big.status, 413, big.text.slice(0, 200));
    assert.equal((big.body as { code: string }).code, 'DPS_PAYLOAD_TOO_LARGE');
    const deep = await dpsRequest(platform, {
      method: 'PUT',
      path: registerPath('deep-reg'),
      rawBody: Buffer.from(`{"registrationId":"deep-reg","payload":${nestedArrays(2_000)}}`),
      headers: { 'content-type': 'application/json' },
      token,
    });
    assert.equal(deep.status, 400, deep.text);
    assert.equal((deep.body as { errorCode: number }).errorCode, 400004);
    assert.throws(() => platform.dps.getRegistration('deep-reg'), /has not registered/);
  });

  it('the same over MQTT: res/413 for the large body, res/400 for the deep one; the connection stays open', async () => {
    const id = 'deep-reg-mqtt';
    const raw = await dpsRawMqtt(
      platform,
      id,
      await dpsToken(platform.dps.idScope, id, await deriveDeviceKey(GROUP_KEY, id)),
    );
    try {
      const cases = [
        { rid: '1', body: `{"registrationId":"${id}","payload":${nestedObjects(30_000)}}`, status: 413 },
        { rid: '2', body: `{"registrationId":"${id}","payload":${nestedArrays(2_000)}}`, status: 400 },
      ];
      for (const c of cases) {
        raw.send({
          cmd: 'publish',
          topic: `$dps/registrations/PUT/iotdps-register/?$rid=${c.rid}`,
          payload: Buffer.from(c.body),
          qos: 0,
          retain: false,
          dup: false,
        });
        const res = await raw.next(isPacket('publish'));
        assert.equal(res.topic, `$dps/registrations/res/${c.status}/?$rid=${c.rid}`);
      }
      assert.equal(raw.closed, false);
    } finally {
      raw.end();
    }
  });
});

describe('[finding 3] registry fields are validated against the Device schema', () => {
  async function put(deviceId: string, body: unknown, ifMatch?: string) {
    return hubRequest(platform, hub, {
      method: 'PUT',
      path: `/devices/${deviceId}?api-version=2021-04-12`,
      body,
      ...(ifMatch === undefined ? {} : { headers: { 'if-match': ifMatch } }),
    });
  }

  it('status "bogus" or {"x":1}, an object statusReason, capabilities.iotEdge {"x":"y"}: 400, nothing stored', async () => {
    const bad = [
      { status: 'bogus' },
      { status: { x: 1 } },
      { status: 7 },
      { statusReason: { x: 1 } },
      { statusReason: 'r'.repeat(129) },
      { capabilities: { iotEdge: { x: 'y' } } },
      { capabilities: 'edge' },
      { authentication: { type: 'password' } },
      { authentication: { type: 'sas', symmetricKey: { primaryKey: 42 } } },
      { authentication: 'sas' },
    ];
    for (const fields of bad) {
      const response = await put('bad-new', { deviceId: 'bad-new', ...fields });
      assert.equal(response.status, 400, `${JSON.stringify(fields)}: ${response.text}`);
      assert.equal(errorBody(response).code, 'HUB_INVALID_ARGUMENT');
      assert.equal(hub.has({ deviceId: 'bad-new' }), false, JSON.stringify(fields));
    }
    const etag = hub.getIdentity({ deviceId: 'registry-dev' }).record.etag;
    for (const fields of bad) {
      const response = await put('registry-dev', { deviceId: 'registry-dev', ...fields }, '*');
      assert.equal(response.status, 400, `update ${JSON.stringify(fields)}`);
    }
    assert.equal(hub.getIdentity({ deviceId: 'registry-dev' }).record.etag, etag, 'no update was stored');
  });

  it('"Enabled" is read as the enum value enabled (case-insensitive, stored lower case); the device connects', async () => {
    const response = await put('enabled-caps', { deviceId: 'enabled-caps', status: 'Enabled' });
    assert.equal(response.status, 200, response.text);
    assert.equal((response.body as { status: string }).status, 'enabled');
    assert.equal(hub.getIdentity({ deviceId: 'enabled-caps' }).record.status, 'enabled');
    const device = await RawMqtt.connect(rawMqttOptions(platform, hub));
    try {
      const connack = await device.handshake({
        clientId: 'enabled-caps',
        username: mqttUsername(hub.hostName, 'enabled-caps'),
        password: await deviceToken(hub, 'enabled-caps'),
      });
      assert.equal(connack.returnCode, 0);
    } finally {
      device.end();
    }
  });

  it('read-only and unknown fields the SDK echoes back are ignored; a valid statusReason of 128 characters is kept', async () => {
    const current = (await hubRequest(platform, hub, { method: 'GET', path: '/devices/registry-dev' })).body as Record<
      string,
      unknown
    >;
    const response = await put(
      'registry-dev',
      { ...current, status: 'disabled', statusReason: 'r'.repeat(128), somethingNew: { x: 1 } },
      `"${String(current['etag'])}"`,
    );
    assert.equal(response.status, 200, response.text);
    const record = hub.getIdentity({ deviceId: 'registry-dev' }).record;
    assert.equal(record.status, 'disabled');
    assert.equal(record.statusReason, 'r'.repeat(128));
  });
});

describe('[finding 3] DPS enrollment fields are validated against the enrollment schema', () => {
  async function putEnrollment(path: string, body: unknown) {
    return dpsRequest(platform, {
      method: 'PUT',
      path: `${path}?api-version=2021-10-01`,
      body,
      token: await dpsServiceToken(platform),
    });
  }
  const sas = { type: 'symmetricKey' };

  it('wrong types and enum values get 400 DPS_BAD_REQUEST naming the field, and nothing is stored', async () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ attestation: sas, allocationPolicy: 'bogus' }, /allocationPolicy/],
      [{ attestation: sas, provisioningStatus: 'maybe' }, /provisioningStatus/],
      [{ attestation: sas, reprovisionPolicy: { updateHubAssignment: 'yes' } }, /updateHubAssignment/],
      [{ attestation: sas, capabilities: { iotEdge: 'x' } }, /capabilities.iotEdge/],
      [{ attestation: sas, initialTwin: { tags: 'x' } }, /initialTwin.tags/],
      [{ attestation: sas, initialTwin: { properties: { desired: { 'a.b': 1 } } } }, /initialTwin/],
      [{ attestation: sas, iotHubs: 'hub-1' }, /iotHubs/],
      [{ attestation: sas, allocationPolicy: 'custom', weights: { 'hub-1': -1 } }, /weights/],
      [{ attestation: { type: 'tpm' } }, /TPM/],
      [{ attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: 1 } } }, /primaryKey/],
      [{ attestation: 'symmetricKey' }, /attestation/],
      [{ attestation: sas, deviceId: 'bad id' }, /deviceId/],
      [{ attestation: sas, registrationId: 'someone-else' }, /registrationId/],
    ];
    for (const [body, reason] of bad) {
      const response = await putEnrollment('/enrollments/validated-1', body);
      assert.equal(response.status, 400, `${JSON.stringify(body)}: ${response.text}`);
      assert.equal((response.body as { code: string }).code, 'DPS_BAD_REQUEST');
      assert.match((response.body as { message: string }).message, reason);
    }
    assert.throws(() => platform.dps.getIndividualEnrollment('validated-1'), /No individual enrollment/);
    const group = await putEnrollment('/enrollmentGroups/validated-g', {
      enrollmentGroupId: 'other',
      attestation: sas,
    });
    assert.equal(group.status, 400, group.text);
  });

  it('a symmetric-key enrollment without keys gets generated 64-byte keys, as DPS does; geoLatency reads as hashed', async () => {
    const response = await putEnrollment('/enrollments/validated-2', {
      registrationId: 'VALIDATED-2',
      attestation: sas,
      allocationPolicy: 'geoLatency',
      provisioningStatus: 'Enabled',
    });
    assert.equal(response.status, 200, response.text);
    const enrollment = platform.dps.getIndividualEnrollment('validated-2');
    assert.equal(enrollment.allocationPolicy, 'hashed');
    assert.equal(enrollment.provisioningStatus, 'enabled');
    assert.equal(enrollment.attestation.type, 'symmetricKey');
    if (enrollment.attestation.type === 'symmetricKey') {
      assert.equal(Buffer.from(enrollment.attestation.symmetricKey.primaryKey, 'base64').length, 64);
      assert.notEqual(enrollment.attestation.symmetricKey.primaryKey, enrollment.attestation.symmetricKey.secondaryKey);
    }
  });
});

describe('[finding 4] If-Match: `*` or a quoted etag; anything else is 412', () => {
  const MALFORMED = ['""', '"', ' ', 'W/"x"'];

  it('twin PATCH, device PUT and device DELETE with an empty or lone-quote If-Match: 412, nothing changed', async () => {
    const before = hub.getIdentity({ deviceId: 'etag-dev' }).record.etag;
    const twinBefore = hub.getTwin({ deviceId: 'etag-dev' });
    for (const ifMatch of MALFORMED) {
      const requests = [
        { method: 'PATCH', path: '/twins/etag-dev', body: { properties: { desired: { x: 1 } } } },
        { method: 'PUT', path: '/devices/etag-dev', body: { deviceId: 'etag-dev', status: 'disabled' } },
        { method: 'DELETE', path: '/devices/etag-dev' },
      ];
      for (const request of requests) {
        const response = await hubRequest(platform, hub, { ...request, headers: { 'if-match': ifMatch } });
        assert.equal(response.status, 412, `${request.method} ${request.path} If-Match ${JSON.stringify(ifMatch)}`);
        assert.equal(errorBody(response).code, 'HUB_PRECONDITION_FAILED');
      }
    }
    assert.equal(hub.has({ deviceId: 'etag-dev' }), true);
    assert.equal(hub.getIdentity({ deviceId: 'etag-dev' }).record.etag, before);
    assert.deepEqual(hub.getTwin({ deviceId: 'etag-dev' }), twinBefore);
  });

  it('`*`, `"*"` and the current quoted etag still succeed', async () => {
    const current = (): string => `"${(hub.getTwin({ deviceId: 'etag-dev' }) as { etag: string }).etag}"`;
    for (const wanted of [() => '*', () => '"*"', current]) {
      const ifMatch = wanted();
      const response = await hubRequest(platform, hub, {
        method: 'PATCH',
        path: '/twins/etag-dev',
        body: { tags: { n: ifMatch.length } },
        headers: { 'if-match': ifMatch },
      });
      assert.equal(response.status, 200, `${ifMatch}: ${response.text}`);
    }
  });

  it('DPS enrollment PUT and DELETE with an empty If-Match: 412', async () => {
    const group = platform.dps.getEnrollmentGroup(GROUP);
    for (const method of ['PUT', 'DELETE']) {
      const response = await dpsRequest(platform, {
        method,
        path: `/enrollmentGroups/${GROUP}?api-version=2021-10-01`,
        ...(method === 'PUT' ? { body: { attestation: group.attestation } } : {}),
        headers: { 'if-match': '""' },
        token: await dpsServiceToken(platform),
      });
      assert.equal(response.status, 412, `${method}: ${response.text}`);
    }
    assert.deepEqual(platform.dps.getEnrollmentGroup(GROUP), group);
  });
});

describe('[finding 5] registration ids: case-insensitive, last character a letter, digit or -', () => {
  async function registerOverHttp(registrationId: string) {
    const key = await deriveDeviceKey(GROUP_KEY, registrationId);
    return dpsRequest(platform, {
      method: 'PUT',
      path: `/${platform.dps.idScope}/registrations/${registrationId}/register?api-version=2019-03-31`,
      body: { registrationId },
      token: await dpsToken(platform.dps.idScope, registrationId, key),
    });
  }

  it('CaseDevN then casedevN: one registration record and one enabled identity on the hub', async () => {
    assert.equal((await registerOverHttp('CaseDevN')).status, 202);
    assert.equal((await registerOverHttp('casedevN')).status, 202);
    assert.equal(platform.dps.getRegistration('CASEDEVN').deviceId, 'CaseDevN');
    const matching = hub.listIdentities().filter((s) => s.record.deviceId.toLowerCase() === 'casedevn');
    assert.deepEqual(
      matching.map((s) => [s.record.deviceId, s.record.status]),
      [['CaseDevN', 'enabled']],
    );
    // The identity now authenticates with the key of the latest registration.
    const key = await deriveDeviceKey(GROUP_KEY, 'casedevN');
    const auth = matching[0]?.record.authentication;
    assert.equal(auth?.type === 'sas' ? auth.symmetricKey.primaryKey : undefined, key);
  });

  it('ids ending in . or : are refused with 400 DPS_INVALID_REGISTRATION_ID; ending in - is accepted', async () => {
    for (const registrationId of ['dev.', 'dev:', 'dev_', 'a.b.']) {
      const response = await registerOverHttp(registrationId);
      assert.equal(response.status, 400, registrationId);
      assert.equal((response.body as { code: string }).code, 'DPS_INVALID_REGISTRATION_ID');
      assert.equal((response.body as { errorCode: number }).errorCode, 400003);
    }
    assert.equal((await registerOverHttp('dev-')).status, 202);
    assert.equal((await registerOverHttp('x')).status, 202, 'a single character is an id');
  });
});

describe('[finding 6] file modes: the database, its WAL and SHM are 0600 in a 0700 directory', () => {
  it('as created by the platform', async () => {
    await eventually(() => (statSync(join(platform.dataDir, 'plugboard.db-wal')).size > 0 ? true : undefined));
    assert.equal(statSync(platform.dataDir).mode & 0o777, 0o700);
    for (const file of ['plugboard.db', 'plugboard.db-wal', 'plugboard.db-shm', 'tls/server.key.pem']) {
      assert.equal(statSync(join(platform.dataDir, file)).mode & 0o777, 0o600, file);
    }
    assert.equal(statSync(join(platform.dataDir, 'tls')).mode & 0o777, 0o700);
  });
});

describe('[finding 7] smaller defects', () => {
  it('a __proto__ key gets 400 naming the key, not "Body is not valid JSON"', async () => {
    const response = await hubRequest(platform, hub, {
      method: 'PATCH',
      path: '/twins/deep-target',
      body: Buffer.from('{"tags":{"__proto__":{"polluted":true}}}'),
    });
    assert.equal(response.status, 400);
    assert.match(errorBody(response).Message ?? '', /__proto__/);
    assert.doesNotMatch(errorBody(response).Message ?? '', /not valid JSON/);
  });

  it('after=abc, after=-1, limit=0 or limit=x on the telemetry query: 400, not 200 with an empty list', async () => {
    for (const query of ['after=abc', 'after=-1', 'after=1.5', 'limit=0', 'limit=x', 'limit=100001']) {
      const response = await hubRequest(platform, hub, { method: 'GET', path: `/plugboard/telemetry?${query}` });
      assert.equal(response.status, 400, `${query}: ${response.text}`);
      assert.equal(errorBody(response).code, 'HUB_INVALID_ARGUMENT');
    }
    const ok = await hubRequest(platform, hub, { method: 'GET', path: '/plugboard/telemetry?after=0&limit=10' });
    assert.equal(ok.status, 200);
  });
});
