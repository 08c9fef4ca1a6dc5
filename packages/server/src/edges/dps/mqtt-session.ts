/**
 * The DPS device protocol over MQTT (protocol.md §3.2) as a state machine: packets in, packets out.
 * CONNECT is accepted when it is well formed; credentials are checked at `iotdps-register` (as DPS does)
 * and every request is answered on `$dps/registrations/res/{status}/?$rid=...`.
 */
import { dpsResponseTopic, parseDpsMqttUsername, parseDpsPublishTopic, readJson } from '@plugboard/protocol';
import type { Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import { DPS_MAX_BODY_BYTES, DpsError, dpsJsonError } from '../../core/dps-errors.js';
import type { ProvisioningService } from '../../core/dps.js';
import type { DpsCredentials } from '../../core/dps-types.js';
import { HubError } from '../../errors.js';
import type { MqttProtocolSession } from '../mqtt/connection.js';
import { DEFAULT_LISTENER_LIMITS } from '../limits.js';
import { logRefusal, packetFields } from '../log-fields.js';
import { Liveness } from '../mqtt/liveness.js';
import type { MqttSessionSink } from '../mqtt/session.js';

const RESPONSE_FILTER = '$dps/registrations/res/#';

/** Options for {@link DpsMqttSession}. */
export interface DpsMqttSessionOptions {
  dps: ProvisioningService;
  sink: MqttSessionSink;
  logger: Logger;
  /** Milliseconds the client has to send CONNECT (default 10 s). */
  connectTimeoutMs?: number;
  /** Longest silence accepted after CONNECT, whatever the keep-alive (default 1,767 s). */
  maxIdleMs?: number;
}

/**
 * One DPS MQTT connection.
 *
 * @example
 * serveMqttStream({ stream, transport: 'mqtt', logger, clientCertificates,
 *   createSession: (sink) => new DpsMqttSession({ dps, sink, logger }) });
 */
export class DpsMqttSession implements MqttProtocolSession {
  readonly #dps: ProvisioningService;
  readonly #sink: MqttSessionSink;
  #log: Logger;
  readonly #debug: boolean;
  #state: 'awaiting-connect' | 'connected' | 'closed' = 'awaiting-connect';
  #idScope = '';
  #registrationId = '';
  #credentials: DpsCredentials = {};
  #responseQos: 0 | 1 | undefined;
  #nextPacketId = 1;
  readonly #liveness: Liveness;

  constructor(options: DpsMqttSessionOptions) {
    this.#dps = options.dps;
    this.#sink = options.sink;
    this.#log = options.logger;
    this.#debug = options.logger.isLevelEnabled('debug');
    this.#liveness = new Liveness((reason) => this.close(new HubError('HUB_PROTOCOL_VIOLATION', reason)), {
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_LISTENER_LIMITS.mqttConnectMs,
      maxIdleMs: options.maxIdleMs ?? DEFAULT_LISTENER_LIMITS.mqttMaxIdleMs,
    });
  }

  #send(packet: Packet): void {
    if (this.#debug) this.#log.debug(packetFields(packet), 'packet sent');
    this.#sink.send(packet);
  }

  handlePacket(packet: Packet): void {
    this.#liveness.touch();
    if (this.#debug) this.#log.debug(packetFields(packet), 'packet received');
    if (this.#state === 'closed') return;
    if (this.#state === 'awaiting-connect') {
      if (packet.cmd !== 'connect') {
        this.close(new HubError('HUB_PROTOCOL_VIOLATION', `Expected CONNECT, got ${packet.cmd} [MQTT-3.1.0-1].`));
        return;
      }
      this.#connect(packet);
      return;
    }
    switch (packet.cmd) {
      case 'subscribe': {
        const granted = packet.subscriptions.map((s) => {
          if (s.topic !== RESPONSE_FILTER) return 0x80;
          this.#responseQos = s.qos >= 1 ? 1 : 0;
          return this.#responseQos;
        });
        this.#send({ cmd: 'suback', messageId: packet.messageId ?? 0, granted });
        return;
      }
      case 'unsubscribe':
        if (packet.unsubscriptions.includes(RESPONSE_FILTER)) this.#responseQos = undefined;
        this.#send({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: [] });
        return;
      case 'publish':
        this.#onPublish(packet);
        return;
      case 'puback':
        return;
      case 'pingreq':
        this.#send({ cmd: 'pingresp' });
        return;
      case 'disconnect':
        this.handleClose('client disconnect');
        this.#sink.close();
        return;
      default:
        this.close(new HubError('HUB_PROTOCOL_VIOLATION', `Unexpected ${packet.cmd} packet.`));
    }
  }

  handleClose(reason: string): void {
    if (this.#state !== 'closed' && this.#debug) this.#log.debug({ reason }, 'DPS connection ended');
    this.#state = 'closed';
    this.#liveness.stop();
  }

  close(error: HubError, logged = false): void {
    if (this.#state === 'closed') return;
    if (!logged) logRefusal(this.#log, 'connection closed by DPS', error);
    this.#state = 'closed';
    this.#liveness.stop();
    this.#sink.close(error);
  }

  #connect(packet: Extract<Packet, { cmd: 'connect' }>): void {
    if (packet.protocolVersion !== 4 || packet.protocolId !== 'MQTT') {
      this.#refuse(
        1,
        new HubError('HUB_PROTOCOL_VIOLATION', 'Only MQTT 3.1.1 (protocol level 4) is supported.'),
        packet.clientId,
      );
      return;
    }
    let username;
    try {
      username = parseDpsMqttUsername(packet.username ?? '');
    } catch (cause) {
      this.#refuse(
        4,
        new HubError('HUB_BAD_CREDENTIALS', 'The DPS user name is malformed.', { cause }),
        packet.clientId,
      );
      return;
    }
    if (packet.clientId !== username.registrationId) {
      this.#refuse(
        2,
        new HubError('HUB_IDENTIFIER_REJECTED', 'The client id must equal the registration id.'),
        packet.clientId,
      );
      return;
    }
    this.#idScope = username.idScope;
    this.#registrationId = username.registrationId;
    if (packet.password !== undefined) this.#credentials.token = Buffer.from(packet.password).toString('utf8');
    if (this.#sink.clientCertificates !== undefined)
      this.#credentials.clientCertificates = this.#sink.clientCertificates;
    this.#log = this.#log.child({ registrationId: this.#registrationId });
    this.#state = 'connected';
    this.#send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
    this.#liveness.connected(packet.keepalive ?? 0);
  }

  #refuse(code: number, error: HubError, clientId: string): void {
    logRefusal(this.#log, 'CONNECT refused', error, { returnCode: code, clientId });
    this.#send({ cmd: 'connack', returnCode: code, sessionPresent: false });
    this.close(error, true);
  }

  #onPublish(packet: Extract<Packet, { cmd: 'publish' }>): void {
    if (packet.qos === 2) {
      this.close(new HubError('HUB_PROTOCOL_VIOLATION', 'QoS 2 publishes are not supported.'));
      return;
    }
    if (packet.qos === 1 && packet.messageId !== undefined) {
      this.#send({ cmd: 'puback', messageId: packet.messageId });
    }
    const topic = parseDpsPublishTopic(packet.topic);
    if (topic === undefined) {
      this.close(new HubError('HUB_TOPIC_NOT_ALLOWED', `Publishing to ${packet.topic} is not allowed.`));
      return;
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const base = { idScope: this.#idScope, registrationId: this.#registrationId, credentials: this.#credentials };
    if (topic.kind === 'register') {
      let body: unknown;
      try {
        body = payload.toString('utf8').trim() === '' ? undefined : readJson(payload, { maxBytes: DPS_MAX_BODY_BYTES });
      } catch (cause) {
        this.#respondError(topic.rid, dpsJsonError(cause, 'The register request body'));
        return;
      }
      this.#dps.register({ ...base, body }).then(
        ({ operation, retryAfter }) => this.#respond(topic.rid, 202, operation, retryAfter),
        (error: unknown) => this.#respondError(topic.rid, error),
      );
      return;
    }
    this.#dps.operationStatus({ ...base, operationId: topic.operationId }).then(
      (status) =>
        status.status === 'assigning'
          ? this.#respond(topic.rid, 202, status, this.#dps.retryAfterSeconds)
          : this.#respond(topic.rid, 200, status),
      (error: unknown) => this.#respondError(topic.rid, error),
    );
  }

  #respond(rid: string, status: number, body: unknown, retryAfter?: number): void {
    if (this.#state !== 'connected' || this.#responseQos === undefined) return;
    const topic = dpsResponseTopic(status, rid, retryAfter);
    const payload = Buffer.from(JSON.stringify(body));
    if (this.#responseQos === 0) {
      this.#send({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false });
      return;
    }
    const messageId = this.#nextPacketId;
    this.#nextPacketId = messageId === 65535 ? 1 : messageId + 1;
    this.#send({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false });
  }

  #respondError(rid: string, error: unknown): void {
    const dpsError =
      error instanceof DpsError ? error : new DpsError('DPS_INTERNAL', 'Internal error.', { cause: error });
    if (dpsError.code === 'DPS_INTERNAL') this.#log.error({ err: error, rid }, 'DPS request failed');
    else logRefusal(this.#log, 'DPS request refused', dpsError, { rid });
    this.#respond(rid, dpsError.status, dpsError.toBody(), dpsError.retryAfter);
  }
}
