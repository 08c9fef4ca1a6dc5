import { ridOf } from './query.js';

/**
 * A topic a device may PUBLISH to (protocol.md §1.4, §1.7-1.9). `$rid` values are kept raw (as sent) so
 * they can be echoed back byte for byte.
 *
 * @example
 * ```ts
 * const topic: DevicePublishTopic = { kind: 'twinGet', rid: '7b4a171b-57d0-481c-8a99-33ab76657597' };
 * ```
 */
export type DevicePublishTopic =
  | {
      kind: 'telemetry';
      deviceId: string;
      moduleId?: string;
      /** The raw encoded property bag, trailing slash(es) stripped (Node output events add one). */
      propertyBag: string;
    }
  | { kind: 'twinGet'; rid: string }
  | { kind: 'twinPatchReported'; rid: string }
  | { kind: 'methodResponse'; status: number; rid: string };

/** Listed through a record so that a new topic kind cannot be left out (the compiler checks the keys). */
const PUBLISH_KINDS: Record<DevicePublishTopic['kind'], true> = {
  telemetry: true,
  twinGet: true,
  twinPatchReported: true,
  methodResponse: true,
};

/**
 * Every kind of topic a device may publish to, for tables that must cover each one (the hostile-input
 * suite, docs).
 *
 * @example
 * ```ts
 * DEVICE_PUBLISH_TOPIC_KINDS; // ['telemetry', 'twinGet', 'twinPatchReported', 'methodResponse']
 * ```
 */
export const DEVICE_PUBLISH_TOPIC_KINDS = Object.freeze(Object.keys(PUBLISH_KINDS) as DevicePublishTopic['kind'][]);

const TELEMETRY_TOPIC = /^devices\/([^/]+)(?:\/modules\/([^/]+))?\/messages\/events(?:\/(.*))?$/s;
const TWIN_GET_TOPIC = /^\$iothub\/twin\/GET\/\?(.*)$/s;
const TWIN_PATCH_REPORTED_TOPIC = /^\$iothub\/twin\/PATCH\/properties\/reported\/\?(.*)$/s;
const METHOD_RESPONSE_TOPIC = /^\$iothub\/methods\/res\/(-?[0-9]+)\/\?(.*)$/s;

/**
 * Classifies a device PUBLISH topic. Returns `undefined` for anything outside the documented grammar
 * (other prefixes, a missing or empty `$rid`, a non-integer method status); never throws. The `$rid` is read
 * from the query after `/?`, which may hold other keys too. Telemetry may be `…/messages/events` with or
 * without a trailing `/`.
 *
 * @example
 * ```ts
 * parseDevicePublishTopic('devices/dev1/messages/events/%24.ct=application%2Fjson');
 * // { kind: 'telemetry', deviceId: 'dev1', propertyBag: '%24.ct=application%2Fjson' }
 * parseDevicePublishTopic('$iothub/methods/res/200/?$rid=1'); // { kind: 'methodResponse', status: 200, rid: '1' }
 * ```
 */
export function parseDevicePublishTopic(topic: string): DevicePublishTopic | undefined {
  const telemetry = TELEMETRY_TOPIC.exec(topic);
  if (telemetry !== null) {
    const [, deviceId = '', moduleId, bag = ''] = telemetry;
    const propertyBag = bag.replace(/\/+$/, '');
    return moduleId === undefined
      ? { kind: 'telemetry', deviceId, propertyBag }
      : { kind: 'telemetry', deviceId, moduleId, propertyBag };
  }
  const twinGet = TWIN_GET_TOPIC.exec(topic);
  if (twinGet !== null) {
    const rid = ridOf(twinGet[1] ?? '');
    return rid === undefined ? undefined : { kind: 'twinGet', rid };
  }
  const twinPatch = TWIN_PATCH_REPORTED_TOPIC.exec(topic);
  if (twinPatch !== null) {
    const rid = ridOf(twinPatch[1] ?? '');
    return rid === undefined ? undefined : { kind: 'twinPatchReported', rid };
  }
  const methodResponse = METHOD_RESPONSE_TOPIC.exec(topic);
  if (methodResponse !== null) {
    const status = Number(methodResponse[1]);
    const rid = ridOf(methodResponse[2] ?? '');
    return rid === undefined || !Number.isSafeInteger(status) ? undefined : { kind: 'methodResponse', status, rid };
  }
  return undefined;
}

/**
 * A topic filter a device may SUBSCRIBE to (protocol.md §1.4).
 *
 * @example
 * ```ts
 * const filter: DeviceSubscriptionTopic = { kind: 'c2d', deviceId: 'dev1' };
 * ```
 */
export type DeviceSubscriptionTopic =
  /** `devices/{d}/messages/devicebound/#` */
  | { kind: 'c2d'; deviceId: string }
  /** `devices/{d}/modules/{m}/inputs/#` */
  | { kind: 'moduleInputs'; deviceId: string; moduleId: string }
  /** `$iothub/methods/POST/#` */
  | { kind: 'methods' }
  /** `$iothub/twin/res/#` */
  | { kind: 'twinResponses' }
  /** `$iothub/twin/PATCH/properties/desired/#` */
  | { kind: 'desiredPatches' };

const SUBSCRIPTION_KINDS: Record<DeviceSubscriptionTopic['kind'], true> = {
  c2d: true,
  moduleInputs: true,
  methods: true,
  twinResponses: true,
  desiredPatches: true,
};

/**
 * Every kind of filter a device may subscribe to.
 *
 * @example
 * ```ts
 * DEVICE_SUBSCRIPTION_KINDS.includes('methods'); // true
 * ```
 */
export const DEVICE_SUBSCRIPTION_KINDS = Object.freeze(
  Object.keys(SUBSCRIPTION_KINDS) as DeviceSubscriptionTopic['kind'][],
);

const C2D_FILTER = /^devices\/([^/#+]+)\/messages\/devicebound\/#$/s;
const MODULE_INPUTS_FILTER = /^devices\/([^/#+]+)\/modules\/([^/#+]+)\/inputs\/#$/s;
const FIXED_FILTERS: ReadonlyMap<string, DeviceSubscriptionTopic> = new Map([
  ['$iothub/methods/POST/#', { kind: 'methods' }],
  ['$iothub/twin/res/#', { kind: 'twinResponses' }],
  ['$iothub/twin/PATCH/properties/desired/#', { kind: 'desiredPatches' }],
]);

/**
 * Classifies a SUBSCRIBE filter. Only the exact documented filters are accepted (no other wildcards, no
 * `+`); anything else returns `undefined` (answer SUBACK 0x80).
 *
 * @example
 * ```ts
 * parseSubscriptionFilter('devices/dev1/messages/devicebound/#'); // { kind: 'c2d', deviceId: 'dev1' }
 * parseSubscriptionFilter('devices/+/messages/devicebound/#'); // undefined
 * ```
 */
export function parseSubscriptionFilter(filter: string): DeviceSubscriptionTopic | undefined {
  const fixed = FIXED_FILTERS.get(filter);
  if (fixed !== undefined) return { ...fixed };
  const c2d = C2D_FILTER.exec(filter);
  if (c2d !== null) return { kind: 'c2d', deviceId: c2d[1] ?? '' };
  const inputs = MODULE_INPUTS_FILTER.exec(filter);
  if (inputs !== null) return { kind: 'moduleInputs', deviceId: inputs[1] ?? '', moduleId: inputs[2] ?? '' };
  return undefined;
}

/**
 * The topic of a C2D delivery: `devices/{deviceId}/messages/devicebound/{propertyBag}`.
 *
 * @example
 * ```ts
 * c2dTopic('dev1', 'iothub-ack=full'); // 'devices/dev1/messages/devicebound/iothub-ack=full'
 * ```
 */
export function c2dTopic(deviceId: string, propertyBag: string): string {
  return `devices/${deviceId}/messages/devicebound/${propertyBag}`;
}

/**
 * The topic of a module input message: `devices/{deviceId}/modules/{moduleId}/inputs/{inputName}/{propertyBag}`.
 *
 * @example
 * ```ts
 * moduleInputTopic('edge1', 'filter', 'input1', ''); // 'devices/edge1/modules/filter/inputs/input1/'
 * ```
 */
export function moduleInputTopic(deviceId: string, moduleId: string, inputName: string, propertyBag: string): string {
  return `devices/${deviceId}/modules/${moduleId}/inputs/${inputName}/${propertyBag}`;
}

/**
 * The topic of a twin response: `$iothub/twin/res/{status}/?$rid={rid}[&$version={version}]`.
 *
 * @example
 * ```ts
 * twinResponseTopic(204, 'd9250a95', 6); // '$iothub/twin/res/204/?$rid=d9250a95&$version=6'
 * ```
 */
export function twinResponseTopic(status: number, rid: string, version?: number): string {
  const versionPart = version === undefined ? '' : `&$version=${version}`;
  return `$iothub/twin/res/${status}/?$rid=${rid}${versionPart}`;
}

/**
 * The topic of a desired-properties notification: `$iothub/twin/PATCH/properties/desired/?$version={version}`.
 *
 * @example
 * ```ts
 * desiredPatchTopic(4); // '$iothub/twin/PATCH/properties/desired/?$version=4'
 * ```
 */
export function desiredPatchTopic(version: number): string {
  return `$iothub/twin/PATCH/properties/desired/?$version=${version}`;
}

/**
 * The topic of a direct-method request: `$iothub/methods/POST/{methodName}/?$rid={rid}` (name sent raw,
 * component commands contain `*`).
 *
 * @example
 * ```ts
 * methodRequestTopic('thermostat1*getMaxMinReport', '1'); // '$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=1'
 * ```
 */
export function methodRequestTopic(methodName: string, rid: string): string {
  return `$iothub/methods/POST/${methodName}/?$rid=${rid}`;
}
