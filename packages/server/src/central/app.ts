/**
 * The IoT Central application as a part of the platform: its id and host name, API tokens, device
 * templates and devices (properties, commands and telemetry views build on these). A sibling of the hubs
 * and DPS: it reads the platform's event stream and calls the core, never a protocol edge.
 */
import type { DtmiResolver } from '@plugboard/dtdl';
import type { ProvisioningService } from '../core/dps.js';
import type { PlatformEventStream } from '../core/events.js';
import { FaultInjector } from '../core/faults.js';
import type { Storage } from '../storage/port.js';
import { ApiTokens, CENTRAL_ROLES } from './api-tokens.js';
import { CentralCommands } from './commands.js';
import { CentralEnrollmentGroups } from './enrollment-groups.js';
import { CentralError } from './errors.js';
import { CentralFailover } from './failover.js';
import type { CentralHubs } from './hub-scaling.js';
import { CentralDevices, type DeviceAdmissionSettings } from './devices.js';
import { applicationEvent, type ApplicationEvent } from './live-events.js';
import { CentralProperties } from './properties.js';
import { componentsOf } from './property-view.js';
import type { JsonObject, JsonValue } from '../core/model.js';
import { CentralTelemetry } from './telemetry.js';
import { DeviceTimeline } from './timeline.js';
import { capabilityScope, DeviceTemplates } from './templates.js';

/** Options for {@link CentralApp.open}. */
export interface CentralAppOptions {
  /** The application id: the first label of its host name, and the `sr` of its API tokens. */
  appId: string;
  /** The host name its REST API answers on (`{appId}.{domain}`). */
  hostName: string;
  storage: Storage;
  /** The provisioning service the application's devices register with (the app admits them). */
  dps: ProvisioningService;
  /** The platform's event stream (connections announce model ids). */
  events: PlatformEventStream;
  /** The platform's fault injection, offered through the application's REST API. */
  faults?: FaultInjector;
  devices?: Partial<DeviceAdmissionSettings>;
  /** Where models that templates reference are looked up (a model repository folder, say). */
  resolver?: DtmiResolver;
  now?: () => number;
  /** Where failures of event handling are reported (a log). */
  onError?: (error: unknown) => void;
}

const SETTINGS_KIND = 'central-settings';
/** The enrollment groups a new application has, as IoT Central creates them. */
export const DEFAULT_GROUPS = { devices: 'SAS-IoT-Devices', edgeDevices: 'SAS-IoT-Edge-Devices' } as const;
/** The token `plugboard up` creates on first start and writes to plugboard.json. */
export const ADMIN_TOKEN_ID = 'plugboard-admin';

/**
 * One Central application.
 *
 * @example
 * const central = await CentralApp.open({ appId: 'plugboard', hostName: 'plugboard.central.local', storage, dps, events });
 * central.adminToken; // 'SharedAccessSignature sr=plugboard&sig=…&skn=plugboard-admin&se=…'
 */
export class CentralApp {
  readonly appId: string;
  readonly hostName: string;
  readonly tokens: ApiTokens;
  readonly templates: DeviceTemplates;
  readonly devices: CentralDevices;
  readonly telemetry: CentralTelemetry;
  readonly properties: CentralProperties;
  readonly commands: CentralCommands;
  readonly enrollmentGroups: CentralEnrollmentGroups;
  /** Manual failover and failback of devices. */
  readonly failover: CentralFailover;
  /** The platform's fault injection. */
  readonly faults: FaultInjector;
  /** What the server saw each device do (provisioning, connects, refusals, disconnects). */
  readonly timeline: DeviceTimeline;
  /** The provisioning service the application's devices register with. */
  readonly dps: ProvisioningService;
  /** The admin API token created on first start (written to plugboard.json). */
  readonly adminToken: string;

  readonly #stopEvents: () => void;
  readonly #events: PlatformEventStream;
  #hubs: CentralHubs | undefined;

  private constructor(
    options: CentralAppOptions,
    parts: {
      tokens: ApiTokens;
      templates: DeviceTemplates;
      devices: CentralDevices;
      telemetry: CentralTelemetry;
      commands: CentralCommands;
      enrollmentGroups: CentralEnrollmentGroups;
      failover: CentralFailover;
    },
    adminToken: string,
    onError: (error: unknown) => void,
  ) {
    this.appId = options.appId;
    this.hostName = options.hostName;
    this.tokens = parts.tokens;
    this.templates = parts.templates;
    this.devices = parts.devices;
    this.telemetry = parts.telemetry;
    this.properties = new CentralProperties({ devices: parts.devices, templates: parts.templates });
    this.commands = parts.commands;
    this.enrollmentGroups = parts.enrollmentGroups;
    this.failover = parts.failover;
    this.faults = options.faults ?? new FaultInjector();
    this.timeline = new DeviceTimeline((deviceId) => this.devices.find(deviceId)?.id);
    this.adminToken = adminToken;
    this.#events = options.events;
    this.dps = options.dps;
    this.#stopEvents = options.events.subscribe((event) => {
      this.timeline.record(event);
      this.devices.onEvent(event).catch(onError);
    });
  }

  /** The application's internal hubs, to list, add and remove (when its platform can open hubs). */
  get hubs(): CentralHubs {
    if (this.#hubs === undefined) {
      throw new CentralError('CENTRAL_NOT_FOUND', 'This application runs without a platform that can open hubs.');
    }
    return this.#hubs;
  }

  /** Gives the application its hub set (the platform does, once its hubs run). */
  useHubs(hubs: CentralHubs): void {
    this.#hubs = hubs;
  }

  /** Deletes a device with everything the application keeps about it (its stored messages stay). */
  async deleteDevice(deviceId: string): Promise<void> {
    const id = this.devices.get(deviceId).id;
    await this.devices.delete(id);
    await this.failover.forget(id);
    this.timeline.forget(id);
    await this.telemetry.forget(id);
    await this.commands.forget(id);
  }

  /** Calls `listener` with every application event until the returned function is called. */
  watch(listener: (event: ApplicationEvent) => void): () => void {
    const context = {
      deviceOf: (deviceId: string) => this.devices.find(deviceId)?.id,
      templateOf: (deviceId: string) => this.telemetry.templateOf(deviceId),
    };
    return this.#events.subscribe(
      (event) => {
        const out = applicationEvent(event, context);
        if (out !== undefined) listener(out);
      },
      { maxQueued: 10_000 },
    );
  }

  /**
   * The components of a device's template (or of its edge module `module`):
   * `[{"@type": "Component", name, displayName?, description?}]`.
   */
  components(deviceId: string, module?: string): JsonObject[] {
    const device = this.devices.get(deviceId);
    if (device.template === undefined) {
      if (module !== undefined) throw new CentralError('CENTRAL_NOT_FOUND', `Device ${device.id} has no modules.`);
      return [];
    }
    const scope = capabilityScope(this.templates.get(device.template), module);
    return componentsOf(scope).map((name) => {
      const id = scope.model.get(scope.modelId)?.contents?.[name];
      const element = id === undefined ? undefined : scope.model.get(id);
      const out: JsonObject = { '@type': 'Component', name };
      const displayName = element?.displayName['en'];
      const description = element?.description['en'];
      if (displayName !== undefined) out['displayName'] = displayName;
      if (description !== undefined) out['description'] = description;
      return out;
    });
  }

  /**
   * The IoT Edge modules of a device's template, as Central lists them:
   * `[{"@type": ["Relationship", "EdgeModule"], name, displayName?, description?}]`.
   */
  modules(deviceId: string): JsonObject[] {
    const device = this.devices.get(deviceId);
    if (device.template === undefined) return [];
    return this.templates.get(device.template).modules.map((module) => {
      const out: JsonObject = { '@type': ['Relationship', 'EdgeModule'], name: module.name };
      const text = (value: JsonValue | undefined): JsonValue | undefined =>
        typeof value === 'object' && value !== null && !Array.isArray(value) ? (value['en'] ?? undefined) : value;
      const displayName = text(module.displayName);
      const description = text(module.description);
      if (displayName !== undefined) out['displayName'] = displayName;
      if (description !== undefined) out['description'] = description;
      return out;
    });
  }

  /** Stops following the event stream, saves the telemetry state and lets DPS admit devices without the application. */
  async close(): Promise<void> {
    this.#stopEvents();
    this.failover.close();
    this.devices.detach();
    await this.telemetry.close();
  }

  /** Loads (or initialises) the application. */
  static async open(options: CentralAppOptions): Promise<CentralApp> {
    const { storage } = options;
    const tokens = await ApiTokens.open({
      appId: options.appId,
      storage,
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    const settings = (await storage.loadDocuments(SETTINGS_KIND)).get('admin') as { token: string } | undefined;
    let adminToken = settings?.token;
    const stillValid =
      adminToken !== undefined &&
      (() => {
        try {
          tokens.authorize(adminToken, 'administer');
          return true;
        } catch {
          return false;
        }
      })();
    if (!stillValid) {
      // Ten years: the local application's own key; revoke it by deleting the token.
      const expiry = new Date((options.now ?? Date.now)() + 10 * 365 * 86_400_000).toISOString();
      adminToken = (await tokens.create(ADMIN_TOKEN_ID, [{ role: CENTRAL_ROLES.admin }], expiry)).token;
      await storage.saveDocument(SETTINGS_KIND, 'admin', { token: adminToken });
    }
    const templates = await DeviceTemplates.open({
      storage,
      ...(options.resolver === undefined ? {} : { resolver: options.resolver }),
    });
    const devices = await CentralDevices.open({
      storage,
      templates,
      dps: options.dps,
      autoTemplate: (modelId) => templates.fromRepository(modelId),
      ...(options.devices === undefined ? {} : { settings: options.devices }),
    });
    const enrollmentGroups = await CentralEnrollmentGroups.open({ storage, dps: options.dps });
    // A new application has the two SAS groups IoT Central creates (keys generated).
    const initialised = (await storage.loadDocuments(SETTINGS_KIND)).get('enrollment-groups') !== undefined;
    if (!initialised) {
      if (options.dps.listEnrollmentGroups().length === 0) {
        for (const [id, type] of [
          [DEFAULT_GROUPS.devices, 'iot'],
          [DEFAULT_GROUPS.edgeDevices, 'iotEdge'],
        ] as const) {
          await enrollmentGroups.put(id, {
            displayName: id,
            type,
            enabled: true,
            attestation: { type: 'symmetricKey' },
          });
        }
      }
      await storage.saveDocument(SETTINGS_KIND, 'enrollment-groups', { initialised: true });
    }
    const onError = options.onError ?? (() => undefined);
    const telemetry = await CentralTelemetry.open({ storage, devices, templates, events: options.events, onError });
    const commands = await CentralCommands.open({ devices, templates, storage });
    const failover = await CentralFailover.open({
      storage,
      devices,
      dps: options.dps,
      onError,
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    return new CentralApp(
      options,
      { tokens, templates, devices, telemetry, commands, enrollmentGroups, failover },
      adminToken ?? '',
      onError,
    );
  }
}
