/**
 * Security and bad input on the AMQP edge: a wrong key, an expired token, a token for another device, a
 * disabled device, links outside the device's own addresses, oversized messages, and random or
 * truncated bytes on 5671 — each refused (CBS status, link closed with the condition, delivery
 * rejected), nothing stored, the server up and an official-SDK device on the same hub unaffected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import amqpTransport from 'azure-iot-device-amqp';
import deviceSdk from 'azure-iot-device';
import { createSharedAccessSignature } from '@plugboard/protocol';
import {
  RawAmqp,
  deviceToken,
  eventually,
  onlyHub,
  sasDeviceClient,
  startTestPlatform,
  withTimeout,
  type TestPlatform,
} from './harness.js';
import { fuzzAmqpPort } from './fuzz.js';

let platform: TestPlatform;
let bystander: InstanceType<typeof deviceSdk.Client>;
let bystanderDisconnects = 0;

const hub = () => onlyHub(platform);
const WRONG_KEY = Buffer.alloc(32, 7).toString('base64');

before(async () => {
  platform = await startTestPlatform();
  for (const deviceId of ['mallory', 'victim']) await hub().createIdentity({ deviceId });
  bystander = await sasDeviceClient(hub(), 'amqp-bystander', amqpTransport.Amqp);
  bystander.on('disconnect', () => bystanderDisconnects++);
  await withTimeout(bystander.open(), 15_000, 'bystander open');
});
after(async () => {
  await bystander?.close().catch(() => undefined);
  await platform?.dispose();
});

/** The bystander still works: its message is stored and it never disconnected. */
async function bystanderAlive(): Promise<void> {
  const before = (await hub().queryTelemetry({ deviceId: 'amqp-bystander' })).length;
  await withTimeout(bystander.sendEvent(new deviceSdk.Message('still here')), 10_000, 'bystander send');
  assert.equal((await hub().queryTelemetry({ deviceId: 'amqp-bystander' })).length, before + 1);
  assert.equal(bystanderDisconnects, 0);
}

async function putToken(audience: string, token: string): Promise<string> {
  const amqp = RawAmqp.open(hub(), platform);
  try {
    return await amqp.putToken(audience, token);
  } finally {
    amqp.close();
  }
}

describe('AMQP edge: credentials', () => {
  it("a wrong key, an expired token, another device's token and a disabled device are refused at put-token", async () => {
    const audience = `${hub().hostName}/devices/mallory`;
    assert.equal(await putToken(audience, await deviceToken(hub(), 'mallory')), '200', 'the right token works');
    assert.equal(await putToken(audience, await deviceToken(hub(), 'mallory', { key: WRONG_KEY })), '401');
    assert.equal(await putToken(audience, await deviceToken(hub(), 'mallory', { expiry: 1_000_000 })), '401');
    assert.equal(await putToken(audience, await deviceToken(hub(), 'victim')), '401', "another device's token");
    assert.equal(await putToken(audience, 'not a token'), '401');
    await hub().createIdentity({ deviceId: 'disabled-one', status: 'disabled' });
    assert.equal(
      await putToken(`${hub().hostName}/devices/disabled-one`, await deviceToken(hub(), 'disabled-one')),
      '403',
    );
    await bystanderAlive();
  });

  it("links outside the device's own addresses are closed with amqp:unauthorized-access; nothing is stored", async () => {
    const amqp = RawAmqp.open(hub(), platform);
    try {
      assert.equal(
        await amqp.putToken(`${hub().hostName}/devices/mallory`, await deviceToken(hub(), 'mallory')),
        '200',
      );
      const refusals: string[] = [];
      for (const address of [
        '/devices/victim/messages/events',
        '/devices/victim/twin',
        '/devices/victim/methods/devicebound',
        '/messages/devicebound',
        '/anything/else',
      ]) {
        const link = amqp.connection.open_sender({ target: { address } });
        const condition = await new Promise<string>((resolve) => {
          link.once('sender_close', (context) => resolve(String(context.sender?.error?.condition ?? 'closed')));
          link.once('sender_error', (context) => resolve(String(context.sender?.error?.condition ?? 'error')));
          setTimeout(() => resolve('still open'), 2000);
        });
        refusals.push(`${address} ${condition}`);
      }
      assert.deepEqual(refusals, [
        '/devices/victim/messages/events amqp:unauthorized-access',
        '/devices/victim/twin amqp:unauthorized-access',
        '/devices/victim/methods/devicebound amqp:unauthorized-access',
        '/messages/devicebound amqp:unauthorized-access',
        '/anything/else amqp:unauthorized-access',
      ]);
      const victimReceive = amqp.connection.open_receiver({
        source: { address: '/devices/victim/messages/devicebound' },
      });
      const closed = await new Promise<string>((resolve) => {
        victimReceive.once('receiver_close', (context) => resolve(String(context.receiver?.error?.condition)));
        setTimeout(() => resolve('still open'), 2000);
      });
      assert.equal(closed, 'amqp:unauthorized-access');
      assert.equal((await hub().queryTelemetry({ deviceId: 'victim' })).length, 0);
    } finally {
      amqp.close();
    }
    await bystanderAlive();
  });

  it('the Event Hub-compatible endpoint: without its token, with a device token, or for another entity, its links are closed', async () => {
    const receiverCondition = (amqp: RawAmqp, address: string): Promise<string> =>
      new Promise<string>((resolve) => {
        const link = amqp.connection.open_receiver({ source: { address } });
        link.once('receiver_close', (context) => resolve(String(context.receiver?.error?.condition)));
        link.on('message', () => resolve('received'));
        setTimeout(() => resolve('still open'), 1500);
      });
    const partition = `${hub().name}/ConsumerGroups/$default/Partitions/0`;
    const amqp = RawAmqp.open(hub(), platform);
    try {
      // A device's token authorizes that device's links, not the hub's event stream.
      assert.equal(
        await amqp.putToken(`${hub().hostName}/devices/mallory`, await deviceToken(hub(), 'mallory')),
        '200',
      );
      assert.equal(await receiverCondition(amqp, partition), 'amqp:unauthorized-access');
      assert.equal(await receiverCondition(amqp, '$management'), 'amqp:unauthorized-access');
      // A device key signing an sb:// audience is not a policy token.
      assert.equal(
        await amqp.putToken(`sb://${hub().hostName}/${hub().name}`, await deviceToken(hub(), 'mallory')),
        '401',
      );
    } finally {
      amqp.close();
    }
    const service = RawAmqp.open(hub(), platform);
    try {
      const audience = `sb://${hub().hostName}/${hub().name}`;
      const key = hub().policies.find((p) => p.keyName === 'service')?.primaryKey ?? '';
      // Event Hubs clients sign with the key's text: its UTF-8 bytes, passed here as base64.
      const token = await createSharedAccessSignature({
        resource: audience,
        key: Buffer.from(key, 'utf8').toString('base64'),
        keyName: 'service',
        expiry: Math.floor(Date.now() / 1000) + 600,
      });
      assert.equal(await service.putToken(audience, token), '200');
      assert.equal(
        await receiverCondition(service, 'other-hub/ConsumerGroups/$default/Partitions/0'),
        'amqp:not-found',
      );
      assert.equal(
        await receiverCondition(service, `${hub().name}/ConsumerGroups/$default/Partitions/9`),
        'amqp:not-found',
      );
    } finally {
      service.close();
    }
    await bystanderAlive();
  });

  it('a message over 256 KB is rejected with amqp:link:message-size-exceeded and not stored', async () => {
    const amqp = RawAmqp.open(hub(), platform);
    try {
      assert.equal(
        await amqp.putToken(`${hub().hostName}/devices/mallory`, await deviceToken(hub(), 'mallory')),
        '200',
      );
      const before = (await hub().queryTelemetry({ deviceId: 'mallory' })).length;
      const sender = amqp.connection.open_sender({ target: { address: '/devices/mallory/messages/events' } });
      await new Promise<void>((resolve) => sender.once('sendable', () => resolve()));
      const outcome = new Promise<string>((resolve) => {
        sender.once('rejected', (context) =>
          resolve(String((context.delivery?.remote_state as { error?: { condition?: string } })?.error?.condition)),
        );
        sender.once('accepted', () => resolve('accepted'));
      });
      sender.send({ body: rheaData(Buffer.alloc(256 * 1024 + 1, 0x61)) });
      assert.equal(await withTimeout(outcome, 10_000, 'the outcome'), 'amqp:link:message-size-exceeded');
      assert.equal((await hub().queryTelemetry({ deviceId: 'mallory' })).length, before);
    } finally {
      amqp.close();
    }
    await bystanderAlive();
  });
});

/** A data-section body for a raw message. */
function rheaData(bytes: Buffer): unknown {
  return { typecode: 0x75, content: bytes };
}

describe('AMQP edge: garbage on the wire', () => {
  it('a frame declaring more than the advertised 64 KB ends the connection at once, before its bytes arrive', async () => {
    const closedAfter = await new Promise<number>((resolve) => {
      const started = Date.now();
      const socket = tlsConnect({ host: hub().hostName, port: 5671, ca: platform.tls.caCertificatePem }, () => {
        const frame = Buffer.alloc(1024);
        frame.writeUInt32BE(10 * 1024 * 1024, 0);
        socket.write(Buffer.concat([Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), frame]));
      });
      socket.on('error', () => undefined);
      socket.resume();
      socket.on('close', () => resolve(Date.now() - started));
    });
    assert.ok(closedAfter < 2000, `closed after ${closedAfter} ms`);
    await bystanderAlive();
  });

  it('[fuzz] random and truncated bytes on 5671 end that connection only; the server stays up', async () => {
    await fuzzAmqpPort({ host: hub().hostName, port: 5671, ca: platform.tls.caCertificatePem }, 0);
    await eventually(async () =>
      (await putToken(`${hub().hostName}/devices/mallory`, await deviceToken(hub(), 'mallory'))) === '200'
        ? true
        : undefined,
    );
    await bystanderAlive();
  });
});
