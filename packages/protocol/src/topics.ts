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
  if (topic.startsWith('devices/')) return telemetryTopicOf(topic);
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
 * `devices/{d}[/modules/{m}]/messages/events[/{bag}]` read with string searches rather than the regular
 * expression (this runs once per telemetry message); trailing slashes of the bag are dropped.
 */
function telemetryTopicOf(topic: string): DevicePublishTopic | undefined {
  const EVENTS = '/messages/events';
  const deviceEnd = topic.indexOf('/', 8);
  if (deviceEnd <= 8) return undefined;
  const deviceId = topic.slice(8, deviceEnd);
  let moduleId: string | undefined;
  let at = deviceEnd;
  if (topic.startsWith('/modules/', at)) {
    const moduleEnd = topic.indexOf('/', at + 9);
    if (moduleEnd <= at + 9) return undefined;
    moduleId = topic.slice(at + 9, moduleEnd);
    at = moduleEnd;
  }
  if (!topic.startsWith(EVENTS, at)) return undefined;
  at += EVENTS.length;
  if (at < topic.length && topic.charCodeAt(at) !== 0x2f) return undefined;
  let end = topic.length;
  while (end > at + 1 && topic.charCodeAt(end - 1) === 0x2f) end--;
  const propertyBag = at + 1 < end ? topic.slice(at + 1, end) : '';
  return moduleId === undefined
    ? { kind: 'telemetry', deviceId, propertyBag }
    : { kind: 'telemetry', deviceId, moduleId, propertyBag };
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
  /**
   * `devices/{d}/messages/devicebound/#`, or `devices/+/messages/devicebound/#` (the form the Azure SDK for
   * Embedded C subscribes with; `deviceId` is then absent and means the connected device).
   */
  | { kind: 'c2d'; deviceId?: string }
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
const OWN_C2D_FILTER = 'devices/+/messages/devicebound/#';
const MODULE_INPUTS_FILTER = /^devices\/([^/#+]+)\/modules\/([^/#+]+)\/inputs\/#$/s;
const FIXED_FILTERS: ReadonlyMap<string, DeviceSubscriptionTopic> = new Map([
  ['$iothub/methods/POST/#', { kind: 'methods' }],
  ['$iothub/twin/res/#', { kind: 'twinResponses' }],
  ['$iothub/twin/PATCH/properties/desired/#', { kind: 'desiredPatches' }],
]);

/**
 * Classifies a SUBSCRIBE filter. Only the exact documented filters are accepted — the one `+` is the
 * device level of the C2D filter, which IoT Hub reads as "this device" — and anything else returns
 * `undefined` (answer SUBACK 0x80). Whether a device may use a filter it names is the hub's decision.
 *
 * @example
 * ```ts
 * parseSubscriptionFilter('devices/dev1/messages/devicebound/#'); // { kind: 'c2d', deviceId: 'dev1' }
 * parseSubscriptionFilter('devices/+/messages/devicebound/#'); // { kind: 'c2d' } (the connected device)
 * parseSubscriptionFilter('devices/+/messages/events/#'); // undefined
 * ```
 */
export function parseSubscriptionFilter(filter: string): DeviceSubscriptionTopic | undefined {
  const fixed = FIXED_FILTERS.get(filter);
  if (fixed !== undefined) return { ...fixed };
  if (filter === OWN_C2D_FILTER) return { kind: 'c2d' };
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
