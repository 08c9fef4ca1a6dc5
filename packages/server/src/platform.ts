/**
 * Composition of the platform: storage, TLS material, the provisioning service and the hubs, each with
 * its listeners (MQTT over TLS; AMQP over TLS; HTTPS with REST routes and MQTT and AMQP over WebSockets). The CLI builds one of
 * these from argv; tests build one on loopback addresses of their own.
 */
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { ProvisioningService } from './core/dps.js';
import type { DpsQuotas, EnrollmentGroup } from './core/dps-types.js';
import { createFsDmrResolver } from '@plugboard/dtdl/fs';
import { CentralApp } from './central/app.js';
import { PlatformEventStream } from './core/events.js';
import { CentralHubs, storedHubSet } from './central/hub-scaling.js';
import { FaultInjector } from './core/faults.js';
import type { C2dSettings, Hub } from './core/hub.js';
import { registerDpsApi } from './edges/dps/http.js';
import { DpsAmqpEndpoint } from './edges/dps/amqp.js';
import { DpsMqttSession } from './edges/dps/mqtt-session.js';
import { registerCentralApi } from './edges/http/central-api.js';
import { registerUiAssets, UI_PATH } from './edges/http/ui-assets.js';
import { listenerLimits, type ListenerLimits } from './edges/limits.js';
import {
  listenAmqp,
  listenHttps,
  listenMqtt,
  type Listener,
  type ServedRoute,
  type SessionFactory,
} from './edges/listeners.js';
import { createLogger } from './logger.js';
import { ServerCertificate } from './platform-certificate.js';
import { HubFleet, type HubDefinition, type HubEndpoint } from './platform-hubs.js';
import type { Storage } from './storage/port.js';
import { SqliteStorage } from './storage/sqlite.js';
import type { TlsMaterial } from './tls/index.js';

/** The real IoT Hub / DPS ports. */
export const DEFAULT_PORTS = { mqtt: 8883, amqp: 5671, https: 443 } as const;

/** The enrollment group `up` creates on first start, as IoT Central does. */
export const DEFAULT_ENROLLMENT_GROUP = 'SAS-IoT-Devices';

/** Options for {@link startPlatform}. */
export interface PlatformOptions {
  /** Data directory (database, TLS material). */
  dataDir: string;
  /**
   * Hubs to start: a count (`hub-1` at 127.0.0.2, `hub-2` at 127.0.0.3, ...) or explicit definitions.
   * Default 2. Hubs added and removed while running (`/plugboard/hubs`) are stored and applied over these.
   */
  hubs?: number | readonly HubDefinition[];
  /** First three octets of the loopback addresses (default `127.0.0`): DPS at `.1`, hubs from `.2`. */
  loopbackPrefix?: string;
  /** Where DPS listens (default `{loopbackPrefix}.1`) and its host name (default: the address). */
  dps?: { address?: string; hostName?: string; idScope?: string; quotas?: DpsQuotas; retryAfterSeconds?: number };
  ports?: { mqtt?: number; amqp?: number; https?: number };
  /** Extra DNS names for the server certificate. */
  extraHostNames?: readonly string[];
  logger?: Logger;
  /** Storage adapter; default SQLite in `dataDir/plugboard.db`. */
  storage?: Storage;
  /** `full` makes SQLite fsync every commit. */
  durability?: 'normal' | 'full';
  tokenExpiryGraceSeconds?: number;
  c2d?: Partial<C2dSettings>;
  /** Time limits of every listener phase (handshake, CONNECT, HTTP headers and body, keep-alive). */
  limits?: Partial<ListenerLimits>;
  /**
   * The IoT Central application: `{appId}.{domain}` (default `plugboard.central.local`) on its own
   * address (default `{loopbackPrefix}.254`), serving the Central REST API on the HTTPS port.
   */
  central?: {
    appId?: string;
    domain?: string;
    address?: string;
    /** A folder laid out as a DTDL model repository: templates are made from it for announced model ids. */
    modelRepository?: string;
    /** Devices registering for the first time are approved at once (default true). */
    autoApprove?: boolean;
  };
  /** The built web UI (a folder with `index.html`, `@plugboard/ui`'s `dist`), served at `/ui/` on the Central origin. */
  ui?: { root: string };
}

/** Where the Central application listens. */
export interface CentralEndpoint {
  central: CentralApp;
  hostName: string;
  address: string;
  httpsPort: number;
  /** The REST routes it serves. */
  routes: readonly ServedRoute[];
}

/** Where DPS listens. */
export interface DpsEndpoint {
  dps: ProvisioningService;
  address: string;
  mqttPort: number;
  amqpPort: number;
  httpsPort: number;
  /** The REST routes the DPS HTTPS listener serves. */
  routes: readonly ServedRoute[];
}

/** A running platform. */
export interface Platform {
  /** The running hubs (a live array: hubs added or removed while running appear and leave). */
  readonly hubs: readonly Hub[];
  readonly endpoints: readonly HubEndpoint[];
  readonly dps: ProvisioningService;
  readonly dpsEndpoint: DpsEndpoint;
  readonly central: CentralApp;
  readonly centralEndpoint: CentralEndpoint;
  readonly tls: TlsMaterial;
  readonly storage: Storage;
  readonly logger: Logger;
  /** The platform-wide event stream: telemetry, twin changes, connections, registrations, methods, C2D. */
  readonly events: PlatformEventStream;
  /** The `plugboard.json` manifest (contract in DESIGN.md). */
  manifest(): PlatformManifest;
  /** Calls `listener` after each change of what the manifest holds (a hub added or removed). */
  onManifestChange(listener: () => void): () => void;
  /** Stops listeners, closes connections, flushes and closes storage. */
  close(): Promise<void>;
}

/** `plugboard.json`. */
export interface PlatformManifest {
  idScope: string;
  dps: {
    host: string;
    address: string;
    mqttPort: number;
    amqpPort: number;
    httpsPort: number;
    serviceConnectionString: string;
  };
  hubs: {
    name: string;
    hostName: string;
    address: string;
    mqttPort: number;
    amqpPort: number;
    httpsPort: number;
    serviceConnectionString: string;
    /** The built-in endpoint (`@azure/event-hubs`): `Endpoint=sb://{host}/;…;EntityPath={hub name}`. */
    eventHubConnectionString: string;
  }[];
  enrollmentGroups: { id: string; attestation: string; primaryKey?: string; secondaryKey?: string }[];
  caCertificate: string;
  dataDir: string;
  /** The Central REST API: its base URL (the app host name) and an admin API token. */
  api: { baseUrl: string; token: string };
  /** The web UI, when the platform serves one. */
  ui?: { url: string };
  central: { appId: string; hostName: string; address: string; httpsPort: number };
}

/** The host name the official SDK samples and `az iot central device registration-info` use for DPS. */
export const GLOBAL_DPS_HOST = 'global.azure-devices-provisioning.net';

function hubDefinitions(options: PlatformOptions): HubDefinition[] {
  const hubs = options.hubs ?? 2;
  if (typeof hubs !== 'number') return [...hubs];
  if (!Number.isInteger(hubs) || hubs < 1 || hubs > 200) throw new RangeError('hubs must be an integer from 1 to 200');
  const prefix = options.loopbackPrefix ?? '127.0.0';
  return Array.from({ length: hubs }, (_, i) => ({ name: `hub-${i + 1}`, address: `${prefix}.${i + 2}` }));
}

/**
 * Starts storage, TLS, the provisioning service and every hub with its listeners.
 *
 * @example
 * const platform = await startPlatform({ dataDir: '.plugboard', hubs: 2 });
 * console.log(platform.manifest());
 * await platform.close();
 */
export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const logger = options.logger ?? createLogger();
  const limits = listenerLimits(options.limits);
  const events = new PlatformEventStream((error) => logger.error({ err: error }, 'event listener failed'));
  const mqttLimits = { connectTimeoutMs: limits.mqttConnectMs, maxIdleMs: limits.mqttMaxIdleMs };
  const dataDir = resolve(options.dataDir);
  const configured = hubDefinitions(options);
  const names = new Set<string>();
  for (const d of configured) {
    if (names.has(d.name)) throw new RangeError(`duplicate hub name ${d.name}`);
    names.add(d.name);
  }
  const dpsAddress = options.dps?.address ?? `${options.loopbackPrefix ?? '127.0.0'}.1`;
  const dpsHostName = options.dps?.hostName ?? dpsAddress;
  const storage =
    options.storage ??
    SqliteStorage.open({
      path: join(dataDir, 'plugboard.db'),
      ...(options.durability === undefined ? {} : { synchronous: options.durability }),
    });
  const appId = options.central?.appId ?? 'plugboard';
  const appHostName = `${appId}.${options.central?.domain ?? 'central.local'}`;
  const centralAddress = options.central?.address ?? `${options.loopbackPrefix ?? '127.0.0'}.254`;
  const mqttPort = options.ports?.mqtt ?? DEFAULT_PORTS.mqtt;
  const httpsPort = options.ports?.https ?? DEFAULT_PORTS.https;
  const amqpPort = options.ports?.amqp ?? DEFAULT_PORTS.amqp;
  const listeners: Listener[] = [];
  let fleet: HubFleet | undefined;
  const faults = new FaultInjector({
    targets: {
      dropConnections: (scope, error) =>
        (fleet?.hubs ?? [])
          .filter((h) => scope.hub === undefined || h.name === scope.hub)
          .reduce((n, h) => n + h.closeConnectionsWith(error, scope.deviceId), 0),
    },
  });
  const manifestListeners = new Set<() => void>();
  let centralApp: CentralApp | undefined;
  try {
    const definitions = await storedHubSet(storage, configured);
    const certificate = await ServerCertificate.open({
      directory: join(dataDir, 'tls'),
      hosts: [
        'localhost',
        '127.0.0.1',
        '::1',
        appHostName,
        GLOBAL_DPS_HOST,
        dpsAddress,
        dpsHostName,
        centralAddress,
        ...(options.extraHostNames ?? []),
        ...definitions.flatMap((d) => [d.address, d.hostName ?? d.address]),
      ],
      logger,
    });
    const hubFleet = new HubFleet({
      storage,
      logger,
      events,
      faults,
      certificate,
      limits,
      ports: { mqtt: mqttPort, amqp: amqpPort, https: httpsPort },
      ...(options.tokenExpiryGraceSeconds === undefined
        ? {}
        : { tokenExpiryGraceSeconds: options.tokenExpiryGraceSeconds }),
      ...(options.c2d === undefined ? {} : { c2d: options.c2d }),
    });
    fleet = hubFleet;
    for (const definition of definitions) await hubFleet.open(definition);
    const { hubs, endpoints } = hubFleet;
    const tls = certificate.material;

    const dpsLog = logger.child({ component: 'dps' });
    const dps = await ProvisioningService.open({
      hostName: dpsHostName,
      hubs,
      storage,
      logger: dpsLog,
      events,
      faults,
      ...(options.dps?.idScope === undefined ? {} : { idScope: options.dps.idScope }),
      ...(options.dps?.quotas === undefined ? {} : { quotas: options.dps.quotas }),
      ...(options.dps?.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: options.dps.retryAfterSeconds }),
    });
    // The application admits registering devices: it is attached before DPS accepts any.
    const centralLog = logger.child({ component: 'central' });
    const central = await CentralApp.open({
      appId,
      hostName: appHostName,
      storage,
      dps,
      events,
      faults,
      onError: (err: unknown) => centralLog.error({ err }, 'Central event handling failed'),
      ...(options.central?.autoApprove === undefined ? {} : { devices: { autoApprove: options.central.autoApprove } }),
      ...(options.central?.modelRepository === undefined
        ? {}
        : { resolver: createFsDmrResolver(resolve(options.central.modelRepository)) }),
    });
    centralApp = central;
    const createDpsSession: SessionFactory = (sink) => new DpsMqttSession({ dps, sink, logger: dpsLog, ...mqttLimits });
    const dpsListen = { tls, address: dpsAddress, logger: dpsLog, limits, createSession: createDpsSession };
    const dpsMqtt = await listenMqtt({ ...dpsListen, port: mqttPort });
    listeners.push(dpsMqtt);
    certificate.track(dpsMqtt);
    const dpsAmqpEndpoint = new DpsAmqpEndpoint({ dps, logger: dpsLog.child({ transport: 'amqp' }) });
    const dpsAmqp = await listenAmqp({ ...dpsListen, port: amqpPort, endpoint: dpsAmqpEndpoint });
    listeners.push(dpsAmqp);
    certificate.track(dpsAmqp);
    const dpsHttps = await listenHttps({
      ...dpsListen,
      port: httpsPort,
      amqp: dpsAmqpEndpoint,
      routes: (app) => registerDpsApi(app, dps, dpsLog),
    });
    listeners.push(dpsHttps);
    certificate.track(dpsHttps);
    const dpsEndpoint: DpsEndpoint = {
      dps,
      address: dpsAddress,
      mqttPort: dpsMqtt.port,
      amqpPort: dpsAmqp.port,
      httpsPort: dpsHttps.port,
      routes: dpsHttps.routes,
    };
    const centralHttps = await listenHttps({
      tls,
      address: centralAddress,
      port: httpsPort,
      logger: centralLog,
      limits,
      routes: (app) => {
        registerCentralApi(app, central, centralLog);
        if (options.ui !== undefined) registerUiAssets(app, options.ui.root);
      },
    });
    listeners.push(centralHttps);
    certificate.track(centralHttps);
    const centralEndpoint: CentralEndpoint = {
      central,
      hostName: appHostName,
      address: centralAddress,
      httpsPort: centralHttps.port,
      routes: centralHttps.routes,
    };
    central.useHubs(
      new CentralHubs({
        storage,
        dps,
        failover: central.failover,
        host: {
          open: async (placement) => (await hubFleet.open(placement)).hub,
          close: (name) => hubFleet.close(name),
          list: () =>
            hubFleet.endpoints.map((e) => ({
              name: e.hub.name,
              hostName: e.hub.hostName,
              address: e.address,
              mqttPort: e.mqttPort,
              httpsPort: e.httpsPort,
            })),
        },
        ...(options.loopbackPrefix === undefined ? {} : { loopbackPrefix: options.loopbackPrefix }),
        reservedAddresses: [dpsAddress, centralAddress],
        hubConnections: (name) => hubFleet.hubs.find((h) => h.name === name)?.connectionCount ?? 0,
        onError: (err: unknown) => logger.error({ err }, 'closing a removed hub failed'),
        onChange: () => {
          for (const listener of manifestListeners) {
            try {
              listener();
            } catch (err) {
              logger.error({ err }, 'manifest listener failed');
            }
          }
        },
      }),
    );

    let closed = false;
    return {
      hubs,
      events,
      endpoints,
      dps,
      dpsEndpoint,
      central,
      centralEndpoint,
      get tls() {
        return certificate.material;
      },
      storage,
      logger,
      onManifestChange(listener) {
        manifestListeners.add(listener);
        return () => manifestListeners.delete(listener);
      },
      manifest: () => ({
        idScope: dps.idScope,
        dps: {
          host: dps.hostName,
          address: dpsAddress,
          mqttPort: dpsMqtt.port,
          amqpPort: dpsAmqp.port,
          httpsPort: dpsHttps.port,
          serviceConnectionString: `HostName=${dps.hostName};SharedAccessKeyName=${dps.servicePolicy.keyName};SharedAccessKey=${dps.servicePolicy.primaryKey}`,
        },
        hubs: endpoints.map((e) => ({
          name: e.hub.name,
          hostName: e.hub.hostName,
          address: e.address,
          mqttPort: e.mqttPort,
          amqpPort: e.amqpPort,
          httpsPort: e.httpsPort,
          serviceConnectionString: e.hub.serviceConnectionString(),
          eventHubConnectionString: e.hub.eventHubConnectionString(),
        })),
        enrollmentGroups: dps.listEnrollmentGroups().map(groupSummary),
        caCertificate: certificate.material.caCertificatePath,
        dataDir,
        api: {
          baseUrl: `https://${appHostName}${centralHttps.port === 443 ? '' : `:${centralHttps.port}`}`,
          token: central.adminToken,
        },
        ...(options.ui === undefined
          ? {}
          : {
              ui: {
                url: `https://${appHostName}${centralHttps.port === 443 ? '' : `:${centralHttps.port}`}${UI_PATH}`,
              },
            }),
        central: { appId, hostName: appHostName, address: centralAddress, httpsPort: centralHttps.port },
      }),
      async close() {
        if (closed) return;
        closed = true;
        await central.hubs.close().catch((err: unknown) => logger.warn({ err }, 'closing removed hubs failed'));
        await hubFleet.closeAll();
        for (const listener of listeners.reverse()) {
          await listener.close().catch((err: unknown) => logger.warn({ err }, 'close failed'));
        }
        await central.close().catch((err: unknown) => logger.warn({ err }, 'Central close failed'));
        if (options.storage === undefined) await storage.close();
      },
    };
  } catch (error) {
    await centralApp?.close().catch(() => undefined);
    await fleet?.closeAll();
    for (const listener of listeners.reverse()) await listener.close().catch(() => undefined);
    if (options.storage === undefined) await storage.close();
    throw error;
  }
}

function groupSummary(group: EnrollmentGroup): PlatformManifest['enrollmentGroups'][number] {
  const attestation = group.attestation;
  return attestation.type === 'symmetricKey'
    ? {
        id: group.enrollmentGroupId,
        attestation: 'symmetricKey',
        primaryKey: attestation.symmetricKey.primaryKey,
        secondaryKey: attestation.symmetricKey.secondaryKey,
      }
    : { id: group.enrollmentGroupId, attestation: 'x509' };
}
