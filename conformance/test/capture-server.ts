/**
 * Capture servers for wire-fidelity tests: a TLS MQTT 3.1.1 server (node:tls + mqtt-packet) and an HTTPS
 * server that record every packet or request a client sends, answer the protocol's plumbing themselves
 * (CONNACK 0, SUBACK, UNSUBACK, PUBACK, PINGRESP) and leave the service's answers (twin responses, DPS
 * operation statuses) to a script the test gives. Their certificate is issued from the run's test CA
 * (PLUGBOARD_TEST_CA_DIR), so the official SDKs, which trust it through NODE_EXTRA_CA_CERTS, connect
 * unmodified on the ports they hard-code.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import mqttPacket, { type IConnectPacket, type IPublishPacket, type Packet } from 'mqtt-packet';
import { issueCertificate } from '@plugboard/server';

/** The run's test CA (PEM) and a server certificate it issued for `addresses`. */
export interface CaptureTls {
  ca: string;
  cert: string;
  key: string;
}

/** Issues a server certificate for `addresses` (IP SANs) from the run's test CA. */
export async function captureTls(addresses: readonly string[]): Promise<CaptureTls> {
  const caDir = process.env['PLUGBOARD_TEST_CA_DIR'];
  if (caDir === undefined || process.env['NODE_EXTRA_CA_CERTS'] === undefined) {
    throw new Error('Run tests through `npm test` (scripts/run-tests.mjs): it creates the CA the SDKs trust.');
  }
  const ca = readFileSync(join(caDir, 'ca.pem'), 'utf8');
  const issued = await issueCertificate({
    commonName: addresses[0] ?? 'capture',
    issuer: { certificatePem: ca, privateKeyPem: readFileSync(join(caDir, 'ca.key.pem'), 'utf8') },
    extendedKeyUsage: 'serverAuth',
    ipAddresses: addresses,
    validDays: 1,
  });
  return { ca, cert: issued.certificatePem, key: issued.privateKeyPem };
}

/** Waits for `check` to hold, woken by `emitter`'s `event`; rejects after `timeoutMs` naming `what`. */
function waitOn<T>(
  emitter: EventEmitter,
  event: string,
  check: () => T | undefined,
  what: string,
  timeoutMs: number,
): Promise<T> {
  const first = check();
  if (first !== undefined) return Promise.resolve(first);
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      emitter.off(event, wake);
    };
    const wake = (): void => {
      let value: T | undefined;
      try {
        value = check();
      } catch (error) {
        done();
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (value !== undefined) {
        done();
        resolve(value);
      }
    };
    const timer = setTimeout(() => {
      emitter.off(event, wake);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    emitter.on(event, wake);
  });
}

/** A type guard for a PUBLISH whose topic matches `topic`. */
export function isPublishTo(topic: RegExp): (p: Packet) => p is IPublishPacket {
  return (p: Packet): p is IPublishPacket => p.cmd === 'publish' && topic.test(p.topic);
}

/** One client connection to a {@link MqttCaptureServer}: what the client sent, in order. */
export class CapturedMqtt {
  /** Every packet the client sent, in order (the CONNECT first). */
  readonly packets: Packet[] = [];
  closed = false;
  readonly #socket: TLSSocket;
  readonly #events = new EventEmitter();

  constructor(socket: TLSSocket) {
    this.#socket = socket;
    this.#events.setMaxListeners(0);
  }

  /** The client's CONNECT. */
  get connect(): IConnectPacket {
    const first = this.packets[0];
    if (first?.cmd !== 'connect') throw new Error('the connection has no CONNECT');
    return first;
  }

  /** @internal Called by the server for every packet the client sent. */
  received(packet: Packet): void {
    this.packets.push(packet);
    this.#events.emit('change');
  }

  /** @internal Called by the server when the socket closed. */
  ended(): void {
    this.closed = true;
    this.#events.emit('change');
  }

  /** Sends `packet` to the client. */
  send(packet: Packet): void {
    if (!this.#socket.destroyed) this.#socket.write(mqttPacket.generate(packet));
  }

  /** Publishes `payload` on `topic` to the client at QoS 0 (as the hub sends twin, desired and method traffic). */
  publish(topic: string, payload: string): void {
    this.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, dup: false, retain: false });
  }

  /** The first packet at index `from` or later that matches; waits for it (rejects if the client leaves first). */
  waitFor<T extends Packet>(match: (p: Packet) => p is T, what: string, from = 0, timeoutMs = 15_000): Promise<T> {
    return waitOn(
      this.#events,
      'change',
      () => {
        const found = this.packets.slice(from).find(match);
        if (found !== undefined) return found;
        if (this.closed) throw new Error(`the client closed the connection before ${what}`);
        return undefined;
      },
      what,
      timeoutMs,
    );
  }

  /** Resolves once the socket is closed. */
  waitClosed(what = 'the connection to close', timeoutMs = 15_000): Promise<true> {
    return waitOn(this.#events, 'change', () => (this.closed ? true : undefined), what, timeoutMs);
  }

  /** Closes the socket. */
  destroy(): void {
    this.#socket.destroy();
  }
}

/** Answers a client packet beyond the plumbing (the plumbing is answered first). */
export type MqttScript = (connection: CapturedMqtt, packet: Packet) => void;

/**
 * A TLS MQTT 3.1.1 server that records each connection's packets. It answers CONNECT with CONNACK 0
 * (`sessionPresent` false), SUBSCRIBE with the granted `min(qos, 1)`, UNSUBSCRIBE, PINGREQ, and PUBACKs
 * every QoS 1 PUBLISH; `script` answers the rest.
 */
export class MqttCaptureServer {
  readonly connections: CapturedMqtt[] = [];
  readonly #server: TlsServer;
  readonly #events = new EventEmitter();

  private constructor(server: TlsServer) {
    this.#server = server;
    this.#events.setMaxListeners(0);
  }

  /** Listens on `host:port`. */
  static async listen(options: {
    host: string;
    port: number;
    tls: CaptureTls;
    script: MqttScript;
  }): Promise<MqttCaptureServer> {
    const server = createTlsServer({ cert: options.tls.cert, key: options.tls.key });
    const capture = new MqttCaptureServer(server);
    server.on('secureConnection', (socket) => capture.#accept(socket, options.script));
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return capture;
  }

  #accept(socket: TLSSocket, script: MqttScript): void {
    const connection = new CapturedMqtt(socket);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      connection.received(packet);
      answerPlumbing(connection, packet);
      script(connection, packet);
      if (packet.cmd === 'connect') {
        this.connections.push(connection);
        this.#events.emit('connection');
      }
      if (packet.cmd === 'disconnect') socket.end();
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (data: Buffer) => parser.parse(data));
    socket.on('error', () => undefined);
    socket.on('close', () => connection.ended());
  }

  /** The `index`-th connection that sent a CONNECT (0-based), once it has. */
  connection(index: number, what = `connection #${index + 1}`, timeoutMs = 15_000): Promise<CapturedMqtt> {
    return waitOn(this.#events, 'connection', () => this.connections[index], what, timeoutMs);
  }

  /** Closes every connection and stops listening. */
  close(): Promise<void> {
    for (const connection of this.connections) connection.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function answerPlumbing(connection: CapturedMqtt, packet: Packet): void {
  switch (packet.cmd) {
    case 'connect':
      connection.send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
      return;
    case 'subscribe':
      connection.send({
        cmd: 'suback',
        messageId: packet.messageId ?? 0,
        granted: packet.subscriptions.map((s) => Math.min(s.qos, 1)),
      });
      return;
    case 'unsubscribe':
      connection.send({ cmd: 'unsuback', messageId: packet.messageId ?? 0, granted: [] });
      return;
    case 'pingreq':
      connection.send({ cmd: 'pingresp' });
      return;
    case 'publish':
      if (packet.qos === 1) connection.send({ cmd: 'puback', messageId: packet.messageId as number });
      return;
    default:
      return;
  }
}

/** One request to a {@link HttpsCaptureServer}. */
export interface CapturedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the script answers a request with. */
export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** An HTTPS server that records every request and answers with `script`. */
export class HttpsCaptureServer {
  readonly requests: CapturedRequest[] = [];
  readonly #server: HttpsServer;
  readonly #events = new EventEmitter();

  private constructor(server: HttpsServer) {
    this.#server = server;
    this.#events.setMaxListeners(0);
  }

  /** Listens on `host:port`. */
  static async listen(options: {
    host: string;
    port: number;
    tls: CaptureTls;
    script: (request: CapturedRequest) => ScriptedAnswer;
  }): Promise<HttpsCaptureServer> {
    const server = createHttpsServer({ cert: options.tls.cert, key: options.tls.key });
    server.keepAliveTimeout = 1;
    const capture = new HttpsCaptureServer(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request: CapturedRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        capture.requests.push(request);
        const answer = options.script(request);
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
        capture.#events.emit('request');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return capture;
  }

  /** Resolves once `count` requests have been answered. */
  waitForRequests(count: number, what: string, timeoutMs = 15_000): Promise<CapturedRequest[]> {
    return waitOn(
      this.#events,
      'request',
      () => (this.requests.length >= count ? this.requests.slice(0, count) : undefined),
      what,
      timeoutMs,
    );
  }

  /** Stops listening and drops idle connections. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
