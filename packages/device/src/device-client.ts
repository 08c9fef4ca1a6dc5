/**
 * The device's connection lifecycle, the part every IoT Central device needs and few write correctly:
 * register with DPS (or reuse the cached assignment), connect to the assigned hub announcing the model id,
 * keep the connection — token renewed before it expires, every failure answered by the connection policy
 * (reprovision or back off, connection-policy.ts) — and deliver telemetry from the offline queue at least
 * once, in order. The Plug and Play layer (pnp-device.ts) builds on the raw operations here: twin GET and
 * reported PATCH, method, desired-property and C2D handlers.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { d2cPropertyBag, encodePropertyBag, telemetryTopic, type D2cProperties } from '@plugboard/protocol';
import { fileAssignmentStore, type AssignmentStore } from './assignment-store.js';
import { DEFAULT_CONNECTION_POLICY, decide, type ConnectionPolicy, type Failure } from './connection-policy.js';
import { hubToken, resolveCredentials, type ResolvedCredentials } from './credentials.js';
import {
  GLOBAL_PROVISIONING_HOST,
  type ConnectedHook,
  type ConnectionState,
  type ConnectionStateChange,
  type DeviceClientEvents,
  type DeviceClientOptions,
  type MethodResponse,
} from './device-options.js';
import { registerOverHttps } from './dps-https.js';
import { registerOverMqtt } from './dps-mqtt.js';
import { DeviceError } from './errors.js';
import { HubSession, type TwinResponse } from './hub-session.js';
import { checkKeepalive } from './mqtt-connection.js';
import { OfflineQueue, type QueueEntry } from './offline-queue.js';
import { fileQueueJournal } from './queue-journal.js';
import { pause, type Assignment, type RegistrationRequest } from './provisioning.js';
import { VERSION } from './version.js';

interface OutgoingTelemetry {
  /** The encoded property bag (the topic is made when it is sent: the device id comes from DPS). */
  propertyBag: string;
  body: string | Buffer;
}

/**
 * The connection lifecycle of one device. Most code uses {@link PnpDevice}, which builds on this.
 *
 * @example
 * ```ts
 * const client = new DeviceClient({ idScope, registrationId: 'dev1', credentials: { groupKey } });
 * await client.start();
 * await client.sendTelemetry(JSON.stringify({ temperature: 21.5 }), { contentType: 'application/json', application: {} });
 * await client.close();
 * ```
 */
export class DeviceClient extends EventEmitter<DeviceClientEvents> {
  readonly #options: Readonly<DeviceClientOptions>;
  readonly #policy: ConnectionPolicy;
  readonly #store: AssignmentStore | undefined;
  readonly #queue: OfflineQueue<OutgoingTelemetry>;
  readonly #abort = new AbortController();
  readonly #hooks: ConnectedHook[] = [];
  readonly #desiredListeners: ((patch: Record<string, unknown>) => void)[] = [];
  readonly #c2dListeners: ((propertyBag: string, payload: Buffer) => void)[] = [];
  #methodHandler: ((name: string, payload: unknown) => Promise<MethodResponse>) | undefined;
  #credentials: ResolvedCredentials | undefined;
  #assignment: Assignment | undefined;
  #session: HubSession | undefined;
  #generation = 0;
  #inFlight = 0;
  #state: ConnectionState | undefined;
  #everConnected = false;
  #running: Promise<void> | undefined;
  #waiters: { resolve(): void; reject(error: DeviceError): void }[] = [];
  #renewTimer: NodeJS.Timeout | undefined;
  /** Ends the wait of the current connection (close, renewal). */
  #endSession: (() => void) | undefined;

  constructor(options: DeviceClientOptions) {
    super();
    for (const field of ['idScope', 'registrationId'] as const) {
      if (typeof options[field] !== 'string' || options[field] === '') {
        throw new DeviceError('DEVICE_INVALID_OPTIONS', `options.${field} must be a non-empty string.`);
      }
    }
    if (options.keepaliveSeconds !== undefined) checkKeepalive(options.keepaliveSeconds, 'options.keepaliveSeconds');
    this.#options = options;
    // Shared by every device that keeps the defaults.
    this.#policy =
      options.policy === undefined ? DEFAULT_CONNECTION_POLICY : { ...DEFAULT_CONNECTION_POLICY, ...options.policy };
    this.#store =
      options.assignmentStore === false
        ? undefined
        : (options.assignmentStore ??
          fileAssignmentStore(join(process.cwd(), '.plugboard-device', 'assignments.json')));
    const file = options.queue?.file;
    this.#queue = new OfflineQueue(
      options.queue,
      file === undefined
        ? undefined
        : fileQueueJournal<OutgoingTelemetry>(file, {
            encode: (m) =>
              typeof m.body === 'string'
                ? { b: m.propertyBag, t: m.body }
                : { b: m.propertyBag, x: m.body.toString('base64') },
            decode: (value) => {
              const v = value as { b?: unknown; t?: unknown; x?: unknown } | null;
              if (typeof v?.b !== 'string') return undefined;
              if (typeof v.t === 'string') return { propertyBag: v.b, body: v.t };
              return typeof v.x === 'string' ? { propertyBag: v.b, body: Buffer.from(v.x, 'base64') } : undefined;
            },
          }),
      file === undefined
        ? undefined
        : (error) =>
            this.warn(
              new DeviceError(
                'DEVICE_INVALID_OPTIONS',
                `The offline queue file ${file} failed; the queue goes on in memory.`,
                {
                  cause: error,
                },
              ),
            ),
    );
  }

  /** The current connection state (`undefined` before {@link start}). */
  get state(): ConnectionState | undefined {
    return this.#state;
  }

  /** The hub the device is assigned to, once known. */
  get assignment(): Readonly<Assignment> | undefined {
    return this.#assignment;
  }

  /** Telemetry messages waiting or in flight. */
  get queuedTelemetry(): number {
    return this.#queue.size;
  }

  /**
   * Starts the lifecycle; resolves once the device is connected and the connected hooks ran. After that,
   * the device stays connected (or keeps trying) until {@link close}.
   *
   * @throws {@link DeviceError} `DEVICE_PROVISIONING_FAILED` when DPS refuses the registration for a
   * reason retrying cannot fix (a wrong key: 401), `DEVICE_CLOSED` when closed first.
   */
  start(): Promise<void> {
    if (this.#running === undefined) {
      this.#running = this.#run().catch((error: unknown) => {
        this.#fail(error instanceof DeviceError ? error : new DeviceError('DEVICE_CLOSED', String(error)));
      });
    }
    return this.whenConnected();
  }

  /** Resolves when the device is next connected (at once if it is). */
  whenConnected(): Promise<void> {
    if (this.#state === 'connected' && this.#session?.connected === true) return Promise.resolve();
    if (this.#state === 'closed') return Promise.reject(new DeviceError('DEVICE_CLOSED', 'The device is closed.'));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Registers a hook run after every connect, before the device counts as connected. */
  onConnected(hook: ConnectedHook): void {
    this.#hooks.push(hook);
  }

  /** Listens to desired-property notifications (the patch with its `$version`). */
  onDesiredPatch(listener: (patch: Record<string, unknown>) => void): void {
    this.#desiredListeners.push(listener);
  }

  /** Listens to C2D messages (raw property bag and body). */
  onC2d(listener: (propertyBag: string, payload: Buffer) => void): void {
    this.#c2dListeners.push(listener);
  }

  /** Sets the one handler of direct methods; its answer (or a thrown error: 500) goes back to the hub. */
  setMethodHandler(handler: (name: string, payload: unknown) => Promise<MethodResponse>): void {
    this.#methodHandler = handler;
  }

  /**
   * Queues a telemetry message; resolves when the hub acknowledged it. While disconnected it waits in
   * the offline queue.
   *
   * @throws {@link DeviceError} `DEVICE_QUEUE_FULL` when the overflow policy gives it up, `DEVICE_CLOSED`.
   */
  sendTelemetry(body: string | Buffer, properties: D2cProperties): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new DeviceError('DEVICE_CLOSED', 'The device is closed.'));
    const delivered = this.#queue.push({ propertyBag: encodePropertyBag(d2cPropertyBag(properties)), body });
    this.#pump();
    return delivered;
  }

  /**
   * The twin's properties document (`{ desired, reported }`), fetched from the hub; waits for a
   * connection when there is none.
   */
  async getTwin(): Promise<{ desired: Record<string, unknown>; reported: Record<string, unknown> }> {
    const response = await this.#twin('GET');
    const body = response.body as { desired?: unknown; reported?: unknown } | undefined;
    const section = (value: unknown): Record<string, unknown> =>
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    return { desired: section(body?.desired), reported: section(body?.reported) };
  }

  /** Patches reported properties; resolves with the new reported `$version`. Waits for a connection when there is none. */
  async updateReported(patch: Record<string, unknown>): Promise<number | undefined> {
    return (await this.#twin('PATCH', patch)).version;
  }

  /** Stops: the connection is closed gracefully and queued telemetry is rejected with `DEVICE_CLOSED`. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState({ state: 'closed', reason: 'closed by the application' });
    this.#abort.abort();
    clearTimeout(this.#renewTimer);
    const session = this.#session;
    this.#session = undefined;
    await session?.close();
    this.#endSession?.();
    this.#queue.close(new DeviceError('DEVICE_CLOSED', 'The device was closed before the message was delivered.'));
    this.#rejectWaiters(new DeviceError('DEVICE_CLOSED', 'The device is closed.'));
    await this.#running;
  }

  async #twin(kind: 'GET' | 'PATCH', body?: unknown): Promise<TwinResponse> {
    // A connected hook, and a desired update, work on their own session: if that one ends, they fail
    // (the next connect runs the hooks again) rather than wait for a connection that cannot come
    // until they return.
    const bound = sessionScope.getStore();
    if (bound !== undefined) return bound.twinRequest(kind, body);
    for (;;) {
      // The connected hooks run on the new session before the device counts as connected.
      const session = this.#session;
      if (session === undefined || !session.connected) {
        await this.whenConnected();
        continue;
      }
      try {
        return await session.twinRequest(kind, body);
      } catch (error) {
        // A connection that ended under the request: ask again on the next one.
        if (
          error instanceof DeviceError &&
          (error.code === 'DEVICE_CONNECTION_LOST' || error.code === 'DEVICE_NOT_CONNECTED')
        )
          continue;
        throw error;
      }
    }
  }

  #deviceId(): string {
    return this.#assignment?.deviceId ?? this.#options.registrationId;
  }

  #setState(change: ConnectionStateChange): void {
    this.#state = change.state;
    try {
      this.emit('connectionState', change);
    } catch {
      // A listener that throws must not stop the device.
    }
  }

  /** Reports a problem that does not stop the device (a throwing listener is ignored). */
  warn(error: DeviceError): void {
    try {
      this.emit('warning', error);
    } catch {
      // As above.
    }
  }

  #fail(error: DeviceError): void {
    if (this.#state !== 'closed') this.#setState({ state: 'closed', reason: error.message, error });
    this.#queue.close(error);
    this.#rejectWaiters(error);
  }

  #rejectWaiters(error: DeviceError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  get #closed(): boolean {
    return this.#abort.signal.aborted;
  }

  async #run(): Promise<void> {
    this.#credentials = await resolveCredentials(this.#options.credentials, this.#options.registrationId);
    this.#assignment = await this.#store?.load(this.#options.idScope, this.#options.registrationId);
    let reprovision = this.#assignment === undefined;
    let fresh = false;
    let streak = 0;
    let losses: number[] = [];
    while (!this.#closed) {
      let failure: Failure | undefined;
      if (reprovision) {
        this.#setState({
          state: 'provisioning',
          reason: this.#assignment === undefined ? 'no assignment yet' : 'reprovisioning',
        });
        try {
          this.#assignment = await this.#provision();
          fresh = true;
        } catch (error) {
          if (this.#closed) return;
          failure = { kind: 'provisioning', error: asDeviceError(error), streak: ++streak };
        }
        if (failure === undefined) await this.#remember(this.#assignment as Assignment);
      }
      if (failure === undefined) {
        const outcome = await this.#connectAndStay(fresh);
        if (outcome.kind === 'closed') return;
        if (outcome.kind === 'renew') {
          streak = 0;
          reprovision = false;
          continue;
        }
        if (outcome.kind === 'lost') {
          // A connection ends a streak of failures; losses in quick succession start the next one further on.
          const now = Date.now();
          losses = [...losses.filter((at) => at > now - this.#policy.lossWindowMs), now];
          streak = losses.length - 1;
          fresh = false;
        }
        failure =
          outcome.kind === 'lost'
            ? { kind: 'hubLost', error: outcome.error, streak: ++streak }
            : { kind: 'hubConnect', error: outcome.error, freshAssignment: fresh, streak: ++streak };
      }
      const decision = decide(failure, this.#policy, !this.#everConnected, (this.#options.random ?? Math.random)());
      if (decision.action === 'fail') throw decision.error;
      reprovision = decision.action === 'reprovision';
      if (reprovision) {
        fresh = false;
        await this.#store?.clear(this.#options.idScope, this.#options.registrationId).catch(() => undefined);
      }
      this.#setState({
        state: 'backingOff',
        reason: decision.reason,
        delayMs: decision.delayMs,
        next: decision.action,
        error: failure.error,
      });
      try {
        await pause(decision.delayMs, this.#abort.signal);
      } catch {
        return;
      }
    }
  }

  /** Caches the assignment; a store that fails costs a registration at the next start, nothing more. */
  async #remember(assignment: Assignment): Promise<void> {
    try {
      await this.#store?.save(this.#options.idScope, this.#options.registrationId, assignment);
    } catch (error) {
      this.warn(new DeviceError('DEVICE_INVALID_OPTIONS', 'The assignment could not be cached.', { cause: error }));
    }
  }

  #provision(): Promise<Assignment> {
    const options = this.#options;
    const transport = options.provisioningTransport ?? 'mqtt';
    const payload =
      options.provisioningPayload ?? (options.modelId === undefined ? undefined : { modelId: options.modelId });
    const request: RegistrationRequest = {
      provisioningHost: options.provisioningHost ?? GLOBAL_PROVISIONING_HOST,
      idScope: options.idScope,
      registrationId: options.registrationId,
      credentials: this.#credentials as ResolvedCredentials,
      payload,
      ca: options.ca,
      port: transport === 'mqtt' ? options.ports?.mqtt : options.ports?.https,
      timeoutMs: 60_000,
      signal: this.#abort.signal,
      clientVersion: `plugboard-device/${VERSION}`,
    };
    return transport === 'https' ? registerOverHttps(request) : registerOverMqtt(request, transport === 'mqttWs');
  }

  /** Connects to the assigned hub and stays until the session ends; says how it ended. */
  async #connectAndStay(
    fresh: boolean,
  ): Promise<
    | { kind: 'closed' }
    | { kind: 'renew' }
    | { kind: 'refused'; error: DeviceError }
    | { kind: 'lost'; error: DeviceError }
  > {
    const options = this.#options;
    const assignment = this.#assignment as Assignment;
    const credentials = this.#credentials as ResolvedCredentials;
    this.#setState({
      state: 'connecting',
      reason: fresh ? 'assigned by DPS' : 'cached assignment',
      hub: assignment.assignedHub,
    });
    const ttl = options.tokenRenewal?.ttlSeconds ?? 3600;
    const margin = options.tokenRenewal?.marginSeconds ?? 900;
    const token =
      credentials.kind === 'sas'
        ? await hubToken(
            assignment.assignedHub,
            { deviceId: assignment.deviceId },
            credentials.deviceKey,
            ttl,
            Date.now(),
          )
        : undefined;
    let resolveEnd!: (how: { kind: 'renew' } | { kind: 'lost'; error: DeviceError }) => void;
    const end = new Promise<{ kind: 'renew' } | { kind: 'lost'; error: DeviceError }>(
      (resolve) => (resolveEnd = resolve),
    );
    let hasEnded = false;
    const ended = (how: { kind: 'renew' } | { kind: 'lost'; error: DeviceError }): void => {
      hasEnded = true;
      resolveEnd(how);
    };
    this.#endSession = () => ended({ kind: 'lost', error: new DeviceError('DEVICE_CLOSED', 'The device was closed.') });
    const generation = ++this.#generation;
    let session: HubSession;
    try {
      session = await HubSession.open(
        {
          hostName: assignment.assignedHub,
          identity: { deviceId: assignment.deviceId },
          credentials,
          password: token?.token,
          modelId: options.modelId,
          transport: options.transport ?? 'mqtt',
          ca: options.ca,
          port: (options.transport ?? 'mqtt') === 'mqtt' ? options.ports?.mqtt : options.ports?.https,
          keepaliveSeconds: options.keepaliveSeconds ?? 180,
          connectTimeoutMs: options.timeouts?.connectMs ?? 30_000,
          requestTimeoutMs: options.timeouts?.requestMs ?? 30_000,
          deviceClientType: `plugboard-device/${VERSION} (node ${process.version}; ${platform()}; ${arch()})${options.productInfo === undefined ? '' : ` ${options.productInfo}`}`,
          handlers: {
            onDesired: (session, patch) => {
              // Bound to this session like the hooks: an acknowledgement whose connection ends fails
              // (the next connect's reconcile acknowledges again) instead of waiting and holding up
              // the desired updates queued behind it, the reconcile included.
              sessionScope.run(session, () => {
                for (const listener of this.#desiredListeners) listener(patch);
              });
            },
            onMethod: (session, name, rid, payload) => this.#onMethod(session, name, rid, payload),
            onC2d: (bag, payload) => {
              for (const listener of this.#c2dListeners) listener(bag, payload);
            },
            onClosed: (reason) => ended({ kind: 'lost', error: reason }),
          },
        },
        this.#abort.signal,
      );
    } catch (error) {
      if (this.#closed) return { kind: 'closed' };
      return { kind: 'refused', error: asDeviceError(error) };
    }
    if (this.#closed) {
      await session.close();
      return { kind: 'closed' };
    }
    this.#session = session;
    this.#inFlight = 0;
    if (token !== undefined) {
      const renewIn = Math.max(1000, token.expiresAt - margin * 1000 - Date.now());
      this.#renewTimer = setTimeout(() => ended({ kind: 'renew' }), renewIn);
    }
    this.#everConnected = true;
    this.#pump();
    for (const hook of this.#hooks) {
      if (hasEnded) break;
      const running = sessionScope.run(session, hook).catch((error: unknown) => {
        if (!hasEnded) this.warn(asDeviceError(error));
      });
      // A session that ends under a hook ends the wait: the next connection runs the hooks again.
      await Promise.race([running, end]);
    }
    if (session.connected && !this.#closed && !hasEnded) {
      this.#setState({ state: 'connected', reason: 'connected', hub: assignment.assignedHub });
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const waiter of waiters) waiter.resolve();
    }
    const how = await end;
    this.#endSession = undefined;
    clearTimeout(this.#renewTimer);
    this.#session = undefined;
    if (this.#closed) return { kind: 'closed' };
    if (how.kind === 'renew') {
      this.#setState({ state: 'connecting', reason: 'renewing the token', hub: assignment.assignedHub });
      await session.close();
    }
    this.#queue.retryGeneration(generation);
    this.#inFlight = 0;
    return how;
  }

  /** Sends queued telemetry while the window allows. */
  #pump(): void {
    const session = this.#session;
    if (session === undefined || !session.connected) return;
    const window = this.#options.maxInFlight ?? 16;
    const generation = this.#generation;
    const identity = { deviceId: this.#deviceId() };
    while (this.#inFlight < window) {
      const entry = this.#queue.nextToSend(generation);
      if (entry === undefined) return;
      this.#inFlight += 1;
      session.publishTelemetry(telemetryTopic(identity, entry.item.propertyBag), entry.item.body).then(
        () => this.#acknowledged(entry, generation, true),
        () => this.#acknowledged(entry, generation, false),
      );
    }
  }

  #acknowledged(entry: QueueEntry<OutgoingTelemetry>, generation: number, ok: boolean): void {
    if (ok) this.#queue.settle(entry);
    else if (entry.sentOn === generation) this.#queue.retry(entry);
    if (generation === this.#generation) {
      this.#inFlight = Math.max(0, this.#inFlight - 1);
      if (ok) this.#pump();
    }
  }

  #onMethod(session: HubSession, name: string, rid: string, payload: Buffer): void {
    let request: unknown;
    try {
      request = payload.length === 0 ? null : JSON.parse(payload.toString('utf8'));
    } catch {
      session.respondToMethod(rid, 400, { message: 'The method payload is not JSON.' });
      return;
    }
    const handler = this.#methodHandler;
    if (handler === undefined) {
      session.respondToMethod(rid, 501, { message: `No handler for method ${name}.` });
      return;
    }
    Promise.resolve()
      .then(() => handler(name, request))
      .then(
        (response) => session.respondToMethod(rid, response.status, response.payload),
        (error: unknown) => {
          this.warn(new DeviceError('DEVICE_PAYLOAD_INVALID', `The handler of ${name} threw.`, { cause: error }));
          session.respondToMethod(rid, 500, { message: error instanceof Error ? error.message : String(error) });
        },
      )
      .catch(() => undefined);
  }
}

/** The session the connected hooks and the desired updates of a connection run on. */
const sessionScope = new AsyncLocalStorage<HubSession>();

function asDeviceError(error: unknown): DeviceError {
  if (error instanceof DeviceError) return error;
  return new DeviceError('DEVICE_CONNECTION_LOST', error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}
