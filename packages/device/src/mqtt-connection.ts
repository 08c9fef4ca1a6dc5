/**
 * One MQTT 3.1.1 client connection, holding only what a device uses (protocol.md §1, §3.2): CONNECT and
 * CONNACK, SUBSCRIBE and SUBACK, PUBLISH at QoS 0 and 1 both ways with PUBACK, PINGREQ on the keep-alive
 * and DISCONNECT; over TLS or over WebSockets (subprotocol `mqtt`). Packets are encoded by `mqtt-packet`
 * and decoded by `mqtt-decoder.ts`. The connection never reconnects and keeps nothing across connections: the device's
 * connection policy and offline queue do that. Every failure is a {@link DeviceError}. Why not MQTT.js:
 * docs/adr/0021-device-mqtt-connection.md.
 */

import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as connectTls } from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import WebSocket, { createWebSocketStream } from 'ws';
import { DeviceError } from './errors.js';
import { MAX_SERVER_PACKET_BYTES, MqttDecoder, type ServerPacket } from './mqtt-decoder.js';
import type { DeviceTlsOptions } from './tls-options.js';

/**
 * Where IoT Hub and DPS take MQTT: port 8883, or 443 with the WebSocket path `/$iothub/websocket`
 * (protocol.md §0.2); `port` overrides the port.
 *
 * @example
 * mqttEndpoint(undefined, true); // { port: 443, webSocketPath: '/$iothub/websocket' }
 */
export function mqttEndpoint(
  port: number | undefined,
  webSockets: boolean,
): { port: number; webSocketPath: string | undefined } {
  return { port: port ?? (webSockets ? 443 : 8883), webSocketPath: webSockets ? '/$iothub/websocket' : undefined };
}

/**
 * Refuses a keep-alive MQTT cannot carry: it is two bytes of the CONNECT (3.1.1 §3.1.2.10).
 *
 * @example
 * checkKeepalive(180, 'options.keepaliveSeconds'); // ok
 * checkKeepalive(70_000, 'options.keepaliveSeconds'); // throws DEVICE_INVALID_OPTIONS
 */
export function checkKeepalive(seconds: number, name: string): void {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffff) {
    throw new DeviceError('DEVICE_INVALID_OPTIONS', `${name} must be an integer from 0 to 65535.`);
  }
}

/** How to connect. */
export interface MqttConnectOptions {
  host: string;
  port: number;
  /** Connect over WebSockets (`wss://host:port{path}`) instead of TLS. */
  webSocketPath?: string | undefined;
  tls: DeviceTlsOptions;
  clientId: string;
  clean: boolean;
  keepaliveSeconds: number;
  username: string;
  password?: string | undefined;
  /** No CONNACK in this time: the connection fails with `DEVICE_CONNECTION_LOST`. */
  connectTimeoutMs: number;
}

/** What the connection hands its owner once the CONNACK accepted it (and before `open` resolves). */
export interface MqttHandlers {
  /** A PUBLISH from the server; a QoS 1 one is PUBACKed once this returns. */
  onMessage(topic: string, payload: Buffer): void;
  /**
   * The accepted connection ended without {@link MqttConnection.end} or {@link MqttConnection.destroy}:
   * why. (Before that, `open` rejects instead.)
   */
  onClose(reason: DeviceError): void;
}

interface Waiter {
  resolve(packet: ServerPacket): void;
  reject(error: DeviceError): void;
}

/** The CONNACK return codes of MQTT 3.1.1 §3.2.2.3, as messages. */
const CONNACK_REFUSALS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

const lost = (message: string): DeviceError => new DeviceError('DEVICE_CONNECTION_LOST', message);

/**
 * A connected MQTT client. Create with {@link MqttConnection.open}.
 *
 * @example
 * ```ts
 * const connection = await MqttConnection.open(options, { onMessage, onClose });
 * await connection.subscribe('$iothub/twin/res/#', 0);
 * await connection.publishAcked('devices/d1/messages/events/', '{"temperature":21}');
 * await connection.end();
 * ```
 */
export class MqttConnection {
  readonly #stream: Duplex;
  readonly #host: string;
  /** Cleared when the connection ends: no handler is called after. */
  #handlers: MqttHandlers | undefined;
  /** Set by an accepting CONNACK, before anything that follows it in the stream is read. */
  #accepted = false;
  /** Who waits on which packet id (PUBACK, SUBACK); 0 is the CONNACK. Made on first use. */
  #waiting: Map<number, Waiter> | undefined;
  #lastId = 0;
  #keepalive: NodeJS.Timeout | undefined;
  readonly #keepaliveMs: number;
  #awaitingPong = false;
  /** Set once the connection is over. */
  #ended = false;
  /** CONNACK's session-present flag. */
  sessionPresent = false;

  private constructor(stream: Duplex, host: string, handlers: MqttHandlers, keepaliveSeconds: number) {
    this.#stream = stream;
    this.#host = host;
    this.#handlers = handlers;
    this.#keepaliveMs = keepaliveSeconds * 1000;
    const decoder = new MqttDecoder();
    stream.on('data', (data: Buffer) => this.#onData(decoder, data));
    stream.on('error', (error: Error) => this.#fail(lost(`${host}: ${error.message}`)));
    stream.on('close', () => this.#fail(lost(`${host} closed the connection.`)));
  }

  /**
   * Opens the transport, sends CONNECT and resolves on an accepting CONNACK.
   *
   * @throws {@link DeviceError} `DEVICE_CONNECTION_REFUSED` with the CONNACK `returnCode` (and `status`
   * 503 for code 3, 401 otherwise), `DEVICE_CONNECTION_LOST` (no CONNACK in time, TLS or socket
   * failure, a CONNECT that would not encode), `DEVICE_CLOSED` (`signal` aborted),
   * `DEVICE_INVALID_OPTIONS` (a keep-alive MQTT cannot carry). The transport is closed on any of them.
   */
  static async open(
    options: MqttConnectOptions,
    handlers: MqttHandlers,
    signal?: AbortSignal,
  ): Promise<MqttConnection> {
    if (signal?.aborted === true) throw new DeviceError('DEVICE_CLOSED', 'The connection attempt was cancelled.');
    const { host, port, webSocketPath, keepaliveSeconds } = options;
    checkKeepalive(keepaliveSeconds, 'keepaliveSeconds');
    let stream: Duplex;
    if (webSocketPath === undefined) {
      stream = connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...options.tls });
    } else {
      const authority = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
      // ws buffers a whole message before the decoder sees it: bound it like a packet.
      const socket = new WebSocket(`wss://${authority}${webSocketPath}`, ['mqtt'], {
        ...options.tls,
        maxPayload: MAX_SERVER_PACKET_BYTES + 16,
      });
      stream = createWebSocketStream(socket);
      // The stream ws makes only ends when the server closes; make that a close the connection sees.
      socket.on('close', () => stream.destroy());
    }
    const connection = new MqttConnection(stream, host, handlers, options.keepaliveSeconds);
    const onAbort = (): void =>
      connection.destroy(new DeviceError('DEVICE_CLOSED', 'The connection attempt was cancelled.'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => connection.destroy(lost(`${host} did not answer the CONNECT in time.`)),
      options.connectTimeoutMs,
    );
    try {
      const connack = await connection.#send(
        {
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: options.clean,
          clientId: options.clientId,
          keepalive: options.keepaliveSeconds,
          username: options.username,
          ...(options.password === undefined ? {} : { password: Buffer.from(options.password, 'utf8') }),
        },
        0,
      );
      const code = connack.cmd === 'connack' ? connack.returnCode : 0;
      if (code !== 0) {
        throw new DeviceError(
          'DEVICE_CONNECTION_REFUSED',
          `${host} refused the connection: ${CONNACK_REFUSALS[code] ?? 'unknown reason'} (CONNACK ${code}).`,
          { returnCode: code, status: code === 3 ? 503 : 401 },
        );
      }
      return connection;
    } catch (error) {
      // Whatever failed (a refusal, a timeout, a packet that would not encode), the transport goes with it.
      connection.destroy();
      throw error instanceof DeviceError
        ? error
        : lost(`${host}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Whether the connection is up. */
  get connected(): boolean {
    return !this.#ended;
  }

  /**
   * Subscribes to one filter; resolves once granted.
   *
   * @throws {@link DeviceError} `DEVICE_CONNECTION_REFUSED` with `status` 403 when the server refuses
   * (SUBACK 0x80), `DEVICE_CONNECTION_LOST`, `DEVICE_NOT_CONNECTED`.
   */
  async subscribe(topic: string, qos: 0 | 1): Promise<void> {
    const id = this.#nextId();
    const suback = await this.#send({ cmd: 'subscribe', messageId: id, subscriptions: [{ topic, qos }] }, id);
    if (suback.cmd === 'suback' && suback.granted.some((granted) => granted >= 0x80)) {
      const message = `${this.#host} refused the subscription to ${topic} (SUBACK 0x80).`;
      throw new DeviceError('DEVICE_CONNECTION_REFUSED', message, { status: 403 });
    }
  }

  /** Publishes at QoS 0 (nothing comes back); does nothing once the connection is over. */
  publish(topic: string, payload: Buffer | string): void {
    if (this.#ended) return;
    this.#write({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false });
  }

  /**
   * Publishes at QoS 1; resolves on PUBACK.
   *
   * @throws {@link DeviceError} `DEVICE_CONNECTION_LOST` when the connection ends first,
   * `DEVICE_NOT_CONNECTED` when it already had.
   */
  async publishAcked(topic: string, payload: Buffer | string): Promise<void> {
    const id = this.#nextId();
    await this.#send({ cmd: 'publish', topic, payload, qos: 1, messageId: id, retain: false, dup: false }, id);
  }

  /**
   * Ends the connection gracefully: DISCONNECT, then the stream closes (forced after `timeoutMs`). What
   * waits for an answer fails with `DEVICE_CONNECTION_LOST`; `onClose` is not called. Always resolves.
   */
  end(timeoutMs = 2000): Promise<void> {
    const stream = this.#stream;
    if (!this.#ended) {
      this.#write({ cmd: 'disconnect' });
      this.#finish(lost('The connection was closed.'));
    }
    stream.end();
    if (stream.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        stream.destroy();
        resolve();
      }, timeoutMs);
      stream.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Closes the stream at once; what waits for an answer fails with `reason`. `onClose` is not called. */
  destroy(reason: DeviceError = lost('The connection was closed.')): void {
    this.#finish(reason);
    this.#stream.destroy();
  }

  /** Writes `packet`; resolves with the packet that answers packet id `id` (0: the CONNACK). */
  #send(packet: Packet, id: number): Promise<ServerPacket> {
    return new Promise((resolve, reject) => {
      if (this.#ended) {
        reject(new DeviceError('DEVICE_NOT_CONNECTED', 'The connection is closed.'));
        return;
      }
      (this.#waiting ??= new Map()).set(id, { resolve, reject });
      this.#write(packet);
    });
  }

  #write(packet: Packet): void {
    this.#stream.write(mqttPacket.generate(packet));
    // Anything sent counts as activity, unless a PINGREQ is outstanding (its answer is what counts then).
    if (this.#keepalive !== undefined && !this.#awaitingPong) this.#keepalive.refresh();
  }

  #nextId(): number {
    const waiting = this.#waiting;
    if (waiting !== undefined && waiting.size >= 0xffff) {
      throw new DeviceError('DEVICE_QUEUE_FULL', 'All 65,535 MQTT packet ids are waiting for an answer.');
    }
    do this.#lastId = (this.#lastId % 0xffff) + 1;
    while (waiting?.has(this.#lastId) === true);
    return this.#lastId;
  }

  #onKeepalive(): void {
    if (this.#awaitingPong) {
      this.#fail(lost(`${this.#host} did not answer the PINGREQ within the keep-alive.`));
      this.#stream.destroy();
      return;
    }
    this.#awaitingPong = true;
    this.#write({ cmd: 'pingreq' });
    this.#keepalive?.refresh();
  }

  #onData(decoder: MqttDecoder, data: Buffer): void {
    try {
      decoder.push(data, (packet) => this.#onPacket(packet));
    } catch (error) {
      // A malformed packet (§4.8) or a handler that threw: either way this connection cannot go on.
      this.#fail(lost(`${this.#host}: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  #onPacket(packet: ServerPacket): void {
    switch (packet.cmd) {
      case 'publish':
        this.#onPublish(packet);
        return;
      case 'pingresp':
        this.#awaitingPong = false;
        return;
      case 'connack':
        this.#onConnack(packet);
        return;
      case 'puback':
      case 'suback':
        // Packet ids start at 1; 0 is where the CONNACK is awaited.
        if (packet.messageId !== 0) this.#settle(packet.messageId, packet);
        return;
      case 'unsuback':
        return;
    }
  }

  /**
   * Accepted: from here on, PUBLISHes go to the handlers (the rest of this chunk included, which a
   * server may have sent right behind the CONNACK) and the keep-alive runs.
   */
  #onConnack(packet: ServerPacket & { cmd: 'connack' }): void {
    if (this.#accepted || this.#ended) return;
    if (packet.returnCode === 0) {
      this.#accepted = true;
      this.sessionPresent = packet.sessionPresent;
      if (this.#keepaliveMs > 0) this.#keepalive = setTimeout(() => this.#onKeepalive(), this.#keepaliveMs);
    }
    this.#settle(0, packet);
  }

  #onPublish(packet: ServerPacket & { cmd: 'publish' }): void {
    if (!this.#accepted || this.#ended) return;
    try {
      this.#handlers?.onMessage(packet.topic, packet.payload);
    } finally {
      // QoS 2 is never subscribed to; a server that sends it anyway gets no answer.
      if (packet.qos === 1 && !this.#ended) this.#write({ cmd: 'puback', messageId: packet.messageId });
    }
  }

  #settle(id: number, packet: ServerPacket): void {
    const waiter = this.#waiting?.get(id);
    if (waiter === undefined) return;
    this.#waiting?.delete(id);
    waiter.resolve(packet);
  }

  /** The stream failed or closed under us: end, and tell the owner. */
  #fail(reason: DeviceError): void {
    if (this.#ended) return;
    const handlers = this.#accepted ? this.#handlers : undefined;
    this.#finish(reason);
    this.#stream.destroy();
    handlers?.onClose(reason);
  }

  #finish(reason: DeviceError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#handlers = undefined;
    clearTimeout(this.#keepalive);
    this.#keepalive = undefined;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) for (const waiter of waiting.values()) waiter.reject(reason);
  }
}
