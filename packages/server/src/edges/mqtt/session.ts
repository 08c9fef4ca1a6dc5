/**
 * The IoT Hub MQTT 3.1.1 device protocol as a state machine: it takes decoded packets and emits packets
 * (as data) through its sink; it never touches a socket. One instance per network connection.
 */
import { randomUUID } from 'node:crypto';
import {
  c2dPropertyBag,
  c2dTopic,
  decodeD2cProperties,
  desiredPatchTopic,
  encodePropertyBag,
  methodRequestTopic,
  moduleInputTopic,
  parseDevicePublishTopic,
  ProtocolError,
  parseMqttUsername,
  parseSubscriptionFilter,
  readJson,
  twinResponseTopic,
  type DeviceSubscriptionTopic,
} from '@plugboard/protocol';
import type { Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import {
  incomingTelemetry,
  type ConnectionHandle,
  type DeviceEndpoint,
  type Hub,
  type MethodRequest,
} from '../../core/hub.js';
import {
  copyMessageProperties,
  identityKey,
  identityOf,
  type C2dRecord,
  type Identity,
  type JsonObject,
  type SessionSubscription,
} from '../../core/model.js';
import { HubError, type HubErrorCode } from '../../errors.js';
import { DEFAULT_LISTENER_LIMITS } from '../limits.js';
import { logRefusal, packetFields } from '../log-fields.js';
import { Liveness } from './liveness.js';

/** Largest D2C payload IoT Hub accepts. */
export const MAX_D2C_PAYLOAD = 256 * 1024;

/** CONNACK return code for each refusal (protocol.md §1.2). */
export const CONNACK_CODES: Readonly<Partial<Record<HubErrorCode, number>>> = {
  HUB_PROTOCOL_VIOLATION: 1,
  HUB_IDENTIFIER_REJECTED: 2,
  HUB_DEVICE_DISABLED: 3,
  HUB_SERVICE_UNAVAILABLE: 3,
  HUB_THROTTLED: 3,
  HUB_INTERNAL: 3,
  HUB_BAD_CREDENTIALS: 4,
  HUB_UNAUTHORIZED: 5,
  HUB_TOKEN_EXPIRED: 5,
  HUB_DEVICE_NOT_FOUND: 5,
  HUB_MODULE_NOT_FOUND: 5,
};

/** The twin error for a reported patch the JSON reader refused. */
function twinPatchJsonError(cause: unknown): HubError {
  const detail = cause instanceof ProtocolError ? cause.message : 'It is not valid JSON.';
  return cause instanceof ProtocolError && cause.code === 'PROTOCOL_JSON_TOO_LARGE'
    ? new HubError('HUB_MESSAGE_TOO_LARGE', `The reported-properties patch is too large: ${detail}`, { cause })
    : new HubError('HUB_INVALID_TWIN_PATCH', `The reported-properties patch is refused: ${detail}`, { cause });
}

/** What the session needs from the connection that carries it. */
export interface MqttSessionSink {
  /** Encode and write a packet. */
  send(packet: Packet): void;
  /** End the network connection (no more packets are handled); `reason` is absent for a client DISCONNECT. */
  close(reason?: HubError): void;
  /** TLS client certificate chain (DER, leaf first), if the client presented one. */
  readonly clientCertificates: readonly Uint8Array[] | undefined;
  /** `mqtt` (TLS on 8883) or `mqtt-ws` (WebSockets on 443). */
  readonly transport: string;
}

/** Finds the hub a CONNECT addresses (by the host name in the username). */
export type HubResolver = (hostName: string) => Hub | undefined;

/** Options for {@link MqttSession}. */
export interface MqttSessionOptions {
  resolveHub: HubResolver;
  sink: MqttSessionSink;
  logger: Logger;
  /** Milliseconds the client has to send CONNECT (default 10 s). */
  connectTimeoutMs?: number;
  /** Longest silence accepted after CONNECT, whatever the keep-alive (default 1,767 s). */
  maxIdleMs?: number;
}

type State = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed';

const SUBACK_FAILURE = 0x80;
/** Packets a client may send while its CONNECT is being authenticated. */
const MAX_BACKLOG = 100;

/**
 * One device connection's MQTT protocol state.
 *
 * @example
 * const session = new MqttSession({ resolveHub, sink, logger });
 * parser.on('packet', (p) => session.handlePacket(p));
 * socket.on('close', () => session.handleClose('socket closed'));
 */
export class MqttSession implements DeviceEndpoint {
  readonly #options: MqttSessionOptions;
  readonly #sink: MqttSessionSink;
  #log: Logger;
  /** Packets are logged (type and topic) only at debug; the check is made once per connection. */
  readonly #debug: boolean;
  #state: State = 'awaiting-connect';
  #backlog: Packet[] = [];
  #hub: Hub | undefined;
  #handle: ConnectionHandle | undefined;
  #identity: Identity | undefined;
  #clientId = '';
  #persistent = false;
  readonly #subscriptions = new Map<string, { parsed: DeviceSubscriptionTopic; qos: 0 | 1 }>();
  readonly #c2dInflight = new Map<number, string>();
  /** Settles once the latest QoS 1 telemetry is acknowledged (or refused): refusals wait for it. */
  #acknowledged: Promise<void> = Promise.resolve();
  #nextPacketId = 1;
  readonly #liveness: Liveness;
  /** An unreachable-hub fault swallowed the CONNECT: nothing more is read or answered. */
  #silent = false;
  /** The Will message (a telemetry topic of this identity), published if the connection dies without DISCONNECT. */
  #will: { propertyBag: string; payload: Buffer } | undefined;

  constructor(options: MqttSessionOptions) {
    this.#options = options;
    this.#sink = options.sink;
    this.#log = options.logger;
    this.#debug = options.logger.isLevelEnabled('debug');
    this.#liveness = new Liveness((reason) => this.#close(new HubError('HUB_PROTOCOL_VIOLATION', reason)), {
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_LISTENER_LIMITS.mqttConnectMs,
      maxIdleMs: options.maxIdleMs ?? DEFAULT_LISTENER_LIMITS.mqttMaxIdleMs,
    });
  }

  get transport(): string {
    return this.#sink.transport;
  }

  get wantsMethods(): boolean {
    return this.#has('methods');
  }

  get wantsDesired(): boolean {
    return this.#has('desiredPatches');
  }

  get wantsC2d(): boolean {
    return this.#has('c2d') || this.#has('moduleInputs');
  }

  #has(kind: DeviceSubscriptionTopic['kind']): boolean {
    for (const sub of this.#subscriptions.values()) if (sub.parsed.kind === kind) return true;
    return false;
  }

  #grantedQos(kind: DeviceSubscriptionTopic['kind']): 0 | 1 {
    for (const sub of this.#subscriptions.values()) if (sub.parsed.kind === kind) return sub.qos;
    return 0;
  }

  #send(packet: Packet): void {
    if (this.#debug) this.#log.debug(packetFields(packet), 'packet sent');
    this.#sink.send(packet);
  }

  /**
   * Runs a packet's asynchronous handling (authentication, session storage). A failure there — storage
   * refusing a session save, say — closes this connection only, with HUB_INTERNAL, and never reaches the
   * process as an unhandled rejection.
   */
  #run(task: Promise<void>, what: string): void {
    task.catch((error: unknown) => {
      this.#log.error({ err: error }, `${what} could not be handled`);
      this.#close(new HubError('HUB_INTERNAL', `The hub could not handle ${what}.`, { cause: error }), true);
    });
  }

  /** Handles one decoded packet from the client. */
  handlePacket(packet: Packet): void {
    this.#liveness.touch();
    if (this.#debug) this.#log.debug(packetFields(packet), 'packet received');
    switch (this.#state) {
      case 'closed':
        return;
      case 'awaiting-connect':
        if (packet.cmd !== 'connect') {
          this.#close(new HubError('HUB_PROTOCOL_VIOLATION', `Expected CONNECT, got ${packet.cmd} [MQTT-3.1.0-1].`));
          return;
        }
        this.#state = 'authenticating';
        this.#run(this.#connect(packet), 'CONNECT');
        return;
      case 'authenticating':
        if (this.#silent) return;
        if (packet.cmd === 'connect') {
          this.#close(
            new HubError('HUB_PROTOCOL_VIOLATION', 'A second CONNECT is a protocol violation [MQTT-3.1.0-2].'),
          );
          return;
        }
        if (this.#backlog.length >= MAX_BACKLOG) {
          this.#close(new HubError('HUB_THROTTLED', 'Too many packets sent before the CONNACK.'));
          return;
        }
        this.#backlog.push(packet);
        return;
      case 'connected':
        this.#dispatch(packet);
        return;
    }
  }

  /** The network connection ended (or the client sent DISCONNECT). */
  handleClose(reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#handle !== undefined) this.#log.info({ reason }, 'device disconnected');
    this.#teardown(reason);
  }

  #teardown(reason: string): void {
    const will = this.#will;
    this.#will = undefined;
    if (will !== undefined && this.#hub !== undefined && this.#handle !== undefined) {
      const message = this.#telemetryMessage(will.propertyBag, will.payload, false);
      if (message !== undefined) {
        message.properties['iothub-MessageType'] = 'Will';
        this.#hub
          .ingestTelemetry(this.#handle, message)
          .catch((error: unknown) => this.#log.error({ err: error }, 'Will message could not be stored'));
      }
    }
    this.#liveness.stop();
    this.#backlog = [];
    this.#c2dInflight.clear();
    if (this.#handle !== undefined && this.#hub !== undefined) this.#hub.detach(this.#handle, reason);
  }

  /** Called by the core: close this connection. */
  close(error: HubError): void {
    this.#close(error);
  }

  /** Closes the connection because of `error`, logged once (unless the refusal was logged already). */
  #close(error: HubError, logged = false): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (!logged) {
      logRefusal(this.#log, this.#handle === undefined ? 'connection closed' : 'connection closed by the hub', error);
    }
    this.#teardown(error.code);
    this.#sink.close(error);
  }

  /** State can change while awaiting; re-read it through a method so narrowing does not stick. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #refuse(code: number, error: HubError): void {
    // Before the user name is read the logger names no device: the client id does.
    logRefusal(this.#log, 'CONNECT refused', error, {
      returnCode: code,
      ...(this.#identity === undefined ? { clientId: this.#clientId } : {}),
    });
    this.#send({ cmd: 'connack', returnCode: code, sessionPresent: false });
    this.#close(error, true);
  }

  async #connect(packet: Extract<Packet, { cmd: 'connect' }>): Promise<void> {
    this.#clientId = packet.clientId;
    if (packet.protocolVersion !== 4 || packet.protocolId !== 'MQTT') {
      this.#refuse(1, new HubError('HUB_PROTOCOL_VIOLATION', 'Only MQTT 3.1.1 (protocol level 4) is supported.'));
      return;
    }
    let username;
    try {
      username = parseMqttUsername(packet.username ?? '');
    } catch (cause) {
      this.#refuse(4, new HubError('HUB_BAD_CREDENTIALS', 'The MQTT user name is malformed.', { cause }));
      return;
    }
    const identity = identityOf(username);
    if (packet.clientId !== identityKey(identity)) {
      this.#refuse(
        2,
        new HubError(
          'HUB_IDENTIFIER_REJECTED',
          `Client id ${packet.clientId} does not match ${identityKey(identity)}.`,
        ),
      );
      return;
    }
    const hub = this.#options.resolveHub(username.hostName);
    if (hub === undefined) {
      this.#refuse(5, new HubError('HUB_UNAUTHORIZED', `No hub is named ${username.hostName}.`));
      return;
    }
    this.#log = this.#log.child({ deviceId: identity.deviceId, moduleId: identity.moduleId });
    let auth;
    try {
      const password = packet.password === undefined ? undefined : Buffer.from(packet.password).toString('utf8');
      const credentials: Parameters<Hub['authenticate']>[0] = {
        hostName: username.hostName,
        deviceId: identity.deviceId,
      };
      if (identity.moduleId !== undefined) credentials.moduleId = identity.moduleId;
      if (password !== undefined) credentials.password = password;
      if (this.#sink.clientCertificates !== undefined) credentials.clientCertificates = this.#sink.clientCertificates;
      auth = await hub.authenticate(credentials);
    } catch (error) {
      if (this.#isClosed()) return;
      const hubError =
        error instanceof HubError ? error : new HubError('HUB_INTERNAL', 'Authentication failed.', { cause: error });
      if (hubError.code === 'HUB_NO_ANSWER') {
        // An unreachable endpoint answers nothing: the connection just ends.
        this.#close(hubError);
        return;
      }
      if (hubError.code === 'HUB_SILENT') {
        // A black-holed endpoint: no CONNACK, nothing read, the connection left open until the client gives
        // up (or the idle limit).
        logRefusal(this.#log, 'CONNECT swallowed', hubError);
        this.#silent = true;
        this.#backlog = [];
        this.#liveness.connected(0);
        return;
      }
      this.#refuse(CONNACK_CODES[hubError.code] ?? 3, hubError);
      return;
    }
    if (this.#isClosed()) return;
    this.#hub = hub;
    this.#identity = identity;
    this.#clientId = packet.clientId;
    this.#persistent = packet.clean === false;
    let sessionPresent = false;
    if (this.#persistent) {
      const stored = hub.getSession(this.#clientId);
      if (stored !== undefined) {
        sessionPresent = true;
        for (const sub of stored) {
          const parsed = parseSubscriptionFilter(sub.topic);
          if (parsed !== undefined) this.#subscriptions.set(sub.topic, { parsed, qos: sub.qos });
        }
      } else {
        await hub.saveSession(this.#clientId, []);
      }
    } else if (hub.getSession(this.#clientId) !== undefined) {
      await hub.saveSession(this.#clientId, undefined);
    }
    if (this.#isClosed()) return;
    if (packet.will !== undefined && packet.will !== null) {
      const willTopic = parseDevicePublishTopic(packet.will.topic);
      if (
        willTopic?.kind === 'telemetry' &&
        willTopic.deviceId === identity.deviceId &&
        willTopic.moduleId === identity.moduleId
      ) {
        const payload = packet.will.payload;
        this.#will = {
          propertyBag: willTopic.propertyBag,
          payload: typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload ?? []),
        };
      } else {
        this.#log.info({ topic: packet.will.topic }, "Will ignored: its topic is not this identity's telemetry topic");
      }
    }
    this.#state = 'connected';
    this.#handle = hub.attach(auth, this, username.modelId ?? '');
    this.#send({ cmd: 'connack', returnCode: 0, sessionPresent });
    this.#log.info({ sessionPresent, auth: auth.method, modelId: username.modelId }, 'device connected');
    this.#liveness.connected(packet.keepalive ?? 0);
    if (this.#subscriptions.size > 0) hub.endpointChanged(this.#handle);
    const backlog = this.#backlog;
    this.#backlog = [];
    for (const queued of backlog) {
      if (this.#state !== 'connected') break;
      this.#dispatch(queued);
    }
  }

  #dispatch(packet: Packet): void {
    switch (packet.cmd) {
      case 'publish':
        this.#onPublish(packet);
        return;
      case 'subscribe':
        this.#run(this.#onSubscribe(packet), 'SUBSCRIBE');
        return;
      case 'unsubscribe':
        this.#run(this.#onUnsubscribe(packet), 'UNSUBSCRIBE');
        return;
      case 'puback':
        this.#onPuback(packet.messageId);
        return;
      case 'pingreq':
        this.#send({ cmd: 'pingresp' });
        return;
      case 'disconnect':
        // Graceful: the Will is discarded [MQTT-3.14.4-3].
        this.#will = undefined;
        this.handleClose('client disconnect');
        this.#sink.close();
        return;
      default:
        this.#close(new HubError('HUB_PROTOCOL_VIOLATION', `Unexpected ${packet.cmd} packet from a device.`));
    }
  }

  #onPublish(packet: Extract<Packet, { cmd: 'publish' }>): void {
    const hub = this.#hub;
    const handle = this.#handle;
    if (hub === undefined || handle === undefined) return;
    if (packet.qos === 2) {
      this.#close(
        new HubError('HUB_PROTOCOL_VIOLATION', 'QoS 2 publishes are not supported; the hub closes the connection.'),
      );
      return;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const topic = parseDevicePublishTopic(packet.topic);
    if (topic === undefined) {
      this.#close(new HubError('HUB_TOPIC_NOT_ALLOWED', `Publishing to ${packet.topic} is not allowed.`));
      return;
    }
    switch (topic.kind) {
      case 'telemetry': {
        const identity = handle.identity;
        if (topic.deviceId !== identity.deviceId || topic.moduleId !== identity.moduleId) {
          this.#close(
            new HubError('HUB_TOPIC_NOT_ALLOWED', `${identityKey(identity)} may not publish to ${packet.topic}.`),
          );
          return;
        }
        if (payload.length > MAX_D2C_PAYLOAD) {
          this.#close(new HubError('HUB_MESSAGE_TOO_LARGE', 'Device-to-cloud messages are limited to 256 KB.'));
          return;
        }
        const message = this.#telemetryMessage(topic.propertyBag, payload, packet.retain);
        if (message === undefined) return;
        const stored = hub.ingestTelemetry(handle, message);
        if (packet.qos === 1) {
          const messageId = packet.messageId;
          // PUBACKs leave in the order the PUBLISHes arrived [MQTT-4.6.0-2], each after its message is durable:
          // storage resolves appends in the order they were made.
          const earlier = this.#acknowledged;
          this.#acknowledged = stored.then(
            () => {
              if (this.#state === 'connected' && messageId !== undefined) {
                this.#send({ cmd: 'puback', messageId });
              }
            },
            async (error: unknown) => {
              // A refusal the hub means (throttling) closes with its own error — MQTT has no negative
              // PUBACK — once the messages before it are acknowledged.
              if (error instanceof HubError) {
                await earlier;
                this.#close(error);
                return;
              }
              this.#log.error({ err: error }, 'telemetry could not be stored');
              this.#close(new HubError('HUB_INTERNAL', 'Telemetry could not be stored.', { cause: error }));
            },
          );
        } else {
          stored.catch((error: unknown) => {
            if (error instanceof HubError) this.#close(error);
            else this.#log.error({ err: error }, 'telemetry could not be stored');
          });
        }
        return;
      }
      case 'twinGet':
        this.#twinResponse(topic.rid, () => ({ status: 200, body: hub.getTwinForDevice(handle) }));
        return;
      case 'twinPatchReported': {
        const rid = topic.rid;
        let patch: unknown;
        try {
          patch = readJson(payload, { maxBytes: MAX_D2C_PAYLOAD });
        } catch (cause) {
          this.#twinError(rid, twinPatchJsonError(cause));
          return;
        }
        hub.patchReported(handle, patch).then(
          (version) => this.#publishResponse(twinResponseTopic(204, rid, version), Buffer.alloc(0)),
          (error: unknown) => this.#twinError(rid, error),
        );
        return;
      }
      case 'methodResponse':
        hub.completeMethod(handle, topic.rid, topic.status, payload);
        return;
    }
  }

  /** Decodes a telemetry property bag; closes the connection (and returns undefined) when it is malformed. */
  #telemetryMessage(
    propertyBag: string,
    payload: Buffer,
    retain: boolean,
  ): Parameters<Hub['ingestTelemetry']>[1] | undefined {
    if (propertyBag === '' || propertyBag === '/') {
      // Most telemetry has no property bag.
      return { body: payload, properties: retain ? { 'mqtt-retain': 'true' } : {} };
    }
    let props;
    try {
      props = decodeD2cProperties(propertyBag);
    } catch (cause) {
      this.#close(new HubError('HUB_PROTOCOL_VIOLATION', 'The property bag is not valid percent-encoding.', { cause }));
      return undefined;
    }
    if (retain) props.application['mqtt-retain'] = 'true';
    return incomingTelemetry(payload, props);
  }

  #twinResponse(rid: string, produce: () => { status: number; body: JsonObject }): void {
    try {
      const { status, body } = produce();
      this.#publishResponse(twinResponseTopic(status, rid), Buffer.from(JSON.stringify(body)));
    } catch (error) {
      this.#twinError(rid, error);
    }
  }

  #twinError(rid: string, error: unknown): void {
    const hubError =
      error instanceof HubError ? error : new HubError('HUB_INTERNAL', 'Internal error.', { cause: error });
    if (hubError.code === 'HUB_INTERNAL') this.#log.error({ err: error, rid }, 'twin request failed');
    else logRefusal(this.#log, 'twin request refused', hubError, { rid });
    const body = {
      errorCode: hubError.azureErrorCode,
      trackingId: randomUUID().replace(/-/g, ''),
      message: hubError.message,
      timestampUtc: new Date().toISOString(),
    };
    this.#publishResponse(twinResponseTopic(hubError.status, rid), Buffer.from(JSON.stringify(body)));
  }

  /** Twin responses reach the device only through its `$iothub/twin/res/#` subscription. */
  #publishResponse(topic: string, payload: Buffer): void {
    if (this.#state !== 'connected' || !this.#has('twinResponses')) return;
    this.#publish(topic, payload, this.#grantedQos('twinResponses'));
  }

  #publish(topic: string, payload: Buffer, qos: 0 | 1, dup = false): number | undefined {
    if (qos === 0) {
      this.#send({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false });
      return undefined;
    }
    const messageId = this.#allocatePacketId();
    this.#send({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup });
    return messageId;
  }

  #allocatePacketId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.#nextPacketId;
      this.#nextPacketId = id === 65535 ? 1 : id + 1;
      if (!this.#c2dInflight.has(id)) return id;
    }
    throw new HubError('HUB_THROTTLED', 'No free MQTT packet identifiers.');
  }

  async #onSubscribe(packet: Extract<Packet, { cmd: 'subscribe' }>): Promise<void> {
    const identity = this.#identity;
    const hub = this.#hub;
    if (identity === undefined || hub === undefined) return;
    const granted: number[] = [];
    for (const sub of packet.subscriptions) {
      const parsed = parseSubscriptionFilter(sub.topic);
      const allowed =
        parsed !== undefined &&
        (parsed.kind === 'c2d'
          ? (parsed.deviceId === undefined || parsed.deviceId === identity.deviceId) && identity.moduleId === undefined
          : parsed.kind === 'moduleInputs'
            ? parsed.deviceId === identity.deviceId && parsed.moduleId === identity.moduleId
            : true);
      if (!allowed || parsed === undefined) {
        logRefusal(
          this.#log,
          'SUBSCRIBE refused',
          {
            code: 'HUB_TOPIC_NOT_ALLOWED',
            status: 403,
            message: `${identityKey(identity)} may not subscribe to ${sub.topic}: SUBACK 0x80.`,
          },
          { topic: sub.topic },
        );
        granted.push(SUBACK_FAILURE);
        continue;
      }
      const qos: 0 | 1 = sub.qos >= 1 ? 1 : 0;
      this.#subscriptions.set(sub.topic, { parsed, qos });
      granted.push(qos);
    }
    if (this.#persistent) await hub.saveSession(this.#clientId, this.#sessionSubscriptions());
    if (this.#state !== 'connected') return;
    this.#send({ cmd: 'suback', messageId: packet.messageId ?? 0, granted });
    if (this.#handle !== undefined) hub.endpointChanged(this.#handle);
  }

  async #onUnsubscribe(packet: Extract<Packet, { cmd: 'unsubscribe' }>): Promise<void> {
    const hub = this.#hub;
    if (hub === undefined) return;
    for (const topic of packet.unsubscriptions) this.#subscriptions.delete(topic);
    if (this.#persistent) await hub.saveSession(this.#clientId, this.#sessionSubscriptions());
    if (this.#state !== 'connected') return;
    this.#send({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: [] });
  }

  #sessionSubscriptions(): SessionSubscription[] {
    return [...this.#subscriptions].map(([topic, { qos }]) => ({ topic, qos }));
  }

  #onPuback(messageId: number | undefined): void {
    if (messageId === undefined) return;
    const id = this.#c2dInflight.get(messageId);
    if (id === undefined) return;
    this.#c2dInflight.delete(messageId);
    if (this.#hub !== undefined && this.#handle !== undefined) this.#hub.completeC2d(this.#handle, id);
  }

  // ---------------------------------------------------------------- DeviceEndpoint (called by the core)

  sendMethodRequest(request: MethodRequest): void {
    if (this.#state !== 'connected') return;
    this.#publish(
      methodRequestTopic(request.methodName, request.rid),
      Buffer.from(request.payload),
      this.#grantedQos('methods'),
    );
  }

  sendDesiredPatch(patch: JsonObject, version: number): void {
    if (this.#state !== 'connected') return;
    this.#publish(desiredPatchTopic(version), Buffer.from(JSON.stringify(patch)), this.#grantedQos('desiredPatches'));
  }

  deliverC2d(message: C2dRecord): void {
    if (this.#state !== 'connected') return;
    const bag: Parameters<typeof c2dPropertyBag>[0] = {
      to: message.to,
      ack: message.ack,
      application: message.properties,
    };
    copyMessageProperties(message, bag);
    bag.expiryTimeUtc = new Date(message.expiresAt).toISOString();
    const encoded = encodePropertyBag(c2dPropertyBag(bag));
    const topic =
      message.moduleId === undefined
        ? c2dTopic(message.deviceId, encoded)
        : moduleInputTopic(message.deviceId, message.moduleId, 'input', encoded);
    // C2D needs an acknowledgement to complete: always QoS 1, whatever QoS the subscription was granted.
    const packetId = this.#publish(topic, Buffer.from(message.body), 1, message.deliveryCount > 1);
    if (packetId !== undefined) this.#c2dInflight.set(packetId, message.id);
  }
}
