/**
 * Binds an MQTT protocol session (the hub's {@link MqttSession}, or DPS's) to a byte stream (a TLS socket,
 * or a WebSocket stream): decodes with `mqtt-packet`, bounds what a client may make the server buffer, and
 * encodes what the session sends.
 */
import type { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import { HubError } from '../../errors.js';
import { corkEachTurn } from '../write-coalescing.js';
import { MAX_D2C_PAYLOAD, MqttSession, type HubResolver, type MqttSessionSink } from './session.js';

/**
 * Encodes a packet. PUBACK — one per telemetry message — is four fixed bytes and skips the generic
 * encoder [MQTT-3.4].
 */
function encode(packet: Packet): Buffer {
  if (packet.cmd === 'puback' && packet.messageId !== undefined) {
    const bytes = Buffer.allocUnsafe(4);
    bytes[0] = 0x40;
    bytes[1] = 0x02;
    bytes.writeUInt16BE(packet.messageId, 2);
    return bytes;
  }
  return mqttPacket.generate(packet);
}

/** Largest MQTT packet accepted: a 256 KB payload plus room for the topic and property bag. */
export const MAX_PACKET_BYTES = MAX_D2C_PAYLOAD + 64 * 1024;

/** What the connection code needs from a protocol session. */
export interface MqttProtocolSession {
  handlePacket(packet: Packet): void;
  /** The network connection ended. */
  handleClose(reason: string): void;
  /** Close because of `error` (malformed input, limits). */
  close(error: HubError): void;
}

/** Options for {@link serveMqttStream}. */
export interface MqttStreamOptions {
  stream: Duplex;
  transport: 'mqtt' | 'mqtt-ws';
  logger: Logger;
  clientCertificates: readonly Uint8Array[] | undefined;
  createSession(sink: MqttSessionSink): MqttProtocolSession;
}

/** Options for {@link serveMqttConnection}. */
export interface MqttConnectionOptions {
  stream: Duplex;
  transport: 'mqtt' | 'mqtt-ws';
  resolveHub: HubResolver;
  logger: Logger;
  clientCertificates: readonly Uint8Array[] | undefined;
  connectTimeoutMs?: number;
}

/**
 * Serves one MQTT connection until it closes. Malformed input closes only this connection.
 *
 * @example
 * tlsServer.on('secureConnection', (socket) =>
 *   serveMqttConnection({ stream: socket, transport: 'mqtt', resolveHub, logger, clientCertificates: undefined }));
 */
export function serveMqttConnection(options: MqttConnectionOptions): MqttSession {
  let session: MqttSession | undefined;
  serveMqttStream({
    stream: options.stream,
    transport: options.transport,
    logger: options.logger,
    clientCertificates: options.clientCertificates,
    createSession: (sink) => {
      session = new MqttSession({
        resolveHub: options.resolveHub,
        logger: options.logger,
        ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
        sink,
      });
      return session;
    },
  });
  if (session === undefined) throw new Error('unreachable: the session is created synchronously');
  return session;
}

/**
 * Serves one MQTT connection with the session `createSession` returns, until it closes. Malformed input
 * closes only this connection.
 */
export function serveMqttStream(options: MqttStreamOptions): MqttProtocolSession {
  const { stream, logger } = options;
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let open = true;
  const corkTurn = corkEachTurn(stream);
  const end = (): void => {
    if (!open) return;
    open = false;
    stream.removeListener('data', onData);
    stream.end();
    // Give the last packets (e.g. a refusing CONNACK) a moment to flush, then make sure the socket is gone.
    setTimeout(() => stream.destroy(), 1000).unref();
  };
  const session = options.createSession({
    transport: options.transport,
    clientCertificates: options.clientCertificates,
    send(packet: Packet): void {
      if (!open) return;
      // Packets produced in one event-loop turn (a burst of PUBACKs) leave in one TLS record and syscall.
      corkTurn();
      stream.write(encode(packet));
    },
    close(): void {
      end();
    },
  });
  parser.on('packet', (packet: Packet) => {
    if (open) session.handlePacket(packet);
  });
  parser.on('error', (error: Error) => {
    if (!open) return;
    // The session logs the close, with its code and this reason.
    session.close(new HubError('HUB_PROTOCOL_VIOLATION', `Malformed MQTT packet: ${error.message}`, { cause: error }));
  });
  const onData = (chunk: Buffer): void => {
    try {
      parser.parse(chunk);
    } catch (error) {
      session.close(new HubError('HUB_PROTOCOL_VIOLATION', 'Malformed MQTT packet.', { cause: error }));
      return;
    }
    // mqtt-packet buffers until a packet is complete: refuse declared lengths we will not accept.
    const declared = (parser as unknown as { packet: { length: number } }).packet.length;
    if (open && declared > MAX_PACKET_BYTES) {
      session.close(
        new HubError(
          'HUB_MESSAGE_TOO_LARGE',
          `An MQTT packet of ${declared} bytes exceeds the ${MAX_PACKET_BYTES} byte limit.`,
        ),
      );
    }
  };
  stream.on('data', onData);
  stream.on('error', (error: Error) => {
    logger.debug({ err: error }, 'connection error');
  });
  stream.on('close', () => {
    open = false;
    session.handleClose('connection closed');
  });
  return session;
}
