/**
 * The hub's public types: options, what an edge offers the core for a live connection and the handle it
 * gets back, credentials, identity input, messages in both directions, method calls.
 */
import type { ConnectionFaults } from '../faults.js';
import type { Logger } from 'pino';
import type { HubError } from '../../errors.js';
import type { Storage } from '../../storage/port.js';
import type { PlatformEventStream } from '../events.js';
import type { C2dAck, C2dRecord, Identity, JsonObject, JsonValue, MessageProperties } from '../model.js';

/** C2D queue settings (Azure defaults). */
export interface C2dSettings {
  /** Default time to live, ms (1 hour). */
  defaultTtlMs: number;
  /** Deliveries before a message is dead-lettered (10). */
  maxDeliveryCount: number;
  /** Messages a device queue holds (50). */
  maxQueueDepth: number;
  /** How long a pulled (HTTPS) message stays locked before it is queued again, ms (1 minute). */
  lockTimeoutMs: number;
}

/** Options for {@link Hub.open}. */
export interface HubOptions {
  /** Short name, e.g. `hub-1`. */
  name: string;
  /** The host name devices and services use (`HostName=` in connection strings). */
  hostName: string;
  storage: Storage;
  logger: Logger;
  /** Seconds a connection may outlive its SAS token's expiry (default 0). */
  tokenExpiryGraceSeconds?: number;
  c2d?: Partial<C2dSettings>;
  /** Milliseconds since the epoch; for tests. */
  now?: () => number;
  /** The platform's event stream (default: one of the hub's own). */
  events?: PlatformEventStream;
  /** Injected faults, asked before each connection is authenticated. */
  faults?: ConnectionFaults;
}

/** A method call sent to a device. */
export interface MethodRequest {
  rid: string;
  methodName: string;
  /** JSON text (`null` when the service sent no payload). */
  payload: string;
}

/**
 * What a protocol edge offers the core for one live connection. The getters say what the device
 * has subscribed to; the core calls the senders only when the matching getter is true.
 */
export interface DeviceEndpoint {
  readonly transport: string;
  readonly wantsMethods: boolean;
  readonly wantsDesired: boolean;
  readonly wantsC2d: boolean;
  sendMethodRequest(request: MethodRequest): void;
  sendDesiredPatch(patch: JsonObject, version: number): void;
  deliverC2d(message: C2dRecord): void;
  /** Close the connection because of `error` (replaced, disabled, token expired, deleted). */
  close(error: HubError): void;
}

/**
 * An authenticated device as the core's device operations see it: a live connection (MQTT, AMQP) or one
 * stateless request (HTTPS). Telemetry ingest and C2D pull need no more than this.
 */
export interface DeviceSession {
  readonly identity: Identity;
  /** `deviceId` or `deviceId/moduleId` (see `identityKey`). */
  readonly key: string;
  readonly authMethod: 'sas' | 'x509';
}

/** The live connection of an identity as the core tracks it. */
export interface ConnectionHandle extends DeviceSession {
  readonly endpoint: DeviceEndpoint;
  readonly connectedAt: number;
  /** C2D lock tokens delivered on this connection and not yet completed. */
  readonly inflight: Set<string>;
  expiryTimer: ReturnType<typeof setTimeout> | undefined;
  closed: boolean;
}

/** Credentials presented when a device connects. */
export interface ConnectCredentials {
  /** Host name the device addressed (from the MQTT username / SAS). */
  hostName: string;
  deviceId: string;
  moduleId?: string;
  /** SAS token (MQTT password). */
  password?: string;
  /** TLS client certificate chain, DER, leaf first. */
  clientCertificates?: readonly Uint8Array[];
}

/** A successful authentication. */
export interface Authenticated {
  identity: Identity;
  /** Epoch ms at which the SAS token expires; undefined for X.509. */
  expiresAt?: number;
  method: 'sas' | 'x509';
  /** An injected `drop` fault: the connection is accepted, then dropped at once. */
  dropAfterConnect?: boolean;
}

/** Input for creating or updating an identity through the registry. */
export interface IdentityInput {
  deviceId: string;
  moduleId?: string;
  status?: 'enabled' | 'disabled';
  statusReason?: string | null;
  authentication?:
    | { type: 'sas'; symmetricKey?: { primaryKey?: string | null; secondaryKey?: string | null } }
    | { type: 'selfSigned'; x509Thumbprint: { primaryThumbprint?: string | null; secondaryThumbprint?: string | null } }
    | { type: 'certificateAuthority' };
  capabilities?: { iotEdge?: boolean };
  managedBy?: string;
}

/** A message a device sends, decoded by the edge. */
export interface IncomingTelemetry extends MessageProperties {
  body: Uint8Array;
  component?: string;
  creationTime?: string;
  outputName?: string;
  properties: Record<string, string | null>;
}

/** A C2D message a service sends. */
export interface OutgoingC2d extends MessageProperties {
  body: Uint8Array;
  /** Absolute expiry, epoch ms. */
  expiresAt?: number;
  ack?: C2dAck;
  properties?: Record<string, string | null>;
}

/** The service's method invocation request (Azure's JSON body). */
export interface MethodInvocation {
  methodName: string;
  payload?: JsonValue;
  responseTimeoutInSeconds?: number;
  connectTimeoutInSeconds?: number;
}

/** The device's answer. */
export interface MethodResult {
  status: number;
  payload: JsonValue;
}
