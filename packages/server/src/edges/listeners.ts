/**
 * The network listeners every hub and DPS get: MQTT over TLS (8883), AMQP over TLS (5671), and
 * HTTPS (443) serving REST routes and MQTT over WebSockets at `/$iothub/websocket`. They apply the {@link ListenerLimits} to every phase
 * (TLS handshake, CONNECT, HTTP headers and body, keep-alive), offer only the AEAD cipher suites, read
 * JSON bodies through the bounded reader, and record the routes they serve (the hostile-input suite
 * checks that it covers each one).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { fastify as Fastify, LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import type { Container } from 'rhea';
import { MAX_AMQP_FRAME_BYTES, guardFrames } from './amqp/frame-guard.js';
import { coalesceWrites } from './write-coalescing.js';
import { HubError } from '../errors.js';
import type { TlsMaterial } from '../tls/index.js';
import { peerCertificateChain } from '../tls/peer.js';
import { useBoundedJsonBodies } from './http/json-body.js';
import { sendHubError } from './http/service-api.js';
import { TLS_CIPHERS, type ListenerLimits } from './limits.js';
import { MAX_PACKET_BYTES, serveMqttStream, type MqttProtocolSession } from './mqtt/connection.js';
import type { MqttSessionSink } from './mqtt/session.js';

/** The WebSocket subprotocol of AMQP over WebSockets (protocol.md §5.1). */
const AMQP_WS_PROTOCOL = 'AMQPWSB10';

/** An AMQP endpoint (a hub's devices, or DPS): its `rhea` container and how it takes AMQP over WebSockets. */
export interface AmqpServing {
  readonly container: Container;
  /** Serves an AMQP connection over an accepted WebSocket on the HTTPS connection `tlsSocket`. */
  acceptWebSocket(ws: WebSocket, tlsSocket: TLSSocket): void;
}

/** A route an HTTPS listener serves (HEAD routes Fastify derives from GET are left out). */
export interface ServedRoute {
  method: string;
  /** Fastify's URL pattern, e.g. `/devices/:deviceId`. */
  url: string;
}

/** A bound listener. */
export interface Listener {
  port: number;
  /** The REST routes (HTTPS listeners; empty for MQTT). */
  readonly routes: readonly ServedRoute[];
  /** Serves new TLS connections with another certificate (one issued for more names); open ones keep theirs. */
  useCertificate(tls: TlsMaterial): void;
  close(): Promise<void>;
}

/** Makes the protocol session (hub or DPS) for a new MQTT connection. */
export type SessionFactory = (sink: MqttSessionSink) => MqttProtocolSession;

/** What both listeners need. */
export interface ListenOptions {
  tls: TlsMaterial;
  address: string;
  port: number;
  logger: Logger;
  limits: ListenerLimits;
  createSession: SessionFactory;
}

/** The certificate part of the TLS options, for `setSecureContext`. */
function certificateOptions(tls: TlsMaterial): TlsOptions {
  return { key: tls.serverKeyPem, cert: tls.serverCertificatePem, minVersion: 'TLSv1.2', ciphers: TLS_CIPHERS };
}

function tlsOptions(tls: TlsMaterial, limits: ListenerLimits): TlsOptions {
  return {
    key: tls.serverKeyPem,
    cert: tls.serverCertificatePem,
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: limits.tlsHandshakeMs,
    minVersion: 'TLSv1.2',
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
  };
}

/**
 * An MQTT-over-TLS listener serving sessions from `createSession`.
 *
 * @example
 * const listener = await listenMqtt({ tls, address: '127.0.0.2', port: 8883, logger, limits, createSession });
 */
export async function listenMqtt(options: ListenOptions): Promise<Listener> {
  const { address, port, logger } = options;
  const server: TlsServer = createTlsServer(tlsOptions(options.tls, options.limits));
  const log = logger.child({ transport: 'mqtt' });
  const tracked = trackTlsServer(server, log);
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.setNoDelay(true);
    serveMqttStream({
      stream: socket,
      transport: 'mqtt',
      logger: log,
      clientCertificates: peerCertificateChain(socket),
      createSession: options.createSession,
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, address, () => {
      server.off('error', fail);
      ok();
    });
  });
  return tracked.listener(port, 'MQTT');
}

/**
 * What every raw TLS listener does around its protocol: tracks each accepted socket, also those still in
 * their handshake (so that close() never waits for one), ends failed handshakes, and — once the server
 * is bound — logs its errors and becomes a {@link Listener}.
 */
function trackTlsServer(server: TlsServer, log: Logger): { listener(port: number, what: string): Listener } {
  const sockets = new Set<Duplex>();
  server.on('connection', (socket: Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // With a listener here, Node leaves the socket open after a failed or timed-out handshake: end it.
  server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
    log.debug({ err: error }, 'TLS handshake failed');
    socket.destroy();
  });
  return {
    listener(port, what) {
      server.on('error', (error) => log.error({ err: error }, `${what} listener error`));
      const bound = server.address();
      return {
        port: typeof bound === 'object' && bound !== null ? bound.port : port,
        routes: [],
        useCertificate: (tls) => server.setSecureContext(certificateOptions(tls)),
        close: () =>
          new Promise<void>((ok) => {
            for (const s of sockets) s.destroy();
            server.close(() => ok());
          }),
      };
    },
  };
}

/**
 * An HTTPS listener with REST routes (added by `routes`) and MQTT over WebSockets at `/$iothub/websocket`.
 *
 * @example
 * await listenHttps({ ...options, routes: (app) => registerServiceApi(app, resolveHub) });
 */
export async function listenHttps(
  options: Omit<ListenOptions, 'createSession'> & {
    routes: (app: FastifyInstance) => void;
    /** MQTT over WebSockets at `/$iothub/websocket` (hubs and DPS); absent: the listener serves REST only. */
    createSession?: SessionFactory;
    /** AMQP over WebSockets on the same path, subprotocol `AMQPWSB10` (hubs and DPS). */
    amqp?: AmqpServing;
  },
): Promise<Listener> {
  const { address, port, logger, limits } = options;
  const app = Fastify({
    https: {
      ...tlsOptions(options.tls, limits),
      headersTimeout: limits.httpHeadersMs,
      requestTimeout: limits.httpRequestMs,
      // Node checks the header and request deadlines on this cadence.
      connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor(limits.httpHeadersMs / 4))),
    },
    requestTimeout: limits.httpRequestMs,
    keepAliveTimeout: limits.httpKeepAliveMs,
    loggerInstance: logger.child({ transport: 'https' }) as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
    // Ids are up to 128 characters, fully percent-encoded up to 384.
    routerOptions: { maxParamLength: 512 },
    frameworkErrors: (error, _request, reply) => {
      void sendHubError(reply, new HubError('HUB_INVALID_ARGUMENT', `The request URL is invalid: ${error.message}`));
    },
  });
  const server = app as unknown as FastifyInstance;
  const routes: ServedRoute[] = [];
  server.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  useBoundedJsonBodies(server);
  options.routes(server);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PACKET_BYTES,
    handleProtocols: (protocols) =>
      protocols.has('mqtt')
        ? 'mqtt'
        : protocols.has(AMQP_WS_PROTOCOL) && options.amqp !== undefined
          ? AMQP_WS_PROTOCOL
          : false,
  });
  const log = logger.child({ transport: 'mqtt-ws' });
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '').split('?')[0];
    const createSession = options.createSession;
    const amqp = options.amqp;
    if (path !== '/$iothub/websocket' || (createSession === undefined && amqp === undefined)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (ws.protocol === AMQP_WS_PROTOCOL && amqp !== undefined) {
        amqp.acceptWebSocket(ws, request.socket as TLSSocket);
        return;
      }
      if (ws.protocol !== 'mqtt' || createSession === undefined) {
        ws.close(1002, 'subprotocol mqtt required');
        return;
      }
      serveMqttStream({
        stream: createWebSocketStream(ws),
        transport: 'mqtt-ws',
        logger: log,
        clientCertificates: peerCertificateChain(request.socket as TLSSocket),
        createSession,
      });
    });
  });
  await app.listen({ host: address, port });
  const bound = app.server.address();
  return {
    port: typeof bound === 'object' && bound !== null ? bound.port : port,
    routes,
    useCertificate: (tls) => (app.server as unknown as TlsServer).setSecureContext(certificateOptions(tls)),
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await app.close();
    },
  };
}

/**
 * An AMQP-over-TLS listener (5671) for a hub's devices or DPS, serving the connections of `endpoint`
 * (whose container also takes AMQP over WebSockets from the HTTPS listener).
 *
 * @example
 * const listener = await listenAmqp({ tls, address: '127.0.0.2', port: 5671, logger, limits, endpoint });
 */
export async function listenAmqp(
  options: Omit<ListenOptions, 'createSession'> & { endpoint: AmqpServing },
): Promise<Listener> {
  const { address, port } = options;
  const log = options.logger.child({ transport: 'amqp' });
  const container = options.endpoint.container;
  const server = container.listen({
    transport: 'tls',
    ...tlsOptions(options.tls, options.limits),
    host: address,
    port,
    // The edge settles every delivery itself: accepted once stored, or rejected with the reason.
    autoaccept: false,
    max_frame_size: MAX_AMQP_FRAME_BYTES,
  } as unknown as Parameters<typeof container.listen>[0]) as TlsServer;
  const tracked = trackTlsServer(server, log);
  // A client must send its AMQP open (after SASL, if any) within limits.amqpOpenMs.
  const opened = new WeakSet<object>();
  container.on('connection_open', (context) => {
    const socket = (context.connection as unknown as { socket?: object }).socket;
    if (socket !== undefined) opened.add(socket);
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    guardFrames(socket, log);
    coalesceWrites(socket);
    const deadline = setTimeout(() => {
      if (opened.has(socket)) return;
      log.info({ limitMs: options.limits.amqpOpenMs }, 'AMQP connection closed: no open frame in time');
      socket.destroy();
    }, options.limits.amqpOpenMs);
    deadline.unref();
    socket.once('close', () => clearTimeout(deadline));
  });
  await new Promise<void>((ok, fail) => {
    if (server.listening) return ok();
    server.once('error', fail);
    server.once('listening', () => {
      server.off('error', fail);
      ok();
    });
  });
  return tracked.listener(port, 'AMQP');
}
