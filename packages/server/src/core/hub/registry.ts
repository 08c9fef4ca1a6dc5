/**
 * A hub's identity registry: devices and modules with their authentication, status, etags and twins as
 * stored, created, updated and deleted as IoT Hub's registry does (generated keys, thumbprint rules,
 * `If-Match`). What follows from a change elsewhere — closing connections, forgetting queues and
 * sessions — goes through the hooks the hub gives it.
 */
import { randomBytes } from 'node:crypto';
import { ifMatchHolds, parseIfMatch } from '@plugboard/protocol';
import { HubError } from '../../errors.js';
import type { StoredIdentity } from '../../storage/port.js';
import { identityKey, identityOf, type Authentication, type Identity, type IdentityRecord } from '../model.js';
import { IDENTITY_ID_PATTERN, checkIdentityInput } from '../registry-input.js';
import { newTwin } from '../twin-document.js';
import type { HubContext } from './context.js';
import type { IdentityInput } from './types.js';

const NEVER = '0001-01-01T00:00:00Z';

/**
 * The keys of `identity` among `keys`: a module's own key, or a device's and all its modules'.
 *
 * @example
 * keysCovering(['d1', 'd1/m1', 'd2'], { deviceId: 'd1' }); // ['d1', 'd1/m1']
 */
export function keysCovering(keys: Iterable<string>, identity: Identity): string[] {
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

/** What the registry asks of the rest of the hub. */
export interface RegistryHooks {
  /** Close the live connections of `identity` (a device's include its modules'). */
  closeConnections(identity: Identity, error: HubError): void;
  /** An identity was deleted: drop its C2D queue and persistent session. */
  forget(key: string): Promise<void>;
}

/**
 * The registry of one hub.
 *
 * @example
 * const registry = new Registry(context, hooks);
 * await registry.createIdentity({ deviceId: 'dev1' });
 */
export class Registry {
  readonly #ctx: HubContext;
  readonly #hooks: RegistryHooks;
  readonly #identities = new Map<string, StoredIdentity>();

  constructor(context: HubContext, hooks: RegistryHooks) {
    this.#ctx = context;
    this.#hooks = hooks;
  }

  /** Puts an identity read back from storage (at start-up: nothing is connected yet). */
  load(stored: StoredIdentity): void {
    stored.activity.connectionState = 'Disconnected';
    this.#identities.set(identityKey(stored.record), stored);
  }

  /** The stored identity under `key`, if any. */
  get(key: string): StoredIdentity | undefined {
    return this.#identities.get(key);
  }

  /** Every identity key. */
  keys(): IterableIterator<string> {
    return this.#identities.keys();
  }

  /** Notes device activity (message, twin request) now. */
  touch(key: string, now: string = this.#ctx.iso()): StoredIdentity | undefined {
    const stored = this.#identities.get(key);
    if (stored !== undefined) stored.activity.lastActivityTime = now;
    return stored;
  }

  /** Writes an identity's volatile state (connection state, activity) in the background. */
  persist(stored: StoredIdentity): void {
    this.#ctx.storage.saveIdentity(this.#ctx.name, stored).catch((err: unknown) => {
      this.#ctx.log.error({ err, deviceId: stored.record.deviceId }, 'failed to persist identity');
    });
  }

  /** Writes an identity (with its twin) before a change is acknowledged. */
  async save(stored: StoredIdentity): Promise<void> {
    await this.#ctx.storage.saveIdentity(this.#ctx.name, stored);
  }

  /** The stored identity, or `HUB_DEVICE_NOT_FOUND` / `HUB_MODULE_NOT_FOUND`. */
  require(identity: Identity): StoredIdentity {
    const stored = this.#identities.get(identityKey(identity));
    if (stored === undefined) {
      if (identity.moduleId !== undefined) {
        throw new HubError(
          'HUB_MODULE_NOT_FOUND',
          `Module ${identity.moduleId} of device ${identity.deviceId} is not registered in hub ${this.#ctx.hostName}.`,
        );
      }
      throw new HubError(
        'HUB_DEVICE_NOT_FOUND',
        `Device ${identity.deviceId} is not registered in hub ${this.#ctx.hostName}.`,
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
            `Device ${identity.deviceId} already exists in hub ${this.#ctx.hostName}.`,
          )
        : new HubError(
            'HUB_MODULE_ALREADY_EXISTS',
            `Module ${identity.moduleId} already exists on device ${identity.deviceId}.`,
          );
    }
    if (identity.moduleId !== undefined) this.require({ deviceId: identity.deviceId });
    const now = this.#ctx.iso();
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
    await this.#ctx.storage.saveIdentity(this.#ctx.name, stored);
    this.#identities.set(key, stored);
    this.#ctx.events.emit({ type: 'identityChanged', hub: this.#ctx.name, identity, deleted: false });
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
    const stored = this.require(identity);
    this.checkEtag(ifMatch, stored.record.etag);
    const previous = stored.record;
    const status = input.status ?? previous.status;
    const record: IdentityRecord = {
      ...previous,
      etag: nextEtag(previous.etag),
      status,
      statusReason: input.statusReason !== undefined ? input.statusReason : previous.statusReason,
      statusUpdatedTime: status !== previous.status ? this.#ctx.iso() : previous.statusUpdatedTime,
      authentication: this.#authentication(input.authentication ?? previous.authentication, previous.authentication),
      capabilities: { iotEdge: input.capabilities?.iotEdge ?? previous.capabilities.iotEdge },
    };
    const next = { ...stored, record };
    await this.#ctx.storage.saveIdentity(this.#ctx.name, next);
    this.#identities.set(identityKey(identity), next);
    if (record.status === 'disabled') {
      this.#hooks.closeConnections(
        identity,
        new HubError('HUB_DEVICE_DISABLED', `Device ${identity.deviceId} was disabled.`),
      );
    }
    this.#ctx.events.emit({ type: 'identityChanged', hub: this.#ctx.name, identity, deleted: false });
    return record;
  }

  /** IoT Hub's `If-Match` rule: absent, `*` or the current etag in quotes; anything else is 412. */
  checkEtag(ifMatch: string | undefined, current: string): void {
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
    const stored = this.require(identity);
    this.checkEtag(ifMatch, stored.record.etag);
    const keys = keysCovering(this.#identities.keys(), identity);
    for (const key of keys) {
      const victim = this.#identities.get(key);
      if (victim === undefined) continue;
      this.#hooks.closeConnections(victim.record, new HubError('HUB_DEVICE_NOT_FOUND', `Identity ${key} was deleted.`));
      await this.#ctx.storage.deleteIdentity(this.#ctx.name, key);
      await this.#hooks.forget(key);
      this.#identities.delete(key);
      this.#ctx.events.emit({ type: 'identityChanged', hub: this.#ctx.name, identity: victim.record, deleted: true });
    }
  }

  /** The registry record. */
  getIdentity(identity: Identity): StoredIdentity {
    return this.require(identity);
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
}
