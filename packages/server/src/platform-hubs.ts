/**
 * The platform's internal IoT hubs on the network: each hub opened on its storage with its three
 * listeners (MQTT over TLS; AMQP over TLS; HTTPS with the service and device REST APIs and MQTT over
 * WebSockets) on its own
 * address, and closed again — at shutdown, or while running when the application removes it. Opening a
 * hub at a new address has the server certificate cover it first.
 */
import type { Logger } from 'pino';
import type { HubPlacement } from './central/hub-scaling.js';
import type { PlatformEventStream } from './core/events.js';
import type { FaultInjector } from './core/faults.js';
import { Hub, type C2dSettings } from './core/hub.js';
import { AmqpEndpoint } from './edges/amqp/endpoint.js';
import { registerDeviceApi } from './edges/http/device-api.js';
import { registerServiceApi } from './edges/http/service-api.js';
import type { ListenerLimits } from './edges/limits.js';
import {
  listenAmqp,
  listenHttps,
  listenMqtt,
  type Listener,
  type ServedRoute,
  type SessionFactory,
} from './edges/listeners.js';
import { MqttSession } from './edges/mqtt/session.js';
import type { ServerCertificate } from './platform-certificate.js';
import type { Storage } from './storage/port.js';

/** One hub to start: its name (`hub-1`), the address its listeners bind, its host name (the address). */
export type HubDefinition = HubPlacement;

/** Where a started hub listens. */
export interface HubEndpoint {
  hub: Hub;
  address: string;
  mqttPort: number;
  amqpPort: number;
  httpsPort: number;
  /** The REST routes the hub's HTTPS listener serves. */
  routes: readonly ServedRoute[];
}

/** What every hub of the platform shares. */
export interface HubFleetOptions {
  storage: Storage;
  logger: Logger;
  events: PlatformEventStream;
  faults: FaultInjector;
  certificate: ServerCertificate;
  limits: ListenerLimits;
  ports: { mqtt: number; amqp: number; https: number };
  tokenExpiryGraceSeconds?: number;
  c2d?: Partial<C2dSettings>;
}

/**
 * The running hubs. `hubs` and `endpoints` are live arrays: what is opened appears in them, what is
 * closed leaves them.
 *
 * @example
 * const fleet = new HubFleet(options);
 * await fleet.open({ name: 'hub-1', address: '127.0.0.2' });
 * await fleet.close('hub-1');
 */
export class HubFleet {
  readonly hubs: Hub[] = [];
  readonly endpoints: HubEndpoint[] = [];
  readonly #options: HubFleetOptions;
  readonly #listeners = new Map<string, Listener[]>();

  constructor(options: HubFleetOptions) {
    this.#options = options;
  }

  /** Opens a hub and binds its listeners; a hub whose listeners cannot bind is closed again. */
  async open(definition: HubDefinition): Promise<HubEndpoint> {
    const options = this.#options;
    const hostName = definition.hostName ?? definition.address;
    await options.certificate.cover([definition.address, hostName]);
    const hubLog = options.logger.child({ hub: definition.name });
    const hub = await Hub.open({
      name: definition.name,
      hostName,
      storage: options.storage,
      logger: hubLog,
      events: options.events,
      faults: options.faults,
      ...(options.tokenExpiryGraceSeconds === undefined
        ? {}
        : { tokenExpiryGraceSeconds: options.tokenExpiryGraceSeconds }),
      ...(options.c2d === undefined ? {} : { c2d: options.c2d }),
    });
    const resolveHub = (name: string | undefined): Hub | undefined =>
      name !== undefined && name.toLowerCase() === hub.hostName.toLowerCase() ? hub : undefined;
    const mqttLimits = { connectTimeoutMs: options.limits.mqttConnectMs, maxIdleMs: options.limits.mqttMaxIdleMs };
    const createSession: SessionFactory = (sink) =>
      new MqttSession({ resolveHub, sink, logger: hubLog.child({ transport: sink.transport }), ...mqttLimits });
    const listen = {
      tls: options.certificate.material,
      address: definition.address,
      logger: hubLog,
      limits: options.limits,
      createSession,
    };
    const listeners: Listener[] = [];
    try {
      const mqtt = await listenMqtt({ ...listen, port: options.ports.mqtt });
      listeners.push(mqtt);
      const amqpEndpoint = new AmqpEndpoint({
        name: hub.name,
        resolveHub: (name) => resolveHub(name),
        logger: hubLog.child({ transport: 'amqp' }),
      });
      const amqp = await listenAmqp({ ...listen, port: options.ports.amqp, endpoint: amqpEndpoint });
      listeners.push(amqp);
      const https = await listenHttps({
        ...listen,
        port: options.ports.https,
        amqp: amqpEndpoint,
        routes: (app) => {
          registerServiceApi(app, resolveHub);
          registerDeviceApi(app, resolveHub);
        },
      });
      listeners.push(https);
      const endpoint: HubEndpoint = {
        hub,
        address: definition.address,
        mqttPort: mqtt.port,
        amqpPort: amqp.port,
        httpsPort: https.port,
        routes: https.routes,
      };
      for (const listener of listeners) options.certificate.track(listener);
      this.#listeners.set(hub.name, listeners);
      this.hubs.push(hub);
      this.endpoints.push(endpoint);
      return endpoint;
    } catch (error) {
      hub.close();
      for (const listener of listeners) await listener.close().catch(() => undefined);
      throw error;
    }
  }

  /** Closes a hub: its connections are cut, its listeners stop (connections to it are refused from now). */
  async close(name: string): Promise<void> {
    const index = this.hubs.findIndex((h) => h.name === name);
    if (index < 0) return;
    const hub = this.hubs[index]!;
    this.hubs.splice(index, 1);
    this.endpoints.splice(
      this.endpoints.findIndex((e) => e.hub === hub),
      1,
    );
    hub.close();
    for (const listener of this.#listeners.get(name) ?? []) {
      this.#options.certificate.untrack(listener);
      await listener.close().catch((err: unknown) => this.#options.logger.warn({ err }, 'close failed'));
    }
    this.#listeners.delete(name);
  }

  /** Closes every hub. */
  async closeAll(): Promise<void> {
    for (const hub of [...this.hubs].reverse()) await this.close(hub.name);
  }
}
