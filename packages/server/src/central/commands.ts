/**
 * Commands through the Central application (protocol.md §6.5, §7.7): a command of the device's
 * template runs as a direct method named `component*command` (or `command` at the root), its request
 * checked against the template first and its response checked after, with the reason when it does not
 * match; a command marked queue-if-offline (`durable`) is sent as a cloud-to-device message with the
 * `method-name` property and a 24-hour time to live instead, delivered when the device connects. An
 * IoT Edge device's module commands run as direct methods on the module, checked against the module's
 * capability model. Each invocation is kept in the command's history (newest first).
 */
import { randomUUID } from 'node:crypto';
import { validateCommandPayload, type DtdlModel, type ModelElement } from '@plugboard/dtdl';
import { HubError } from '../errors.js';
import type { JsonObject, JsonValue } from '../core/model.js';
import type { Storage } from '../storage/port.js';
import type { CentralDevices } from './devices.js';
import { CentralError } from './errors.js';
import { interfaceOf } from './property-view.js';
import { capabilityScope, type DeviceTemplates } from './templates.js';

/** One invocation, in Central's `DeviceCommand` shape plus Plugboard's outcome fields. */
export interface DeviceCommand {
  id: string;
  request?: JsonValue;
  response?: JsonValue;
  responseCode?: number;
  connectionTimeout?: number;
  responseTimeout?: number;
  /** `completed` (the device answered), `queued` (offline command sent as C2D), `failed`. */
  status: 'completed' | 'queued' | 'failed';
  /** Why the response does not match the command's response schema. */
  responseIssues?: string[];
  /** Why the command failed. */
  error?: string;
  invokedAt: string;
}

const HISTORY_KIND = 'central-command-history';
const HISTORY_LENGTH = 20;
const OFFLINE_TTL_MS = 24 * 3600_000;
const BODY_FIELDS = new Set(['request', 'connectionTimeout', 'responseTimeout']);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function timeout(body: JsonObject, name: string, min: number, max: number): number | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CentralError(
      'CENTRAL_BAD_REQUEST',
      `${name} must be an integer number of seconds from ${min} to ${max}.`,
    );
  }
  return value;
}

/**
 * Runs commands and keeps their history.
 *
 * @example
 * const result = await commands.run('thermo-1', 'thermostat1', 'getMaxMinReport', { request: '2026-01-01T00:00:00Z' });
 * result.responseCode; // 200
 */
export class CentralCommands {
  readonly #devices: CentralDevices;
  readonly #templates: DeviceTemplates;
  readonly #storage: Storage;
  readonly #history = new Map<string, DeviceCommand[]>();
  readonly #now: () => number;

  private constructor(options: CentralCommandsOptions) {
    this.#devices = options.devices;
    this.#templates = options.templates;
    this.#storage = options.storage;
    this.#now = options.now ?? Date.now;
  }

  /** Loads the stored histories. */
  static async open(options: CentralCommandsOptions): Promise<CentralCommands> {
    const commands = new CentralCommands(options);
    for (const [key, entries] of (await options.storage.loadDocuments(HISTORY_KIND)) as Map<string, DeviceCommand[]>) {
      commands.#history.set(key, entries);
    }
    return commands;
  }

  /** The invocations of a command (of the device, or of its edge module `module`), newest first. */
  history(deviceId: string, component: string | undefined, name: string, module?: string): DeviceCommand[] {
    const { key } = this.#command(deviceId, component, name, module);
    return this.#history.get(key) ?? [];
  }

  /**
   * Runs a command: `body` is `{"request", "connectionTimeout" (0–30 s), "responseTimeout" (5–30 s)}`.
   * Resolves with the invocation once the device (or its edge module `module`) answered, or the offline
   * command was queued.
   */
  async run(
    deviceId: string,
    component: string | undefined,
    name: string,
    body: unknown,
    module?: string,
  ): Promise<DeviceCommand> {
    if (body !== undefined && body !== null && !isObject(body)) {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'The command body must be a JSON object: {"request": …}.');
    }
    const input = (body ?? {}) as JsonObject;
    for (const key of Object.keys(input)) {
      if (!BODY_FIELDS.has(key)) {
        throw new CentralError(
          'CENTRAL_BAD_REQUEST',
          `Unknown command field ${JSON.stringify(key)}; a command has request, connectionTimeout and responseTimeout.`,
        );
      }
    }
    const connectionTimeout = timeout(input, 'connectionTimeout', 0, 30);
    const responseTimeout = timeout(input, 'responseTimeout', 5, 30);
    const { key, template, command, device } = this.#command(deviceId, component, name, module);
    const request = input['request'];
    const requestCheck = validateCommandPayload(
      template.model,
      template.modelId,
      name,
      request === undefined ? undefined : { value: request },
      'request',
      component === undefined ? {} : { component },
    );
    if (!requestCheck.ok) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        `The command request is refused: ${requestCheck.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}.`,
      );
    }
    const invocation: DeviceCommand = {
      id: randomUUID(),
      status: 'failed',
      invokedAt: new Date(this.#now()).toISOString(),
    };
    if (request !== undefined) invocation.request = request;
    if (connectionTimeout !== undefined) invocation.connectionTimeout = connectionTimeout;
    if (responseTimeout !== undefined) invocation.responseTimeout = responseTimeout;
    const methodName = component === undefined ? name : `${component}*${name}`;
    const target = this.#devices.hubIdentity(device, module);
    if (target === undefined) {
      throw new CentralError(
        'CENTRAL_DEVICE_NOT_CONNECTED',
        module === undefined
          ? `Device ${device} has not provisioned yet, so no command can reach it.`
          : `Module ${module} of device ${device} is not on its hub yet, so no command can reach it.`,
      );
    }
    if (command.undefinedProperties['durable'] === true && module !== undefined) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        `Command ${name} of module ${module} is marked offline (durable), but offline commands are cloud-to-device messages, which reach devices, not modules.`,
      );
    }
    if (command.undefinedProperties['durable'] === true) {
      await target.hub.sendC2d(target.identity, {
        body: Buffer.from(JSON.stringify(request ?? null)),
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        ack: 'none',
        expiresAt: this.#now() + OFFLINE_TTL_MS,
        properties: { 'method-name': methodName },
      });
      invocation.status = 'queued';
      invocation.responseCode = 202;
      await this.#record(key, invocation);
      return invocation;
    }
    try {
      const result = await target.hub.invokeMethod(target.identity, {
        methodName,
        ...(request === undefined ? {} : { payload: request }),
        connectTimeoutInSeconds: connectionTimeout ?? 0,
        responseTimeoutInSeconds: responseTimeout ?? 30,
      });
      invocation.status = 'completed';
      invocation.responseCode = result.status;
      if (result.payload !== null) invocation.response = result.payload;
      const responseCheck = validateCommandPayload(
        template.model,
        template.modelId,
        name,
        result.payload === null ? undefined : { value: result.payload },
        'response',
        component === undefined ? {} : { component },
      );
      if (!responseCheck.ok) invocation.responseIssues = responseCheck.issues.map((i) => `${i.path}: ${i.message}`);
    } catch (error) {
      invocation.error = error instanceof Error ? error.message : String(error);
      await this.#record(key, invocation);
      if (error instanceof HubError && error.code === 'HUB_DEVICE_NOT_ONLINE') {
        const who = module === undefined ? `Device ${device}` : `Module ${module} of device ${device}`;
        throw new CentralError('CENTRAL_DEVICE_NOT_CONNECTED', `${who} is not connected: ${error.message}`, {
          cause: error,
        });
      }
      if (error instanceof HubError && error.code === 'HUB_METHOD_TIMEOUT') {
        throw new CentralError('CENTRAL_COMMAND_TIMEOUT', `Device ${device} did not answer ${methodName} in time.`, {
          cause: error,
        });
      }
      throw error;
    }
    await this.#record(key, invocation);
    return invocation;
  }

  /** Forgets a deleted device's command histories. */
  async forget(deviceId: string): Promise<void> {
    const prefix = `${deviceId.toLowerCase()}/`;
    for (const key of [...this.#history.keys()]) {
      if (!key.startsWith(prefix)) continue;
      this.#history.delete(key);
      await this.#storage.deleteDocument(HISTORY_KIND, key);
    }
  }

  async #record(key: string, invocation: DeviceCommand): Promise<void> {
    const entries = [invocation, ...(this.#history.get(key) ?? [])].slice(0, HISTORY_LENGTH);
    this.#history.set(key, entries);
    await this.#storage.saveDocument(HISTORY_KIND, key, entries);
  }

  #command(
    deviceId: string,
    component: string | undefined,
    name: string,
    module: string | undefined,
  ): { key: string; device: string; template: { modelId: string; model: DtdlModel }; command: ModelElement } {
    const device = this.#devices.get(deviceId);
    if (device.template === undefined) {
      throw new CentralError('CENTRAL_NOT_FOUND', `Device ${device.id} has no template, so no commands.`);
    }
    const template = capabilityScope(this.#templates.get(device.template), module);
    const iface = interfaceOf(template, component);
    if (iface === undefined) {
      throw new CentralError('CENTRAL_NOT_FOUND', `The template of ${device.id} has no component ${component ?? ''}.`);
    }
    const id = iface.contents?.[name];
    const command = id === undefined ? undefined : template.model.get(id);
    if (command?.kind !== 'Command') {
      throw new CentralError(
        'CENTRAL_NOT_FOUND',
        `The template of ${device.id} defines no command ${name}${component === undefined ? '' : ` in component ${component}`}${module === undefined ? '' : ` of module ${module}`}.`,
      );
    }
    const method = component === undefined ? name : `${component}*${name}`;
    const key = `${device.id.toLowerCase()}/${module === undefined ? '' : `${module}/`}${method}`;
    return { key, device: device.id, template, command };
  }
}

/** Options for {@link CentralCommands.open}. */
export interface CentralCommandsOptions {
  devices: CentralDevices;
  templates: DeviceTemplates;
  storage: Storage;
  now?: () => number;
}
