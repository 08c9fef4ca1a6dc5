/**
 * The protocol-neutral hub core with a fake edge: C2D TTL, delivery counts and feedback, direct-method
 * timeouts, connection replacement, token expiry, events. No sockets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createSharedAccessSignature } from '@plugboard/protocol';
import { Hub, type DeviceEndpoint, type MethodRequest } from '../src/core/hub.js';
import type { HubEvent } from '../src/core/events.js';
import type { C2dRecord, JsonObject } from '../src/core/model.js';
import type { HubError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { SqliteStorage } from '../src/storage/sqlite.js';

const HOST = 'core.test';
let storage: SqliteStorage;
let hub: Hub;
let clock = Date.parse('2026-01-01T00:00:00Z');

before(async () => {
  storage = SqliteStorage.open({ path: ':memory:' });
  hub = await Hub.open({
    name: 'hub-1',
    hostName: HOST,
    storage,
    logger: createLogger({ level: 'silent' }),
    now: () => clock,
    c2d: { maxDeliveryCount: 2 },
  });
});
after(async () => {
  hub.close();
  await storage.close();
});

/** A fake edge that records what the core sends it. */
class FakeEndpoint implements DeviceEndpoint {
  readonly transport = 'fake';
  wantsMethods = false;
  wantsDesired = false;
  wantsC2d = false;
  readonly methods: MethodRequest[] = [];
  readonly desired: JsonObject[] = [];
  readonly c2d: C2dRecord[] = [];
  closedWith: HubError | undefined;
  sendMethodRequest(request: MethodRequest): void {
    this.methods.push(request);
  }
  sendDesiredPatch(patch: JsonObject): void {
    this.desired.push(patch);
  }
  deliverC2d(message: C2dRecord): void {
    this.c2d.push(message);
  }
  close(error: HubError): void {
    this.closedWith = error;
  }
}

async function connect(deviceId: string, endpoint: FakeEndpoint, expiresAt?: number) {
  if (!hub.has({ deviceId })) await hub.createIdentity({ deviceId });
  const auth = hub.getIdentity({ deviceId }).record.authentication;
  assert.equal(auth.type, 'sas');
  const token = await createSharedAccessSignature({
    resource: `${HOST}/devices/${deviceId}`,
    key: auth.type === 'sas' ? auth.symmetricKey.primaryKey : '',
    expiry: Math.floor((expiresAt ?? clock + 3_600_000) / 1000),
  });
  const authenticated = await hub.authenticate({ hostName: HOST, deviceId, password: token });
  return hub.attach(authenticated, endpoint, 'dtmi:com:example:Thermostat;1');
}

/** Lets the core's pending promise continuations run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function feedbackFor(messageId: string) {
  return (await hub.takeFeedback(64)).find((f) => f.originalMessageId === messageId);
}

describe('hub core: C2D queue', () => {
  it('[C2D: TTL] an expired message is not delivered and gives Expired feedback', async () => {
    await hub.createIdentity({ deviceId: 'ttl' });
    await hub.sendC2d(
      { deviceId: 'ttl' },
      { body: Buffer.from('x'), messageId: 'ttl-1', ack: 'full', expiresAt: clock + 1000 },
    );
    clock += 2000;
    const endpoint = new FakeEndpoint();
    endpoint.wantsC2d = true;
    const handle = await connect('ttl', endpoint);
    hub.endpointChanged(handle);
    assert.equal(endpoint.c2d.length, 0);
    assert.equal(hub.c2dQueueLength({ deviceId: 'ttl' }), 0);
    assert.equal((await feedbackFor('ttl-1'))?.statusCode, 'Expired');
    hub.detach(handle, 'test');
  });

  it('[C2D: max delivery count] a message not acknowledged within maxDeliveryCount deliveries is dead-lettered', async () => {
    await hub.createIdentity({ deviceId: 'retry' });
    await hub.sendC2d({ deviceId: 'retry' }, { body: Buffer.from('x'), messageId: 'retry-1', ack: 'negative' });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const endpoint = new FakeEndpoint();
      endpoint.wantsC2d = true;
      const handle = await connect('retry', endpoint);
      hub.endpointChanged(handle);
      assert.equal(endpoint.c2d.length, 1, `delivery ${attempt}`);
      assert.equal(endpoint.c2d[0]?.deliveryCount, attempt);
      hub.detach(handle, 'dropped before PUBACK');
    }
    const endpoint = new FakeEndpoint();
    endpoint.wantsC2d = true;
    const handle = await connect('retry', endpoint);
    hub.endpointChanged(handle);
    assert.equal(endpoint.c2d.length, 0, 'no third delivery');
    assert.equal((await feedbackFor('retry-1'))?.statusCode, 'DeliveryCountExceeded');
    hub.detach(handle, 'test');
  });

  it('[C2D: feedback] positive acks give Success feedback; ack none gives none; purge gives Purged', async () => {
    await hub.createIdentity({ deviceId: 'ack' });
    await hub.sendC2d({ deviceId: 'ack' }, { body: Buffer.from('a'), messageId: 'pos-1', ack: 'positive' });
    await hub.sendC2d({ deviceId: 'ack' }, { body: Buffer.from('b'), messageId: 'none-1' });
    const endpoint = new FakeEndpoint();
    endpoint.wantsC2d = true;
    const handle = await connect('ack', endpoint);
    hub.endpointChanged(handle);
    assert.equal(endpoint.c2d.length, 2);
    for (const message of endpoint.c2d) hub.completeC2d(handle, message.id);
    const feedback = await hub.takeFeedback(64);
    assert.deepEqual(
      feedback.map((f) => [f.originalMessageId, f.statusCode]),
      [['pos-1', 'Success']],
    );
    hub.detach(handle, 'test');
    await hub.sendC2d({ deviceId: 'ack' }, { body: Buffer.from('c'), messageId: 'full-1', ack: 'full' });
    assert.equal(hub.purgeC2d({ deviceId: 'ack' }), 1);
    assert.equal((await feedbackFor('full-1'))?.statusCode, 'Purged');
  });

  it('[§4.3 C2D pull] a pulled message is locked for a minute, then settled by its lock token', async () => {
    await hub.createIdentity({ deviceId: 'puller' });
    const session = { identity: { deviceId: 'puller' }, key: 'puller', authMethod: 'sas' as const };
    assert.equal(hub.receiveC2d(session), undefined, 'empty queue');
    await hub.sendC2d({ deviceId: 'puller' }, { body: Buffer.from('a'), messageId: 'pull-1', ack: 'full' });
    await hub.sendC2d({ deviceId: 'puller' }, { body: Buffer.from('b'), messageId: 'pull-2', ack: 'full' });
    const first = hub.receiveC2d(session);
    assert.equal(first?.message.messageId, 'pull-1');
    assert.equal(first?.message.deliveryCount, 1);
    assert.equal(first?.lockedUntil, clock + 60_000);
    // Locked: the next receive gets the next message, then nothing.
    const second = hub.receiveC2d(session);
    assert.equal(second?.message.messageId, 'pull-2');
    assert.equal(hub.receiveC2d(session), undefined, 'both locked');
    assert.ok(first !== undefined && second !== undefined);
    // A wrong token, and a token settled twice, lose the lock.
    assert.throws(() => hub.settleC2d(session, 'not-a-lock', 'complete'), { code: 'HUB_MESSAGE_LOCK_LOST' });
    // Abandon: back in the queue, delivered again with the count raised.
    hub.settleC2d(session, first.lockToken, 'abandon');
    assert.throws(() => hub.settleC2d(session, first.lockToken, 'complete'), { code: 'HUB_MESSAGE_LOCK_LOST' });
    const again = hub.receiveC2d(session);
    assert.equal(again?.message.messageId, 'pull-1');
    assert.equal(again?.message.deliveryCount, 2);
    assert.notEqual(again?.lockToken, first.lockToken);
    // Reject: dead-lettered with negative feedback; complete: Success.
    assert.ok(again !== undefined);
    hub.settleC2d(session, again.lockToken, 'reject');
    hub.settleC2d(session, second.lockToken, 'complete');
    const feedback = await hub.takeFeedback(64);
    assert.deepEqual(
      feedback.map((f) => [f.originalMessageId, f.statusCode]),
      [
        ['pull-1', 'Rejected'],
        ['pull-2', 'Success'],
      ],
    );
    assert.equal(hub.c2dQueueLength({ deviceId: 'puller' }), 0);
    // An expired lock puts the message back; the old token no longer settles it.
    await hub.sendC2d({ deviceId: 'puller' }, { body: Buffer.from('c'), messageId: 'pull-3' });
    const locked = hub.receiveC2d(session);
    assert.ok(locked !== undefined);
    clock += 60_001;
    assert.throws(() => hub.settleC2d(session, locked.lockToken, 'complete'), { code: 'HUB_MESSAGE_LOCK_LOST' });
    const redelivered = hub.receiveC2d(session);
    assert.equal(redelivered?.message.messageId, 'pull-3');
    assert.ok(redelivered !== undefined);
    hub.settleC2d(session, redelivered.lockToken, 'complete');
    assert.equal(hub.c2dQueueLength({ deviceId: 'puller' }), 0);
  });

  it('[C2D] concurrent sends to an empty queue all land, and the 50-message depth holds for them', async () => {
    await hub.createIdentity({ deviceId: 'burst' });
    await Promise.all(
      Array.from({ length: 3 }, (_, i) => hub.sendC2d({ deviceId: 'burst' }, { body: Buffer.from(String(i)) })),
    );
    assert.equal(hub.c2dQueueLength({ deviceId: 'burst' }), 3);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => hub.sendC2d({ deviceId: 'burst' }, { body: Buffer.from(String(i)) })),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 47);
    assert.equal(hub.c2dQueueLength({ deviceId: 'burst' }), 50);
    hub.purgeC2d({ deviceId: 'burst' });
  });

  it('[C2D: durability] queued messages survive a restart of the hub', async () => {
    await hub.createIdentity({ deviceId: 'durable' });
    await hub.sendC2d({ deviceId: 'durable' }, { body: Buffer.from('kept'), messageId: 'kept-1' });
    const reopened = await Hub.open({
      name: 'hub-1',
      hostName: HOST,
      storage,
      logger: createLogger({ level: 'silent' }),
    });
    assert.equal(reopened.c2dQueueLength({ deviceId: 'durable' }), 1);
    reopened.close();
  });
});

describe('hub core: direct methods and connections', () => {
  it('[§9.3] a method waits connectTimeoutInSeconds for the device to come online, then is answered', async () => {
    await hub.createIdentity({ deviceId: 'late' });
    const call = hub.invokeMethod(
      { deviceId: 'late' },
      { methodName: 'ping', payload: { n: 1 }, connectTimeoutInSeconds: 5, responseTimeoutInSeconds: 5 },
    );
    const endpoint = new FakeEndpoint();
    const handle = await connect('late', endpoint);
    endpoint.wantsMethods = true;
    hub.endpointChanged(handle);
    await settle();
    const request = endpoint.methods[0];
    assert.ok(request, 'the request reached the device once it subscribed');
    assert.equal(request.payload, '{"n":1}');
    hub.completeMethod(handle, request.rid, 200, Buffer.from('{"pong":true}'));
    assert.deepEqual(await call, { status: 200, payload: { pong: true } });
    hub.detach(handle, 'test');
  });

  it('[§1.8] a method without payload sends JSON null; an empty answer is payload null', async () => {
    const endpoint = new FakeEndpoint();
    endpoint.wantsMethods = true;
    const handle = await connect('nullpayload', endpoint);
    const call = hub.invokeMethod({ deviceId: 'nullpayload' }, { methodName: 'reboot' });
    await settle();
    const request = endpoint.methods[0];
    assert.equal(request?.payload, 'null');
    hub.completeMethod(handle, request.rid, 204, new Uint8Array());
    assert.deepEqual(await call, { status: 204, payload: null });
    hub.detach(handle, 'test');
  });

  it('[§9.3] method names with reserved characters and unknown devices are refused', async () => {
    await assert.rejects(
      hub.invokeMethod({ deviceId: 'late' }, { methodName: 'a/b' }),
      (e: HubError) => e.code === 'HUB_INVALID_ARGUMENT',
    );
    await assert.rejects(
      hub.invokeMethod({ deviceId: 'nobody' }, { methodName: 'x' }),
      (e: HubError) => e.code === 'HUB_DEVICE_NOT_FOUND',
    );
  });

  it('[§1.3] a second connection replaces the first (400027) and events report both', async () => {
    const events: HubEvent[] = [];
    const stop = hub.events.subscribe((e) => events.push(e));
    const first = new FakeEndpoint();
    const second = new FakeEndpoint();
    await connect('twice', first);
    const handle = await connect('twice', second);
    assert.equal(first.closedWith?.code, 'HUB_CONNECTION_REPLACED');
    assert.equal(hub.isConnected({ deviceId: 'twice' }), true);
    hub.detach(handle, 'bye');
    assert.equal(hub.isConnected({ deviceId: 'twice' }), false);
    // Events reach listeners after the emitting code has returned.
    for (let i = 0; i < 100 && events.filter((e) => e.type === 'disconnected').length === 0; i++) {
      await new Promise((r) => setImmediate(r));
    }
    stop();
    assert.deepEqual(
      events.filter((e) => e.type === 'connected' || e.type === 'disconnected').map((e) => e.type),
      ['connected', 'connected', 'disconnected'],
    );
    assert.equal(hub.getIdentity({ deviceId: 'twice' }).activity.connectionState, 'Disconnected');
  });

  it('[§2.4] a connection is closed when its token expires', async () => {
    const endpoint = new FakeEndpoint();
    const realNow = Date.now;
    // The expiry timer runs on real time while the hub's clock is ours: a token valid 1 s more, then time moves.
    await connect('expiring', endpoint, clock + 1000);
    const deadline = realNow() + 3000;
    while (endpoint.closedWith === undefined && realNow() < deadline) {
      clock += 100;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(endpoint.closedWith?.code, 'HUB_TOKEN_EXPIRED');
  });

  it('[twins] a desired update reaches a subscribed device with $version; reported patches bump $version', async () => {
    const endpoint = new FakeEndpoint();
    endpoint.wantsDesired = true;
    const handle = await connect('twin', endpoint);
    await hub.updateTwin({ deviceId: 'twin' }, { properties: { desired: { target: 21 } } });
    assert.deepEqual(endpoint.desired, [{ target: 21, $version: 2 }]);
    assert.equal(await hub.patchReported(handle, { target: 21 }), 2);
    assert.deepEqual(hub.getTwinForDevice(handle), {
      desired: { target: 21, $version: 2 },
      reported: { target: 21, $version: 2 },
    });
    await assert.rejects(hub.patchReported(handle, [1]), (e: HubError) => e.code === 'HUB_INVALID_TWIN_PATCH');
    hub.detach(handle, 'test');
  });
});
