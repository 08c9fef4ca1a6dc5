/**
 * Composition of the platform: storage, TLS material, hubs and their listeners (MQTT over TLS, HTTPS with
 * the service API and MQTT over WebSockets). The CLI builds one of these from argv; tests build one on
 * loopback addresses of their own.
 */
import { join, resolve } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { fastify as Fastify, LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { Hub, type C2dSettings } from './core/hub.js';
import { registerServiceApi, sendHubError } from './edges/http/service-api.js';
import { HubError } from './errors.js';
import { MAX_PACKET_BYTES, serveMqttConnection } from './edges/mqtt/connection.js';
import { createLogger } from './logger.js';
import type { Storage } from './storage/port.js';
import { SqliteStorage } from './storage/sqlite.js';
import { ensureTlsMaterial, type TlsMaterial } from './tls/index.js';

/** The real IoT Hub ports. */
export const DEFAULT_PORTS = { mqtt: 8883, https: 443 } as const;

/** One hub to start. */
export interface HubDefinition {
  /** Short name, e.g. `hub-1`. */
  name: string;
  /** Host name devices use; defaults to `address`. */
  hostName?: string;
  /** Loopback (or other local) address the hub's listeners bind. */
  address: string;
}

/** Options for {@link startPlatform}. */
export interface PlatformOptions {
  /** Data directory (database, TLS material). */
  dataDir: string;
  /**
   * Hubs to start: a count (`hub-1` at 127.0.0.2, `hub-2` at 127.0.0.3, ...) or explicit definitions.
   * Default 2.
   */
  hubs?: number | readonly HubDefinition[];
  /** First three octets of the loopback addresses used for a hub count (default `127.0.0`). */
  loopbackPrefix?: string;
  ports?: { mqtt?: number; https?: number };
  /** Extra DNS names for the server certificate. */
  extraHostNames?: readonly string[];
  logger?: Logger;
  /** Storage adapter; default SQLite in `dataDir/plugboard.db`. */
  storage?: Storage;
  /** `full` makes SQLite fsync every commit. */
  durability?: 'normal' | 'full';
  tokenExpiryGraceSeconds?: number;
  c2d?: Partial<C2dSettings>;
}

/** Where a started hub listens. */
export interface HubEndpoint {
  hub: Hub;
  address: string;
  mqttPort: number;
  httpsPort: number;
}

/** A running platform. */
export interface Platform {
  readonly hubs: readonly Hub[];
  readonly endpoints: readonly HubEndpoint[];
  readonly tls: TlsMaterial;
  readonly storage: Storage;
  readonly logger: Logger;
  /** The `plugboard.json` manifest (contract in DESIGN.md). */
  manifest(): PlatformManifest;
  /** Stops listeners, closes connections, flushes and closes storage. */
  close(): Promise<void>;
}

/** `plugboard.json`. */
export interface PlatformManifest {
  hubs: {
    name: string;
    hostName: string;
    address: string;
    mqttPort: number;
    httpsPort: number;
    serviceConnectionString: string;
  }[];
  caCertificate: string;
  dataDir: string;
}

function hubDefinitions(options: PlatformOptions): HubDefinition[] {
  const hubs = options.hubs ?? 2;
  if (typeof hubs !== 'number') return [...hubs];
  if (!Number.isInteger(hubs) || hubs < 1 || hubs > 200) throw new RangeError('hubs must be an integer from 1 to 200');
  const prefix = options.loopbackPrefix ?? '127.0.0';
  return Array.from({ length: hubs }, (_, i) => ({ name: `hub-${i + 1}`, address: `${prefix}.${i + 2}` }));
}

/** TLS client certificate chain of a socket, DER, leaf first. */
export function peerCertificateChain(socket: TLSSocket): Uint8Array[] | undefined {
  const leaf = socket.getPeerCertificate(true);
  if (leaf === null || leaf.raw === undefined) return undefined;
  const chain: Uint8Array[] = [];
  const seen = new Set<string>();
  let cert: typeof leaf | undefined = leaf;
  while (cert?.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new Uint8Array(cert.raw));
    cert = cert.issuerCertificate as typeof leaf | undefined;
  }
  return chain;
}

/**
 * Starts storage, TLS and every hub with its listeners.
 *
 * @example
 * const platform = await startPlatform({ dataDir: '.plugboard', hubs: 2 });
 * console.log(platform.manifest());
 * await platform.close();
 */
export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const logger = options.logger ?? createLogger();
  const dataDir = resolve(options.dataDir);
  const definitions = hubDefinitions(options);
  const names = new Set<string>();
  for (const d of definitions) {
    if (names.has(d.name)) throw new RangeError(`duplicate hub name ${d.name}`);
    names.add(d.name);
  }
  const storage =
    options.storage ??
    SqliteStorage.open({
      path: join(dataDir, 'plugboard.db'),
      ...(options.durability === undefined ? {} : { synchronous: options.durability }),
    });
  const ipAddresses = new Set(['127.0.0.1', '::1']);
  const hostNames = new Set(['localhost', ...(options.extraHostNames ?? [])]);
  for (const d of definitions) {
    ipAddresses.add(d.address);
    const host = d.hostName ?? d.address;
    if (/^[\d.]+$|:/.test(host)) ipAddresses.add(host);
    else hostNames.add(host);
  }
  const tls = await ensureTlsMaterial({
    directory: join(dataDir, 'tls'),
    hostNames: [...hostNames],
    ipAddresses: [...ipAddresses],
    logger,
  });
  const mqttPort = options.ports?.mqtt ?? DEFAULT_PORTS.mqtt;
  const httpsPort = options.ports?.https ?? DEFAULT_PORTS.https;
  const endpoints: HubEndpoint[] = [];
  const closers: (() => Promise<void>)[] = [];
  const hubs: Hub[] = [];
  try {
    for (const definition of definitions) {
      const hub = await Hub.open({
        name: definition.name,
        hostName: definition.hostName ?? definition.address,
        storage,
        logger: logger.child({ hub: definition.name }),
        ...(options.tokenExpiryGraceSeconds === undefined
          ? {}
          : { tokenExpiryGraceSeconds: options.tokenExpiryGraceSeconds }),
        ...(options.c2d === undefined ? {} : { c2d: options.c2d }),
      });
      hubs.push(hub);
      const resolveHub = (hostName: string | undefined): Hub | undefined =>
        hostName !== undefined && hostName.toLowerCase() === hub.hostName.toLowerCase() ? hub : undefined;
      const hubLog = logger.child({ hub: hub.name });

      // MQTT over TLS.
      const mqttServer: TlsServer = createTlsServer({
        key: tls.serverKeyPem,
        cert: tls.serverCertificatePem,
        requestCert: true,
        rejectUnauthorized: false,
      });
      const sockets = new Set<Duplex>();
      mqttServer.on('secureConnection', (socket: TLSSocket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.setNoDelay(true);
        serveMqttConnection({
          stream: socket,
          transport: 'mqtt',
          resolveHub,
          logger: hubLog.child({ transport: 'mqtt' }),
          clientCertificates: peerCertificateChain(socket),
        });
      });
      mqttServer.on('tlsClientError', (error) => hubLog.debug({ err: error }, 'TLS handshake failed'));
      await new Promise<void>((ok, fail) => {
        mqttServer.once('error', fail);
        mqttServer.listen(mqttPort, definition.address, () => {
          mqttServer.off('error', fail);
          ok();
        });
      });
      mqttServer.on('error', (error) => hubLog.error({ err: error }, 'MQTT listener error'));
      closers.push(
        () =>
          new Promise<void>((ok) => {
            for (const s of sockets) s.destroy();
            mqttServer.close(() => ok());
          }),
      );

      // HTTPS: service REST API and MQTT over WebSockets.
      const app = Fastify({
        https: { key: tls.serverKeyPem, cert: tls.serverCertificatePem, requestCert: true, rejectUnauthorized: false },
        loggerInstance: hubLog.child({ transport: 'https' }) as unknown as FastifyBaseLogger,
        logController: new LogController({ disableRequestLogging: true }),
        bodyLimit: 1024 * 1024,
        forceCloseConnections: true,
        // Ids are up to 128 characters, fully percent-encoded up to 384.
        routerOptions: { maxParamLength: 512 },
        frameworkErrors: (error, _request, reply) => {
          void sendHubError(
            reply,
            new HubError('HUB_INVALID_ARGUMENT', `The request URL is invalid: ${error.message}`),
          );
        },
      });
      registerServiceApi(app as unknown as FastifyInstance, resolveHub);
      const wss = new WebSocketServer({
        noServer: true,
        maxPayload: MAX_PACKET_BYTES,
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
      });
      app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        const path = (request.url ?? '').split('?')[0];
        if (path !== '/$iothub/websocket') {
          socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
          return;
        }
        wss.handleUpgrade(request, socket, head, (ws) => {
          if (ws.protocol !== 'mqtt') {
            ws.close(1002, 'subprotocol mqtt required');
            return;
          }
          const stream = createWebSocketStream(ws);
          serveMqttConnection({
            stream,
            transport: 'mqtt-ws',
            resolveHub,
            logger: hubLog.child({ transport: 'mqtt-ws' }),
            clientCertificates: peerCertificateChain(request.socket as TLSSocket),
          });
        });
      });
      await app.listen({ host: definition.address, port: httpsPort });
      closers.push(async () => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        await app.close();
      });
      const mqttAddress = mqttServer.address();
      const httpsAddress = app.server.address();
      endpoints.push({
        hub,
        address: definition.address,
        mqttPort: typeof mqttAddress === 'object' && mqttAddress !== null ? mqttAddress.port : mqttPort,
        httpsPort: typeof httpsAddress === 'object' && httpsAddress !== null ? httpsAddress.port : httpsPort,
      });
    }
  } catch (error) {
    for (const hub of hubs) hub.close();
    for (const close of closers.reverse()) await close().catch(() => undefined);
    if (options.storage === undefined) await storage.close();
    throw error;
  }

  let closed = false;
  return {
    hubs,
    endpoints,
    tls,
    storage,
    logger,
    manifest: () => ({
      hubs: endpoints.map((e) => ({
        name: e.hub.name,
        hostName: e.hub.hostName,
        address: e.address,
        mqttPort: e.mqttPort,
        httpsPort: e.httpsPort,
        serviceConnectionString: e.hub.serviceConnectionString(),
      })),
      caCertificate: tls.caCertificatePath,
      dataDir,
    }),
    async close() {
      if (closed) return;
      closed = true;
      for (const hub of hubs) hub.close();
      for (const close of closers.reverse())
        await close().catch((err: unknown) => logger.warn({ err }, 'close failed'));
      if (options.storage === undefined) await storage.close();
    },
  };
}
