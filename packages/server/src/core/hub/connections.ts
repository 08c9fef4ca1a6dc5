/**
 * A hub's live connections: one per identity (a new one replaces the old with 400027), closed when its
 * SAS token expires, tracked in the registry's connection state; and the callers waiting for a device to
 * come online for a method call.
 */
import { HubError } from '../../errors.js';
import { identityKey, type Identity } from '../model.js';
import type { HubContext } from './context.js';
import { keysCovering, type Registry } from './registry.js';
import type { Authenticated, ConnectionHandle, DeviceEndpoint } from './types.js';

const MAX_TIMER_MS = 2_147_483_647;

/**
 * The connections of one hub.
 *
 * @example
 * const handle = connections.attach(authenticated, endpoint, modelId);
 * connections.detach(handle, 'client disconnect');
 */
export class Connections {
  readonly #ctx: HubContext;
  readonly #registry: Registry;
  readonly #graceMs: number;
  /** Called when a connection that wants C2D subscribes: deliver what is queued. */
  readonly #deliverC2d: (handle: ConnectionHandle) => void;
  readonly #connections = new Map<string, ConnectionHandle>();
  readonly #endpointWaiters = new Map<string, Set<() => void>>();

  constructor(
    context: HubContext,
    registry: Registry,
    options: { graceMs: number; deliverC2d: (handle: ConnectionHandle) => void },
  ) {
    this.#ctx = context;
    this.#registry = registry;
    this.#graceMs = options.graceMs;
    this.#deliverC2d = options.deliverC2d;
  }

  /** The live connection of `key`, if any. */
  get(key: string): ConnectionHandle | undefined {
    return this.#connections.get(key);
  }

  /** Every live connection. */
  all(): ConnectionHandle[] {
    return [...this.#connections.values()];
  }

  /**
   * Registers a live connection. An older connection of the same identity is closed with
   * `HUB_CONNECTION_REPLACED`. A SAS connection is closed when its token expires (plus grace).
   */
  attach(auth: Authenticated, endpoint: DeviceEndpoint, modelId = ''): ConnectionHandle {
    const key = identityKey(auth.identity);
    const stored = this.#registry.require(auth.identity);
    const previous = this.#connections.get(key);
    const handle: ConnectionHandle = {
      identity: auth.identity,
      key,
      endpoint,
      connectedAt: this.#ctx.now(),
      authMethod: auth.method,
      inflight: new Set(),
      expiryTimer: undefined,
      closed: false,
    };
    this.#connections.set(key, handle);
    if (previous !== undefined) {
      this.#release(previous);
      previous.endpoint.close(
        new HubError('HUB_CONNECTION_REPLACED', `A new connection for ${key} replaced this one.`),
      );
    }
    if (auth.expiresAt !== undefined) this.#scheduleExpiry(handle, auth.expiresAt + this.#graceMs);
    const now = this.#ctx.iso();
    stored.activity = {
      ...stored.activity,
      connectionState: 'Connected',
      connectionStateUpdatedTime: now,
      lastActivityTime: now,
      modelId: modelId || stored.activity.modelId,
    };
    this.#registry.persist(stored);
    this.#ctx.events.emit({
      type: 'connected',
      hub: this.#ctx.name,
      identity: auth.identity,
      transport: endpoint.transport,
      modelId: stored.activity.modelId,
      auth: auth.method,
    });
    return handle;
  }

  /**
   * A live connection presented a new token (an AMQP CBS put-token before the old one expired): the
   * connection is now closed when the new one expires (plus grace) instead.
   */
  renew(handle: ConnectionHandle, auth: Authenticated): void {
    if (handle.closed) return;
    if (handle.expiryTimer !== undefined) clearTimeout(handle.expiryTimer);
    handle.expiryTimer = undefined;
    if (auth.expiresAt !== undefined) this.#scheduleExpiry(handle, auth.expiresAt + this.#graceMs);
  }

  #scheduleExpiry(handle: ConnectionHandle, at: number): void {
    const delay = at - this.#ctx.now();
    handle.expiryTimer = setTimeout(
      () => {
        if (handle.closed) return;
        if (this.#ctx.now() < at) return this.#scheduleExpiry(handle, at);
        handle.endpoint.close(new HubError('HUB_TOKEN_EXPIRED', 'The SAS token of this connection expired.'));
      },
      Math.max(0, Math.min(delay, MAX_TIMER_MS)),
    );
    handle.expiryTimer.unref();
  }

  /** The edge reports that a connection ended (any reason). */
  detach(handle: ConnectionHandle, reason: string): void {
    if (handle.closed) return;
    this.#release(handle);
    if (this.#connections.get(handle.key) !== handle) return;
    this.#connections.delete(handle.key);
    const stored = this.#registry.get(handle.key);
    if (stored !== undefined) {
      const now = this.#ctx.iso();
      stored.activity = { ...stored.activity, connectionState: 'Disconnected', connectionStateUpdatedTime: now };
      this.#registry.persist(stored);
    }
    this.#ctx.events.emit({ type: 'disconnected', hub: this.#ctx.name, identity: handle.identity, reason });
  }

  #release(handle: ConnectionHandle): void {
    handle.closed = true;
    if (handle.expiryTimer !== undefined) clearTimeout(handle.expiryTimer);
    handle.inflight.clear();
  }

  /** Closes the live connections of `identity` (a device's include its modules') with `error`. */
  closeConnections(identity: Identity, error: HubError): void {
    const keys = keysCovering(this.#connections.keys(), identity);
    for (const key of keys) {
      const handle = this.#connections.get(key);
      if (handle === undefined) continue;
      this.detach(handle, error.code);
      handle.endpoint.close(error);
    }
  }

  /**
   * Drops an identity's live connection(s) as a network failure would (fault injection, failover tests).
   * Resolves with the number of connections closed.
   */
  dropConnections(identity: Identity, reason = 'dropped by the platform'): number {
    const before = this.#connections.size;
    this.closeConnections(identity, new HubError('HUB_SERVICE_UNAVAILABLE', reason));
    return before - this.#connections.size;
  }

  /** Whether an identity has a live connection. */
  isConnected(identity: Identity): boolean {
    return this.#connections.has(identityKey(identity));
  }

  /** Number of live connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * The edge reports that what a connection subscribes to changed: pending C2D messages are delivered and
   * method callers waiting for the device to come online are woken.
   */
  endpointChanged(handle: ConnectionHandle): void {
    if (handle.closed) return;
    if (handle.endpoint.wantsC2d) this.#deliverC2d(handle);
    if (handle.endpoint.wantsMethods) {
      const waiters = this.#endpointWaiters.get(handle.key);
      if (waiters !== undefined) for (const wake of [...waiters]) wake();
    }
  }

  /**
   * The connection of `key` once it subscribes to method requests, waiting up to `timeoutMs`; rejects with
   * `HUB_DEVICE_NOT_ONLINE` (404103).
   */
  waitForMethods(key: string, timeoutMs: number): Promise<ConnectionHandle> {
    const ready = (): ConnectionHandle | undefined => {
      const h = this.#connections.get(key);
      return h !== undefined && h.endpoint.wantsMethods ? h : undefined;
    };
    const now = ready();
    if (now !== undefined) return Promise.resolve(now);
    const offline = (): HubError => new HubError('HUB_DEVICE_NOT_ONLINE', 'Timed out waiting for device to connect.');
    if (timeoutMs <= 0) return Promise.reject(offline());
    return new Promise((resolve, reject) => {
      const waiters = this.#endpointWaiters.get(key) ?? new Set();
      this.#endpointWaiters.set(key, waiters);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0) this.#endpointWaiters.delete(key);
      };
      const wake = (): void => {
        const h = ready();
        if (h === undefined) return;
        done();
        resolve(h);
      };
      const timer = setTimeout(() => {
        done();
        reject(offline());
      }, timeoutMs);
      waiters.add(wake);
    });
  }
}
