/**
 * Bad input: random and truncated MQTT packets (fast-check), 1 MB of garbage, oversized messages and
 * invalid twin patches close only the connection that sent them, or get the documented error; the server
 * (this very process) stays up and a device on the official SDK keeps working throughout.
 * protocol.md §1.3 (limits), §1.4 (QoS 2, topics), §1.7 (twin errors and document rules), §0.1 trap 2.
 *
 * The fuzz seed is printed as a test diagnostic; replay a run with PLUGBOARD_FUZZ_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import type { Hub } from '@plugboard/server';
import {
  RawMqtt,
  deviceToken,
  hubRequest,
  isPacket,
  mqttUsername,
  onlyHub,
  rawMqttOptions,
  startTestPlatform,
  withTimeout,
  type RawMqttOptions,
  type TestPlatform,
} from './harness.js';
import { checkProperty, fuzzSeed } from './fuzz.js';

const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;

type DeviceClient = InstanceType<typeof Client>;

const seed = fuzzSeed;
/** Runs per property, and the wall-clock budget after which a property stops early (time box). */
const RUNS = 40;
const TIME_BOX_MS = 6000;

let platform: TestPlatform;
let hub: Hub;
let mqttOptions: RawMqttOptions;
/** A device on the official SDK that must not notice anything. */
let bystander: DeviceClient;
let bystanderDisconnects = 0;
/** A raw connection that answers PINGREQ after every fuzz run (the server is alive and serving others). */
let witness: RawMqtt;

const BYSTANDER = 'bystander';
const WITNESS = 'witness';

before(async () => {
  platform = await startTestPlatform();
  hub = onlyHub(platform);
  mqttOptions = rawMqttOptions(platform, hub);
  for (const deviceId of [BYSTANDER, WITNESS, 'fuzz-trunc', 'fuzz-after', 'garbage', 'big', 'twin-dev', 'qos2']) {
    await hub.createIdentity({ deviceId });
  }
  bystander = Client.fromConnectionString(hub.deviceConnectionString({ deviceId: BYSTANDER }), Mqtt);
  bystander.on('disconnect', () => bystanderDisconnects++);
  await withTimeout(bystander.open(), 15_000, 'bystander open');
  witness = await RawMqtt.connect(mqttOptions);
  const connack = await witness.handshake({
    clientId: WITNESS,
    username: mqttUsername(hub.hostName, WITNESS),
    password: await deviceToken(hub, WITNESS),
    clean: true,
    keepalive: 0,
  });
  assert.equal(connack.returnCode, 0);
});

after(async () => {
  witness?.end();
  await bystander?.close().catch(() => undefined);
  await platform?.dispose();
});

async function witnessAlive(): Promise<void> {
  assert.equal(witness.closed, false, 'the witness connection is untouched');
  witness.send({ cmd: 'pingreq' });
  await witness.next(isPacket('pingresp'));
}

function check<T>(t: TestContext, arbitrary: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>) {
  return checkProperty(t, arbitrary, predicate, { runs: RUNS, timeBoxMs: TIME_BOX_MS });
}

/** Opens a connection, hands it to `body`, and always destroys it. */
async function withConnection<T>(body: (client: RawMqtt) => Promise<T>): Promise<T> {
  const client = await RawMqtt.connect(mqttOptions);
  try {
    return await body(client);
  } finally {
    client.end();
  }
}

/** Half-closes our side, then waits for the server to finish the connection. */
async function finish(client: RawMqtt): Promise<void> {
  if (!client.closed) client.socket.end();
  await client.waitClosed();
}

/** Whatever the server sent before closing may only be a refusal. */
function assertOnlyRefusals(client: RawMqtt): void {
  for (const packet of client.packets) {
    assert.equal(packet.cmd, 'connack', `unexpected ${packet.cmd} from the server`);
    assert.notEqual(packet.returnCode, 0);
  }
}

function connectPacket(deviceId: string, password: string): Packet {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: 60,
    clientId: deviceId,
    username: mqttUsername(hub.hostName, deviceId),
    password: Buffer.from(password),
  };
}

function telemetry(deviceId: string, payload: Buffer | string, messageId = 1, qos: 0 | 1 | 2 = 1): Packet {
  return {
    cmd: 'publish',
    topic: `devices/${deviceId}/messages/events/`,
    payload,
    qos,
    ...(qos === 0 ? {} : { messageId }),
    retain: false,
    dup: false,
  };
}

async function connectedAs(client: RawMqtt, deviceId: string): Promise<void> {
  const connack = await client.handshake({
    clientId: deviceId,
    username: mqttUsername(hub.hostName, deviceId),
    password: await deviceToken(hub, deviceId),
    clean: true,
  });
  assert.equal(connack.returnCode, 0);
}

async function storedBodies(deviceId: string): Promise<string[]> {
  const records = await hub.queryTelemetry({ deviceId, limit: 10_000 });
  return records.map((r) => Buffer.from(r.body).toString('utf8'));
}

/** Deterministic garbage from the seed (xorshift32), so a failing garbage test can be replayed too. */
function garbage(length: number, salt: number): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed ^ salt) >>> 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Random bytes, often starting with a real packet type so the parser goes past the first byte. */
const randomBytesArbitrary = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 512 }),
  fc
    .tuple(
      fc.constantFrom(0x10, 0x20, 0x30, 0x32, 0x34, 0x3d, 0x40, 0x62, 0x82, 0xa2, 0xc0, 0xe0, 0x00, 0xf0),
      fc.uint8Array({ maxLength: 512 }),
    )
    .map(([first, rest]) => Uint8Array.of(first, ...rest)),
);

describe('malformed MQTT input closes only that connection', () => {
  it('[fuzz][MQTT-3.1.0-1] random bytes as the first bytes after TLS: closed or ignored, never a crash', async (t) => {
    await check(t, randomBytesArbitrary, async (bytes) => {
      await withConnection(async (client) => {
        client.socket.write(bytes);
        await finish(client);
        assertOnlyRefusals(client);
      });
      await witnessAlive();
    });
  });

  it('[fuzz] valid CONNECT/SUBSCRIBE/PUBLISH sequences cut at a random offset: no crash, the partial PUBLISH is not stored', async (t) => {
    const deviceId = 'fuzz-trunc';
    const password = await deviceToken(hub, deviceId);
    let run = 0;
    const arbitrary = fc.record({
      middle: fc.array(fc.constantFrom('subscribe', 'twinGet', 'ping', 'telemetry'), { maxLength: 3 }),
      // Half the runs cut inside the final PUBLISH itself, the rest anywhere.
      inLastPacket: fc.boolean(),
      cut: fc.nat(),
    });
    await check(t, arbitrary, async ({ middle, inLastPacket, cut }) => {
      run++;
      const chunks: { bytes: Buffer; body?: string }[] = [
        { bytes: mqttPacket.generate(connectPacket(deviceId, password)) },
      ];
      middle.forEach((kind, i) => {
        const packetId = i + 1;
        if (kind === 'subscribe') {
          chunks.push({
            bytes: mqttPacket.generate({
              cmd: 'subscribe',
              messageId: packetId,
              subscriptions: [{ topic: '$iothub/twin/res/#', qos: 0 }],
            }),
          });
        } else if (kind === 'twinGet') {
          chunks.push({
            bytes: mqttPacket.generate({
              cmd: 'publish',
              topic: `$iothub/twin/GET/?$rid=${packetId}`,
              payload: ' ',
              qos: 0,
              retain: false,
              dup: false,
            }),
          });
        } else if (kind === 'ping') {
          chunks.push({ bytes: mqttPacket.generate({ cmd: 'pingreq' }) });
        } else {
          const body = `complete-${run}-${i}`;
          chunks.push({ bytes: mqttPacket.generate(telemetry(deviceId, body, packetId)), body });
        }
      });
      const lastBody = `partial-${run}`;
      chunks.push({ bytes: mqttPacket.generate(telemetry(deviceId, lastBody, 100)), body: lastBody });
      const all = Buffer.concat(chunks.map((c) => c.bytes));
      const last = chunks[chunks.length - 1]?.bytes.length ?? 1;
      // 1 .. length-1, so the final PUBLISH is never complete.
      const cutAt = inLastPacket ? all.length - last + (cut % last) : 1 + (cut % (all.length - 1));
      await withConnection(async (client) => {
        client.socket.write(all.subarray(0, cutAt));
        await finish(client);
      });
      const stored = await storedBodies(deviceId);
      let end = 0;
      for (const chunk of chunks) {
        end += chunk.bytes.length;
        if (chunk.body !== undefined && end > cutAt) {
          assert.ok(
            !stored.includes(chunk.body),
            `the truncated PUBLISH ${chunk.body} (cut at ${cutAt}) is not stored`,
          );
        }
      }
      await witnessAlive();
    });
  });

  it('[fuzz] a valid CONNECT followed by random bytes: closed or ignored, never a crash', async (t) => {
    const deviceId = 'fuzz-after';
    await check(t, randomBytesArbitrary, async (bytes) => {
      await withConnection(async (client) => {
        await connectedAs(client, deviceId); // also proves every earlier run left the server serving
        client.socket.write(bytes);
        await finish(client);
      });
      await witnessAlive();
    });
  });

  it('[§1.3] 1 MB of garbage in one write before CONNECT: the server closes the connection by itself', async () => {
    await withConnection(async (client) => {
      client.socket.write(garbage(1024 * 1024, 1));
      await client.waitClosed();
      assertOnlyRefusals(client);
    });
    await witnessAlive();
  });

  it('[§1.3] 1 MB of garbage after a good CONNECT: the server closes the connection, nothing is stored', async () => {
    await withConnection(async (client) => {
      await connectedAs(client, 'garbage');
      client.socket.write(garbage(1024 * 1024, 2));
      await client.waitClosed();
    });
    assert.deepEqual(await storedBodies('garbage'), []);
    await witnessAlive();
  });
});

describe('oversized and unsupported messages (§1.3 limits, §1.4)', () => {
  it('[§1.3 256 KB] control: a PUBLISH of exactly 256 KB is acknowledged and stored', async () => {
    const payload = Buffer.alloc(256 * 1024, 0x61);
    await withConnection(async (client) => {
      await connectedAs(client, 'big');
      client.send(telemetry('big', payload, 1));
      assert.equal((await client.next(isPacket('puback'), 10_000)).messageId, 1);
    });
    const stored = await hub.queryTelemetry({ deviceId: 'big' });
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.body.length, payload.length);
  });

  it('[§1.3 256 KB] a 300 KB PUBLISH closes the connection and is not stored', async () => {
    const before = (await hub.queryTelemetry({ deviceId: 'big' })).length;
    await withConnection(async (client) => {
      await connectedAs(client, 'big');
      client.send(telemetry('big', Buffer.alloc(300 * 1024, 0x62), 2));
      await client.waitClosed(10_000);
      assert.equal(
        client.packets.find((p) => p.cmd === 'puback'),
        undefined,
      );
    });
    assert.equal((await hub.queryTelemetry({ deviceId: 'big' })).length, before);
    await witnessAlive();
  });

  it('[§1.3 256 KB] a 2 MB PUBLISH closes the connection and is not stored', async () => {
    const before = (await hub.queryTelemetry({ deviceId: 'big' })).length;
    await withConnection(async (client) => {
      await connectedAs(client, 'big');
      client.send(telemetry('big', Buffer.alloc(2 * 1024 * 1024, 0x63), 3));
      await client.waitClosed(10_000);
    });
    assert.equal((await hub.queryTelemetry({ deviceId: 'big' })).length, before);
    await witnessAlive();
  });

  it('[§1.3] a PUBLISH header declaring 100 MB closes the connection at once (the server does not wait for it)', async () => {
    await withConnection(async (client) => {
      await connectedAs(client, 'big');
      // Fixed header: PUBLISH QoS 1, remaining length 104857600 as a 4-byte varint; then the start of a topic.
      const remaining = 100 * 1024 * 1024;
      const varint: number[] = [];
      let n = remaining;
      do {
        let byte = n % 128;
        n = Math.floor(n / 128);
        if (n > 0) byte |= 0x80;
        varint.push(byte);
      } while (n > 0);
      const topic = Buffer.from('devices/big/messages/events/');
      const header = Buffer.from([0x32, ...varint, topic.length >> 8, topic.length & 0xff]);
      client.socket.write(Buffer.concat([header, topic, Buffer.from([0, 9]), Buffer.alloc(1024, 0x64)]));
      // Keep-alive is 60 s: a close within the default deadline is the size check, not a timeout.
      await client.waitClosed();
    });
    await witnessAlive();
  });

  it('[§1.4 QoS 2] a QoS 2 PUBLISH closes the connection and is not stored', async () => {
    await withConnection(async (client) => {
      await connectedAs(client, 'qos2');
      client.send(telemetry('qos2', '{"qos":2}', 1, 2));
      await client.waitClosed();
      assert.equal(
        client.packets.find((p) => p.cmd === 'pubrec'),
        undefined,
      );
    });
    assert.deepEqual(await storedBodies('qos2'), []);
    await witnessAlive();
  });
});

describe('invalid reported-property patches get a 400 twin response (§1.7, §0.1 trap 2)', () => {
  let client: RawMqtt;
  let rid = 0;

  before(async () => {
    client = await RawMqtt.connect(mqttOptions);
    await connectedAs(client, 'twin-dev');
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$iothub/twin/res/#', qos: 0 }] });
    assert.deepEqual((await client.next(isPacket('suback'))).granted, [0]);
  });
  after(() => {
    client?.end();
  });

  /** Sends a reported patch (raw bytes) and returns the response's status, topic and body. */
  async function patch(body: string | Buffer): Promise<{ status: number; topic: string; body: string }> {
    const id = String(++rid);
    client.send({
      cmd: 'publish',
      topic: `$iothub/twin/PATCH/properties/reported/?$rid=${id}`,
      payload: body,
      qos: 0,
      retain: false,
      dup: false,
    });
    const response = await client.next(
      (p): p is Extract<Packet, { cmd: 'publish' }> =>
        p.cmd === 'publish' && new RegExp(`^\\$iothub/twin/res/\\d+/\\?\\$rid=${id}(&|$)`).test(p.topic),
    );
    const status = Number(/^\$iothub\/twin\/res\/(\d+)\//.exec(response.topic)?.[1]);
    return { status, topic: response.topic, body: Buffer.from(response.payload).toString('utf8') };
  }

  function reportedVersion(): number {
    const twin = hub.getTwin({ deviceId: 'twin-dev' }) as { properties: { reported: { $version: number } } };
    return twin.properties.reported.$version;
  }

  async function assertRejected(body: string, what: string): Promise<void> {
    const version = reportedVersion();
    const response = await patch(body);
    assert.equal(response.status, 400, `${what}: ${response.topic} ${response.body}`);
    assert.equal(response.topic, `$iothub/twin/res/400/?$rid=${rid}`);
    const parsed = JSON.parse(response.body) as { errorCode?: unknown; message?: unknown };
    assert.equal(parsed.errorCode, 400004, 'a numeric errorCode, so the Node SDK reports an error');
    assert.equal(typeof parsed.message, 'string');
    assert.equal(reportedVersion(), version, `${what}: nothing is stored`);
    assert.equal(client.closed, false, 'the connection stays open');
  }

  it('[§1.7 400][§0.1 trap 2] a non-JSON patch gets $iothub/twin/res/400 with {errorCode, message}; the connection stays open', async () => {
    await assertRejected('this is {not json', 'non-JSON');
    const ok = await patch('{"firmware":"1.0.0"}');
    assert.equal(ok.status, 204, ok.body);
    assert.match(ok.topic, new RegExp(`^\\$iothub/twin/res/204/\\?\\$rid=${rid}&\\$version=\\d+$`));
  });

  it('[§1.7 400] an empty body, a JSON array, a number and null are not patches', async () => {
    await assertRejected('', 'empty body');
    await assertRejected('[1,2]', 'array');
    await assertRejected('42', 'number');
    await assertRejected('null', 'null');
  });

  it("[§1.7 keys] a key containing '.', '$' or a space gets 400", async () => {
    await assertRejected('{"a.b":1}', 'dot');
    await assertRejected('{"a$b":1}', 'dollar');
    await assertRejected('{"$custom":1}', 'leading dollar');
    await assertRejected('{"nested":{"x.y":1}}', 'nested dot');
    await assertRejected('{"a b":1}', 'space');
  });

  it('[§1.7 keys, values] a key over 1 KB, a string over 4 KB and an integer outside ±2^52 get 400', async () => {
    await assertRejected(JSON.stringify({ ['k'.repeat(1025)]: 1 }), 'long key');
    await assertRejected(JSON.stringify({ s: 'x'.repeat(4097) }), 'long string');
    await assertRejected('{"n":4503599627370496}', 'integer above 2^52 - 1');
    await assertRejected('{"n":-4503599627370497}', 'integer below -2^52');
  });

  it('[§1.7 depth] 100 000 nested arrays get 400 (not a 500, not a crash) and the connection stays open', async () => {
    const depth = 100_000;
    await assertRejected(`{"a":${'['.repeat(depth)}1${']'.repeat(depth)}}`, 'deeply nested arrays');
  });

  function nested(keys: readonly string[], leaf: Record<string, unknown>): Record<string, unknown> {
    return keys.reduceRight<Record<string, unknown>>((inner, key) => ({ [key]: inner }), leaf);
  }
  const TEN = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];

  it("[§1.7 depth] the documentation's depth-10 example (one..ten, then a property) is accepted", async () => {
    const response = await patch(JSON.stringify(nested(TEN, { property: 'value' })));
    assert.equal(response.status, 204, response.body);
  });

  it('[§1.7 depth] a patch nesting 11 levels gets 400', async () => {
    await assertRejected(JSON.stringify(nested([...TEN, 'eleven'], { property: 'value' })), '11 levels');
  });

  it("[§1.7 size] the 32 KB limit counts keys + values (Azure's rule), not JSON text: 2 500 short properties fit", async () => {
    // 2 500 x ("p0000" + "abcd") = 22.5 KB by the documented rule; as JSON text it is 37.5 KB.
    const many: Record<string, string | null> = {};
    for (let i = 0; i < 2500; i++) many[`p${String(i).padStart(4, '0')}`] = 'abcd';
    const response = await patch(JSON.stringify(many));
    assert.equal(response.status, 204, response.body);
    for (const key of Object.keys(many)) many[key] = null;
    assert.equal((await patch(JSON.stringify(many))).status, 204, 'clean-up');
  });

  it('[§1.7 size] a patch that would take the reported section over 32 KB gets 400 and changes nothing', async () => {
    const chunk = 'x'.repeat(4000);
    const first: Record<string, string> = {};
    for (let i = 0; i < 6; i++) first[`big${i}`] = chunk;
    const accepted = await patch(JSON.stringify(first));
    assert.equal(accepted.status, 204, `24 KB fits: ${accepted.body}`);
    const more: Record<string, string> = {};
    for (let i = 6; i < 9; i++) more[`big${i}`] = chunk;
    await assertRejected(JSON.stringify(more), 'over 32 KB');
    const twin = hub.getTwin({ deviceId: 'twin-dev' }) as { properties: { reported: Record<string, unknown> } };
    assert.equal(twin.properties.reported['big6'], undefined);
    assert.equal(twin.properties.reported['big0'], chunk);
  });

  it('[§1.7] after all the refusals the same connection still gets 204 for a valid patch', async () => {
    const response = await patch('{"stillWorks":true}');
    assert.equal(response.status, 204, response.body);
    const twin = hub.getTwin({ deviceId: 'twin-dev' }) as { properties: { reported: Record<string, unknown> } };
    assert.equal(twin.properties.reported['stillWorks'], true);
  });
});

describe('the server stays up and other devices are unaffected', () => {
  it('[isolation] the official-SDK device never lost its connection and still sends telemetry and reads its twin', async () => {
    assert.equal(bystanderDisconnects, 0, 'the bystander saw no disconnect');
    assert.equal(hub.isConnected({ deviceId: BYSTANDER }), true);
    const message = new Message(JSON.stringify({ stillHere: true }));
    message.messageId = 'bystander-after-fuzz';
    await withTimeout(bystander.sendEvent(message), 10_000, 'sendEvent');
    const stored = await hub.queryTelemetry({ deviceId: BYSTANDER });
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.messageId, 'bystander-after-fuzz');
    const twin = await withTimeout(bystander.getTwin(), 10_000, 'getTwin');
    assert.equal(twin.properties.desired.$version, 1);
  });

  it('[isolation] new connections and the service API still work', async () => {
    await witnessAlive();
    await withConnection(async (client) => {
      await connectedAs(client, 'qos2');
      client.send({ cmd: 'pingreq' });
      await client.next(isPacket('pingresp'));
    });
    const response = await hubRequest(platform, hub, {
      method: 'GET',
      path: `/twins/${BYSTANDER}?api-version=2021-04-12`,
    });
    assert.equal(response.status, 200);
  });
});
