/**
 * A hub's device twins: the service view (Azure twin JSON with `$metadata`), the device view, reported
 * patches from the device, the service's tag and desired updates (etags; desired pushed to the connected
 * device), and a twin imported from another hub (reprovisioning, failover). The document algebra is in
 * `core/twin-document.ts`.
 */
import { HubError } from '../../errors.js';
import { identityKey, type Identity, type JsonObject } from '../model.js';
import {
  applySectionPatch,
  applyTagsPatch,
  replaceSection,
  sectionForDevice,
  validateTwinPatch,
  versionEtag,
} from '../twin-document.js';
import type { Connections } from './connections.js';
import type { HubContext } from './context.js';
import type { Registry } from './registry.js';
import type { ConnectionHandle } from './types.js';

/**
 * Twins of one hub.
 *
 * @example
 * const twin = twins.getTwin({ deviceId: 'dev1' });
 */
export class Twins {
  readonly #ctx: HubContext;
  readonly #registry: Registry;
  readonly #connections: Connections;
  readonly #c2dQueueLength: (identity: Identity) => number;

  constructor(
    context: HubContext,
    registry: Registry,
    connections: Connections,
    c2dQueueLength: (identity: Identity) => number,
  ) {
    this.#ctx = context;
    this.#registry = registry;
    this.#connections = connections;
    this.#c2dQueueLength = c2dQueueLength;
  }

  /** Checks `If-Match` against the twin's etag (IoT Hub's rule, as for the registry). */
  #checkEtag(ifMatch: string | undefined, current: string): void {
    this.#registry.checkEtag(ifMatch, current);
  }

  /** The service view of a twin (Azure twin JSON). */
  getTwin(identity: Identity): JsonObject {
    const { record, twin, activity } = this.#registry.require(identity);
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
      cloudToDeviceMessageCount: this.#c2dQueueLength(identity),
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
    const stored = this.#registry.touch(handle.key) ?? this.#registry.require(handle.identity);
    return { desired: sectionForDevice(stored.twin.desired), reported: sectionForDevice(stored.twin.reported) };
  }

  /** A device's reported-properties patch. Resolves with the new reported `$version`. */
  async patchReported(handle: ConnectionHandle, patch: unknown): Promise<number> {
    const stored = this.#registry.touch(handle.key) ?? this.#registry.require(handle.identity);
    validateTwinPatch(patch, 'reported');
    const reported = applySectionPatch(stored.twin.reported, patch, this.#ctx.iso(), 'reported');
    const version = stored.twin.version + 1;
    stored.twin = { ...stored.twin, reported, version, etag: versionEtag(version) };
    await this.#registry.save(stored);
    this.#ctx.events.emit({
      type: 'twinChanged',
      hub: this.#ctx.name,
      identity: handle.identity,
      section: 'reported',
      version: reported.$version,
      patch,
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
    const stored = this.#registry.require(identity);
    this.#checkEtag(options.ifMatch, stored.twin.etag);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HubError('HUB_INVALID_ARGUMENT', 'The twin update must be a JSON object.');
    }
    const input = body as { tags?: unknown; properties?: { desired?: unknown; reported?: unknown } };
    if (input.properties?.reported !== undefined && input.properties.reported !== null) {
      throw new HubError('HUB_INVALID_ARGUMENT', 'Reported properties can only be set by the device.');
    }
    const now = this.#ctx.iso();
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
    await this.#registry.save(stored);
    if (tagsChanged) {
      this.#ctx.events.emit({
        type: 'twinChanged',
        hub: this.#ctx.name,
        identity,
        section: 'tags',
        version,
        patch: stored.twin.tags,
      });
    }
    if (desiredPatch !== undefined) {
      const desiredVersion = stored.twin.desired.$version;
      this.#ctx.events.emit({
        type: 'twinChanged',
        hub: this.#ctx.name,
        identity,
        section: 'desired',
        version: desiredVersion,
        patch: desiredPatch,
      });
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
    const stored = this.#registry.require(identity);
    const strip = (section: JsonObject): JsonObject => {
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(section)) if (!k.startsWith('$')) out[k] = v;
      return out;
    };
    const now = this.#ctx.iso();
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
    await this.#registry.save(stored);
    this.#ctx.events.emit({
      type: 'twinChanged',
      hub: this.#ctx.name,
      identity,
      section: 'desired',
      version: desired.$version,
      patch: sectionForDevice(desired),
    });
    this.#ctx.events.emit({
      type: 'twinChanged',
      hub: this.#ctx.name,
      identity,
      section: 'reported',
      version: reported.$version,
      patch: sectionForDevice(reported),
    });
    const handle = this.#connections.get(identityKey(identity));
    if (handle !== undefined && handle.endpoint.wantsDesired) {
      handle.endpoint.sendDesiredPatch(sectionForDevice(desired), desired.$version);
    }
  }
}
