/**
 * Logs that let a device developer see why a device failed: every refusal a device or client receives
 * (CONNACK code, SUBACK 0x80, twin error status, DPS error over MQTT and HTTPS, REST error) is one info
 * line with its code, status and reason and the identity; connects and disconnects say why; at debug
 * every MQTT packet is one line with its type and topic; no line holds a key, token or password, and no
 * key appears twice in a line.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deriveDeviceKey } from '@plugboard/protocol';
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

const GROUP_KEY = 'bG9nZ2luZ2dyb3Vwa2V5bG9nZ2luZ2dyb3Vwa2V5MTI=';

interface Line {
  level: number;
  msg: string;
  code?: string;
  status?: number;
  reason?: string;
  [key: string]: unknown;
}

let platform: TestPlatform;
let hub: Hub;
let raw: string[] = [];

before(async () => {
  const { logger, lines } = capturingLogger('debug');
  raw = lines;
  platform = await startTestPlatform({ logger });
  hub = onlyHub(platform);
  for (const deviceId of ['log-dev', 'log-twin', 'log-offline']) await hub.createIdentity({ deviceId });
  await platform.dps.putEnrollmentGroup('log-group', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
});
after(async () => {
  await platform?.dispose();
});

/** Log lines written while `action` ran (and shortly after, until `until` finds what it waits for). */
async function linesOf(action: () => Promise<void>, until: (lines: Line[]) => boolean): Promise<Line[]> {
  const start = raw.length;
  await action();
  return eventually(
    () => {
      const lines = raw.slice(start).map((l) => JSON.parse(l) as Line);
      return until(lines) ? lines : undefined;
    },
    5_000,
    'the log line',
  );
}

/** Exactly one info line with `code`, a reason and the given fields. */
function oneRefusal(lines: Line[], code: string, fields: Record<string, unknown> = {}): Line {
  const matching = lines.filter((l) => l.code === code);
  assert.equal(matching.length, 1, `one line with ${code}: ${JSON.stringify(matching)}`);
  const line = matching[0]!;
  assert.equal(line.level, 30, 'info');
  assert.equal(typeof line.reason, 'string');
  assert.ok((line.reason ?? '').length > 10, 'the reason says what was wrong');
  for (const [key, value] of Object.entries(fields)) assert.deepEqual(line[key], value, `${code}: ${key}`);
  return line;
}

const hasCode = (code: string) => (lines: Line[]) => lines.some((l) => l.code === code);

async function connect(deviceId: string, password: string): Promise<{ client: RawMqtt; returnCode: number }> {
  const client = await RawMqtt.connect(rawMqttOptions(platform, hub));
  const connack = await client.handshake({
    clientId: deviceId,
    username: mqttUsername(hub.hostName, deviceId),
    password,
    clean: true,
  });
  return { client, returnCode: connack.returnCode ?? -1 };
}

describe('[logs] one info line per refusal, with code, reason and identity', () => {
  it('CONNACK refusal (wrong key): CONNECT refused with HUB_UNAUTHORIZED, return code 5, the device id', async () => {
    const forged = await deviceToken(hub, 'log-dev', { key: Buffer.alloc(32, 1).toString('base64') });
    const lines = await linesOf(async () => {
      const { client, returnCode } = await connect('log-dev', forged);
      assert.equal(returnCode, 5);
      client.end();
    }, hasCode('HUB_UNAUTHORIZED'));
    const line = oneRefusal(lines, 'HUB_UNAUTHORIZED', {
      msg: 'CONNECT refused',
      returnCode: 5,
      deviceId: 'log-dev',
      status: 401,
    });
    assert.equal(line['hub'], hub.name);
  });

  it('SUBACK 0x80: SUBSCRIBE refused with HUB_TOPIC_NOT_ALLOWED and the filter; the connect and disconnect lines give reasons', async () => {
    let client: RawMqtt | undefined;
    const lines = await linesOf(
      async () => {
        const opened = await connect('log-dev', await deviceToken(hub, 'log-dev'));
        client = opened.client;
        client.send({
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [{ topic: 'devices/other/messages/devicebound/#', qos: 1 }],
        });
        await client.next(isPacket('suback'));
        client.send({ cmd: 'disconnect' });
        await client.waitClosed();
      },
      (ls) => ls.some((l) => l.msg === 'device disconnected'),
    );
    oneRefusal(lines, 'HUB_TOPIC_NOT_ALLOWED', {
      msg: 'SUBSCRIBE refused',
      topic: 'devices/other/messages/devicebound/#',
    });
    const connected = lines.filter((l) => l.msg === 'device connected');
    assert.equal(connected.length, 1);
    assert.equal(connected[0]?.['deviceId'], 'log-dev');
    assert.equal(connected[0]?.['transport'], 'mqtt');
    const disconnected = lines.filter((l) => l.msg === 'device disconnected');
    assert.deepEqual(
      disconnected.map((l) => l['reason']),
      ['client disconnect'],
    );
    client?.end();
  });

  it('the hub closing a connection (device disabled) is one line with the code and reason', async () => {
    const { client } = await connect('log-twin', await deviceToken(hub, 'log-twin'));
    const lines = await linesOf(async () => {
      await hub.updateIdentity({ deviceId: 'log-twin', status: 'disabled' }, '*');
      await client.waitClosed();
    }, hasCode('HUB_DEVICE_DISABLED'));
    oneRefusal(lines, 'HUB_DEVICE_DISABLED', { msg: 'connection closed by the hub', deviceId: 'log-twin' });
    await hub.updateIdentity({ deviceId: 'log-twin', status: 'enabled' }, '*');
  });

  it('a refused reported-property patch: twin request refused with HUB_INVALID_TWIN_PATCH, status 400 and the $rid', async () => {
    const { client } = await connect('log-twin', await deviceToken(hub, 'log-twin'));
    try {
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$iothub/twin/res/#', qos: 0 }] });
      await client.next(isPacket('suback'));
      const lines = await linesOf(async () => {
        client.send({
          cmd: 'publish',
          topic: '$iothub/twin/PATCH/properties/reported/?$rid=42',
          payload: Buffer.from('{"a.b":1}'),
          qos: 0,
          retain: false,
          dup: false,
        });
        await client.next(isPacket('publish'));
      }, hasCode('HUB_INVALID_TWIN_PATCH'));
      oneRefusal(lines, 'HUB_INVALID_TWIN_PATCH', {
        msg: 'twin request refused',
        status: 400,
        rid: '42',
        deviceId: 'log-twin',
      });
    } finally {
      client.end();
    }
  });

  it('a REST error (method on an offline device, stale etag): REST request refused with code, status, path and device', async () => {
    const lines = await linesOf(
      async () => {
        const offline = await hubRequest(platform, hub, {
          method: 'POST',
          path: '/twins/log-offline/methods?api-version=2021-04-12',
          body: { methodName: 'reboot' },
        });
        assert.equal(offline.status, 404);
        const stale = await hubRequest(platform, hub, {
          method: 'PATCH',
          path: '/twins/log-offline',
          body: { tags: { a: 1 } },
          headers: { 'if-match': '"c3RhbGU="' },
        });
        assert.equal(stale.status, 412);
      },
      (ls) => hasCode('HUB_DEVICE_NOT_ONLINE')(ls) && hasCode('HUB_PRECONDITION_FAILED')(ls),
    );
    oneRefusal(lines, 'HUB_DEVICE_NOT_ONLINE', {
      msg: 'REST request refused',
      status: 404,
      method: 'POST',
      path: '/twins/log-offline/methods',
      deviceId: 'log-offline',
    });
    oneRefusal(lines, 'HUB_PRECONDITION_FAILED', { status: 412, method: 'PATCH' });
  });

  it('DPS refusals over MQTT and HTTPS (wrong key) and a refused enrollment: DPS request refused with the code', async () => {
    const wrong = await dpsToken(platform.dps.idScope, 'log-reg', Buffer.alloc(32, 9).toString('base64'));
    const mqttLines = await linesOf(async () => {
      const client = await dpsRawMqtt(platform, 'log-reg', wrong);
      client.send({
        cmd: 'publish',
        topic: '$dps/registrations/PUT/iotdps-register/?$rid=1',
        payload: Buffer.from('{"registrationId":"log-reg"}'),
        qos: 0,
        retain: false,
        dup: false,
      });
      await client.next(isPacket('publish'));
      client.end();
    }, hasCode('DPS_UNAUTHORIZED'));
    oneRefusal(mqttLines, 'DPS_UNAUTHORIZED', {
      msg: 'DPS request refused',
      status: 401,
      rid: '1',
      registrationId: 'log-reg',
    });
    const httpLines = await linesOf(async () => {
      const response = await dpsRequest(platform, {
        method: 'PUT',
        path: `/${platform.dps.idScope}/registrations/log-reg/register?api-version=2019-03-31`,
        body: { registrationId: 'log-reg' },
        token: wrong,
      });
      assert.equal(response.status, 401);
    }, hasCode('DPS_UNAUTHORIZED'));
    oneRefusal(httpLines, 'DPS_UNAUTHORIZED', { status: 401, registrationId: 'log-reg', method: 'PUT' });
    const enrollmentLines = await linesOf(async () => {
      const response = await dpsRequest(platform, {
        method: 'PUT',
        path: '/enrollments/log-bad?api-version=2021-10-01',
        body: { attestation: { type: 'x509', x509: { clientCertificates: { primary: { certificate: 'nope' } } } } },
        token: await dpsServiceToken(platform),
      });
      assert.equal(response.status, 400);
    }, hasCode('DPS_INVALID_CERTIFICATE'));
    oneRefusal(enrollmentLines, 'DPS_INVALID_CERTIFICATE', { status: 400, resourceId: 'log-bad' });
    // The successful path still reads: a device assigned through the group.
    const key = await deriveDeviceKey(GROUP_KEY, 'log-ok');
    const okLines = await linesOf(
      async () => {
        await platform.dps.register({
          idScope: platform.dps.idScope,
          registrationId: 'log-ok',
          credentials: { token: await dpsToken(platform.dps.idScope, 'log-ok', key) },
          body: { registrationId: 'log-ok' },
        });
      },
      (ls) => ls.some((l) => l.msg === 'device assigned'),
    );
    assert.equal(okLines.filter((l) => l.code !== undefined).length, 0);
  });
});

describe('[logs] debug, keys and secrets', () => {
  it('at debug every MQTT packet is a line with its type and topic, in both directions, without the password', async () => {
    const password = await deviceToken(hub, 'log-dev');
    const lines = await linesOf(
      async () => {
        const { client } = await connect('log-dev', password);
        client.send({
          cmd: 'publish',
          topic: 'devices/log-dev/messages/events/%24.ct=application%2Fjson',
          payload: Buffer.from('{"t":1}'),
          qos: 1,
          messageId: 5,
          retain: false,
          dup: false,
        });
        await client.next(isPacket('puback'));
        client.end();
      },
      (ls) => ls.some((l) => l.msg === 'packet sent' && l['packet'] === 'puback'),
    );
    const received = lines.filter((l) => l.msg === 'packet received');
    assert.deepEqual(
      received.map((l) => l['packet']),
      ['connect', 'publish'],
    );
    assert.equal(received[1]?.['topic'], 'devices/log-dev/messages/events/%24.ct=application%2Fjson');
    assert.equal(received[1]?.level, 20, 'debug');
    assert.deepEqual(
      lines.filter((l) => l.msg === 'packet sent').map((l) => l['packet']),
      ['connack', 'puback'],
    );
    assert.ok(!raw.some((l) => l.includes(password)), 'the SAS token never appears');
  });

  it('no line holds a device key, policy key, token signature or password, and no key appears twice in a line', () => {
    const secrets = [
      ...hub
        .listIdentities()
        .flatMap((s) =>
          s.record.authentication.type === 'sas'
            ? [s.record.authentication.symmetricKey.primaryKey, s.record.authentication.symmetricKey.secondaryKey]
            : [],
        ),
      ...hub.policies.flatMap((p) => [p.primaryKey, p.secondaryKey]),
      platform.dps.servicePolicy.primaryKey,
      GROUP_KEY,
    ];
    assert.ok(raw.length > 20, 'the earlier tests wrote lines');
    for (const line of raw) {
      for (const secret of secrets) assert.ok(!line.includes(secret), `a secret in ${line.slice(0, 200)}`);
      assert.doesNotMatch(line, /sig=|SharedAccessSignature sr=/, 'no SAS token');
      const keys = [...line.matchAll(/[{,]"([^"]+)":/g)].map((m) => m[1]);
      const repeated = keys.filter((k, i) => keys.indexOf(k) !== i);
      assert.deepEqual(repeated, [], `a key twice in ${line.slice(0, 300)}`);
    }
  });
});
