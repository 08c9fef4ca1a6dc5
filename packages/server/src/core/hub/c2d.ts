/**
 * A hub's cloud-to-device queues, as IoT Hub keeps them: at most 50 messages per identity, a time to
 * live, a maximum delivery count, and feedback records for `iothub-ack`. Messages are pushed to a
 * connection once it subscribes (completed on PUBACK), or pulled (HTTPS): a pulled message is locked for a
 * minute under a lock token, then completed, rejected (dead-lettered) or abandoned (queued again); an
 * expired lock puts it back in the queue.
 */
import { randomUUID } from 'node:crypto';
import { HubError } from '../../errors.js';
import {
  copyMessageProperties,
  identityKey,
  type C2dFeedbackRecord,
  type C2dFeedbackStatus,
  type C2dRecord,
  type Identity,
} from '../model.js';
import type { Connections } from './connections.js';
import type { HubContext } from './context.js';
import type { Registry } from './registry.js';
import type { C2dState } from '../events.js';
import type { C2dSettings, ConnectionHandle, DeviceSession, OutgoingC2d } from './types.js';

/** A message handed to a device that pulls: invisible to other deliveries until `lockedUntil`. */
export interface C2dLease {
  message: C2dRecord;
  lockToken: string;
  /** Epoch ms. */
  lockedUntil: number;
}

/** How a device settles a pulled message (IoT Hub's three outcomes). */
export type C2dOutcome = 'complete' | 'reject' | 'abandon';

/** The event state of a finished message, by its feedback status. */
const FINISHED_STATE = {
  Success: 'completed',
  Expired: 'expired',
  DeliveryCountExceeded: 'deadLettered',
  Rejected: 'deadLettered',
  Purged: 'purged',
} as const satisfies Record<C2dFeedbackStatus, string>;

/**
 * C2D queues of one hub.
 *
 * @example
 * await c2d.sendC2d({ deviceId: 'dev1' }, { body: Buffer.from('on') });
 */
export class CloudToDevice {
  readonly #ctx: HubContext;
  readonly #registry: Registry;
  readonly #settings: C2dSettings;
  readonly #queues = new Map<string, C2dRecord[]>();
  /** Sends being written to storage, by identity key (they count against the queue depth). */
  readonly #reserved = new Map<string, number>();
  /** Pull locks by message id. */
  readonly #locks = new Map<string, { token: string; until: number }>();
  #connections: Connections | undefined;

  constructor(context: HubContext, registry: Registry, settings: C2dSettings) {
    this.#ctx = context;
    this.#registry = registry;
    this.#settings = settings;
  }

  /** The connections to deliver on (set once both exist: each needs the other). */
  useConnections(connections: Connections): void {
    this.#connections = connections;
  }

  /** Puts a message read back from storage. */
  load(message: C2dRecord): void {
    const key = identityKey(message);
    const queue = this.#queues.get(key) ?? [];
    queue.push(message);
    this.#queues.set(key, queue);
  }

  /** Number of messages waiting in an identity's C2D queue. */
  queueLength(identity: Identity): number {
    return this.#queues.get(identityKey(identity))?.length ?? 0;
  }

  /** Drops an identity's queue and its stored messages (the identity was deleted). */
  async forget(key: string): Promise<void> {
    for (const message of this.#queues.get(key) ?? []) {
      this.#locks.delete(message.id);
      await this.#ctx.storage.deleteC2d(this.#ctx.name, message.id);
    }
    this.#queues.delete(key);
  }

  /** Enqueues a C2D message. Throws `HUB_C2D_QUEUE_FULL` at 50 pending messages. */
  async sendC2d(identity: Identity, message: OutgoingC2d): Promise<C2dRecord> {
    this.#registry.require(identity);
    if (message.body.length > 64 * 1024) {
      throw new HubError('HUB_MESSAGE_TOO_LARGE', 'Cloud-to-device messages are limited to 64 KB.');
    }
    const key = identityKey(identity);
    // The queue is taken (and made) before the write below, so that concurrent sends share it.
    const queue = this.#queues.get(key) ?? [];
    this.#queues.set(key, queue);
    if (queue.length + (this.#reserved.get(key) ?? 0) >= this.#settings.maxQueueDepth) {
      throw new HubError(
        'HUB_C2D_QUEUE_FULL',
        `The queue of ${key} already holds ${this.#settings.maxQueueDepth} messages; wait for the device to receive them.`,
      );
    }
    const now = this.#ctx.now();
    const record: C2dRecord = {
      id: randomUUID(),
      deviceId: identity.deviceId,
      to:
        identity.moduleId === undefined
          ? `/devices/${identity.deviceId}/messages/deviceBound`
          : `/devices/${identity.deviceId}/modules/${identity.moduleId}/messages/deviceBound`,
      expiresAt: message.expiresAt ?? now + this.#settings.defaultTtlMs,
      ack: message.ack ?? 'none',
      properties: { ...message.properties },
      body: message.body,
      enqueuedTime: this.#ctx.iso(now),
      deliveryCount: 0,
    };
    if (identity.moduleId !== undefined) record.moduleId = identity.moduleId;
    copyMessageProperties(message, record);
    this.#reserved.set(key, (this.#reserved.get(key) ?? 0) + 1);
    try {
      await this.#ctx.storage.saveC2d(this.#ctx.name, record);
    } finally {
      const left = (this.#reserved.get(key) ?? 1) - 1;
      if (left === 0) this.#reserved.delete(key);
      else this.#reserved.set(key, left);
    }
    const current = this.#queues.get(key) ?? queue;
    current.push(record);
    this.#queues.set(key, current);
    this.#event(record, 'queued');
    const handle = this.#connections?.get(key);
    if (handle !== undefined && handle.endpoint.wantsC2d) this.deliverPending(handle);
    return record;
  }

  /** Delivers what is queued for a connection that (now) wants C2D. */
  deliverPending(handle: ConnectionHandle): void {
    const queue = this.#queues.get(handle.key);
    if (queue === undefined) return;
    const now = this.#ctx.now();
    for (const message of [...queue]) {
      if (handle.inflight.has(message.id) || this.#isLocked(message, now)) continue;
      if (!this.#deliverable(handle.key, message, now)) continue;
      handle.inflight.add(message.id);
      handle.endpoint.deliverC2d(message);
      this.#event(message, 'delivered');
    }
  }

  /**
   * The next message for a device that pulls (HTTPS `GET …/messages/devicebound`), locked for the lock
   * timeout (one minute) under a new lock token; `undefined` when nothing is waiting.
   */
  receive(session: DeviceSession): C2dLease | undefined {
    const queue = this.#queues.get(session.key);
    if (queue === undefined) return undefined;
    const now = this.#ctx.now();
    const pushed = this.#connections?.get(session.key)?.inflight;
    for (const message of [...queue]) {
      if (pushed?.has(message.id) === true || this.#isLocked(message, now)) continue;
      if (!this.#deliverable(session.key, message, now)) continue;
      const lease: C2dLease = { message, lockToken: randomUUID(), lockedUntil: now + this.#settings.lockTimeoutMs };
      this.#locks.set(message.id, { token: lease.lockToken, until: lease.lockedUntil });
      this.#event(message, 'delivered');
      return lease;
    }
    return undefined;
  }

  /**
   * Settles a pulled message by its lock token: `complete` finishes it, `reject` dead-letters it (negative
   * feedback), `abandon` puts it back in the queue. Throws `HUB_MESSAGE_LOCK_LOST` (412) when no message of
   * the device holds that lock: settled already, or the lock expired.
   */
  settle(session: DeviceSession, lockToken: string, outcome: C2dOutcome): void {
    const now = this.#ctx.now();
    const message = this.#queues.get(session.key)?.find((m) => {
      const lock = this.#locks.get(m.id);
      return lock !== undefined && lock.token === lockToken && lock.until > now;
    });
    if (message === undefined) {
      throw new HubError(
        'HUB_MESSAGE_LOCK_LOST',
        `No message of ${session.key} is locked with ${JSON.stringify(lockToken)}: it was settled already or its lock expired.`,
      );
    }
    this.#locks.delete(message.id);
    if (outcome === 'complete') return this.#finishC2d(session.key, message, 'Success');
    if (outcome === 'reject') return this.#finishC2d(session.key, message, 'Rejected');
    this.#event(message, 'abandoned');
    const handle = this.#connections?.get(session.key);
    if (handle !== undefined && handle.endpoint.wantsC2d) this.deliverPending(handle);
  }

  /** Whether a pull lock on `message` is still held. */
  #isLocked(message: C2dRecord, now: number): boolean {
    const lock = this.#locks.get(message.id);
    if (lock === undefined) return false;
    if (lock.until > now) return true;
    this.#locks.delete(message.id);
    return false;
  }

  /**
   * Counts one more delivery of `message`, or finishes it when it expired or was delivered the maximum
   * number of times; false when it must not be delivered.
   */
  #deliverable(key: string, message: C2dRecord, now: number): boolean {
    if (message.expiresAt <= now) {
      this.#finishC2d(key, message, 'Expired');
      return false;
    }
    if (message.deliveryCount >= this.#settings.maxDeliveryCount) {
      this.#finishC2d(key, message, 'DeliveryCountExceeded');
      return false;
    }
    message.deliveryCount += 1;
    this.#ctx.storage.saveC2d(this.#ctx.name, message).catch((err: unknown) => {
      this.#ctx.log.error({ err }, 'failed to persist C2D delivery count');
    });
    return true;
  }

  #event(message: C2dRecord, state: C2dState): void {
    this.#ctx.events.emit({
      type: 'c2d',
      hub: this.#ctx.name,
      identity:
        message.moduleId === undefined
          ? { deviceId: message.deviceId }
          : { deviceId: message.deviceId, moduleId: message.moduleId },
      id: message.id,
      ...(message.messageId === undefined ? {} : { messageId: message.messageId }),
      state,
    });
  }

  /** The device acknowledged (completed) a C2D message. */
  completeC2d(handle: ConnectionHandle, id: string): void {
    this.settleDelivered(handle, id, 'complete');
  }

  /**
   * The device settled a message pushed on its connection (AMQP dispositions: accepted, rejected,
   * released): completed, dead-lettered, or back in the queue and delivered again.
   */
  settleDelivered(handle: ConnectionHandle, id: string, outcome: C2dOutcome): void {
    if (!handle.inflight.delete(id)) return;
    const message = this.#queues.get(handle.key)?.find((m) => m.id === id);
    if (message === undefined) return;
    if (outcome === 'complete') return this.#finishC2d(handle.key, message, 'Success');
    if (outcome === 'reject') return this.#finishC2d(handle.key, message, 'Rejected');
    this.#event(message, 'abandoned');
    if (!handle.closed && handle.endpoint.wantsC2d) this.deliverPending(handle);
  }

  #finishC2d(key: string, message: C2dRecord, status: C2dFeedbackStatus): void {
    this.#locks.delete(message.id);
    const queue = this.#queues.get(key);
    if (queue !== undefined) {
      const index = queue.indexOf(message);
      if (index >= 0) queue.splice(index, 1);
      if (queue.length === 0) this.#queues.delete(key);
    }
    this.#ctx.storage.deleteC2d(this.#ctx.name, message.id).catch((err: unknown) => {
      this.#ctx.log.error({ err }, 'failed to delete C2D message');
    });
    this.#event(message, FINISHED_STATE[status]);
    const wantsFeedback =
      message.ack === 'full' ||
      (message.ack === 'positive' && status === 'Success') ||
      (message.ack === 'negative' && status !== 'Success');
    if (!wantsFeedback) return;
    const generationId = this.#registry.get(key)?.record.generationId ?? '';
    const feedback: C2dFeedbackRecord = {
      originalMessageId: message.messageId ?? message.id,
      enqueuedTimeUtc: this.#ctx.iso(),
      statusCode: status,
      description: status === 'Success' ? 'Success' : status === 'Expired' ? 'Message expired' : status,
      deviceId: message.deviceId,
      deviceGenerationId: generationId,
    };
    this.#ctx.storage.appendFeedback(this.#ctx.name, feedback).catch((err: unknown) => {
      this.#ctx.log.error({ err }, 'failed to store C2D feedback');
    });
  }

  /** Removes and returns up to `limit` feedback records. */
  takeFeedback(limit = 64): Promise<C2dFeedbackRecord[]> {
    return this.#ctx.storage.takeFeedback(this.#ctx.name, limit);
  }

  /** Purges an identity's C2D queue; resolves with the number of removed messages. */
  purgeC2d(identity: Identity): number {
    const key = identityKey(identity);
    const queue = [...(this.#queues.get(key) ?? [])];
    for (const message of queue) this.#finishC2d(key, message, 'Purged');
    return queue.length;
  }

  /**
   * Takes an identity's queue out of this hub, as it moves to another one: no feedback, nothing left in
   * storage. Messages out for delivery are taken too (the device is leaving; its connection drops).
   */
  async take(identity: Identity): Promise<C2dRecord[]> {
    const key = identityKey(identity);
    const queue = this.#queues.get(key) ?? [];
    this.#queues.delete(key);
    for (const message of queue) {
      this.#locks.delete(message.id);
      await this.#ctx.storage.deleteC2d(this.#ctx.name, message.id);
    }
    return queue;
  }

  /**
   * Queues messages taken from another hub for an identity here, after what it has, with their ids,
   * expiry and delivery counts; delivers them at once when the device is connected and subscribed.
   */
  async adopt(identity: Identity, messages: readonly C2dRecord[]): Promise<void> {
    this.#registry.require(identity);
    const key = identityKey(identity);
    const queue = this.#queues.get(key) ?? [];
    for (const message of messages) {
      const copy = { ...message, properties: { ...message.properties } };
      await this.#ctx.storage.saveC2d(this.#ctx.name, copy);
      queue.push(copy);
    }
    this.#queues.set(key, queue);
    const handle = this.#connections?.get(key);
    if (handle !== undefined && handle.endpoint.wantsC2d) this.deliverPending(handle);
  }

  /** Finishes every expired message (called on a timer). */
  sweepExpired(): void {
    const now = this.#ctx.now();
    for (const [key, queue] of [...this.#queues]) {
      for (const message of [...queue]) if (message.expiresAt <= now) this.#finishC2d(key, message, 'Expired');
    }
  }
}
