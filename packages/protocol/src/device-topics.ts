// The device side of the IoT Hub MQTT topic grammar: the topics a device client publishes to, the filters it
// subscribes with, and the hub-to-device topics it receives (protocol.md §1.4-1.9). The hub side is topics.ts.

import { rawQueryValue, ridOf } from './query.js';

/**
 * A device or module identity, as it appears in topics.
 *
 * @example
 * ```ts
 * const identity: DeviceIdentity = { deviceId: 'edge1', moduleId: 'filter' };
 * ```
 */
export interface DeviceIdentity {
  deviceId: string;
  moduleId?: string | undefined;
}

function identityPath(identity: DeviceIdentity): string {
  return identity.moduleId === undefined
    ? `devices/${identity.deviceId}`
    : `devices/${identity.deviceId}/modules/${identity.moduleId}`;
}

/**
 * The telemetry topic: `devices/{deviceId}[/modules/{moduleId}]/messages/events/{propertyBag}` (protocol.md
 * §1.4). The bag is already encoded (see `encodePropertyBag` and `d2cPropertyBag`); an empty bag leaves the
 * topic ending in `/`, as the Node SDK sends it.
 *
 * @example
 * ```ts
 * telemetryTopic({ deviceId: 'dev1' }, '%24.ct=application%2Fjson');
 * // 'devices/dev1/messages/events/%24.ct=application%2Fjson'
 * ```
 */
export function telemetryTopic(identity: DeviceIdentity, propertyBag: string): string {
  return `${identityPath(identity)}/messages/events/${propertyBag}`;
}

/**
 * The twin GET request topic: `$iothub/twin/GET/?$rid={rid}` (protocol.md §1.7).
 *
 * @example
 * ```ts
 * twinGetTopic('7b4a171b'); // '$iothub/twin/GET/?$rid=7b4a171b'
 * ```
 */
export function twinGetTopic(rid: string): string {
  return `$iothub/twin/GET/?$rid=${rid}`;
}

/**
 * The reported-properties PATCH topic: `$iothub/twin/PATCH/properties/reported/?$rid={rid}` (protocol.md §1.7).
 *
 * @example
 * ```ts
 * twinPatchReportedTopic('d9250a95'); // '$iothub/twin/PATCH/properties/reported/?$rid=d9250a95'
 * ```
 */
export function twinPatchReportedTopic(rid: string): string {
  return `$iothub/twin/PATCH/properties/reported/?$rid=${rid}`;
}

/**
 * The direct-method response topic: `$iothub/methods/res/{status}/?$rid={rid}` (protocol.md §1.8).
 *
 * @example
 * ```ts
 * methodResponseTopic(200, '1'); // '$iothub/methods/res/200/?$rid=1'
 * ```
 */
export function methodResponseTopic(status: number, rid: string): string {
  return `$iothub/methods/res/${status}/?$rid=${rid}`;
}

/**
 * The filters a device subscribes with, one per feature (protocol.md §1.4): C2D (QoS 1; module inputs for a
 * module identity), direct methods, twin responses and desired-property notifications (QoS 0, as the Node
 * SDK subscribes).
 *
 * @example
 * ```ts
 * deviceSubscriptions({ deviceId: 'dev1' }).c2d; // 'devices/dev1/messages/devicebound/#'
 * ```
 */
export function deviceSubscriptions(identity: DeviceIdentity): {
  c2d: string;
  methods: string;
  twinResponses: string;
  desiredPatches: string;
} {
  return {
    c2d:
      identity.moduleId === undefined
        ? `devices/${identity.deviceId}/messages/devicebound/#`
        : `${identityPath(identity)}/inputs/#`,
    methods: '$iothub/methods/POST/#',
    twinResponses: '$iothub/twin/res/#',
    desiredPatches: '$iothub/twin/PATCH/properties/desired/#',
  };
}

/**
 * A topic the hub publishes to a device (protocol.md §1.4): a C2D message or module input (with its raw
 * property bag), a twin response, a desired-properties notification or a direct-method request.
 *
 * @example
 * ```ts
 * const topic: HubToDeviceTopic = { kind: 'twinResponse', status: 204, rid: 'd9250a95', version: 6 };
 * ```
 */
export type HubToDeviceTopic =
  | { kind: 'c2d'; deviceId: string; propertyBag: string }
  | { kind: 'moduleInput'; deviceId: string; moduleId: string; inputName: string; propertyBag: string }
  | { kind: 'twinResponse'; status: number; rid: string; version?: number }
  | { kind: 'desiredPatch'; version?: number }
  | { kind: 'methodRequest'; methodName: string; rid: string };

const TWIN_RESPONSE = /^\$iothub\/twin\/res\/([0-9]+)\/\?(.*)$/s;
const DESIRED_PATCH = /^\$iothub\/twin\/PATCH\/properties\/desired\/\?(.*)$/s;
const METHOD_REQUEST = /^\$iothub\/methods\/POST\/([^/]+)\/\?(.*)$/s;
const C2D = /^devices\/([^/]+)\/messages\/devicebound\/?(.*)$/s;
const MODULE_INPUT = /^devices\/([^/]+)\/modules\/([^/]+)\/inputs\/([^/]+)\/?(.*)$/s;

function versionOf(query: string): number | undefined {
  const raw = rawQueryValue(query, '$version');
  if (raw === undefined || !/^[0-9]+$/.test(raw)) return undefined;
  const version = Number(raw);
  return Number.isSafeInteger(version) ? version : undefined;
}

/**
 * Classifies a topic the hub published to a device; `undefined` for anything outside the grammar (a
 * request without `$rid`, an unknown prefix). Never throws. `$rid` is kept raw so it can be matched to the
 * request byte for byte; method names are raw too (component commands contain `*`).
 *
 * @example
 * ```ts
 * parseHubToDeviceTopic('$iothub/twin/res/204/?$rid=d9250a95&$version=6');
 * // { kind: 'twinResponse', status: 204, rid: 'd9250a95', version: 6 }
 * parseHubToDeviceTopic('$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=1');
 * // { kind: 'methodRequest', methodName: 'thermostat1*getMaxMinReport', rid: '1' }
 * parseHubToDeviceTopic('devices/dev1/messages/devicebound/%24.mid=m1&method-name=setAlarm');
 * // { kind: 'c2d', deviceId: 'dev1', propertyBag: '%24.mid=m1&method-name=setAlarm' }
 * ```
 */
export function parseHubToDeviceTopic(topic: string): HubToDeviceTopic | undefined {
  if (topic.startsWith('devices/')) {
    const c2d = C2D.exec(topic);
    if (c2d !== null) return { kind: 'c2d', deviceId: c2d[1] ?? '', propertyBag: c2d[2] ?? '' };
    const input = MODULE_INPUT.exec(topic);
    if (input === null) return undefined;
    return {
      kind: 'moduleInput',
      deviceId: input[1] ?? '',
      moduleId: input[2] ?? '',
      inputName: input[3] ?? '',
      propertyBag: input[4] ?? '',
    };
  }
  const response = TWIN_RESPONSE.exec(topic);
  if (response !== null) {
    const status = Number(response[1]);
    const query = response[2] ?? '';
    const rid = ridOf(query);
    if (rid === undefined || !Number.isSafeInteger(status)) return undefined;
    const version = versionOf(query);
    return version === undefined
      ? { kind: 'twinResponse', status, rid }
      : { kind: 'twinResponse', status, rid, version };
  }
  const desired = DESIRED_PATCH.exec(topic);
  if (desired !== null) {
    const version = versionOf(desired[1] ?? '');
    return version === undefined ? { kind: 'desiredPatch' } : { kind: 'desiredPatch', version };
  }
  const method = METHOD_REQUEST.exec(topic);
  if (method !== null) {
    const rid = ridOf(method[2] ?? '');
    return rid === undefined ? undefined : { kind: 'methodRequest', methodName: method[1] ?? '', rid };
  }
  return undefined;
}
