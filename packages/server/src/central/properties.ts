/**
 * Device properties through the Central application: reads the device twin on the hub the device is
 * registered on and shows it per the template (property-view.ts); an operator's update is checked
 * against the template (writable properties only, values of their schema) and becomes a desired patch
 * with component markers, which the hub pushes to the connected device (or, before the device has
 * provisioned, kept and sent as its first desired patch). An IoT Edge device's modules have their own
 * properties: the module twin, shown per the module's capability model in the template.
 */
import { validatePropertyPatch } from '@plugboard/dtdl';
import type { Hub } from '../core/hub.js';
import type { Identity, JsonObject } from '../core/model.js';
import type { CentralDevices } from './devices.js';
import { CentralError } from './errors.js';
import {
  desiredPatch,
  interfaceOf,
  propertiesView,
  type PropertyTemplate,
  type TwinProperties,
} from './property-view.js';
import { capabilityScope, type DeviceTemplates } from './templates.js';

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The properties of application devices.
 *
 * @example
 * const properties = new CentralProperties({ devices, templates });
 * await properties.update('thermo-1', { targetTemperature: 22 }, 'thermostat1');
 */
export class CentralProperties {
  readonly #devices: CentralDevices;
  readonly #templates: DeviceTemplates;

  constructor(options: { devices: CentralDevices; templates: DeviceTemplates }) {
    this.#devices = options.devices;
    this.#templates = options.templates;
  }

  /**
   * The properties view of the root (`component` undefined) or of one component, of the device or of
   * its edge module `module`.
   */
  view(deviceId: string, component?: string, module?: string): JsonObject {
    const { template, twin } = this.#locate(deviceId, component, module);
    if (template === undefined) return { $metadata: {} };
    return propertiesView(template, twin ?? { desired: {}, reported: {} }, component);
  }

  /**
   * Sets writable properties: `{"targetTemperature": 22}` (of `component`, or root properties and
   * component objects at the root), of the device or of its edge module `module`. Answers the view
   * after the update.
   */
  async update(deviceId: string, body: unknown, component?: string, module?: string): Promise<JsonObject> {
    if (!isObject(body)) {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'The properties must be a JSON object of property values.');
    }
    const { device, template, hub, identity } = this.#locate(deviceId, component, module);
    if (template === undefined) {
      throw new CentralError('CENTRAL_CONFLICT', `Device ${device} has no template, so no writable properties.`);
    }
    const patch = desiredPatch(template, body, component);
    const verdict = validatePropertyPatch(template.model, template.modelId, { value: patch }, 'desired');
    const problems = [
      ...verdict.issues.map((i) => `${i.path}: ${i.message}`),
      ...verdict.unmodeled.map((path) => `${path}: the template defines no such property`),
    ];
    if (problems.length > 0) {
      throw new CentralError('CENTRAL_BAD_REQUEST', `The property update is refused: ${problems.join('; ')}.`);
    }
    if (hub === undefined || identity === undefined) {
      if (module !== undefined) {
        throw new CentralError(
          'CENTRAL_NOT_FOUND',
          `Module ${module} of device ${device} is not on its hub yet (the IoT Edge runtime creates a module's identity when it deploys it), so its properties cannot be set.`,
        );
      }
      // Not provisioned yet: kept, and sent as its first desired patch once it is assigned to a hub.
      if (Object.keys(body).length > 0) await this.#devices.queueDesired(device, patch);
      return this.view(deviceId, component);
    }
    if (Object.keys(body).length > 0) await hub.updateTwin(identity, { properties: { desired: patch } });
    return this.view(deviceId, component, module);
  }

  #locate(
    deviceId: string,
    component: string | undefined,
    module: string | undefined,
  ): { device: string; template?: PropertyTemplate; twin?: TwinProperties; hub?: Hub; identity?: Identity } {
    const device = this.#devices.get(deviceId);
    const out: { device: string; template?: PropertyTemplate; twin?: TwinProperties; hub?: Hub; identity?: Identity } =
      { device: device.id };
    if (device.template === undefined && module !== undefined) {
      throw new CentralError('CENTRAL_NOT_FOUND', `Device ${device.id} has no template, so no modules.`);
    }
    if (device.template !== undefined) {
      const template = capabilityScope(this.#templates.get(device.template), module);
      out.template = template;
      if (component !== undefined && interfaceOf(template, component) === undefined) {
        throw new CentralError(
          'CENTRAL_NOT_FOUND',
          `The template of ${device.id} has no component ${component}${module === undefined ? '' : ` in module ${module}`}.`,
        );
      }
    }
    const target = this.#devices.hubIdentity(device.id, module);
    if (target === undefined) {
      if (device.pendingDesired !== undefined && module === undefined) {
        out.twin = { desired: device.pendingDesired, reported: {} };
      }
      return out;
    }
    const { hub, identity } = target;
    const twin = hub.getTwin(identity) as { properties?: { desired?: JsonObject; reported?: JsonObject } };
    out.hub = hub;
    out.identity = identity;
    out.twin = { desired: twin.properties?.desired ?? {}, reported: twin.properties?.reported ?? {} };
    return out;
  }
}
