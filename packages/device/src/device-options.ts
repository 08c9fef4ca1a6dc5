/**
 * The vocabulary of a device's connection: the options a device connects with (and their defaults), the
 * connection states with the reasons the client reports, and the client's events. The lifecycle that uses
 * them is device-client.ts.
 */

import type { JsonValue } from '@plugboard/protocol';
import type { AssignmentStore } from './assignment-store.js';
import type { ConnectionPolicy } from './connection-policy.js';
import type { DeviceCredentials } from './credentials.js';
import type { DeviceError } from './errors.js';
import type { HubTransport } from './hub-session.js';
import type { OfflineQueueOptions } from './offline-queue.js';
import type { ProvisioningTransport } from './provisioning.js';

/** The global DPS endpoint (protocol.md §3.1). */
export const GLOBAL_PROVISIONING_HOST = 'global.azure-devices-provisioning.net';

/**
 * How a device connects. Only `idScope`, `registrationId` and `credentials` are required; the rest has
 * the defaults a device should use against IoT Central.
 *
 * @example
 * ```ts
 * const options: DeviceClientOptions = {
 *   idScope: manifest.idScope,
 *   registrationId: 'thermostat-1',
 *   credentials: { groupKey: manifest.enrollmentGroups[0].primaryKey },
 *   modelId: 'dtmi:com:example:Thermostat;1',
 *   provisioningHost: manifest.dps.host,
 *   ca: readFileSync(manifest.caCertificate, 'utf8'),
 * };
 * ```
 */
export interface DeviceClientOptions {
  idScope: string;
  /** The registration id; IoT Central makes it the device id. */
  registrationId: string;
  credentials: DeviceCredentials;
  /** The DTMI announced to DPS (payload `{ modelId }`) and to the hub (user name `model-id`). */
  modelId?: string | undefined;
  /** Default `global.azure-devices-provisioning.net`. */
  provisioningHost?: string | undefined;
  /** Default `mqtt`. */
  provisioningTransport?: ProvisioningTransport | undefined;
  /** The DPS payload (default `{ modelId }` when a model id is given). */
  provisioningPayload?: JsonValue | undefined;
  /** Default `mqtt` (MQTT over TLS, 8883); `mqttWs` for networks that only let 443 through. */
  transport?: HubTransport | undefined;
  /** Extra CA certificates (PEM) to trust besides Node's — a local application's CA. */
  ca?: string | Buffer | undefined;
  /** Port overrides, for setups that redirect the standard ports. */
  ports?: { mqtt?: number | undefined; https?: number | undefined } | undefined;
  /** Where the assignment is cached; default a file `.plugboard-device/assignments.json` in the working directory; `false` for none. */
  assignmentStore?: AssignmentStore | false | undefined;
  /** The connection policy (default {@link DEFAULT_CONNECTION_POLICY}). */
  policy?: Partial<ConnectionPolicy> | undefined;
  /** SAS lifetime (default 3600 s) and how long before expiry it is renewed (default 900 s), as the Node SDK. */
  tokenRenewal?: { ttlSeconds?: number | undefined; marginSeconds?: number | undefined } | undefined;
  /** MQTT keep-alive (default 180 s, as the Node SDK). */
  keepaliveSeconds?: number | undefined;
  /** Connect and request timeouts (default 30 s each). */
  timeouts?: { connectMs?: number | undefined; requestMs?: number | undefined } | undefined;
  /** The offline queue's bounds. */
  queue?: OfflineQueueOptions | undefined;
  /** Telemetry messages sent before waiting for acknowledgements (default 16). */
  maxInFlight?: number | undefined;
  /** Appended to the user agent the hub sees. */
  productInfo?: string | undefined;
  /** For tests: the source of jitter (default `Math.random`). */
  random?: (() => number) | undefined;
}

/**
 * Where the connection is: registering with DPS, connecting to the hub, connected, waiting before the
 * next attempt, or closed.
 *
 * @example
 * ```ts
 * device.on('connectionState', ({ state, reason }) => console.log(state, reason));
 * ```
 */
export type ConnectionState = 'provisioning' | 'connecting' | 'connected' | 'backingOff' | 'closed';

/**
 * A connection-state change, with why it happened.
 *
 * @example
 * ```ts
 * const change: ConnectionStateChange = { state: 'backingOff', reason: 'the hub refused the connection (CONNACK 3)', delayMs: 250, next: 'reprovision' };
 * ```
 */
export interface ConnectionStateChange {
  state: ConnectionState;
  reason: string;
  /** The hub (connecting, connected). */
  hub?: string;
  /** The wait (backingOff). */
  delayMs?: number;
  /** What follows the wait (backingOff). */
  next?: 'reconnect' | 'reprovision';
  /** The failure that led here. */
  error?: DeviceError;
}

/** The events of a {@link DeviceClient}. */
export interface DeviceClientEvents {
  connectionState: [ConnectionStateChange];
  /** A problem that did not stop the device: a handler that threw, a twin request that failed. */
  warning: [DeviceError];
}

/** A direct-method answer. */
export interface MethodResponse {
  status: number;
  payload?: unknown;
}

/** What the Plug and Play layer runs on every connect (fetching the twin, reconciling desired properties). */
export type ConnectedHook = () => Promise<void>;
