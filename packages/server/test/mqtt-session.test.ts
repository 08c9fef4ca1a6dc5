/**
 * The MQTT state machine and connection code in-process: packets in, packets out, no sockets or TLS.
 */
import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createSharedAccessSignature } from '@plugboard/protocol';
import { Hub } from '../src/core/hub.js';
import { serveMqttConnection } from '../src/edges/mqtt/connection.js';
import { createLogger } from '../src/logger.js';
import { SqliteStorage } from '../src/storage/sqlite.js';

const HOST = 'hub.test';
let storage: SqliteStorage;
let hub: Hub;

before(async () => {
  storage = SqliteStorage.open({ path: ':memory:' });
  hub = await Hub.open({ name: 'hub-1', hostName: HOST, storage, logger: createLogger({ level: 'silent' }) });
  await hub.createIdentity({ deviceId: 'dev1' });
});
after(async () => {
  hub.close();
  await storage.close();
});

/** A client end and a server end joined back to back. */
function pipePair(): { client: Duplex; server: Duplex } {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const server = Duplex.from({ readable: toServer, writable: toClient });
  const client = Duplex.from({ readable: toClient, writable: toServer });
  return { client, server };
}

class TestClient {
  readonly packets: Packet[] = [];
  closed = false;
  readonly client: Duplex;
  /** The server's end: destroying it is what a network failure looks like to the server. */
  readonly server: Duplex;
  constructor(chunkSize?: number) {
    const { client, server } = pipePair();
    this.client = client;
    this.server = server;
    client.on('error', () => undefined);
    server.on('error', () => undefined);
    this.chunkSize = chunkSize;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => this.packets.push(p));
    client.on('data', (d: Buffer) => parser.parse(d));
    client.on('end', () => (this.closed = true));
    client.on('close', () => (this.closed = true));
    serveMqttConnection({
      stream: server,
      transport: 'mqtt',
      resolveHub: (h) => (h === HOST ? hub : undefined),
      logger: createLogger({ level: 'silent' }),
      clientCertificates: undefined,
      connectTimeoutMs: 500,
    });
  }
  readonly chunkSize: number | undefined;
  send(packet: Packet): void {
    const bytes = mqttPacket.generate(packet);
    if (this.chunkSize === undefined) {
      this.client.write(bytes);
      return;
    }
    for (let i = 0; i < bytes.length; i += this.chunkSize) this.client.write(bytes.subarray(i, i + this.chunkSize));
  }
  async next(cmd: Packet['cmd'], timeoutMs = 3000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.packets.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return this.packets.splice(i, 1)[0] as Packet;
      if (Date.now() > deadline) throw new Error(`no ${cmd} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  async closedWithin(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.closed;
  }
}

async function connectPacket(overrides: Partial<Extract<Packet, { cmd: 'connect' }>> = {}): Promise<Packet> {
  const auth = hub.getIdentity({ deviceId: 'dev1' }).record.authentication;
  assert.equal(auth.type, 'sas');
  const password = await createSharedAccessSignature({
    resource: `${HOST}/devices/dev1`,
    key: auth.type === 'sas' ? auth.symmetricKey.primaryKey : '',
    expiry: Math.floor(Date.now() / 1000) + 600,
  });
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: false,
    keepalive: 60,
    clientId: 'dev1',
    username: `${HOST}/dev1/?api-version=2021-04-12&model-id=dtmi:com:example:Thermostat;1`,
    password: Buffer.from(password),
    ...overrides,
  };
}

describe('MqttSession', () => {
  it('[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection', async () => {
    const c = new TestClient();
    c.send({ cmd: 'pingreq' });
    assert.equal(await c.closedWithin(2000), true);
  });

  it('[MQTT-3.1.0-1] no CONNECT within the connect timeout closes the connection', async () => {
    const c = new TestClient();
    assert.equal(await c.closedWithin(2000), true);
  });

  it('[§1.3] persistent session: subscriptions survive, sessionPresent is set, QoS 2 is granted as 1', async () => {
    const a = new TestClient();
    a.send(await connectPacket());
    const first = (await a.next('connack')) as Extract<Packet, { cmd: 'connack' }>;
    assert.equal(first.returnCode, 0);
    a.send({
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [
        { topic: 'devices/dev1/messages/devicebound/#', qos: 2 },
        { topic: '$iothub/twin/res/#', qos: 0 },
      ],
    });
    const suback = (await a.next('suback')) as Extract<Packet, { cmd: 'suback' }>;
    assert.deepEqual(suback.granted, [1, 0]);
    a.send({ cmd: 'disconnect' });
    assert.equal(await a.closedWithin(2000), true);

    const b = new TestClient();
    b.send(await connectPacket());
    const second = (await b.next('connack')) as Extract<Packet, { cmd: 'connack' }>;
    assert.equal(second.sessionPresent, true);
    // The stored $iothub/twin/res/# subscription answers a GET without a new SUBSCRIBE.
    b.send({
      cmd: 'publish',
      topic: '$iothub/twin/GET/?$rid=r1',
      payload: Buffer.from(' '),
      qos: 0,
      dup: false,
      retain: false,
    });
    const res = (await b.next('publish')) as Extract<Packet, { cmd: 'publish' }>;
    assert.equal(res.topic, '$iothub/twin/res/200/?$rid=r1');
    assert.deepEqual(Object.keys(JSON.parse(res.payload.toString()) as object).sort(), ['desired', 'reported']);
    b.send({ cmd: 'disconnect' });
  });

  it('[MQTT-3.1.2-24] keep-alive: nothing received for 1.5 x keepalive closes the connection', async () => {
    const c = new TestClient();
    c.send(await connectPacket({ keepalive: 1 }));
    await c.next('connack');
    c.send({ cmd: 'pingreq' });
    await c.next('pingresp');
    assert.equal(await c.closedWithin(4000), true);
  });

  it('[MQTT-3.1.0-2] a second CONNECT closes the connection', async () => {
    const c = new TestClient();
    c.send(await connectPacket());
    await c.next('connack');
    c.send(await connectPacket());
    assert.equal(await c.closedWithin(2000), true);
  });

  it('[framing] packets fed one byte at a time are decoded; PUBACK follows durable storage', async () => {
    const c = new TestClient(1);
    c.send(await connectPacket());
    await c.next('connack');
    const before = await storage.countTelemetry({ hub: 'hub-1', deviceId: 'dev1' });
    c.send({
      cmd: 'publish',
      topic: 'devices/dev1/messages/events/%24.mid=byte-by-byte',
      payload: Buffer.from('{"t":1}'),
      qos: 1,
      messageId: 42,
      dup: false,
      retain: false,
    });
    const puback = (await c.next('puback')) as Extract<Packet, { cmd: 'puback' }>;
    assert.equal(puback.messageId, 42);
    assert.equal(await storage.countTelemetry({ hub: 'hub-1', deviceId: 'dev1' }), before + 1);
    c.send({ cmd: 'disconnect' });
  });

  it('[§1.2] CONNACK 4 for a malformed user name, 2 for a client id mismatch, 1 for MQTT 3.1', async () => {
    for (const [overrides, code] of [
      [{ username: 'nonsense' }, 4],
      [{ clientId: 'dev2' }, 2],
      [{ protocolVersion: 3, protocolId: 'MQIsdp' }, 1],
    ] as const) {
      const c = new TestClient();
      c.send(await connectPacket(overrides as Partial<Extract<Packet, { cmd: 'connect' }>>));
      const connack = (await c.next('connack')) as Extract<Packet, { cmd: 'connack' }>;
      assert.equal(connack.returnCode, code, JSON.stringify(overrides));
      assert.equal(await c.closedWithin(2000), true);
    }
  });

  it('[§1.3] a Will on the device telemetry topic is stored (iothub-MessageType: Will) when the connection dies', async () => {
    const countWills = async (): Promise<number> =>
      (await storage.queryTelemetry({ hub: 'hub-1', deviceId: 'dev1', limit: 10_000 })).filter(
        (r) => r.properties['iothub-MessageType'] === 'Will',
      ).length;
    const will = {
      topic: 'devices/dev1/messages/events/%24.mid=will-1',
      payload: Buffer.from('gone'),
      qos: 1 as const,
      retain: false,
    };
    // A graceful DISCONNECT discards the Will [MQTT-3.14.4-3].
    const graceful = new TestClient();
    graceful.send(await connectPacket({ will }));
    await graceful.next('connack');
    graceful.send({ cmd: 'disconnect' });
    assert.equal(await graceful.closedWithin(2000), true);
    assert.equal(await countWills(), 0);
    // A dropped connection publishes it.
    const dropped = new TestClient();
    dropped.send(await connectPacket({ will }));
    await dropped.next('connack');
    dropped.server.destroy();
    const deadline = Date.now() + 3000;
    while ((await countWills()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const [stored] = (await storage.queryTelemetry({ hub: 'hub-1', deviceId: 'dev1', limit: 10_000 })).filter(
      (r) => r.properties['iothub-MessageType'] === 'Will',
    );
    assert.ok(stored, 'the Will was stored');
    assert.equal(stored.messageId, 'will-1');
    assert.equal(Buffer.from(stored.body).toString(), 'gone');
  });
});
