/**
 * One MQTT connection to an IoT hub (protocol.md §1), over TLS on 8883 or WebSockets on 443: CONNECT with
 * `clean=false`, the model id in the user name and a SAS password (or the TLS client certificate); the
 * four subscriptions in the order the Node SDK makes them; telemetry acknowledged by PUBACK; twin GET and
 * reported PATCH matched to their responses by `$rid`; method requests, desired-property notifications
 * and C2D messages handed to the owner. A session never reconnects by itself: when it ends, the owner's
 * connection policy decides what comes next.
 */

import { randomUUID } from 'node:crypto';
import {
  deviceSubscriptions,
  formatMqttUsername,
  methodResponseTopic,
  parseHubToDeviceTopic,
  twinGetTopic,
  twinPatchReportedTopic,
  type DeviceIdentity,
} from '@plugboard/protocol';
import type { ResolvedCredentials } from './credentials.js';
import { DeviceError } from './errors.js';
import { mqttEndpoint, MqttConnection } from './mqtt-connection.js';
import { tlsOptions } from './tls-options.js';

/** The hub transports: MQTT over TLS (8883) or over WebSockets (443, `/$iothub/websocket`). */
export type HubTransport = 'mqtt' | 'mqttWs';

/** What the hub sends a connected device. */
export interface HubSessionHandlers {
  /**
   * A desired-properties notification: the patch (with `$version`). It can come as soon as its
   * SUBSCRIBE is granted, before {@link HubSession.open} has resolved: hence `session`.
   */
  onDesired(session: HubSession, patch: Record<string, unknown>): void;
  /** A direct-method request (as early as `onDesired`); answer with {@link HubSession.respondToMethod}. */
  onMethod(session: HubSession, methodName: string, rid: string, payload: Buffer): void;
  /** A C2D message (PUBACKed, i.e. completed, once this returns) with its raw property bag. */
  onC2d(propertyBag: string, payload: Buffer): void;
  /** The session ended without {@link HubSession.close}: why. */
  onClosed(reason: DeviceError): void;
}

/** How to open a session. */
export interface HubSessionOptions {
  hostName: string;
  identity: DeviceIdentity;
  credentials: ResolvedCredentials;
  /** The SAS token (absent for X.509). */
  password?: string | undefined;
  modelId?: string | undefined;
  transport: HubTransport;
  ca?: string | Buffer | undefined;
  port?: number | undefined;
  keepaliveSeconds: number;
  connectTimeoutMs: number;
  /** Twin requests not answered in this time fail with `DEVICE_TIMEOUT`. */
  requestTimeoutMs: number;
  deviceClientType: string;
  handlers: HubSessionHandlers;
}

/** A twin response: the status from the topic, the new `$version` if given, the parsed body. */
export interface TwinResponse {
  status: number;
  version?: number;
  body: unknown;
}

interface PendingRequest {
  resolve(response: TwinResponse): void;
  reject(error: DeviceError): void;
  timer: NodeJS.Timeout;
}

/**
 * A live connection to a hub. Create with {@link HubSession.open}.
 *
 * @example
 * ```ts
 * const session = await HubSession.open({ hostName, identity: { deviceId }, credentials, password, transport: 'mqtt', ... });
 * const twin = await session.twinRequest('GET');
 * ```
 */
export class HubSession {
  #connection: MqttConnection | undefined;
  /** Kept from the options: not the rest (the SAS token, the user name), which only the CONNECT needs. */
  readonly #handlers: HubSessionHandlers;
  readonly #requestTimeoutMs: number;
  /** Twin requests waiting for their response, by `$rid`. Made on first use. */
  #pending: Map<string, PendingRequest> | undefined;
  /** Set once {@link HubSession.open} has resolved: only then is the owner told of the end. */
  #open = false;
  #ended = false;

  private constructor(options: HubSessionOptions) {
    this.#handlers = options.handlers;
    this.#requestTimeoutMs = options.requestTimeoutMs;
  }

  /** CONNACK's session-present flag. */
  get sessionPresent(): boolean {
    return this.#connection?.sessionPresent ?? false;
  }

  /**
   * Connects and subscribes; resolves once the hub accepted the connection and every subscription.
   *
   * @throws {@link DeviceError} `DEVICE_CONNECTION_REFUSED` with the CONNACK `returnCode` (or status 403
   * for a refused subscription), `DEVICE_CONNECTION_LOST` (no answer, TLS or socket failure),
   * `DEVICE_TIMEOUT`, `DEVICE_CLOSED` (`signal` aborted).
   */
  static async open(options: HubSessionOptions, signal?: AbortSignal): Promise<HubSession> {
    const { identity } = options;
    const webSockets = options.transport === 'mqttWs';
    const session = new HubSession(options);
    const connection = await MqttConnection.open(
      {
        host: options.hostName,
        ...mqttEndpoint(options.port, webSockets),
        tls: tlsOptions(options.ca, options.credentials),
        clientId: identity.moduleId === undefined ? identity.deviceId : `${identity.deviceId}/${identity.moduleId}`,
        clean: false,
        keepaliveSeconds: options.keepaliveSeconds,
        username: formatMqttUsername({
          hostName: options.hostName,
          deviceId: identity.deviceId,
          moduleId: identity.moduleId,
          modelId: options.modelId,
          deviceClientType: options.deviceClientType,
        }),
        password: options.password,
        connectTimeoutMs: options.connectTimeoutMs,
      },
      { onMessage: (topic, payload) => session.#onMessage(topic, payload), onClose: (reason) => session.#end(reason) },
      signal,
    );
    session.#connection = connection;
    // One deadline for the four SUBSCRIBEs, cleared once they are granted (no timer outlives the open).
    const timer = setTimeout(
      () =>
        connection.destroy(
          new DeviceError('DEVICE_TIMEOUT', `${options.hostName} did not answer the SUBSCRIBE in time.`),
        ),
      options.requestTimeoutMs,
    );
    const onAbort = (): void =>
      connection.destroy(new DeviceError('DEVICE_CLOSED', 'The connection attempt was cancelled.'));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // One SUBSCRIBE per feature, in the Node SDK's order (protocol.md §1.4).
      const filters = deviceSubscriptions(identity);
      await connection.subscribe(filters.c2d, 1);
      await connection.subscribe(filters.methods, 0);
      await connection.subscribe(filters.twinResponses, 0);
      await connection.subscribe(filters.desiredPatches, 0);
    } catch (error) {
      session.#ended = true;
      connection.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
      // Once open, closing the session is its owner's call (with a DISCONNECT), not the signal's.
      signal?.removeEventListener('abort', onAbort);
    }
    session.#open = true;
    return session;
  }

  /** Whether the connection is still up. */
  get connected(): boolean {
    return !this.#ended && this.#connection?.connected === true;
  }

  /**
   * Publishes one telemetry message at QoS 1; resolves on PUBACK.
   *
   * @throws {@link DeviceError} `DEVICE_CONNECTION_LOST` when the connection ends first.
   */
  publishTelemetry(topic: string, payload: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(new DeviceError('DEVICE_NOT_CONNECTED', 'The hub connection is closed.'));
        return;
      }
      // `connected` implies the connection.
      this.#connection?.publishAcked(topic, payload).then(resolve, reject);
    });
  }

  /**
   * A twin request: `GET` (the full properties document) or `PATCH` of reported properties.
   *
   * @throws {@link DeviceError} `DEVICE_TWIN_REQUEST_FAILED` for an error status (with `status` and
   * `errorCode`), `DEVICE_TIMEOUT`, `DEVICE_CONNECTION_LOST`.
   */
  twinRequest(kind: 'GET' | 'PATCH', body?: unknown): Promise<TwinResponse> {
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(new DeviceError('DEVICE_NOT_CONNECTED', 'The hub connection is closed.'));
        return;
      }
      let text: string;
      try {
        text = kind === 'GET' ? ' ' : JSON.stringify(body);
      } catch (cause) {
        reject(new DeviceError('DEVICE_PAYLOAD_INVALID', 'The reported properties are not JSON.', { cause }));
        return;
      }
      const rid = randomUUID();
      const timer = setTimeout(() => {
        this.#pending?.delete(rid);
        reject(new DeviceError('DEVICE_TIMEOUT', `The hub did not answer the twin ${kind} in time.`));
      }, this.#requestTimeoutMs);
      (this.#pending ??= new Map()).set(rid, { resolve, reject, timer });
      const topic = kind === 'GET' ? twinGetTopic(rid) : twinPatchReportedTopic(rid);
      // Node sends " " as the GET body (protocol.md §1.4).
      this.#connection?.publish(topic, text);
    });
  }

  /** Answers a direct method: `$iothub/methods/res/{status}/?$rid={rid}` with the JSON payload (or none). */
  respondToMethod(rid: string, status: number, payload: unknown): void {
    if (!this.connected) return;
    let text: string;
    let code = status;
    try {
      text = payload === undefined ? '' : JSON.stringify(payload);
    } catch {
      // A payload that is not JSON (a BigInt, a cycle): the service gets a 500 rather than nothing.
      code = 500;
      text = JSON.stringify({ message: 'The command response could not be serialised as JSON.' });
    }
    this.#connection?.publish(methodResponseTopic(code, rid), text);
  }

  /**
   * Ends the session: DISCONNECT (or, with `force`, just the socket). Pending twin requests fail with
   * `DEVICE_CONNECTION_LOST`; `onClosed` is not called.
   */
  close(force = false): Promise<void> {
    this.#open = false;
    this.#end(new DeviceError('DEVICE_CONNECTION_LOST', 'The session was closed.'));
    const connection = this.#connection;
    if (connection === undefined) return Promise.resolve();
    if (!force) return connection.end();
    connection.destroy();
    return Promise.resolve();
  }

  #end(reason: DeviceError): void {
    if (this.#ended) return;
    this.#ended = true;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending !== undefined) {
      for (const request of pending.values()) {
        clearTimeout(request.timer);
        request.reject(reason);
      }
    }
    if (this.#open) {
      this.#open = false;
      this.#connection?.destroy(reason);
      this.#handlers.onClosed(reason);
    }
  }

  #onMessage(topic: string, payload: Buffer): void {
    const parsed = parseHubToDeviceTopic(topic);
    if (parsed === undefined) return;
    const handlers = this.#handlers;
    switch (parsed.kind) {
      case 'twinResponse': {
        const request = this.#pending?.get(parsed.rid);
        if (request === undefined) return;
        this.#pending?.delete(parsed.rid);
        clearTimeout(request.timer);
        let body: unknown;
        try {
          body = payload.length === 0 ? undefined : JSON.parse(payload.toString('utf8'));
        } catch {
          body = undefined;
        }
        if (parsed.status >= 300) {
          const errorCode = (body as { errorCode?: unknown } | undefined)?.errorCode;
          const message = (body as { message?: unknown } | undefined)?.message;
          request.reject(
            new DeviceError(
              'DEVICE_TWIN_REQUEST_FAILED',
              `The hub refused the twin request (${parsed.status}${typeof message === 'string' ? `: ${message}` : ''}).`,
              { status: parsed.status, errorCode: typeof errorCode === 'number' ? errorCode : undefined },
            ),
          );
          return;
        }
        const response: TwinResponse = { status: parsed.status, body };
        if (parsed.version !== undefined) response.version = parsed.version;
        request.resolve(response);
        return;
      }
      case 'desiredPatch': {
        let patch: unknown;
        try {
          patch = JSON.parse(payload.toString('utf8'));
        } catch {
          return;
        }
        if (typeof patch === 'object' && patch !== null && !Array.isArray(patch)) {
          handlers.onDesired(this, patch as Record<string, unknown>);
        }
        return;
      }
      case 'methodRequest':
        handlers.onMethod(this, parsed.methodName, parsed.rid, payload);
        return;
      case 'c2d':
      case 'moduleInput':
        handlers.onC2d(parsed.propertyBag, payload);
        return;
    }
  }
}
