/**
 * The devices of a Central application (protocol.md §7.4, az-central-wire.md): the record the REST API
 * shows — `{id, etag, displayName, template, enabled, provisioned, simulated, organizations}` — and how
 * it drives the provisioning service and the hubs. A device registering through DPS is admitted or
 * refused here (blocked, or waiting for approval when auto-approve is off: DPS answers 400209), is
 * marked provisioned once assigned, and is given the template whose capability model it announces (in
 * its DPS payload, or in its MQTT `model-id` when it connects). Blocking disables its hub identity, which
 * drops its connections and refuses new ones; unblocking enables it again.
 */
import { createHash } from 'node:crypto';
import { DpsError } from '../core/dps-errors.js';
import type { ProvisioningService } from '../core/dps.js';
import type {
  Attestation,
  IndividualEnrollment,
  RegistrationAdmission,
  RegistrationRecord,
} from '../core/dps-types.js';
import type { PlatformEvent } from '../core/events.js';
import type { Hub } from '../core/hub.js';
import type { Identity, JsonObject } from '../core/model.js';
import { hmacBase64 } from '../core/sas.js';
import type { Storage } from '../storage/port.js';
import { checkDeviceBody, checkDeviceEtag, checkDeviceId, mergePatch } from './device-input.js';
import { CentralError } from './errors.js';
import type { DeviceTemplates } from './templates.js';

/** A stored device. */
export interface CentralDevice {
  id: string;
  displayName: string;
  /** The assigned template's id; absent while the device is unassigned. */
  template?: string;
  enabled: boolean;
  provisioned: boolean;
  simulated: boolean;
  organizations: string[];
  etag: string;
  /** The model id the device last announced (DPS payload or MQTT `model-id`). */
  modelId?: string;
  /** The hub DPS assigned it to. */
  hub?: string;
  /** It registered by itself while auto-approve was off and has not been approved (enabled) since. */
  awaitingApproval?: boolean;
  /** Writable-property values set before the device provisioned: its first desired patch. */
  pendingDesired?: JsonObject;
}

/** Status as the UI and `az iot central device registration-info` derive it (protocol.md §7.4). */
export type CentralDeviceStatus = 'waitingForApproval' | 'blocked' | 'unassociated' | 'registered' | 'provisioned';

/** Application settings that decide what happens to a device registering for the first time. */
export interface DeviceAdmissionSettings {
  /** A device unknown to the application that registers with group credentials is enabled (default true). */
  autoApprove: boolean;
}

/** Options for {@link CentralDevices.open}. */
export interface CentralDevicesOptions {
  storage: Storage;
  templates: DeviceTemplates;
  dps: ProvisioningService;
  settings?: Partial<DeviceAdmissionSettings>;
  /** Makes a template for a model id no template has yet (from a model repository); true if it did. */
  autoTemplate?: (modelId: string) => Promise<boolean>;
}

const KIND = 'central-device';
const MAX_PAGE = 100;
const BLOCKED_REASON = 'blocked by an operator in the IoT Central application';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function etagOf(device: Omit<CentralDevice, 'etag'>): string {
  const { hub: _hub, modelId: _modelId, pendingDesired: _pending, awaitingApproval: _awaiting, ...shown } = device;
  return `"${createHash('sha256').update(JSON.stringify(shown)).digest('base64url').slice(0, 22)}"`;
}

/** The device's status, in the order the CLI derives it. */
export function deviceStatus(device: CentralDevice): CentralDeviceStatus {
  if (!device.enabled) return device.awaitingApproval === true ? 'waitingForApproval' : 'blocked';
  if (device.template === undefined) return 'unassociated';
  return device.provisioned ? 'provisioned' : 'registered';
}

/**
 * The devices of one application; the DPS admission of the platform.
 *
 * @example
 * const devices = await CentralDevices.open({ storage, templates, dps });
 * await devices.put('thermostat-1', { displayName: 'Thermostat 1', template: 'dtmi:com:example:Thermostat;1' });
 */
export class CentralDevices implements RegistrationAdmission {
  readonly settings: DeviceAdmissionSettings;
  readonly #storage: Storage;
  readonly #templates: DeviceTemplates;
  readonly #dps: ProvisioningService;
  readonly #autoTemplate: ((modelId: string) => Promise<boolean>) | undefined;
  readonly #devices = new Map<string, CentralDevice>();

  private constructor(options: CentralDevicesOptions) {
    this.#storage = options.storage;
    this.#templates = options.templates;
    this.#dps = options.dps;
    this.#autoTemplate = options.autoTemplate;
    this.settings = { autoApprove: options.settings?.autoApprove ?? true };
  }

  /**
   * Loads the stored devices, adds every DPS registration the application does not know yet (devices
   * provisioned before it existed), and becomes the provisioning service's admission.
   */
  static async open(options: CentralDevicesOptions): Promise<CentralDevices> {
    const devices = new CentralDevices(options);
    for (const [key, stored] of (await options.storage.loadDocuments(KIND)) as Map<string, CentralDevice>) {
      devices.#devices.set(key, stored);
    }
    for (const record of options.dps.listRegistrations()) {
      if (!devices.#devices.has(record.registrationId.toLowerCase())) await devices.assigned(record);
    }
    options.dps.setAdmission(devices);
    return devices;
  }

  /** Stops admitting for the provisioning service (the application is closing). */
  detach(): void {
    this.#dps.setAdmission(undefined);
  }

  /** The device, or `CENTRAL_NOT_FOUND`. */
  get(id: string): CentralDevice {
    const device = this.#devices.get(id.toLowerCase());
    if (device === undefined) throw new CentralError('CENTRAL_NOT_FOUND', `Device ${id} does not exist.`);
    return device;
  }

  /** The device, if the application has it. */
  find(id: string): CentralDevice | undefined {
    return this.#devices.get(id.toLowerCase());
  }

  /**
   * The hub identity of a registered device (on the hub DPS assigned it to), or of its module
   * `moduleId` there, if the hub has it.
   */
  hubIdentity(id: string, moduleId?: string): { hub: Hub; identity: Identity } | undefined {
    const registration = this.#registration(id);
    const hub = registration === undefined ? undefined : this.#dps.hubs.get(registration.hub);
    if (registration === undefined || hub === undefined) return undefined;
    const identity: Identity =
      moduleId === undefined ? { deviceId: registration.deviceId } : { deviceId: registration.deviceId, moduleId };
    return hub.has(identity) ? { hub, identity } : undefined;
  }

  /**
   * A page of devices in id order after `after` (the last id of the previous page); only those with
   * `template`, with `status`, or whose id or display name contains `search` (any case), when given.
   */
  list(
    options: { top?: number; after?: string; template?: string; status?: CentralDeviceStatus; search?: string } = {},
  ): {
    devices: CentralDevice[];
    more: boolean;
  } {
    const top = Math.min(options.top ?? MAX_PAGE, MAX_PAGE);
    const after = options.after?.toLowerCase();
    const search = options.search?.toLowerCase();
    const sorted = [...this.#devices.entries()]
      .filter(
        ([key, d]) =>
          (after === undefined || key > after) &&
          (options.template ?? d.template) === d.template &&
          (options.status === undefined || deviceStatus(d) === options.status) &&
          (search === undefined || key.includes(search) || d.displayName.toLowerCase().includes(search)),
      )
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, d]) => d);
    return { devices: sorted.slice(0, top), more: sorted.length > top };
  }

  /** Whether a device is assigned the template (templates in use cannot be deleted). */
  usesTemplate(templateId: string): boolean {
    for (const d of this.#devices.values()) if (d.template === templateId) return true;
    return false;
  }

  /**
   * Creates device `id` (`PUT /devices/{id}`), or replaces its writable fields. The body holds
   * `displayName`, `template`, `enabled`, `simulated`, `organizations`; `id`, `etag` and `provisioned`
   * are read-only and ignored, as `az iot central device update` echoes them. A stale `etag` (in the
   * body or `If-Match`) is refused.
   */
  async put(id: string, input: unknown, ifMatch?: string): Promise<CentralDevice> {
    checkDeviceId(id);
    const changes = checkDeviceBody(input);
    const previous = this.find(id);
    checkDeviceEtag(
      ifMatch ?? (isObject(input) && typeof input['etag'] === 'string' ? input['etag'] : undefined),
      previous,
    );
    const next: Omit<CentralDevice, 'etag'> = {
      id: previous?.id ?? id,
      displayName: changes.displayName ?? previous?.displayName ?? id,
      enabled: changes.enabled ?? previous?.enabled ?? true,
      provisioned: previous?.provisioned ?? false,
      simulated: changes.simulated ?? previous?.simulated ?? false,
      organizations: changes.organizations ?? previous?.organizations ?? [],
      ...(previous?.hub === undefined ? {} : { hub: previous.hub }),
      ...(previous?.modelId === undefined ? {} : { modelId: previous.modelId }),
      ...(previous?.pendingDesired === undefined ? {} : { pendingDesired: previous.pendingDesired }),
    };
    // Enabling a device approves it, disabling it blocks it; until then one that registered by itself
    // keeps waiting.
    if (previous?.awaitingApproval === true && changes.enabled === undefined && !next.enabled) {
      next.awaitingApproval = true;
    }
    const template = 'template' in changes ? changes.template : previous?.template;
    if (template !== undefined && template !== null) next.template = template;
    return this.#store(next, previous);
  }

  /** `PATCH /devices/{id}`: the fields given change, the others stay. */
  async patch(id: string, input: unknown, ifMatch?: string): Promise<CentralDevice> {
    const current = this.get(id);
    checkDeviceBody(input);
    return this.put(current.id, input, ifMatch);
  }

  /** Deletes the device, its DPS registration, its own attestation and its hub identity. */
  async delete(id: string): Promise<void> {
    this.get(id);
    const key = id.toLowerCase();
    const target = this.hubIdentity(key);
    if (target !== undefined) await target.hub.deleteIdentity(target.identity, '*');
    const registration = this.#registration(key);
    if (registration !== undefined) await this.#dps.deleteRegistration(registration.registrationId);
    const own = this.individualEnrollment(key);
    if (own !== undefined) await this.#dps.deleteIndividualEnrollment(own.registrationId);
    await this.#storage.deleteDocument(KIND, key);
    this.#devices.delete(key);
  }

  /**
   * `GET /devices/{id}/credentials`: the ID scope and the device's keys, derived from the application's
   * SAS enrollment group (`SAS-IoT-Devices` first) as a device computes them (protocol.md §2.6).
   */
  credentials(id: string, preferredGroup = 'SAS-IoT-Devices'): JsonObject {
    const device = this.get(id);
    const own = this.individualEnrollment(device.id)?.attestation;
    if (own?.type === 'symmetricKey') {
      return { idScope: this.#dps.idScope, symmetricKey: { ...own.symmetricKey } };
    }
    if (own?.type === 'x509') return { idScope: this.#dps.idScope, x509: { clientCertificates: {} } };
    const groups = this.#dps
      .listEnrollmentGroups()
      .filter((g) => g.attestation.type === 'symmetricKey' && g.provisioningStatus === 'enabled')
      .sort((a, b) => Number(b.enrollmentGroupId === preferredGroup) - Number(a.enrollmentGroupId === preferredGroup));
    const group = groups[0];
    if (group === undefined || group.attestation.type !== 'symmetricKey') {
      throw new CentralError(
        'CENTRAL_NOT_FOUND',
        'The application has no enabled SAS enrollment group to derive keys from.',
      );
    }
    const { primaryKey, secondaryKey } = group.attestation.symmetricKey;
    return {
      idScope: this.#dps.idScope,
      symmetricKey: {
        primaryKey: hmacBase64(primaryKey, device.id),
        secondaryKey: hmacBase64(secondaryKey, device.id),
      },
    };
  }

  /** The device's own attestation (its individual enrollment), if it has one. */
  individualEnrollment(id: string): IndividualEnrollment | undefined {
    this.get(id);
    return this.#dps.listIndividualEnrollments().find((e) => e.registrationId.toLowerCase() === id.toLowerCase());
  }

  /**
   * Gives the device an attestation of its own (an individual enrollment, which takes precedence over
   * the groups), or replaces it.
   */
  async putAttestation(id: string, attestation: Attestation): Promise<IndividualEnrollment> {
    const device = this.get(id);
    try {
      return await this.#dps.putIndividualEnrollment(device.id, { attestation });
    } catch (error) {
      if (error instanceof DpsError && (error.code === 'DPS_BAD_REQUEST' || error.code === 'DPS_INVALID_CERTIFICATE')) {
        throw new CentralError('CENTRAL_BAD_REQUEST', error.message, { cause: error });
      }
      throw error;
    }
  }

  /** Removes the device's own attestation: it provisions through the enrollment groups again. */
  async deleteAttestation(id: string): Promise<void> {
    const enrollment = this.individualEnrollment(id);
    if (enrollment === undefined) {
      throw new CentralError(
        'CENTRAL_NOT_FOUND',
        `Device ${id} has no attestation of its own; it uses the enrollment groups.`,
      );
    }
    await this.#dps.deleteIndividualEnrollment(enrollment.registrationId);
  }

  /** The REST view: the eight fields of the Device model (template only when assigned). */
  view(device: CentralDevice): JsonObject {
    const out: JsonObject = {
      id: device.id,
      etag: device.etag,
      displayName: device.displayName,
      enabled: device.enabled,
      provisioned: device.provisioned,
      simulated: device.simulated,
      organizations: device.organizations,
    };
    if (device.template !== undefined) out['template'] = device.template;
    return out;
  }

  /**
   * Plugboard's fuller view of a device: the REST fields, its status, where it is registered, what it
   * announced, and its connection from the hub (state, when it changed, last activity).
   */
  details(id: string): JsonObject {
    const device = this.get(id);
    const out: JsonObject = { ...this.view(device), status: deviceStatus(device), connected: false };
    if (device.modelId !== undefined) out['modelId'] = device.modelId;
    const registration = this.#registration(device.id.toLowerCase());
    if (registration !== undefined) {
      // Where DPS has it and why: its first hub, and how it got where it is (e.g. deviceDataMigrated).
      out['registration'] = {
        hub: registration.hub,
        assignedHub: this.#dps.hubs.get(registration.hub)?.hostName ?? registration.hub,
        initialHub: registration.initialHub,
        status: registration.status,
        substatus: registration.substatus,
        lastUpdatedDateTimeUtc: registration.lastUpdatedDateTimeUtc,
      };
    }
    const target = this.hubIdentity(device.id);
    if (target !== undefined) {
      const { activity } = target.hub.getIdentity(target.identity);
      out['hub'] = target.hub.name;
      out['connected'] = activity.connectionState === 'Connected';
      out['connectionStateUpdatedTime'] = activity.connectionStateUpdatedTime;
      out['lastActivityTime'] = activity.lastActivityTime;
    }
    return out;
  }

  // ---------------------------------------------------------------- DPS admission

  /** DPS asks before assigning: unknown devices are added (enabled if auto-approve is on); disabled ones are refused. */
  async admit(registration: { registrationId: string; modelId?: string }): Promise<void> {
    let device = this.find(registration.registrationId);
    if (device === undefined) {
      device = await this.#store(
        {
          id: registration.registrationId,
          displayName: registration.registrationId,
          enabled: this.settings.autoApprove,
          ...(this.settings.autoApprove ? {} : { awaitingApproval: true }),
          provisioned: false,
          simulated: false,
          organizations: [],
          ...(registration.modelId === undefined ? {} : { modelId: registration.modelId }),
        },
        undefined,
      );
    }
    if (!device.enabled) {
      throw new DpsError(
        'DPS_DEVICE_BLOCKED',
        deviceStatus(device) === 'waitingForApproval'
          ? `Device ${device.id} is waiting for approval in the IoT Central application.`
          : `Device ${device.id} is blocked from connecting to the IoT Central application.`,
      );
    }
  }

  /** DPS assigned the device: it is provisioned, on that hub, and gets the template its model id selects. */
  async assigned(record: RegistrationRecord): Promise<void> {
    // Look the template up first (it may read the model repository), then read the device afresh, so
    // nothing an operator changed meanwhile is overwritten.
    const announced = record.modelId ?? this.find(record.registrationId)?.modelId;
    const found =
      this.find(record.registrationId)?.template === undefined ? await this.#templateFor(announced) : undefined;
    const previous = this.find(record.registrationId);
    const next: Omit<CentralDevice, 'etag'> = {
      id: previous?.id ?? record.deviceId,
      displayName: previous?.displayName ?? record.deviceId,
      enabled: previous?.enabled ?? true,
      provisioned: true,
      simulated: previous?.simulated ?? false,
      organizations: previous?.organizations ?? [],
      hub: record.hub,
      ...(previous?.pendingDesired === undefined ? {} : { pendingDesired: previous.pendingDesired }),
    };
    const modelId = record.modelId ?? previous?.modelId;
    if (modelId !== undefined) next.modelId = modelId;
    const template = previous?.template ?? found;
    if (template !== undefined) next.template = template;
    const stored = await this.#store(next, previous);
    if (!stored.enabled) {
      // Blocked while it registered: the identity DPS just enabled is disabled again.
      await this.#applyEnabled(stored);
      throw new DpsError(
        'DPS_DEVICE_BLOCKED',
        `Device ${stored.id} is blocked from connecting to the IoT Central application.`,
      );
    }
    // Properties set while the device had not provisioned become its first desired patch; they are
    // kept until the hub has taken them.
    const pending = stored.pendingDesired;
    const target = pending === undefined ? undefined : this.hubIdentity(stored.id);
    if (pending !== undefined && target !== undefined) {
      await target.hub.updateTwin(target.identity, { properties: { desired: pending } });
      const current = this.find(stored.id) ?? stored;
      const { pendingDesired: _sent, etag: _etag, ...rest } = current;
      await this.#store(rest, current);
    }
  }

  /**
   * Makes the device's hub identity match its `enabled` flag again (after something else — a move
   * between hubs — enabled it there).
   */
  async enforceEnabled(id: string): Promise<void> {
    const device = this.find(id);
    if (device !== undefined && !device.enabled) await this.#applyEnabled(device);
  }

  /**
   * Keeps writable-property values for a device that has not provisioned (merged as a JSON merge patch);
   * they are sent as its desired properties once it is assigned to a hub.
   */
  async queueDesired(id: string, patch: JsonObject): Promise<CentralDevice> {
    const device = this.get(id);
    const { etag: _etag, ...rest } = device;
    return this.#store({ ...rest, pendingDesired: mergePatch(device.pendingDesired ?? {}, patch) }, device);
  }

  /**
   * Events the devices follow: a device that announces a model id when it connects (MQTT `model-id`)
   * and has no template yet is assigned the template of that model.
   */
  async onEvent(event: PlatformEvent): Promise<void> {
    if (event.type !== 'connected' || event.modelId === '' || event.identity.moduleId !== undefined) return;
    const before = this.find(event.identity.deviceId);
    if (before === undefined || before.modelId === event.modelId) return;
    const found = before.template === undefined ? await this.#templateFor(event.modelId) : undefined;
    // Read afresh after the lookup: an operator may have changed or deleted the device meanwhile.
    const device = this.find(event.identity.deviceId);
    if (device === undefined) return;
    const { etag: _etag, ...rest } = device;
    const next: Omit<CentralDevice, 'etag'> = { ...rest, modelId: event.modelId };
    if (next.template === undefined && found !== undefined) next.template = found;
    await this.#store(next, device);
  }

  // ---------------------------------------------------------------- internals

  async #templateFor(modelId: string | undefined): Promise<string | undefined> {
    if (modelId === undefined) return undefined;
    const found = this.#templates.forModel(modelId);
    if (found !== undefined) return found.id;
    if (this.#autoTemplate !== undefined && (await this.#autoTemplate(modelId))) {
      return this.#templates.forModel(modelId)?.id;
    }
    return undefined;
  }

  #registration(key: string): RegistrationRecord | undefined {
    try {
      return this.#dps.getRegistration(key);
    } catch {
      return undefined;
    }
  }

  /** Saves the device; a change of `enabled` blocks or unblocks its hub identity first. */
  async #store(next: Omit<CentralDevice, 'etag'>, previous: CentralDevice | undefined): Promise<CentralDevice> {
    if (next.template !== undefined && next.template !== previous?.template) this.#templates.get(next.template);
    const device: CentralDevice = { ...next, etag: etagOf(next) };
    if (previous !== undefined && previous.enabled !== device.enabled) await this.#applyEnabled(device);
    const key = device.id.toLowerCase();
    await this.#storage.saveDocument(KIND, key, device);
    this.#devices.set(key, device);
    return device;
  }

  async #applyEnabled(device: CentralDevice): Promise<void> {
    const target = this.hubIdentity(device.id);
    if (target === undefined) return;
    const { deviceId } = target.identity;
    await target.hub.updateIdentity(
      device.enabled
        ? { deviceId, status: 'enabled', statusReason: null }
        : { deviceId, status: 'disabled', statusReason: BLOCKED_REASON },
      '*',
    );
  }
}
