/**
 * One IoT hub, composed of its parts (ADR 0015): the registry, access control and device
 * authentication, live connections, telemetry, twins, direct methods and C2D queues, each in
 * `core/hub/`. `Hub` is the surface the edges and the provisioning service call; it holds the MQTT
 * persistent sessions itself and wires the parts to each other.
 */
import { randomBytes } from 'node:crypto';
import { HubError } from '../errors.js';
import type { StoredIdentity } from '../storage/port.js';
import { PlatformEventStream } from './events.js';
import type { ConnectionFaults } from './faults.js';
import { HubAuthentication, type ServiceTokenScope } from './hub/authentication.js';
import { CloudToDevice, type C2dLease, type C2dOutcome } from './hub/c2d.js';
import { Connections } from './hub/connections.js';
import { RefusalWindows, faultOperationOf, type FaultOperation } from './hub/fault-operations.js';
import { hubContext, type HubContext } from './hub/context.js';
import { Methods } from './hub/methods.js';
import { Registry } from './hub/registry.js';
import { Telemetry } from './hub/telemetry.js';
import { Twins } from './hub/twins.js';
import type {
  Authenticated,
  ConnectCredentials,
  ConnectionHandle,
  DeviceEndpoint,
  DeviceSession,
  HubOptions,
  IdentityInput,
  IncomingTelemetry,
  MethodInvocation,
  MethodResult,
  OutgoingC2d,
} from './hub/types.js';
import {
  identityKey,
  type AccessPolicy,
  type C2dFeedbackRecord,
  type C2dRecord,
  type HubPermission,
  type Identity,
  type IdentityRecord,
  type JsonObject,
  type SessionSubscription,
  type TelemetryRecord,
} from './model.js';

export type { C2dLease, C2dOutcome } from './hub/c2d.js';
export { incomingTelemetry } from './hub/telemetry.js';
export type {
  Authenticated,
  C2dSettings,
  ConnectCredentials,
  ConnectionHandle,
  DeviceEndpoint,
  DeviceSession,
  HubOptions,
  IdentityInput,
  IncomingTelemetry,
  MethodInvocation,
  MethodRequest,
  MethodResult,
  OutgoingC2d,
} from './hub/types.js';

const DEFAULT_POLICY_RIGHTS: Record<string, readonly HubPermission[]> = {
  iothubowner: ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'],
  service: ['ServiceConnect'],
  device: ['DeviceConnect'],
  registryRead: ['RegistryRead'],
  registryReadWrite: ['RegistryRead', 'RegistryWrite'],
};

/**
 * One IoT hub: registry, twins, direct methods, C2D queues, telemetry ingest, MQTT sessions and the live
 * connections of its devices. Protocol-neutral: edges translate wire traffic into calls on this class and
 * translate its {@link HubError}s back.
 *
 * @example
 * const hub = await Hub.open({ name: 'hub-1', hostName: '127.0.0.2', storage, logger });
 * await hub.createIdentity({ deviceId: 'dev1' });
 */
export class Hub {
  readonly name: string;
  readonly hostName: string;
  /** The platform's event stream (every hub and DPS emit into it). */
  readonly events: PlatformEventStream;
  readonly #ctx: HubContext;
  readonly #registry: Registry;
  readonly #auth: HubAuthentication;
  readonly #connections: Connections;
  readonly #telemetry: Telemetry;
  readonly #twins: Twins;
  readonly #methods: Methods;
  readonly #c2d: CloudToDevice;
  /** Telemetry refused for a while by the SDKs' `Invoke*` fault operations. */
  readonly #refusals = new RefusalWindows();
  readonly #sessions: Map<string, SessionSubscription[]>;
  #sweepTimer: NodeJS.Timeout | undefined;
  readonly #faults: ConnectionFaults | undefined;

  private constructor(
    options: HubOptions,
    sessions: Map<string, SessionSubscription[]>,
    policies: AccessPolicy[],
    cas: Record<string, string>,
  ) {
    this.name = options.name;
    this.hostName = options.hostName;
    this.#faults = options.faults;
    this.events =
      options.events ??
      new PlatformEventStream((error) => options.logger.error({ err: error }, 'event listener failed'));
    const ctx = hubContext({ ...options, events: this.events });
    this.#ctx = ctx;
    this.#sessions = sessions;
    // The parts call each other: the registry closes connections and forgets queues, connections deliver C2D.
    // (The hooks run after construction, when every part exists.)
    this.#registry = new Registry(ctx, {
      closeConnections: (identity, error) => this.#connections.closeConnections(identity, error),
      forget: async (key) => {
        await this.#c2d.forget(key);
        this.#sessions.delete(key);
      },
    });
    const c2d = new CloudToDevice(ctx, this.#registry, {
      defaultTtlMs: 3_600_000,
      maxDeliveryCount: 10,
      maxQueueDepth: 50,
      lockTimeoutMs: 60_000,
      ...options.c2d,
    });
    const connections = new Connections(ctx, this.#registry, {
      graceMs: (options.tokenExpiryGraceSeconds ?? 0) * 1000,
      deliverC2d: (handle) => c2d.deliverPending(handle),
    });
    c2d.useConnections(connections);
    this.#connections = connections;
    this.#c2d = c2d;
    this.#auth = new HubAuthentication(ctx, this.#registry, policies, cas);
    this.#telemetry = new Telemetry(ctx, this.#registry);
    this.#twins = new Twins(ctx, this.#registry, connections, (identity) => c2d.queueLength(identity));
    this.#methods = new Methods(ctx, this.#registry, connections);
  }

  /** Loads (or initialises) the hub's state from storage. */
  static async open(options: HubOptions): Promise<Hub> {
    const storage = options.storage;
    let config = await storage.loadHubConfig(options.name);
    if (config === undefined) {
      config = {
        policies: Object.entries(DEFAULT_POLICY_RIGHTS).map(([keyName, rights]) => ({
          keyName,
          primaryKey: randomBytes(32).toString('base64'),
          secondaryKey: randomBytes(32).toString('base64'),
          rights,
        })),
        certificateAuthorities: {},
      };
      await storage.saveHubConfig(options.name, config);
    }
    const hub = new Hub(
      options,
      await storage.loadSessions(options.name),
      config.policies,
      config.certificateAuthorities,
    );
    for (const stored of await storage.loadIdentities(options.name)) hub.#registry.load(stored);
    for (const message of await storage.loadC2d(options.name)) hub.#c2d.load(message);
    hub.#sweepTimer = setInterval(() => hub.#c2d.sweepExpired(), 10_000);
    hub.#sweepTimer.unref();
    return hub;
  }

  // ---------------------------------------------------------------- policies and connection strings

  /** The hub's shared access policies. */
  get policies(): readonly AccessPolicy[] {
    return this.#auth.policies;
  }

  /** `HostName=...;SharedAccessKeyName=...;SharedAccessKey=...` for a policy (default `iothubowner`). */
  serviceConnectionString(keyName = 'iothubowner'): string {
    return this.#auth.serviceConnectionString(keyName);
  }

  /** The built-in endpoint's `Endpoint=sb://…;EntityPath={hub name}` connection string for a policy. */
  eventHubConnectionString(keyName = 'iothubowner'): string {
    return this.#auth.eventHubConnectionString(keyName);
  }

  /** A `service`-policy token for the built-in endpoint (`sb://{host}/{hub name}`), valid until `expiry` (epoch s). */
  eventHubToken(expiry: number, keyName = 'service'): string {
    return this.#auth.eventHubToken(expiry, keyName);
  }

  /** `HostName=...;DeviceId=...;SharedAccessKey=...` for a SAS identity. */
  deviceConnectionString(identity: Identity): string {
    return this.#auth.deviceConnectionString(identity);
  }

  /** Trusts a CA certificate (PEM) for `certificateAuthority` device authentication. */
  addCertificateAuthority(name: string, pem: string): Promise<void> {
    return this.#auth.addCertificateAuthority(name, pem);
  }

  /**
   * Checks a service token (`Authorization: SharedAccessSignature ...`) and returns the policy's rights.
   * The token's resource must cover `scope.target` (default: the hub's host name; the Event
   * Hub-compatible endpoint passes its `sb://` audience and `eventHubs: true`). Throws `HUB_UNAUTHORIZED` / `HUB_TOKEN_EXPIRED`.
   */
  authorizeService(
    authorization: string | undefined,
    needed: HubPermission,
    scope?: ServiceTokenScope,
  ): Promise<AccessPolicy> {
    return this.#auth.authorizeService(authorization, needed, scope);
  }

  // ---------------------------------------------------------------- registry

  /** True when the identity is registered. */
  has(identity: Identity): boolean {
    return this.#registry.has(identity);
  }

  /** Registers a new device or module. Throws `HUB_DEVICE_ALREADY_EXISTS` / `HUB_MODULE_ALREADY_EXISTS`. */
  createIdentity(input: IdentityInput): Promise<IdentityRecord> {
    return this.#registry.createIdentity(input);
  }

  /**
   * Updates an identity (status, keys, thumbprints). `ifMatch` is `*` or the current etag; otherwise
   * `HUB_PRECONDITION_FAILED`. Disabling closes live connections.
   */
  updateIdentity(input: IdentityInput, ifMatch?: string): Promise<IdentityRecord> {
    return this.#registry.updateIdentity(input, ifMatch);
  }

  /** Deletes an identity (a device's modules with it) and closes its connections. */
  deleteIdentity(identity: Identity, ifMatch?: string): Promise<void> {
    return this.#registry.deleteIdentity(identity, ifMatch);
  }

  /** The registry record. */
  getIdentity(identity: Identity): StoredIdentity {
    return this.#registry.getIdentity(identity);
  }

  /** Devices (no modules), or the modules of one device. */
  listIdentities(options: { modulesOf?: string } = {}): StoredIdentity[] {
    return this.#registry.listIdentities(options);
  }

  /** Number of messages waiting in an identity's C2D queue. */
  c2dQueueLength(identity: Identity): number {
    return this.#c2d.queueLength(identity);
  }

  // ---------------------------------------------------------------- devices: authentication and connections

  /**
   * Authenticates a connecting device. Throws a {@link HubError}: `HUB_BAD_CREDENTIALS` (unparsable
   * token), `HUB_UNAUTHORIZED` (wrong key, unknown device, token for another identity, wrong method),
   * `HUB_TOKEN_EXPIRED`, `HUB_DEVICE_DISABLED`.
   */
  async authenticate(credentials: ConnectCredentials): Promise<Authenticated> {
    const identity: Identity =
      credentials.moduleId === undefined
        ? { deviceId: credentials.deviceId }
        : { deviceId: credentials.deviceId, moduleId: credentials.moduleId };
    try {
      const injected = await this.#faults?.beforeConnect(this.name, identity);
      const auth = await this.#auth.authenticate(credentials);
      if (injected === 'drop') auth.dropAfterConnect = true;
      return auth;
    } catch (error) {
      // Refused attempts are part of a device's timeline: what it was told, and when.
      this.events.emit({
        type: 'connectRefused',
        hub: this.name,
        identity,
        code: error instanceof HubError ? error.code : 'HUB_INTERNAL',
        reason: error instanceof Error ? error.message : String(error),
      });
      throw error;
    }
  }

  /**
   * Registers a live connection. An older connection of the same identity is closed with
   * `HUB_CONNECTION_REPLACED`. A SAS connection is closed when its token expires (plus grace).
   */
  attach(auth: Authenticated, endpoint: DeviceEndpoint, modelId = ''): ConnectionHandle {
    const handle = this.#connections.attach(auth, endpoint, modelId);
    if (auth.dropAfterConnect === true) {
      setImmediate(() => {
        if (!handle.closed) this.dropConnections(auth.identity, 'The connection was dropped (injected fault).');
      });
    }
    return handle;
  }

  /**
   * A live connection presented a new token (AMQP CBS renewal): it is checked as at connect (faults
   * included) and the connection's expiry moves to the new token's. Throws as {@link authenticate}.
   */
  async renewToken(handle: ConnectionHandle, credentials: ConnectCredentials): Promise<void> {
    const auth = await this.authenticate(credentials);
    if (identityKey(auth.identity) !== handle.key) {
      throw new HubError('HUB_UNAUTHORIZED', `The token is for ${identityKey(auth.identity)}, not ${handle.key}.`);
    }
    this.#connections.renew(handle, auth);
  }

  /** The edge reports that a connection ended (any reason). */
  detach(handle: ConnectionHandle, reason: string): void {
    this.#connections.detach(handle, reason);
  }

  /**
   * Drops an identity's live connection(s) as a network failure would (fault injection, failover tests).
   * Returns the number of connections closed.
   */
  dropConnections(identity: Identity, reason = 'dropped by the platform'): number {
    return this.#connections.dropConnections(identity, reason);
  }

  /**
   * Closes with `error` the live connections of `deviceId` (and its modules), or every live connection
   * when `deviceId` is absent (fault injection). Returns the number closed.
   */
  closeConnectionsWith(error: HubError, deviceId?: string): number {
    const before = this.#connections.connectionCount;
    if (deviceId !== undefined) {
      this.#connections.closeConnections({ deviceId }, error);
    } else {
      for (const handle of this.#connections.all()) this.#connections.closeConnections(handle.identity, error);
    }
    return before - this.#connections.connectionCount;
  }

  /** Whether an identity has a live connection. */
  isConnected(identity: Identity): boolean {
    return this.#connections.isConnected(identity);
  }

  /** Number of live connections. */
  get connectionCount(): number {
    return this.#connections.connectionCount;
  }

  /**
   * The edge reports that what a connection subscribes to changed: pending C2D messages are delivered and
   * method callers waiting for the device to come online are woken.
   */
  endpointChanged(handle: ConnectionHandle): void {
    this.#connections.endpointChanged(handle);
  }

  // ---------------------------------------------------------------- MQTT persistent sessions

  /** The stored subscriptions of a persistent session, if one exists. */
  getSession(clientId: string): SessionSubscription[] | undefined {
    return this.#sessions.get(clientId);
  }

  /** Stores (or with `undefined`, discards) a persistent session. */
  async saveSession(clientId: string, subscriptions: readonly SessionSubscription[] | undefined): Promise<void> {
    if (subscriptions === undefined) this.#sessions.delete(clientId);
    else this.#sessions.set(clientId, [...subscriptions]);
    await this.#ctx.storage.saveSession(this.name, clientId, subscriptions);
  }

  // ---------------------------------------------------------------- telemetry

  /**
   * The session of one stateless request (HTTPS) by an authenticated device: what telemetry ingest and C2D
   * pull need, with no live connection behind it.
   */
  requestSession(auth: Authenticated): DeviceSession {
    return { identity: auth.identity, key: identityKey(auth.identity), authMethod: auth.method };
  }

  /**
   * Accepts a device-to-cloud message: stamps enqueued time and system properties and stores it durably.
   * Resolves once stored; only then may the edge acknowledge it.
   */
  ingestTelemetry(session: DeviceSession, message: IncomingTelemetry): Promise<TelemetryRecord> {
    if (this.#refusals.active) {
      const refusal = this.#refusals.refusal(session.key, this.#ctx.now());
      if (refusal !== undefined) return Promise.reject(new HubError(refusal.code, refusal.message));
    }
    const stored =
      this.#faults?.stalling === true
        ? this.#faults
            .beforeTelemetry(this.name, session.identity)
            .then(() => this.#telemetry.ingestTelemetry(session, message))
        : this.#telemetry.ingestTelemetry(session, message);
    // The SDKs' own fault tests: a message asks the hub to sever this connection, or to refuse the
    // device's telemetry for a while, after a delay.
    const operation = faultOperationOf(message.properties);
    if (operation === undefined) return stored;
    return stored.then((record) => {
      this.#applyFaultOperation(session, operation);
      return record;
    });
  }

  #applyFaultOperation(session: DeviceSession, operation: FaultOperation): void {
    if (operation.effect !== 'sever') {
      this.#refusals.open(session.key, operation, this.#ctx.now());
      return;
    }
    // A stateless request (HTTPS) has no connection to sever.
    const handle = this.#connections.get(session.key);
    if (handle === undefined) return;
    const sever = (): void => {
      if (handle.closed) return;
      this.#connections.closeConnections(
        handle.identity,
        new HubError('HUB_SERVICE_UNAVAILABLE', `${operation.type}: ${operation.reason} (fault operation).`),
      );
    };
    setTimeout(sever, operation.delayMs).unref();
  }

  /** Stored telemetry of this hub, oldest first. */
  queryTelemetry(
    query: { deviceId?: string; moduleId?: string; afterSequenceNumber?: number; limit?: number } = {},
  ): Promise<TelemetryRecord[]> {
    return this.#telemetry.queryTelemetry(query);
  }

  // ---------------------------------------------------------------- twins

  /** The service view of a twin (Azure twin JSON). */
  getTwin(identity: Identity): JsonObject {
    return this.#twins.getTwin(identity);
  }

  /** The device view: `{ desired, reported }` without `$metadata`. */
  getTwinForDevice(handle: ConnectionHandle): JsonObject {
    return this.#twins.getTwinForDevice(handle);
  }

  /** A device's reported-properties patch. Resolves with the new reported `$version`. */
  patchReported(handle: ConnectionHandle, patch: unknown): Promise<number> {
    return this.#twins.patchReported(handle, patch);
  }

  /**
   * The service's twin update: `{ tags?, properties?: { desired? } }` merged (`PATCH`) or replaced
   * (`PUT`), guarded by `ifMatch`. Desired changes are pushed to the connected device.
   */
  updateTwin(
    identity: Identity,
    body: unknown,
    options: { ifMatch?: string; replace?: boolean } = {},
  ): Promise<JsonObject> {
    return this.#twins.updateTwin(identity, body, options);
  }

  /**
   * Replaces a twin's tags, desired and reported properties with those of another hub's twin (DPS
   * reprovisioning with data migration, failover). Versions continue from this twin's; the connected
   * device (if any) receives the desired properties.
   */
  importTwin(
    identity: Identity,
    source: { tags: JsonObject; desired: JsonObject; reported: JsonObject },
  ): Promise<void> {
    return this.#twins.importTwin(identity, source);
  }

  // ---------------------------------------------------------------- direct methods

  /**
   * Invokes a direct method and waits for the device's answer. Throws `HUB_DEVICE_NOT_ONLINE` (404103)
   * when the device is not connected and subscribed within `connectTimeoutInSeconds`, and
   * `HUB_METHOD_TIMEOUT` (504101) when it does not answer within `responseTimeoutInSeconds`.
   */
  invokeMethod(identity: Identity, invocation: MethodInvocation): Promise<MethodResult> {
    return this.#methods.invokeMethod(identity, invocation);
  }

  /** The device answered a method call. Unknown or foreign `$rid`s are ignored (and logged). */
  completeMethod(handle: ConnectionHandle, rid: string, status: number, body: Uint8Array): void {
    this.#methods.completeMethod(handle, rid, status, body);
  }

  // ---------------------------------------------------------------- cloud-to-device

  /** Enqueues a C2D message. Throws `HUB_C2D_QUEUE_FULL` at 50 pending messages. */
  sendC2d(identity: Identity, message: OutgoingC2d): Promise<C2dRecord> {
    return this.#c2d.sendC2d(identity, message);
  }

  /** The device acknowledged (completed) a C2D message. */
  completeC2d(handle: ConnectionHandle, id: string): void {
    this.#c2d.completeC2d(handle, id);
  }

  /** The device settled a C2D message pushed on its connection (AMQP accepted / rejected / released). */
  settleDeliveredC2d(handle: ConnectionHandle, id: string, outcome: C2dOutcome): void {
    this.#c2d.settleDelivered(handle, id, outcome);
  }

  /** The next C2D message for a device that pulls (HTTPS), locked for a minute; `undefined` when none waits. */
  receiveC2d(session: DeviceSession): C2dLease | undefined {
    return this.#c2d.receive(session);
  }

  /** Completes, rejects or abandons a pulled C2D message by its lock token (`HUB_MESSAGE_LOCK_LOST` otherwise). */
  settleC2d(session: DeviceSession, lockToken: string, outcome: C2dOutcome): void {
    this.#c2d.settle(session, lockToken, outcome);
  }

  /** Removes and returns up to `limit` feedback records. */
  takeFeedback(limit = 64): Promise<C2dFeedbackRecord[]> {
    return this.#c2d.takeFeedback(limit);
  }

  /** Puts back a feedback record taken with {@link takeFeedback} that could not be handed over. */
  restoreFeedback(record: C2dFeedbackRecord): Promise<void> {
    return this.#ctx.storage.appendFeedback(this.name, record);
  }

  /** Purges an identity's C2D queue; returns the number of removed messages. */
  purgeC2d(identity: Identity): number {
    return this.#c2d.purgeC2d(identity);
  }

  /** Takes an identity's queued C2D messages out of this hub (it moves to another hub). */
  takeC2d(identity: Identity): Promise<C2dRecord[]> {
    return this.#c2d.take(identity);
  }

  /** Queues C2D messages taken from another hub for an identity here (see {@link takeC2d}). */
  adoptC2d(identity: Identity, messages: readonly C2dRecord[]): Promise<void> {
    return this.#c2d.adopt(identity, messages);
  }

  /** Closes every connection and stops timers. Storage is closed by its owner. */
  close(): void {
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#methods.close();
    for (const handle of this.#connections.all()) {
      this.detach(handle, 'shutdown');
      handle.endpoint.close(new HubError('HUB_SERVICE_UNAVAILABLE', 'The hub is shutting down.'));
    }
  }
}
