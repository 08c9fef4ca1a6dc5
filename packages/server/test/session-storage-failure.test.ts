/**
 * A storage failure inside a packet's asynchronous handling (saving a persistent session at CONNECT or
 * SUBSCRIBE) closes that connection only: no unhandled rejection reaches the process, and another
 * connection of the same hub keeps working.
 */
import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { after, before, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createSharedAccessSignature } from '@plugboard/protocol';
import { Hub } from '../src/core/hub.js';
import { serveMqttConnection } from '../src/edges/mqtt/connection.js';
import { createLogger } from '../src/logger.js';
import type { Storage } from '../src/storage/port.js';
import { SqliteStorage } from '../src/storage/sqlite.js';

const HOST = 'hub.failing';
let sqlite: SqliteStorage;
let hub: Hub;
/** When true, saving an MQTT session fails as a full disk would. */
let failSessionSaves = false;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

before(async () => {
  process.on('unhandledRejection', onUnhandled);
  sqlite = SqliteStorage.open({ path: ':memory:' });
  const storage = new Proxy(sqlite, {
    get(target, name, receiver) {
      if (name === 'saveSession') {
        return (...args: Parameters<Storage['saveSession']>) =>
          failSessionSaves
            ? Promise.reject(new Error('SQLITE_FULL: database or disk is full'))
            : target.saveSession(...args);
      }
      const value: unknown = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  hub = await Hub.open({ name: 'hub-1', hostName: HOST, storage, logger: createLogger({ level: 'silent' }) });
  for (const deviceId of ['saver', 'other']) await hub.createIdentity({ deviceId });
});
after(async () => {
  process.off('unhandledRejection', onUnhandled);
  hub.close();
  await sqlite.close();
});

class Client {
  readonly packets: Packet[] = [];
  closed = false;
  readonly #client: Duplex;
  constructor() {
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    const server = Duplex.from({ readable: toServer, writable: toClient });
    this.#client = Duplex.from({ readable: toClient, writable: toServer });
    this.#client.on('error', () => undefined);
    server.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => this.packets.push(p));
    this.#client.on('data', (d: Buffer) => parser.parse(d));
    this.#client.on('end', () => (this.closed = true));
    this.#client.on('close', () => (this.closed = true));
    serveMqttConnection({
      stream: server,
      transport: 'mqtt',
      resolveHub: (h) => (h === HOST ? hub : undefined),
      logger: createLogger({ level: 'silent' }),
      clientCertificates: undefined,
    });
  }
  send(packet: Packet): void {
    this.#client.write(mqttPacket.generate(packet));
  }
  async until<T>(check: () => T | undefined, what: string): Promise<T> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  async connect(deviceId: string, clean: boolean): Promise<number | undefined> {
    const auth = hub.getIdentity({ deviceId }).record.authentication;
    const password = await createSharedAccessSignature({
      resource: `${HOST}/devices/${deviceId}`,
      key: auth.type === 'sas' ? auth.symmetricKey.primaryKey : '',
      expiry: Math.floor(Date.now() / 1000) + 600,
    });
    this.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean,
      keepalive: 60,
      clientId: deviceId,
      username: `${HOST}/${deviceId}/?api-version=2021-04-12`,
      password: Buffer.from(password),
    });
    await this.until(
      () => (this.closed || this.packets.some((p) => p.cmd === 'connack') ? true : undefined),
      'CONNACK or close',
    );
    const connack = this.packets.find((p): p is Extract<Packet, { cmd: 'connack' }> => p.cmd === 'connack');
    return connack?.returnCode;
  }
}

it('[storage failure] a session save failing at CONNECT or SUBSCRIBE closes that connection only; no unhandled rejection', async () => {
  const other = new Client();
  assert.equal(await other.connect('other', true), 0);

  failSessionSaves = true;
  const atConnect = new Client();
  await atConnect.connect('saver', false);
  await atConnect.until(() => (atConnect.closed ? true : undefined), 'the connection to close');
  assert.equal(
    atConnect.packets.some((p) => p.cmd === 'connack' && p.returnCode === 0),
    false,
    'no CONNACK 0 for a session that could not be saved',
  );

  failSessionSaves = false;
  const atSubscribe = new Client();
  assert.equal(await atSubscribe.connect('saver', false), 0);
  failSessionSaves = true;
  atSubscribe.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$iothub/methods/POST/#', qos: 0 }] });
  await atSubscribe.until(() => (atSubscribe.closed ? true : undefined), 'the connection to close');
  failSessionSaves = false;

  other.send({ cmd: 'pingreq' });
  await other.until(() => (other.packets.some((p) => p.cmd === 'pingresp') ? true : undefined), 'PINGRESP');
  assert.equal(other.closed, false, 'the other connection is untouched');
  assert.equal(hub.isConnected({ deviceId: 'other' }), true);
  assert.equal(hub.isConnected({ deviceId: 'saver' }), false);
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
});
