import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import {
  ProtocolError,
  decodeResource,
  ifMatchHolds,
  parseIfMatch,
  parseSharedAccessSignature,
  readJson,
  resourceCovers,
} from '@plugboard/protocol';
import type { Logger } from 'pino';
import { HubError } from '../errors.js';
import type { Storage, StoredIdentity } from '../storage/port.js';
import { certificateThumbprints, verifyCertificateChain } from '../tls/index.js';
import { HubEventStream } from './events.js';
import { IDENTITY_ID_PATTERN, checkIdentityInput } from './registry-input.js';
import { verifySas } from './sas.js';
import {
  identityKey,
  identityOf,
  type AccessPolicy,
  type Authentication,
  type C2dAck,
  type C2dFeedbackRecord,
  type C2dFeedbackStatus,
  type C2dRecord,
  type HubPermission,
  type Identity,
  type IdentityRecord,
  type JsonObject,
  type JsonValue,
  type SessionSubscription,
  type TelemetryRecord,
} from './model.js';
import {
  applySectionPatch,
  applyTagsPatch,
  newTwin,
  replaceSection,
  sectionForDevice,
  validateTwinPatch,
  versionEtag,
} from './twin-document.js';

/** C2D queue settings (Azure defaults). */
export interface C2dSettings {
  /** Default time to live, ms (1 hour). */
  defaultTtlMs: number;
  /** Deliveries before a message is dead-lettered (10). */
  maxDeliveryCount: number;
  /** Messages a device queue holds (50). */
  maxQueueDepth: number;
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

/** The live connection of an identity as the core tracks it. */
export interface ConnectionHandle {
  readonly identity: Identity;
  readonly key: string;
  readonly endpoint: DeviceEndpoint;
  readonly connectedAt: number;
  readonly authMethod: 'sas' | 'x509';
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
export interface IncomingTelemetry {
  body: Uint8Array;
  messageId?: string;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
  component?: string;
  creationTime?: string;
  outputName?: string;
  properties: Record<string, string | null>;
}

/** A C2D message a service sends. */
export interface OutgoingC2d {
  body: Uint8Array;
  messageId?: string;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
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

const DEFAULT_POLICY_RIGHTS: Record<string, readonly HubPermission[]> = {
  iothubowner: ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'],
  service: ['ServiceConnect'],
  device: ['DeviceConnect'],
  registryRead: ['RegistryRead'],
  registryReadWrite: ['RegistryRead', 'RegistryWrite'],
};

const METHOD_NAME_PATTERN = /^[\x21-\x7e]+$/;
const METHOD_NAME_FORBIDDEN = /[$()<>@,;:\\"/[\]?={}]/;
const MAX_METHOD_PAYLOAD = 128 * 1024;
const MAX_TIMER_MS = 2_147_483_647;
const NEVER = '0001-01-01T00:00:00Z';
/** `iothub-connection-auth-method` values, serialised once. */
const AUTH_METHOD = {
  sas: JSON.stringify({ scope: 'device', type: 'sas', issuer: 'iothub' }),
  x509: JSON.stringify({ scope: 'device', type: 'x509Certificate', issuer: 'iothub' }),
} as const;

/** The keys of `identity`: a module's own key, or a device's and all its modules'. */
function keysCovering(keys: Iterable<string>, identity: Identity): string[] {
  if (identity.moduleId !== undefined) return [identityKey(identity)];
  return [...keys].filter((k) => k === identity.deviceId || k.startsWith(`${identity.deviceId}/`));
}

function newKey(): string {
  return randomBytes(32).toString('base64');
}

function nextEtag(etag: string | undefined): string {
  const n = etag === undefined ? -1 : Number(Buffer.from(etag, 'base64').toString('utf8'));
  return Buffer.from(String(Number.isFinite(n) ? n + 1 : 0), 'utf8').toString('base64');
}

/**
 * One IoT hub: registry, twins, direct methods, C2D queues, telemetry ingest, MQTT sessions and the live
 * connections of its devices. Protocol-neutral: edges translate wire traffic into calls on this class and
 * translate its {@link HubError}s back.
 *
 * @example
 * const hub = await Hub.open({ name: 'hub-1', hostName: '127.0.0.2', storage, logger });
 * await hub.createIdentity({ deviceId: 'dev1' });
 */
export class Hub {
  readonly name: string;
  readonly hostName: string;
  readonly events: HubEventStream;
  readonly #storage: Storage;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #graceMs: number;
  readonly #c2d: C2dSettings;
  readonly #identities = new Map<string, StoredIdentity>();
  readonly #connections = new Map<string, ConnectionHandle>();
  readonly #queues = new Map<string, C2dRecord[]>();
  readonly #sessions: Map<string, SessionSubscription[]>;
  readonly #pendingMethods = new Map<
    string,
    { key: string; resolve: (r: MethodResult) => void; reject: (e: HubError) => void; timer: NodeJS.Timeout }
  >();
  readonly #endpointWaiters = new Map<string, Set<() => void>>();
  #policies: AccessPolicy[];
  #certificateAuthorities: Record<string, string>;
  #ridCounter = 0;
  #isoMs = Number.NaN;
  #isoText = '';
  #sweepTimer: NodeJS.Timeout | undefined;

  private constructor(
    options: HubOptions,
    sessions: Map<string, SessionSubscription[]>,
    policies: AccessPolicy[],
    cas: Record<string, string>,
  ) {
    this.name = options.name;
    this.hostName = options.hostName;
    this.#storage = options.storage;
    this.#log = options.logger;
    this.#now = options.now ?? Date.now;
    this.#graceMs = (options.tokenExpiryGraceSeconds ?? 0) * 1000;
    this.#c2d = { defaultTtlMs: 3_600_000, maxDeliveryCount: 10, maxQueueDepth: 50, ...options.c2d };
    this.#sessions = sessions;
    this.#policies = policies;
    this.#certificateAuthorities = cas;
    this.events = new HubEventStream((error) => this.#log.error({ err: error }, 'hub event listener failed'));
  }

  /** Loads (or initialises) the hub's state from storage. */
  static async open(options: HubOptions): Promise<Hub> {
    const storage = options.storage;
    let config = await storage.loadHubConfig(options.name);
    if (config === undefined) {
      config = {
        policies: Object.entries(DEFAULT_POLICY_RIGHTS).map(([keyName, rights]) => ({
          keyName,
          primaryKey: newKey(),
          secondaryKey: newKey(),
          rights,
        })),
        certificateAuthorities: {},
      };
      await storage.saveHubConfig(options.name, config);
    }
    const hub = new Hub(
      options,
      await storage.loadSessions(options.name),
      config.policies,
      config.certificateAuthorities,
    );
    for (const stored of await storage.loadIdentities(options.name)) {
      // Nothing is connected after a restart.
      stored.activity.connectionState = 'Disconnected';
      hub.#identities.set(identityKey(stored.record), stored);
    }
    for (const message of await storage.loadC2d(options.name)) {
      const key = identityKey(message);
      const queue = hub.#queues.get(key) ?? [];
      queue.push(message);
      hub.#queues.set(key, queue);
    }
    hub.#sweepTimer = setInterval(() => hub.#sweepExpired(), 10_000);
    hub.#sweepTimer.unref();
    return hub;
  }

  #iso(ms = this.#now()): string {
    // Telemetry stamps thousands of messages per millisecond at most once: format each millisecond once.
    if (ms !== this.#isoMs) {
      this.#isoMs = ms;
      this.#isoText = new Date(ms).toISOString();
    }
    return this.#isoText;
  }

  // ---------------------------------------------------------------- policies and connection strings

  /** The hub's shared access policies. */
  get policies(): readonly AccessPolicy[] {
    return this.#policies;
  }

  /** `HostName=...;SharedAccessKeyName=...;SharedAccessKey=...` for a policy (default `iothubowner`). */
  serviceConnectionString(keyName = 'iothubowner'): string {
    const policy = this.#policies.find((p) => p.keyName === keyName);
    if (policy === undefined) throw new HubError('HUB_INVALID_ARGUMENT', `Hub ${this.name} has no policy ${keyName}.`);
    return `HostName=${this.hostName};SharedAccessKeyName=${policy.keyName};SharedAccessKey=${policy.primaryKey}`;
  }

  /** `HostName=...;DeviceId=...;SharedAccessKey=...` for a SAS identity. */
  deviceConnectionString(identity: Identity): string {
    const stored = this.#require(identity);
    const auth = stored.record.authentication;
    const parts = [`HostName=${this.hostName}`, `DeviceId=${identity.deviceId}`];
    if (identity.moduleId !== undefined) parts.push(`ModuleId=${identity.moduleId}`);
    if (auth.type === 'sas') parts.push(`SharedAccessKey=${auth.symmetricKey.primaryKey}`);
    else parts.push('x509=true');
    return parts.join(';');
  }

  /** Trusts a CA certificate (PEM) for `certificateAuthority` device authentication. */
  async addCertificateAuthority(name: string, pem: string): Promise<void> {
    try {
      new X509Certificate(pem);
    } catch (cause) {
      throw new HubError('HUB_INVALID_ARGUMENT', `Certificate ${name} is not a valid PEM certificate.`, { cause });
    }
    this.#certificateAuthorities = { ...this.#certificateAuthorities, [name]: pem };
    await this.#storage.saveHubConfig(this.name, {
      policies: this.#policies,
      certificateAuthorities: this.#certificateAuthorities,
    });
  }

  /**
   * Checks a service token (`Authorization: SharedAccessSignature ...`) and returns the policy's rights.
   * Throws `HUB_UNAUTHORIZED` / `HUB_TOKEN_EXPIRED`.
   */
  async authorizeService(authorization: string | undefined, needed: HubPermission): Promise<AccessPolicy> {
    if (authorization === undefined) throw new HubError('HUB_UNAUTHORIZED', 'Missing Authorization header.');
    let sas;
    try {
      sas = parseSharedAccessSignature(authorization);
    } catch (cause) {
      throw new HubError('HUB_UNAUTHORIZED', 'The Authorization header is not a SharedAccessSignature.', { cause });
    }
    const policy = this.#policies.find((p) => p.keyName === sas.keyName);
    if (policy === undefined) {
      throw new HubError('HUB_UNAUTHORIZED', `Unknown shared access policy ${JSON.stringify(sas.keyName ?? '')}.`);
    }
    const resource = decodeResource(sas.resource);
    if (!resourceCovers(resource, this.hostName)) {
      throw new HubError('HUB_UNAUTHORIZED', `The token's resource ${resource} does not cover hub ${this.hostName}.`);
    }
    if (!this.#verifyEither(sas, policy.primaryKey, policy.secondaryKey)) {
      throw new HubError('HUB_UNAUTHORIZED', 'The token signature is invalid.');
    }
    if (sas.expiry * 1000 <= this.#now()) throw new HubError('HUB_TOKEN_EXPIRED', 'The token has expired.');
    if (!policy.rights.includes(needed)) {
      throw new HubError('HUB_UNAUTHORIZED', `Policy ${policy.keyName} lacks the ${needed} permission.`);
    }
    return policy;
  }

  #verifyEither(sas: ReturnType<typeof parseSharedAccessSignature>, primary: string, secondary: string): boolean {
    return verifySas(sas, primary) || verifySas(sas, secondary);
  }

  // ---------------------------------------------------------------- registry

  #require(identity: Identity): StoredIdentity {
    const stored = this.#identities.get(identityKey(identity));
    if (stored === undefined) {
      if (identity.moduleId !== undefined) {
        throw new HubError(
          'HUB_MODULE_NOT_FOUND',
          `Module ${identity.moduleId} of device ${identity.deviceId} is not registered in hub ${this.hostName}.`,
        );
      }
      throw new HubError(
        'HUB_DEVICE_NOT_FOUND',
        `Device ${identity.deviceId} is not registered in hub ${this.hostName}.`,
      );
    }
    return stored;
  }

  /** True when the identity is registered. */
  has(identity: Identity): boolean {
    return this.#identities.has(identityKey(identity));
  }

  #authentication(input: IdentityInput['authentication'], previous?: Authentication): Authentication {
    if (input === undefined || input.type === 'sas') {
      const prev = previous?.type === 'sas' ? previous.symmetricKey : undefined;
      const given = input?.type === 'sas' ? input.symmetricKey : undefined;
      const primaryKey = given?.primaryKey || prev?.primaryKey || newKey();
      const secondaryKey = given?.secondaryKey || prev?.secondaryKey || newKey();
      for (const key of [primaryKey, secondaryKey]) {
        const bytes = Buffer.from(key, 'base64');
        if (bytes.length < 16 || bytes.length > 64 || bytes.toString('base64') !== key) {
          throw new HubError(
            'HUB_INVALID_ARGUMENT',
            'Symmetric keys must be base64 encodings of 16 to 64 bytes; leave them empty to have the hub generate them.',
          );
        }
      }
      return { type: 'sas', symmetricKey: { primaryKey, secondaryKey } };
    }
    if (input.type === 'selfSigned') {
      const norm = (t: string | null | undefined): string | null =>
        t === undefined || t === null || t === '' ? null : t.replace(/:/g, '').toUpperCase();
      const primaryThumbprint = norm(input.x509Thumbprint.primaryThumbprint);
      const secondaryThumbprint = norm(input.x509Thumbprint.secondaryThumbprint);
      for (const t of [primaryThumbprint, secondaryThumbprint]) {
        if (t !== null && !/^([0-9A-F]{40}|[0-9A-F]{64})$/.test(t)) {
          throw new HubError(
            'HUB_INVALID_ARGUMENT',
            'X.509 thumbprints must be 40 (SHA-1) or 64 (SHA-256) hex digits.',
          );
        }
      }
      if (primaryThumbprint === null) {
        throw new HubError('HUB_INVALID_ARGUMENT', 'A selfSigned identity needs a primaryThumbprint.');
      }
      return { type: 'selfSigned', x509Thumbprint: { primaryThumbprint, secondaryThumbprint } };
    }
    if (input.type === 'certificateAuthority') return { type: 'certificateAuthority' };
    throw new HubError(
      'HUB_INVALID_ARGUMENT',
      `Unknown authentication type ${JSON.stringify((input as { type: unknown }).type)}.`,
    );
  }

  #validateIds(input: Identity): void {
    if (typeof input.deviceId !== 'string' || !IDENTITY_ID_PATTERN.test(input.deviceId)) {
      throw new HubError(
        'HUB_INVALID_ARGUMENT',
        `Device id ${JSON.stringify(input.deviceId)} is invalid: use 1-128 characters of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ '.`,
      );
    }
    if (
      input.moduleId !== undefined &&
      (typeof input.moduleId !== 'string' || !IDENTITY_ID_PATTERN.test(input.moduleId))
    ) {
      throw new HubError('HUB_INVALID_ARGUMENT', `Module id ${JSON.stringify(input.moduleId)} is invalid.`);
    }
  }

  /** Registers a new device or module. Throws `HUB_DEVICE_ALREADY_EXISTS` / `HUB_MODULE_ALREADY_EXISTS`. */
  async createIdentity(given: IdentityInput): Promise<IdentityRecord> {
    const input = checkIdentityInput(given);
    const identity = identityOf(input);
    this.#validateIds(identity);
    const key = identityKey(identity);
    if (this.#identities.has(key)) {
      throw identity.moduleId === undefined
        ? new HubError(
            'HUB_DEVICE_ALREADY_EXISTS',
            `Device ${identity.deviceId} already exists in hub ${this.hostName}.`,
          )
        : new HubError(
            'HUB_MODULE_ALREADY_EXISTS',
            `Module ${identity.moduleId} already exists on device ${identity.deviceId}.`,
          );
    }
    if (identity.moduleId !== undefined) this.#require({ deviceId: identity.deviceId });
    const now = this.#iso();
    const record: IdentityRecord = {
      ...identity,
      generationId: `${Date.now()}${Math.floor(Math.random() * 1e6)}`,
      etag: nextEtag(undefined),
      status: input.status ?? 'enabled',
      statusReason: input.statusReason ?? null,
      statusUpdatedTime: now,
      authentication: this.#authentication(input.authentication),
      capabilities: { iotEdge: input.capabilities?.iotEdge ?? false },
    };
    if (input.managedBy !== undefined) record.managedBy = input.managedBy;
    const stored: StoredIdentity = {
      record,
      twin: newTwin(now),
      activity: {
        connectionState: 'Disconnected',
        connectionStateUpdatedTime: NEVER,
        lastActivityTime: NEVER,
        modelId: '',
      },
    };
    await this.#storage.saveIdentity(this.name, stored);
    this.#identities.set(key, stored);
    this.events.emit({ type: 'identityChanged', hub: this.name, identity, deleted: false });
    return record;
  }

  /**
   * Updates an identity (status, keys, thumbprints). `ifMatch` is `*` or the current etag; otherwise
   * `HUB_PRECONDITION_FAILED`. Disabling closes live connections.
   */
  async updateIdentity(given: IdentityInput, ifMatch?: string): Promise<IdentityRecord> {
    const input = checkIdentityInput(given);
    const identity = identityOf(input);
    this.#validateIds(identity);
    const stored = this.#require(identity);
    this.#checkEtag(ifMatch, stored.record.etag);
    const previous = stored.record;
    const status = input.status ?? previous.status;
    const record: IdentityRecord = {
      ...previous,
      etag: nextEtag(previous.etag),
      status,
      statusReason: input.statusReason !== undefined ? input.statusReason : previous.statusReason,
      statusUpdatedTime: status !== previous.status ? this.#iso() : previous.statusUpdatedTime,
      authentication: this.#authentication(input.authentication ?? previous.authentication, previous.authentication),
      capabilities: { iotEdge: input.capabilities?.iotEdge ?? previous.capabilities.iotEdge },
    };
    const next = { ...stored, record };
    await this.#storage.saveIdentity(this.name, next);
    this.#identities.set(identityKey(identity), next);
    if (record.status === 'disabled') {
      this.#closeConnections(
        identity,
        new HubError('HUB_DEVICE_DISABLED', `Device ${identity.deviceId} was disabled.`),
      );
    }
    this.events.emit({ type: 'identityChanged', hub: this.name, identity, deleted: false });
    return record;
  }

  /** IoT Hub's `If-Match` rule: absent, `*` or the current etag in quotes; anything else is 412. */
  #checkEtag(ifMatch: string | undefined, current: string): void {
    const wanted = parseIfMatch(ifMatch);
    if (ifMatchHolds(wanted, current)) return;
    throw new HubError(
      'HUB_PRECONDITION_FAILED',
      wanted?.kind === 'malformed'
        ? `If-Match ${JSON.stringify(ifMatch)} is neither * nor a quoted etag; send "${current}" or *.`
        : `The etag ${ifMatch ?? ''} does not match the current etag "${current}"; read the resource again and retry.`,
    );
  }

  /** Deletes an identity (a device's modules with it) and closes its connections. */
  async deleteIdentity(identity: Identity, ifMatch?: string): Promise<void> {
    const stored = this.#require(identity);
    this.#checkEtag(ifMatch, stored.record.etag);
    const keys = keysCovering(this.#identities.keys(), identity);
    for (const key of keys) {
      const victim = this.#identities.get(key);
      if (victim === undefined) continue;
      this.#closeConnections(victim.record, new HubError('HUB_DEVICE_NOT_FOUND', `Identity ${key} was deleted.`));
      await this.#storage.deleteIdentity(this.name, key);
      for (const message of this.#queues.get(key) ?? []) await this.#storage.deleteC2d(this.name, message.id);
      this.#queues.delete(key);
      this.#sessions.delete(key);
      this.#identities.delete(key);
      this.events.emit({ type: 'identityChanged', hub: this.name, identity: victim.record, deleted: true });
    }
  }

  /** The registry record. */
  getIdentity(identity: Identity): StoredIdentity {
    return this.#require(identity);
  }

  /** Devices (no modules), or the modules of one device. */
  listIdentities(options: { modulesOf?: string } = {}): StoredIdentity[] {
    const out: StoredIdentity[] = [];
    for (const stored of this.#identities.values()) {
      if (
        options.modulesOf === undefined
          ? stored.record.moduleId === undefined
          : stored.record.deviceId === options.modulesOf && stored.record.moduleId !== undefined
      ) {
        out.push(stored);
      }
    }
    return out;
  }

  /** Number of messages waiting in an identity's C2D queue. */
  c2dQueueLength(identity: Identity): number {
    return this.#queues.get(identityKey(identity))?.length ?? 0;
  }

  // ---------------------------------------------------------------- authentication of devices

  /**
   * Authenticates a connecting device. Throws a {@link HubError}: `HUB_BAD_CREDENTIALS` (unparsable
   * token), `HUB_UNAUTHORIZED` (wrong key, unknown device, token for another identity, wrong method),
   * `HUB_TOKEN_EXPIRED`, `HUB_DEVICE_DISABLED`.
   */
  async authenticate(credentials: ConnectCredentials): Promise<Authenticated> {
    const identity = identityOf(credentials);
    if (credentials.hostName.toLowerCase() !== this.hostName.toLowerCase()) {
      throw new HubError('HUB_UNAUTHORIZED', `Host name ${credentials.hostName} is not this hub (${this.hostName}).`);
    }
    const stored = this.#identities.get(identityKey(identity));
    if (credentials.password !== undefined && credentials.password !== '') {
      let sas;
      try {
        sas = parseSharedAccessSignature(credentials.password);
      } catch (cause) {
        throw new HubError(
          'HUB_BAD_CREDENTIALS',
          'The password is not a SharedAccessSignature token.',
          cause instanceof ProtocolError ? { cause } : {},
        );
      }
      if (stored === undefined) {
        throw new HubError('HUB_UNAUTHORIZED', `Identity ${identityKey(identity)} is not registered in this hub.`);
      }
      const target =
        `${this.hostName}/devices/${identity.deviceId}` +
        (identity.moduleId === undefined ? '' : `/modules/${identity.moduleId}`);
      if (!resourceCovers(decodeResource(sas.resource), target)) {
        throw new HubError('HUB_UNAUTHORIZED', `The token's resource does not cover ${target}.`);
      }
      let valid: boolean;
      if (sas.keyName !== undefined) {
        const policy = this.#policies.find((p) => p.keyName === sas.keyName && p.rights.includes('DeviceConnect'));
        valid = policy !== undefined && this.#verifyEither(sas, policy.primaryKey, policy.secondaryKey);
      } else {
        const auth = stored.record.authentication;
        valid =
          auth.type === 'sas' && this.#verifyEither(sas, auth.symmetricKey.primaryKey, auth.symmetricKey.secondaryKey);
      }
      if (!valid) throw new HubError('HUB_UNAUTHORIZED', 'The token signature does not match the identity key.');
      const expiresAt = sas.expiry * 1000;
      if (expiresAt <= this.#now())
        throw new HubError('HUB_TOKEN_EXPIRED', 'The SAS token has expired; create a new one.');
      this.#requireEnabled(stored);
      return { identity, expiresAt, method: 'sas' };
    }
    const chain = credentials.clientCertificates ?? [];
    const leaf = chain[0];
    if (leaf === undefined) {
      throw new HubError('HUB_BAD_CREDENTIALS', 'No SAS token and no client certificate were presented.');
    }
    if (stored === undefined) {
      throw new HubError('HUB_UNAUTHORIZED', `Identity ${identityKey(identity)} is not registered in this hub.`);
    }
    const auth = stored.record.authentication;
    if (auth.type === 'selfSigned') {
      const { sha1, sha256 } = certificateThumbprints(leaf);
      const allowed = [auth.x509Thumbprint.primaryThumbprint, auth.x509Thumbprint.secondaryThumbprint];
      if (!allowed.includes(sha1) && !allowed.includes(sha256)) {
        throw new HubError('HUB_UNAUTHORIZED', 'The client certificate thumbprint does not match the identity.');
      }
      const cert = new X509Certificate(leaf);
      const now = this.#now();
      if (Date.parse(cert.validTo) <= now || Date.parse(cert.validFrom) > now) {
        throw new HubError('HUB_UNAUTHORIZED', 'The client certificate is outside its validity period.');
      }
    } else if (auth.type === 'certificateAuthority') {
      const verdict = verifyCertificateChain(chain, Object.values(this.#certificateAuthorities), new Date(this.#now()));
      if (!verdict.ok) {
        throw new HubError(
          'HUB_UNAUTHORIZED',
          `The client certificate chain is not trusted (${verdict.reason ?? 'untrusted'}).`,
        );
      }
      const expectedCn = identity.moduleId === undefined ? identity.deviceId : identity.moduleId;
      if (verdict.commonName !== expectedCn && verdict.commonName !== identityKey(identity)) {
        throw new HubError('HUB_UNAUTHORIZED', `The certificate subject CN must be ${expectedCn}.`);
      }
    } else {
      throw new HubError('HUB_UNAUTHORIZED', 'This identity authenticates with a SAS token, not a certificate.');
    }
    this.#requireEnabled(stored);
    return { identity, method: 'x509' };
  }

  #requireEnabled(stored: StoredIdentity): void {
    if (stored.record.status !== 'enabled') {
      throw new HubError('HUB_DEVICE_DISABLED', `Identity ${identityKey(stored.record)} is disabled in this hub.`);
    }
    if (stored.record.moduleId !== undefined) {
      const device = this.#identities.get(stored.record.deviceId);
      if (device !== undefined && device.record.status !== 'enabled') {
        throw new HubError('HUB_DEVICE_DISABLED', `Device ${stored.record.deviceId} is disabled in this hub.`);
      }
    }
  }

  // ---------------------------------------------------------------- connections

  /**
   * Registers a live connection. An older connection of the same identity is closed with
   * `HUB_CONNECTION_REPLACED`. A SAS connection is closed when its token expires (plus grace).
   */
  attach(auth: Authenticated, endpoint: DeviceEndpoint, modelId = ''): ConnectionHandle {
    const key = identityKey(auth.identity);
    const stored = this.#require(auth.identity);
    const previous = this.#connections.get(key);
    const handle: ConnectionHandle = {
      identity: auth.identity,
      key,
      endpoint,
      connectedAt: this.#now(),
      authMethod: auth.method,
      inflight: new Set(),
      expiryTimer: undefined,
      closed: false,
    };
    this.#connections.set(key, handle);
    if (previous !== undefined) {
      this.#release(previous);
      previous.endpoint.close(
        new HubError('HUB_CONNECTION_REPLACED', `A new connection for ${key} replaced this one.`),
      );
    }
    if (auth.expiresAt !== undefined) this.#scheduleExpiry(handle, auth.expiresAt + this.#graceMs);
    const now = this.#iso();
    stored.activity = {
      ...stored.activity,
      connectionState: 'Connected',
      connectionStateUpdatedTime: now,
      lastActivityTime: now,
      modelId: modelId || stored.activity.modelId,
    };
    this.#persist(stored);
    this.events.emit({
      type: 'connected',
      hub: this.name,
      identity: auth.identity,
      transport: endpoint.transport,
      modelId: stored.activity.modelId,
    });
    return handle;
  }

  #scheduleExpiry(handle: ConnectionHandle, at: number): void {
    const delay = at - this.#now();
    handle.expiryTimer = setTimeout(
      () => {
        if (handle.closed) return;
        if (this.#now() < at) return this.#scheduleExpiry(handle, at);
        handle.endpoint.close(new HubError('HUB_TOKEN_EXPIRED', 'The SAS token of this connection expired.'));
      },
      Math.max(0, Math.min(delay, MAX_TIMER_MS)),
    );
    handle.expiryTimer.unref();
  }

  /** The edge reports that a connection ended (any reason). */
  detach(handle: ConnectionHandle, reason: string): void {
    if (handle.closed) return;
    this.#release(handle);
    if (this.#connections.get(handle.key) !== handle) return;
    this.#connections.delete(handle.key);
    const stored = this.#identities.get(handle.key);
    if (stored !== undefined) {
      const now = this.#iso();
      stored.activity = { ...stored.activity, connectionState: 'Disconnected', connectionStateUpdatedTime: now };
      this.#persist(stored);
    }
    this.events.emit({ type: 'disconnected', hub: this.name, identity: handle.identity, reason });
  }

  #release(handle: ConnectionHandle): void {
    handle.closed = true;
    if (handle.expiryTimer !== undefined) clearTimeout(handle.expiryTimer);
    handle.inflight.clear();
  }

  #closeConnections(identity: Identity, error: HubError): void {
    const keys = keysCovering(this.#connections.keys(), identity);
    for (const key of keys) {
      const handle = this.#connections.get(key);
      if (handle === undefined) continue;
      this.detach(handle, error.code);
      handle.endpoint.close(error);
    }
  }

  /**
   * Drops an identity's live connection(s) as a network failure would (fault injection, failover tests).
   * Resolves with the number of connections closed.
   */
  dropConnections(identity: Identity, reason = 'dropped by the platform'): number {
    const before = this.#connections.size;
    this.#closeConnections(identity, new HubError('HUB_SERVICE_UNAVAILABLE', reason));
    return before - this.#connections.size;
  }

  /** Whether an identity has a live connection. */
  isConnected(identity: Identity): boolean {
    return this.#connections.has(identityKey(identity));
  }

  /** Number of live connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * The edge reports that what a connection subscribes to changed: pending C2D messages are delivered and
   * method callers waiting for the device to come online are woken.
   */
  endpointChanged(handle: ConnectionHandle): void {
    if (handle.closed) return;
    if (handle.endpoint.wantsC2d) this.#deliverPending(handle);
    if (handle.endpoint.wantsMethods) {
      const waiters = this.#endpointWaiters.get(handle.key);
      if (waiters !== undefined) for (const wake of [...waiters]) wake();
    }
  }

  #touch(handle: ConnectionHandle, now: string = this.#iso()): StoredIdentity | undefined {
    const stored = this.#identities.get(handle.key);
    if (stored !== undefined) stored.activity.lastActivityTime = now;
    return stored;
  }

  #persist(stored: StoredIdentity): void {
    this.#storage.saveIdentity(this.name, stored).catch((err: unknown) => {
      this.#log.error({ err, deviceId: stored.record.deviceId }, 'failed to persist identity');
    });
  }

  // ---------------------------------------------------------------- MQTT persistent sessions

  /** The stored subscriptions of a persistent session, if one exists. */
  getSession(clientId: string): SessionSubscription[] | undefined {
    return this.#sessions.get(clientId);
  }

  /** Stores (or with `undefined`, discards) a persistent session. */
  async saveSession(clientId: string, subscriptions: readonly SessionSubscription[] | undefined): Promise<void> {
    if (subscriptions === undefined) this.#sessions.delete(clientId);
    else this.#sessions.set(clientId, [...subscriptions]);
    await this.#storage.saveSession(this.name, clientId, subscriptions);
  }

  // ---------------------------------------------------------------- telemetry

  /**
   * Accepts a device-to-cloud message: stamps enqueued time and system properties and stores it durably.
   * Resolves once stored; only then may the edge acknowledge it.
   */
  async ingestTelemetry(handle: ConnectionHandle, message: IncomingTelemetry): Promise<TelemetryRecord> {
    const enqueuedTime = this.#iso();
    const stored = this.#touch(handle, enqueuedTime);
    const systemProperties: Record<string, string> = {
      'iothub-connection-device-id': handle.identity.deviceId,
      'iothub-connection-auth-method': AUTH_METHOD[handle.authMethod],
      'iothub-connection-auth-generation-id': stored?.record.generationId ?? '',
      'iothub-enqueuedtime': enqueuedTime,
    };
    if (handle.identity.moduleId !== undefined) {
      systemProperties['iothub-connection-module-id'] = handle.identity.moduleId;
    }
    const modelId = stored?.activity.modelId;
    if (modelId) systemProperties['dt-dataschema'] = modelId;
    if (message.component !== undefined) systemProperties['dt-subject'] = message.component;
    if (message.outputName !== undefined) systemProperties['iothub-outputname'] = message.outputName;
    const record: TelemetryRecord = {
      hub: this.name,
      deviceId: handle.identity.deviceId,
      enqueuedTime,
      properties: message.properties,
      systemProperties,
      body: message.body,
    };
    if (handle.identity.moduleId !== undefined) record.moduleId = handle.identity.moduleId;
    if (message.creationTime !== undefined) record.creationTime = message.creationTime;
    if (message.component !== undefined) record.component = message.component;
    if (message.messageId !== undefined) record.messageId = message.messageId;
    if (message.correlationId !== undefined) record.correlationId = message.correlationId;
    if (message.userId !== undefined) record.userId = message.userId;
    if (message.contentType !== undefined) record.contentType = message.contentType;
    if (message.contentEncoding !== undefined) record.contentEncoding = message.contentEncoding;
    record.sequenceNumber = await this.#storage.appendTelemetry(record);
    this.events.emit({ type: 'telemetry', hub: this.name, record });
    return record;
  }

  /** Stored telemetry of this hub, oldest first. */
  queryTelemetry(query: { deviceId?: string; moduleId?: string; afterSequenceNumber?: number; limit?: number } = {}) {
    return this.#storage.queryTelemetry({ ...query, hub: this.name });
  }

  // ---------------------------------------------------------------- twins

  /** The service view of a twin (Azure twin JSON). */
  getTwin(identity: Identity): JsonObject {
    const { record, twin, activity } = this.#require(identity);
    const out: JsonObject = { deviceId: record.deviceId };
    if (record.moduleId !== undefined) out['moduleId'] = record.moduleId;
    Object.assign(out, {
      etag: twin.etag,
      deviceEtag: record.etag,
      status: record.status,
      statusReason: record.statusReason,
      statusUpdateTime: record.statusUpdatedTime,
      connectionState: activity.connectionState,
      lastActivityTime: activity.lastActivityTime,
      cloudToDeviceMessageCount: this.c2dQueueLength(identity),
      authenticationType: record.authentication.type,
      x509Thumbprint:
        record.authentication.type === 'selfSigned'
          ? { ...record.authentication.x509Thumbprint }
          : { primaryThumbprint: null, secondaryThumbprint: null },
      modelId: activity.modelId,
      version: twin.version,
      tags: twin.tags,
      properties: { desired: twin.desired, reported: twin.reported },
      capabilities: { ...record.capabilities },
    } satisfies JsonObject);
    return JSON.parse(JSON.stringify(out)) as JsonObject;
  }

  /** The device view: `{ desired, reported }` without `$metadata`. */
  getTwinForDevice(handle: ConnectionHandle): JsonObject {
    const stored = this.#touch(handle) ?? this.#require(handle.identity);
    return { desired: sectionForDevice(stored.twin.desired), reported: sectionForDevice(stored.twin.reported) };
  }

  /** A device's reported-properties patch. Resolves with the new reported `$version`. */
  async patchReported(handle: ConnectionHandle, patch: unknown): Promise<number> {
    const stored = this.#touch(handle) ?? this.#require(handle.identity);
    validateTwinPatch(patch, 'reported');
    const reported = applySectionPatch(stored.twin.reported, patch, this.#iso(), 'reported');
    const version = stored.twin.version + 1;
    stored.twin = { ...stored.twin, reported, version, etag: versionEtag(version) };
    await this.#storage.saveIdentity(this.name, stored);
    this.events.emit({
      type: 'twinChanged',
      hub: this.name,
      identity: handle.identity,
      section: 'reported',
      version: reported.$version,
    });
    return reported.$version;
  }

  /**
   * The service's twin update: `{ tags?, properties?: { desired? } }` merged (`PATCH`) or replaced
   * (`PUT`), guarded by `ifMatch`. Desired changes are pushed to the connected device.
   */
  async updateTwin(
    identity: Identity,
    body: unknown,
    options: { ifMatch?: string; replace?: boolean } = {},
  ): Promise<JsonObject> {
    const stored = this.#require(identity);
    this.#checkEtag(options.ifMatch, stored.twin.etag);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HubError('HUB_INVALID_ARGUMENT', 'The twin update must be a JSON object.');
    }
    const input = body as { tags?: unknown; properties?: { desired?: unknown; reported?: unknown } };
    if (input.properties?.reported !== undefined && input.properties.reported !== null) {
      throw new HubError('HUB_INVALID_ARGUMENT', 'Reported properties can only be set by the device.');
    }
    const now = this.#iso();
    let twin = stored.twin;
    let tagsChanged = false;
    if (input.tags !== undefined && input.tags !== null) {
      validateTwinPatch(input.tags, 'tags');
      twin = {
        ...twin,
        tags: options.replace ? applyTagsPatch({}, input.tags) : applyTagsPatch(twin.tags, input.tags),
      };
      tagsChanged = true;
    }
    let desiredPatch: JsonObject | undefined;
    const desiredInput = input.properties?.desired;
    if (desiredInput !== undefined && desiredInput !== null) {
      validateTwinPatch(desiredInput, 'desired');
      const cleaned: JsonObject = {};
      for (const [k, v] of Object.entries(desiredInput)) if (!k.startsWith('$')) cleaned[k] = v;
      const desired = options.replace
        ? replaceSection(twin.desired, cleaned, now, 'desired')
        : applySectionPatch(twin.desired, cleaned, now, 'desired');
      if (options.replace) {
        desiredPatch = sectionForDevice(desired);
      } else {
        desiredPatch = { ...cleaned, $version: desired.$version };
      }
      twin = { ...twin, desired };
    }
    if (twin === stored.twin) return this.getTwin(identity);
    const version = stored.twin.version + 1;
    stored.twin = { ...twin, version, etag: versionEtag(version) };
    await this.#storage.saveIdentity(this.name, stored);
    if (tagsChanged) {
      this.events.emit({ type: 'twinChanged', hub: this.name, identity, section: 'tags', version });
    }
    if (desiredPatch !== undefined) {
      const desiredVersion = stored.twin.desired.$version;
      this.events.emit({ type: 'twinChanged', hub: this.name, identity, section: 'desired', version: desiredVersion });
      const handle = this.#connections.get(identityKey(identity));
      if (handle !== undefined && handle.endpoint.wantsDesired) {
        handle.endpoint.sendDesiredPatch(desiredPatch, desiredVersion);
      }
    }
    return this.getTwin(identity);
  }

  /**
   * Replaces a twin's tags, desired and reported properties with those of another hub's twin (DPS
   * reprovisioning with data migration, failover). Versions continue from this twin's; the connected
   * device (if any) receives the desired properties.
   */
  async importTwin(
    identity: Identity,
    source: { tags: JsonObject; desired: JsonObject; reported: JsonObject },
  ): Promise<void> {
    const stored = this.#require(identity);
    const strip = (section: JsonObject): JsonObject => {
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(section)) if (!k.startsWith('$')) out[k] = v;
      return out;
    };
    const now = this.#iso();
    const desired = replaceSection(stored.twin.desired, strip(source.desired), now, 'desired');
    const reported = replaceSection(stored.twin.reported, strip(source.reported), now, 'reported');
    const version = stored.twin.version + 1;
    stored.twin = {
      tags: applyTagsPatch({}, strip(source.tags)),
      desired,
      reported,
      version,
      etag: versionEtag(version),
    };
    await this.#storage.saveIdentity(this.name, stored);
    this.events.emit({ type: 'twinChanged', hub: this.name, identity, section: 'desired', version: desired.$version });
    this.events.emit({
      type: 'twinChanged',
      hub: this.name,
      identity,
      section: 'reported',
      version: reported.$version,
    });
    const handle = this.#connections.get(identityKey(identity));
    if (handle !== undefined && handle.endpoint.wantsDesired) {
      handle.endpoint.sendDesiredPatch(sectionForDevice(desired), desired.$version);
    }
  }

  // ---------------------------------------------------------------- direct methods

  /**
   * Invokes a direct method and waits for the device's answer. Throws `HUB_DEVICE_NOT_ONLINE` (404103)
   * when the device is not connected and subscribed within `connectTimeoutInSeconds`, and
   * `HUB_METHOD_TIMEOUT` (504101) when it does not answer within `responseTimeoutInSeconds`.
   */
  async invokeMethod(identity: Identity, invocation: MethodInvocation): Promise<MethodResult> {
    this.#require(identity);
    const { methodName } = invocation;
    if (
      typeof methodName !== 'string' ||
      methodName.length === 0 ||
      methodName.length > 256 ||
      !METHOD_NAME_PATTERN.test(methodName) ||
      METHOD_NAME_FORBIDDEN.test(methodName)
    ) {
      throw new HubError('HUB_INVALID_ARGUMENT', `Method name ${JSON.stringify(methodName)} is invalid.`);
    }
    const responseTimeout = invocation.responseTimeoutInSeconds ?? 30;
    const connectTimeout = invocation.connectTimeoutInSeconds ?? 0;
    // Azure's floor is 5 s; shorter timeouts are allowed here so tests need not wait (docs/adr/0009).
    if (!(responseTimeout > 0 && responseTimeout <= 300)) {
      throw new HubError('HUB_INVALID_ARGUMENT', 'responseTimeoutInSeconds must be greater than 0 and at most 300.');
    }
    if (!(connectTimeout >= 0 && connectTimeout <= 300)) {
      throw new HubError('HUB_INVALID_ARGUMENT', 'connectTimeoutInSeconds must be between 0 and 300.');
    }
    const payload = JSON.stringify(invocation.payload ?? null);
    if (payload.length > MAX_METHOD_PAYLOAD) {
      throw new HubError('HUB_MESSAGE_TOO_LARGE', 'Method payloads are limited to 128 KB.');
    }
    const key = identityKey(identity);
    const handle = await this.#waitForMethodEndpoint(key, connectTimeout * 1000);
    const rid = (++this.#ridCounter).toString(16);
    return new Promise<MethodResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingMethods.delete(rid);
        reject(new HubError('HUB_METHOD_TIMEOUT', 'Timed out waiting for the response from device.'));
      }, responseTimeout * 1000);
      this.#pendingMethods.set(rid, { key, resolve, reject, timer });
      handle.endpoint.sendMethodRequest({ rid, methodName, payload });
    });
  }

  #waitForMethodEndpoint(key: string, timeoutMs: number): Promise<ConnectionHandle> {
    const ready = (): ConnectionHandle | undefined => {
      const h = this.#connections.get(key);
      return h !== undefined && h.endpoint.wantsMethods ? h : undefined;
    };
    const now = ready();
    if (now !== undefined) return Promise.resolve(now);
    const offline = (): HubError => new HubError('HUB_DEVICE_NOT_ONLINE', 'Timed out waiting for device to connect.');
    if (timeoutMs <= 0) return Promise.reject(offline());
    return new Promise((resolve, reject) => {
      const waiters = this.#endpointWaiters.get(key) ?? new Set();
      this.#endpointWaiters.set(key, waiters);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0) this.#endpointWaiters.delete(key);
      };
      const wake = (): void => {
        const h = ready();
        if (h === undefined) return;
        done();
        resolve(h);
      };
      const timer = setTimeout(() => {
        done();
        reject(offline());
      }, timeoutMs);
      waiters.add(wake);
    });
  }

  /** The device answered a method call. Unknown or foreign `$rid`s are ignored (and logged). */
  completeMethod(handle: ConnectionHandle, rid: string, status: number, body: Uint8Array): void {
    this.#touch(handle);
    const pending = this.#pendingMethods.get(rid);
    if (pending === undefined || pending.key !== handle.key) {
      this.#log.debug({ rid, deviceId: handle.identity.deviceId }, 'method response for unknown $rid ignored');
      return;
    }
    this.#pendingMethods.delete(rid);
    clearTimeout(pending.timer);
    let payload: JsonValue = null;
    if (body.length > 0) {
      try {
        payload = readJson(body, { maxBytes: MAX_METHOD_PAYLOAD });
      } catch (cause) {
        if (!(cause instanceof ProtocolError) || cause.code === 'PROTOCOL_JSON_MALFORMED') {
          // Not JSON: the service gets the text, as IoT Hub passes it on.
          payload = Buffer.from(body).toString('utf8');
        } else {
          this.#log.info(
            { code: cause.code, deviceId: handle.identity.deviceId, rid },
            `method response refused: ${cause.message}`,
          );
          const code = cause.code === 'PROTOCOL_JSON_TOO_LARGE' ? 'HUB_MESSAGE_TOO_LARGE' : 'HUB_INVALID_ARGUMENT';
          pending.reject(new HubError(code, `The device's method response is refused: ${cause.message}`, { cause }));
          return;
        }
      }
    }
    pending.resolve({ status, payload });
  }

  // ---------------------------------------------------------------- cloud-to-device

  /** Enqueues a C2D message. Throws `HUB_C2D_QUEUE_FULL` at 50 pending messages. */
  async sendC2d(identity: Identity, message: OutgoingC2d): Promise<C2dRecord> {
    this.#require(identity);
    if (message.body.length > 64 * 1024) {
      throw new HubError('HUB_MESSAGE_TOO_LARGE', 'Cloud-to-device messages are limited to 64 KB.');
    }
    const key = identityKey(identity);
    const queue = this.#queues.get(key) ?? [];
    if (queue.length >= this.#c2d.maxQueueDepth) {
      throw new HubError(
        'HUB_C2D_QUEUE_FULL',
        `The queue of ${key} already holds ${this.#c2d.maxQueueDepth} messages; wait for the device to receive them.`,
      );
    }
    const now = this.#now();
    const record: C2dRecord = {
      id: randomUUID(),
      deviceId: identity.deviceId,
      to:
        identity.moduleId === undefined
          ? `/devices/${identity.deviceId}/messages/deviceBound`
          : `/devices/${identity.deviceId}/modules/${identity.moduleId}/messages/deviceBound`,
      expiresAt: message.expiresAt ?? now + this.#c2d.defaultTtlMs,
      ack: message.ack ?? 'none',
      properties: { ...message.properties },
      body: message.body,
      enqueuedTime: this.#iso(now),
      deliveryCount: 0,
    };
    if (identity.moduleId !== undefined) record.moduleId = identity.moduleId;
    for (const field of ['messageId', 'correlationId', 'userId', 'contentType', 'contentEncoding'] as const) {
      const value = message[field];
      if (value !== undefined) record[field] = value;
    }
    await this.#storage.saveC2d(this.name, record);
    queue.push(record);
    this.#queues.set(key, queue);
    const handle = this.#connections.get(key);
    if (handle !== undefined && handle.endpoint.wantsC2d) this.#deliverPending(handle);
    return record;
  }

  #deliverPending(handle: ConnectionHandle): void {
    const queue = this.#queues.get(handle.key);
    if (queue === undefined) return;
    const now = this.#now();
    for (const message of [...queue]) {
      if (handle.inflight.has(message.id)) continue;
      if (message.expiresAt <= now) {
        this.#finishC2d(handle.key, message, 'Expired');
        continue;
      }
      if (message.deliveryCount >= this.#c2d.maxDeliveryCount) {
        this.#finishC2d(handle.key, message, 'DeliveryCountExceeded');
        continue;
      }
      message.deliveryCount += 1;
      handle.inflight.add(message.id);
      this.#storage.saveC2d(this.name, message).catch((err: unknown) => {
        this.#log.error({ err }, 'failed to persist C2D delivery count');
      });
      handle.endpoint.deliverC2d(message);
    }
  }

  /** The device acknowledged (completed) a C2D message. */
  completeC2d(handle: ConnectionHandle, id: string): void {
    handle.inflight.delete(id);
    const message = this.#queues.get(handle.key)?.find((m) => m.id === id);
    if (message === undefined) return;
    this.#finishC2d(handle.key, message, 'Success');
  }

  #finishC2d(key: string, message: C2dRecord, status: C2dFeedbackStatus): void {
    const queue = this.#queues.get(key);
    if (queue !== undefined) {
      const index = queue.indexOf(message);
      if (index >= 0) queue.splice(index, 1);
      if (queue.length === 0) this.#queues.delete(key);
    }
    this.#storage.deleteC2d(this.name, message.id).catch((err: unknown) => {
      this.#log.error({ err }, 'failed to delete C2D message');
    });
    const wantsFeedback =
      message.ack === 'full' ||
      (message.ack === 'positive' && status === 'Success') ||
      (message.ack === 'negative' && status !== 'Success');
    if (!wantsFeedback) return;
    const generationId = this.#identities.get(key)?.record.generationId ?? '';
    const feedback: C2dFeedbackRecord = {
      originalMessageId: message.messageId ?? message.id,
      enqueuedTimeUtc: this.#iso(),
      statusCode: status,
      description: status === 'Success' ? 'Success' : status === 'Expired' ? 'Message expired' : status,
      deviceId: message.deviceId,
      deviceGenerationId: generationId,
    };
    this.#storage.appendFeedback(this.name, feedback).catch((err: unknown) => {
      this.#log.error({ err }, 'failed to store C2D feedback');
    });
  }

  /** Removes and returns up to `limit` feedback records. */
  takeFeedback(limit = 64): Promise<C2dFeedbackRecord[]> {
    return this.#storage.takeFeedback(this.name, limit);
  }

  /** Purges an identity's C2D queue; resolves with the number of removed messages. */
  purgeC2d(identity: Identity): number {
    const key = identityKey(identity);
    const queue = [...(this.#queues.get(key) ?? [])];
    for (const message of queue) this.#finishC2d(key, message, 'Purged');
    return queue.length;
  }

  #sweepExpired(): void {
    const now = this.#now();
    for (const [key, queue] of [...this.#queues]) {
      for (const message of [...queue]) if (message.expiresAt <= now) this.#finishC2d(key, message, 'Expired');
    }
  }

  /** Closes every connection and stops timers. Storage is closed by its owner. */
  close(): void {
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    for (const pending of this.#pendingMethods.values()) {
      clearTimeout(pending.timer);
      pending.reject(new HubError('HUB_SERVICE_UNAVAILABLE', 'The hub is shutting down.'));
    }
    this.#pendingMethods.clear();
    for (const handle of [...this.#connections.values()]) {
      this.detach(handle, 'shutdown');
      handle.endpoint.close(new HubError('HUB_SERVICE_UNAVAILABLE', 'The hub is shutting down.'));
    }
  }
}
