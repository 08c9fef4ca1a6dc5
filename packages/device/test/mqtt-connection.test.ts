import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { DeviceError } from '../src/errors.js';
import { MqttConnection, type MqttConnectOptions, type MqttHandlers } from '../src/mqtt-connection.js';
import { tlsOptions } from '../src/tls-options.js';

/** A server connection the test scripts: what the client sent, and a way to answer. */
class Peer {
  readonly packets: Packet[] = [];
  readonly #waiters: (() => void)[] = [];

  constructor(readonly socket: TLSSocket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    socket.on('data', (data: Buffer) => parser.parse(data));
    socket.on('error', () => undefined);
  }

  /** The first packet of kind `cmd` (waiting for it). */
  async next(cmd: Packet['cmd'], from = 0): Promise<Packet> {
    for (;;) {
      const found = this.packets.slice(from).find((p) => p.cmd === cmd);
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  send(packet: Packet | Buffer): void {
    this.socket.write(Buffer.isBuffer(packet) ? packet : mqttPacket.generate(packet));
  }
}

let server: Server;
let port: number;
let ca: string;
const peers: Peer[] = [];
const arrivals: ((peer: Peer) => void)[] = [];

function nextPeer(): Promise<Peer> {
  return new Promise((resolve) => arrivals.push(resolve));
}

before(async () => {
  const dir = process.env['PLUGBOARD_TEST_CA_DIR'];
  assert.ok(dir, 'run through scripts/run-tests.mjs, which makes the test CA');
  ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  server = createServer({
    cert: readFileSync(join(dir, 'server.pem')),
    key: readFileSync(join(dir, 'server.key.pem')),
  });
  server.on('secureConnection', (socket) => {
    const peer = new Peer(socket);
    peers.push(peer);
    arrivals.shift()?.(peer);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  for (const peer of peers) peer.socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

function options(overrides: Partial<MqttConnectOptions> = {}): MqttConnectOptions {
  return {
    host: '127.0.0.1',
    port,
    tls: tlsOptions(ca, { kind: 'sas', deviceKey: Buffer.alloc(32).toString('base64') }),
    clientId: 'd1',
    clean: false,
    keepaliveSeconds: 0,
    username: 'hub/d1/?api-version=2021-04-12',
    password: 'SharedAccessSignature sr=x&sig=y&se=1',
    connectTimeoutMs: 5000,
    ...overrides,
  };
}

/** Handlers that record what they are given. */
function recorder(): MqttHandlers & { messages: [string, string][]; closed: DeviceError[] } {
  const messages: [string, string][] = [];
  const closed: DeviceError[] = [];
  return {
    messages,
    closed,
    onMessage: (topic, payload) => messages.push([topic, payload.toString()]),
    onClose: (reason) => closed.push(reason),
  };
}

/** Connects with the peer answering CONNACK `returnCode`. */
async function connect(
  handlers: MqttHandlers,
  overrides: Partial<MqttConnectOptions> = {},
): Promise<{ connection: MqttConnection; peer: Peer }> {
  const arriving = nextPeer();
  const opening = MqttConnection.open(options(overrides), handlers);
  const peer = await arriving;
  await peer.next('connect');
  peer.send({ cmd: 'connack', returnCode: 0, sessionPresent: true });
  return { connection: await opening, peer };
}

async function rejection(promise: Promise<unknown>): Promise<DeviceError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DeviceError, String(error));
    return error;
  }
  assert.fail('expected a rejection');
}

describe('MqttConnection: the SDK’s MQTT 3.1.1 client connection', () => {
  it('sends the CONNECT it is given and reads CONNACK’s session-present flag', async () => {
    const { connection, peer } = await connect(recorder(), { keepaliveSeconds: 180 });
    const packet = peer.packets[0];
    assert.ok(packet?.cmd === 'connect');
    assert.equal(packet.protocolId, 'MQTT');
    assert.equal(packet.protocolVersion, 4);
    assert.equal(packet.clean, false);
    assert.equal(packet.keepalive, 180);
    assert.equal(packet.clientId, 'd1');
    assert.equal(packet.username, 'hub/d1/?api-version=2021-04-12');
    assert.equal(packet.password?.toString(), 'SharedAccessSignature sr=x&sig=y&se=1');
    assert.equal(connection.sessionPresent, true);
    await connection.end();
  });

  it('keeps the CONNACK refusal: return code, and status 503 for code 3, 401 otherwise', async () => {
    for (const [returnCode, status] of [
      [3, 503],
      [5, 401],
      [4, 401],
    ] as const) {
      const arriving = nextPeer();
      const opening = MqttConnection.open(options(), recorder());
      const peer = await arriving;
      await peer.next('connect');
      peer.send({ cmd: 'connack', returnCode, sessionPresent: false });
      const error = await rejection(opening);
      assert.equal(error.code, 'DEVICE_CONNECTION_REFUSED');
      assert.equal(error.returnCode, returnCode);
      assert.equal(error.status, status);
      assert.match(error.message, new RegExp(`CONNACK ${returnCode}`));
    }
  });

  it('fails with DEVICE_CONNECTION_LOST when no CONNACK comes in time, and DEVICE_CLOSED when aborted', async () => {
    const arriving = nextPeer();
    const error = await rejection(MqttConnection.open(options({ connectTimeoutMs: 300 }), recorder()));
    await arriving;
    assert.equal(error.code, 'DEVICE_CONNECTION_LOST');
    assert.match(error.message, /did not answer the CONNECT in time/);

    const abort = new AbortController();
    const arrivingAgain = nextPeer();
    const opening = MqttConnection.open(options(), recorder(), abort.signal);
    await (await arrivingAgain).next('connect');
    abort.abort();
    assert.equal((await rejection(opening)).code, 'DEVICE_CLOSED');
  });

  it('refuses a keep-alive MQTT cannot carry before connecting, and closes the socket when the CONNECT will not encode', async () => {
    const before = peers.length;
    for (const keepaliveSeconds of [65_536, -1, 1.5]) {
      const error = await rejection(MqttConnection.open(options({ keepaliveSeconds }), recorder()));
      assert.equal(error.code, 'DEVICE_INVALID_OPTIONS');
    }
    // A client id longer than a two-byte length can say: the TLS connection opened, and closes again.
    const arriving = nextPeer();
    const error = await rejection(MqttConnection.open(options({ clientId: 'x'.repeat(70_000) }), recorder()));
    assert.equal(error.code, 'DEVICE_CONNECTION_LOST');
    const peer = await arriving;
    assert.equal(peers.length, before + 1, 'only the last attempt reached the server');
    if (!peer.socket.destroyed) await once(peer.socket, 'close');
  });

  it('subscribes, and a refused subscription (SUBACK 0x80) is DEVICE_CONNECTION_REFUSED with status 403', async () => {
    const { connection, peer } = await connect(recorder());
    const granted = connection.subscribe('$iothub/twin/res/#', 0);
    const subscribe = await peer.next('subscribe');
    assert.ok(subscribe.cmd === 'subscribe');
    assert.deepEqual(subscribe.subscriptions, [{ topic: '$iothub/twin/res/#', qos: 0 }]);
    peer.send({ cmd: 'suback', messageId: subscribe.messageId ?? 0, granted: [0] });
    await granted;

    const refused = connection.subscribe('devices/d1/messages/devicebound/#', 1);
    const second = await peer.next('subscribe', peer.packets.indexOf(subscribe) + 1);
    assert.ok(second.cmd === 'subscribe' && second.messageId !== subscribe.messageId);
    peer.send({ cmd: 'suback', messageId: second.messageId ?? 0, granted: [0x80] });
    const error = await rejection(refused);
    assert.equal(error.code, 'DEVICE_CONNECTION_REFUSED');
    assert.equal(error.status, 403);
    assert.equal(error.returnCode, undefined);
    await connection.end();
  });

  it('resolves a QoS 1 publish on its PUBACK, and PUBACKs a QoS 1 PUBLISH after handing it over', async () => {
    const handlers = recorder();
    const { connection, peer } = await connect(handlers);
    let acked = false;
    const publishing = connection.publishAcked('devices/d1/messages/events/', '{"t":1}').then(() => (acked = true));
    const publish = await peer.next('publish');
    assert.ok(publish.cmd === 'publish');
    assert.equal(publish.qos, 1);
    assert.equal(publish.payload.toString(), '{"t":1}');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(acked, false, 'resolved before its PUBACK');
    peer.send({ cmd: 'puback', messageId: publish.messageId ?? 0 });
    await publishing;

    peer.send({
      cmd: 'publish',
      topic: 'devices/d1/messages/devicebound/%24.mid=1',
      payload: Buffer.from('hello'),
      qos: 1,
      messageId: 77,
      dup: false,
      retain: false,
    });
    const puback = await peer.next('puback');
    assert.ok(puback.cmd === 'puback');
    assert.equal(puback.messageId, 77);
    assert.deepEqual(handlers.messages, [['devices/d1/messages/devicebound/%24.mid=1', 'hello']]);
    await connection.end();
  });

  it('hands over a PUBLISH sent right behind the CONNACK, in the same chunk (a C2D kept by the session)', async () => {
    const handlers = recorder();
    const arriving = nextPeer();
    const opening = MqttConnection.open(options(), handlers);
    const peer = await arriving;
    await peer.next('connect');
    const c2d = {
      cmd: 'publish',
      topic: 'devices/d1/messages/devicebound/',
      payload: Buffer.from('kept'),
      qos: 1,
      messageId: 5,
      dup: false,
      retain: false,
    } as const;
    peer.send(
      Buffer.concat([
        mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: true }),
        mqttPacket.generate(c2d),
      ]),
    );
    const connection = await opening;
    assert.deepEqual(handlers.messages, [['devices/d1/messages/devicebound/', 'kept']]);
    const puback = await peer.next('puback');
    assert.ok(puback.cmd === 'puback' && puback.messageId === 5);
    await connection.end();
  });

  it('sends PINGREQ on an idle keep-alive and closes when no PINGRESP comes by the next one', async () => {
    const handlers = recorder();
    const { connection, peer } = await connect(handlers, { keepaliveSeconds: 1 });
    const started = Date.now();
    await peer.next('pingreq');
    assert.ok(Date.now() - started >= 900, 'PINGREQ before the keep-alive elapsed');
    await new Promise((resolve) => setTimeout(resolve, 1300));
    assert.equal(handlers.closed.length, 1);
    assert.equal(handlers.closed[0]?.code, 'DEVICE_CONNECTION_LOST');
    assert.match(handlers.closed[0]?.message ?? '', /did not answer the PINGREQ/);
    assert.equal(connection.connected, false);
  });

  it('stays up while PINGRESPs come back', async () => {
    const handlers = recorder();
    const { connection, peer } = await connect(handlers, { keepaliveSeconds: 1 });
    const answer = (): void => {
      for (const p of peer.packets.splice(0)) if (p.cmd === 'pingreq') peer.send({ cmd: 'pingresp' });
    };
    const answering = setInterval(answer, 100);
    await new Promise((resolve) => setTimeout(resolve, 3200));
    clearInterval(answering);
    assert.deepEqual(handlers.closed, []);
    assert.equal(connection.connected, true);
    await connection.end();
  });

  it('closes on a malformed packet from the server, failing what waits, and tells the owner', async () => {
    const handlers = recorder();
    const { connection, peer } = await connect(handlers);
    const publishing = rejection(connection.publishAcked('t', 'x'));
    await peer.next('publish');
    peer.send(Buffer.from([0x36, 0x03, 0x00, 0x01, 0x74]));
    const error = await publishing;
    assert.equal(error.code, 'DEVICE_CONNECTION_LOST');
    assert.match(error.message, /QoS 3/);
    assert.equal(handlers.closed.length, 1);
    assert.equal(connection.connected, false);
  });

  it('end(): DISCONNECT, what waits fails with DEVICE_CONNECTION_LOST, onClose is not called; later publishes are refused', async () => {
    const handlers = recorder();
    const { connection, peer } = await connect(handlers);
    const publishing = rejection(connection.publishAcked('t', 'x'));
    await peer.next('publish');
    const closed = once(peer.socket, 'close');
    const ending = connection.end(5000);
    await peer.next('disconnect');
    peer.socket.end();
    await ending;
    await closed;
    assert.equal((await publishing).code, 'DEVICE_CONNECTION_LOST');
    assert.deepEqual(handlers.closed, []);
    assert.equal((await rejection(connection.publishAcked('t', 'y'))).code, 'DEVICE_NOT_CONNECTED');
    connection.publish('t', 'z'); // QoS 0 after the end: nothing, no throw
  });

  it('end() forces the socket closed when the server does not let go', async () => {
    const { connection, peer } = await connect(recorder());
    const closed = once(peer.socket, 'close');
    const started = Date.now();
    await connection.end(300);
    await closed;
    assert.ok(Date.now() - started < 3000);
  });

  it('tells the owner when the server closes the connection', async () => {
    const handlers = recorder();
    const { connection, peer } = await connect(handlers);
    peer.socket.destroy();
    while (handlers.closed.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(handlers.closed[0]?.code, 'DEVICE_CONNECTION_LOST');
    assert.equal(connection.connected, false);
  });
});
