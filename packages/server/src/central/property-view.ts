/**
 * Device properties as IoT Central shows them (protocol.md §6.3–6.4, §7.7), computed from the device
 * twin and the template: each modeled property's value (a writable one's from the device's
 * acknowledgement `{value, ac, av, ad}`), and `$metadata` per property — `lastUpdateTime`, the
 * operator's `desiredValue` and `desiredVersion` (the twin's `$lastUpdatedVersion` of that desired
 * leaf), the device's `ackCode`, `ackVersion`, `ackDescription` — plus Plugboard's `syncState`. Also
 * the desired patch an operator's property update becomes (component marker `__t: "c"`). Pure.
 */
import type { DtdlModel, ModelElement } from '@plugboard/dtdl';
import type { JsonObject, JsonValue } from '../core/model.js';

/**
 * Where a writable property stands: `pending` (desired, not acknowledged at that version yet),
 * `accepted` (ac 200), `inProgress` (ac 202), `rejected` (ac 4xx/5xx), `deviceInitialized` (ac 203: the
 * device set it without a desired value).
 */
export type PropertySyncState = 'pending' | 'accepted' | 'inProgress' | 'rejected' | 'deviceInitialized';

/** The template of a view: the capability model id and parsed model. */
export interface PropertyTemplate {
  modelId: string;
  model: DtdlModel;
}

/** The twin sections a view reads (the service view of the twin, with `$metadata`). */
export interface TwinProperties {
  desired: JsonObject;
  reported: JsonObject;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function member(section: JsonValue | undefined, key: string): JsonValue | undefined {
  return isObject(section) ? section[key] : undefined;
}

/** The Interface of the root (`component` undefined) or of a component; undefined if there is none. */
export function interfaceOf(template: PropertyTemplate, component: string | undefined): ModelElement | undefined {
  const root = template.model.get(template.modelId);
  if (component === undefined) return root;
  const id = root?.contents?.[component];
  const element = id === undefined ? undefined : template.model.get(id);
  if (element?.kind !== 'Component' || element.schema === undefined) return undefined;
  return template.model.get(element.schema);
}

/** The components of the template's root Interface, by name. */
export function componentsOf(template: PropertyTemplate): string[] {
  const root = template.model.get(template.modelId);
  return Object.entries(root?.contents ?? {})
    .filter(([, id]) => template.model.get(id)?.kind === 'Component')
    .map(([name]) => name);
}

/** The Property elements of an Interface, by name. */
export function propertiesOf(template: PropertyTemplate, iface: ModelElement): Map<string, ModelElement> {
  const out = new Map<string, ModelElement>();
  for (const [name, id] of Object.entries(iface.contents ?? {})) {
    const element = template.model.get(id);
    if (element?.kind === 'Property') out.set(name, element);
  }
  return out;
}

/** The sync state of a writable property from its desired version and the device's acknowledgement. */
export function syncState(
  desiredVersion: number | undefined,
  ack: { ac: number; av: number } | undefined,
): PropertySyncState | undefined {
  if (ack === undefined) return desiredVersion === undefined ? undefined : 'pending';
  if (desiredVersion !== undefined && ack.av < desiredVersion) return 'pending';
  if (ack.ac === 203) return 'deviceInitialized';
  if (ack.ac === 202) return 'inProgress';
  if (ack.ac >= 200 && ack.ac < 300) return 'accepted';
  return 'rejected';
}

function ackOf(value: JsonValue | undefined): { value?: JsonValue; ac: number; av: number; ad?: string } | undefined {
  if (!isObject(value) || typeof value['ac'] !== 'number') return undefined;
  const ack: { value?: JsonValue; ac: number; av: number; ad?: string } = {
    ac: value['ac'],
    av: typeof value['av'] === 'number' ? value['av'] : 0,
  };
  if ('value' in value) ack.value = value['value'] as JsonValue;
  if (typeof value['ad'] === 'string') ack.ad = value['ad'];
  return ack;
}

/**
 * The properties of the root (`component` undefined: root properties, and each component as an object)
 * or of one component.
 *
 * @example
 * propertiesView(template, twin, 'thermostat1');
 * // { targetTemperature: 21, maxTempSinceLastReboot: 30,
 * //   $metadata: { targetTemperature: { desiredValue: 21, desiredVersion: 4, ackCode: 200, ackVersion: 4,
 * //                                     ackDescription: 'completed', lastUpdateTime: '…', syncState: 'accepted' },
 * //                maxTempSinceLastReboot: { lastUpdateTime: '…' } } }
 */
export function propertiesView(
  template: PropertyTemplate,
  twin: TwinProperties,
  component: string | undefined,
): JsonObject {
  const iface = interfaceOf(template, component);
  const scope = (section: JsonObject): JsonValue | undefined =>
    component === undefined ? section : member(section, component);
  const desired = scope(twin.desired);
  const reported = scope(twin.reported);
  const desiredMeta = scope(isObject(twin.desired['$metadata']) ? twin.desired['$metadata'] : {});
  const reportedMeta = scope(isObject(twin.reported['$metadata']) ? twin.reported['$metadata'] : {});
  const out: JsonObject = {};
  const metadata: JsonObject = {};
  if (iface !== undefined) {
    for (const [name, property] of propertiesOf(template, iface)) {
      const meta: JsonObject = {};
      const reportedValue = member(reported, name);
      const lastUpdated = member(member(reportedMeta, name), '$lastUpdated');
      if (typeof lastUpdated === 'string' && reportedValue !== undefined) meta['lastUpdateTime'] = lastUpdated;
      if (property.writable === true) {
        const ack = ackOf(reportedValue);
        if (ack !== undefined) {
          if (ack.value !== undefined) out[name] = ack.value;
          meta['ackCode'] = ack.ac;
          meta['ackVersion'] = ack.av;
          if (ack.ad !== undefined) meta['ackDescription'] = ack.ad;
        } else if (reportedValue !== undefined) {
          out[name] = reportedValue;
        }
        const desiredValue = member(desired, name);
        const desiredVersion = member(member(desiredMeta, name), '$lastUpdatedVersion');
        if (desiredValue !== undefined) {
          meta['desiredValue'] = desiredValue;
          if (typeof desiredVersion === 'number') meta['desiredVersion'] = desiredVersion;
        }
        // A desired value without a version has not reached a twin yet (the device has not provisioned).
        const state =
          desiredValue !== undefined && typeof desiredVersion !== 'number'
            ? 'pending'
            : syncState(desiredValue === undefined ? undefined : (desiredVersion as number), ack);
        if (state !== undefined) meta['syncState'] = state;
      } else if (reportedValue !== undefined) {
        out[name] = reportedValue;
      }
      if (Object.keys(meta).length > 0) metadata[name] = meta;
    }
  }
  if (component === undefined) {
    for (const name of componentsOf(template)) out[name] = propertiesView(template, twin, name);
  }
  out['$metadata'] = metadata;
  return out;
}

/**
 * The desired patch of an operator's update: component objects get the marker `__t: "c"` (protocol.md
 * §6.4). `component` scopes a body of that component's properties.
 *
 * @example
 * desiredPatch(template, { targetTemperature: 22 }, 'thermostat1');
 * // { thermostat1: { __t: 'c', targetTemperature: 22 } }
 */
export function desiredPatch(template: PropertyTemplate, body: JsonObject, component: string | undefined): JsonObject {
  if (component !== undefined) return { [component]: { __t: 'c', ...body } };
  const components = new Set(componentsOf(template));
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(body)) {
    out[key] = components.has(key) && isObject(value) ? { __t: 'c', ...value } : value;
  }
  return out;
}
