import { ProtocolError } from './errors.js';
import { decodeLenient, splitQuery } from './query.js';

/**
 * A parsed IoT Hub MQTT CONNECT user name (protocol.md §1.1).
 *
 * @example
 * ```ts
 * const username: MqttUsername = {
 *   hostName: 'localhost',
 *   deviceId: 'dev1',
 *   apiVersion: '2021-04-12',
 *   query: { 'api-version': '2021-04-12' },
 * };
 * ```
 */
export interface MqttUsername {
  hostName: string;
  /** Exactly as sent (not percent-decoded). */
  deviceId: string;
  /** Exactly as sent, for module identities. */
  moduleId?: string;
  /** `api-version`. */
  apiVersion?: string;
  /** `model-id`: the Plug and Play model announcement (DTMI). */
  modelId?: string;
  /** `DeviceClientType`: the SDK's user agent. */
  deviceClientType?: string;
  /** Every query pair, percent-decoded; the first occurrence of a key wins. */
  query: Readonly<Record<string, string>>;
}

function usernameError(message: string): ProtocolError {
  return new ProtocolError('PROTOCOL_USERNAME_MALFORMED', message);
}

/** Decodes a user-name query: first `=` splits, percent-decoding (raw text kept when invalid), first wins. */
function decodeUsernameQuery(query: string): Record<string, string> {
  const entries = new Map<string, string>();
  for (const [rawKey, rawValue] of splitQuery(query)) {
    const key = decodeLenient(rawKey);
    if (!entries.has(key)) entries.set(key, rawValue === null ? '' : decodeLenient(rawValue));
  }
  return Object.fromEntries(entries);
}

/**
 * Parses an IoT Hub MQTT user name: `{host}/{deviceId}[/{moduleId}]/[?]{query}` (protocol.md §1.1, §1.9).
 * The `?` is optional (old clients send `{host}/{deviceId}/api-version=2016-11-14`). Query pairs split on
 * the first `=` and are percent-decoded, so a model id may arrive raw (Node) or encoded (C, Python); a
 * value that is not valid percent-encoding is kept as sent. Device and module ids are kept exactly as sent.
 * Without a `?`, a third segment is taken as the module id unless it contains `=`.
 *
 * @throws {@link ProtocolError} `PROTOCOL_USERNAME_MALFORMED` when host, device id or the `/` after the
 * identity is missing, or a module id is empty.
 * @example
 * ```ts
 * parseMqttUsername(
 *   'localhost/dev1/?api-version=2021-04-12&model-id=dtmi:com:example:Thermostat;1&DeviceClientType=azure-iot-device%2F1.18.4',
 * );
 * // { hostName: 'localhost', deviceId: 'dev1', apiVersion: '2021-04-12', modelId: 'dtmi:com:example:Thermostat;1',
 * //   deviceClientType: 'azure-iot-device/1.18.4', query: { ... } }
 * ```
 */
export function parseMqttUsername(username: string): MqttUsername {
  const hostEnd = username.indexOf('/');
  if (hostEnd <= 0) throw usernameError('MQTT user name must start with {host}/');
  const deviceEnd = username.indexOf('/', hostEnd + 1);
  if (deviceEnd < 0) throw usernameError('MQTT user name must be {host}/{deviceId}/[?]{query}');
  const hostName = username.slice(0, hostEnd);
  const deviceId = username.slice(hostEnd + 1, deviceEnd);
  if (deviceId === '') throw usernameError('MQTT user name has an empty device id');
  const rest = username.slice(deviceEnd + 1);

  let moduleId: string | undefined;
  let query: string;
  const moduleEnd = rest.indexOf('/');
  if (rest.startsWith('?')) {
    query = rest.slice(1);
  } else if (moduleEnd < 0) {
    query = rest;
  } else if (rest.startsWith('?', moduleEnd + 1)) {
    moduleId = rest.slice(0, moduleEnd);
    query = rest.slice(moduleEnd + 2);
  } else if (rest.slice(0, moduleEnd).includes('=')) {
    // Old-style query (no `?`) whose value happens to contain a raw `/`.
    query = rest;
  } else {
    moduleId = rest.slice(0, moduleEnd);
    query = rest.slice(moduleEnd + 1);
  }
  if (moduleId === '') throw usernameError('MQTT user name has an empty module id');

  const fields = decodeUsernameQuery(query);
  const result: MqttUsername = { hostName, deviceId, query: Object.freeze(fields) };
  if (moduleId !== undefined) result.moduleId = moduleId;
  const apiVersion = fields['api-version'];
  if (apiVersion !== undefined) result.apiVersion = apiVersion;
  const modelId = fields['model-id'];
  if (modelId !== undefined) result.modelId = modelId;
  const deviceClientType = fields['DeviceClientType'];
  if (deviceClientType !== undefined) result.deviceClientType = deviceClientType;
  return result;
}

/**
 * A parsed DPS MQTT CONNECT user name (protocol.md §3.2).
 *
 * @example
 * ```ts
 * const username: DpsMqttUsername = { idScope: '0ne00ABCDEF', registrationId: 'dev1', query: {} };
 * ```
 */
export interface DpsMqttUsername {
  idScope: string;
  registrationId: string;
  /** `api-version` (Node sends `2019-03-31`). */
  apiVersion?: string;
  /** `ClientVersion` (e.g. `azure-iot-provisioning-device/1.9.1`). */
  clientVersion?: string;
  /** Every query pair, percent-decoded; the first occurrence of a key wins. */
  query: Readonly<Record<string, string>>;
}

/**
 * Parses a DPS MQTT user name: `{idScope}/registrations/{registrationId}/[?]{query}` (Node sends no `?`).
 *
 * @throws {@link ProtocolError} `PROTOCOL_USERNAME_MALFORMED` when it does not follow that grammar.
 * @example
 * ```ts
 * parseDpsMqttUsername(
 *   '0ne00ABCDEF/registrations/dev1/api-version=2019-03-31&ClientVersion=azure-iot-provisioning-device%2F1.9.1',
 * );
 * // { idScope: '0ne00ABCDEF', registrationId: 'dev1', apiVersion: '2019-03-31',
 * //   clientVersion: 'azure-iot-provisioning-device/1.9.1', query: { ... } }
 * ```
 */
export function parseDpsMqttUsername(username: string): DpsMqttUsername {
  const match = /^([^/]+)\/registrations\/([^/]+)\/\??(.*)$/s.exec(username);
  if (match === null) throw usernameError('DPS MQTT user name must be {idScope}/registrations/{registrationId}/...');
  const [, idScope = '', registrationId = '', query = ''] = match;
  const fields = decodeUsernameQuery(query);
  const result: DpsMqttUsername = { idScope, registrationId, query: Object.freeze(fields) };
  const apiVersion = fields['api-version'];
  if (apiVersion !== undefined) result.apiVersion = apiVersion;
  const clientVersion = fields['ClientVersion'];
  if (clientVersion !== undefined) result.clientVersion = clientVersion;
  return result;
}

/**
 * What {@link formatMqttUsername} writes into an IoT Hub CONNECT user name.
 *
 * @example
 * ```ts
 * const fields: MqttUsernameFields = { hostName: 'hub.local', deviceId: 'dev1', deviceClientType: 'plugboard-device/0.1.0' };
 * ```
 */
export interface MqttUsernameFields {
  hostName: string;
  deviceId: string;
  moduleId?: string | undefined;
  /** The Plug and Play model announcement. */
  modelId?: string | undefined;
  /** Default `2021-04-12`, the version the Node SDK sends. */
  apiVersion?: string | undefined;
  /** The client's user agent, e.g. `plugboard-device/0.1.0 (node v20.19.0; linux; x64)`. */
  deviceClientType: string;
}

/**
 * Formats an IoT Hub MQTT user name as the Node SDK does (protocol.md §1.1):
 * `{host}/{deviceId}[/{moduleId}]/?api-version=…[&model-id={dtmi}]&DeviceClientType={encoded user agent}`.
 * The model id is written raw, between `api-version` and `DeviceClientType`; the inverse of
 * {@link parseMqttUsername}.
 *
 * @example
 * ```ts
 * formatMqttUsername({ hostName: 'localhost', deviceId: 'dev1', modelId: 'dtmi:com:example:Thermostat;1', deviceClientType: 'plugboard-device/0.1.0' });
 * // 'localhost/dev1/?api-version=2021-04-12&model-id=dtmi:com:example:Thermostat;1&DeviceClientType=plugboard-device%2F0.1.0'
 * ```
 */
export function formatMqttUsername(fields: MqttUsernameFields): string {
  const clientId = fields.moduleId === undefined ? fields.deviceId : `${fields.deviceId}/${fields.moduleId}`;
  const modelId = fields.modelId === undefined ? '' : `&model-id=${fields.modelId}`;
  return `${fields.hostName}/${clientId}/?api-version=${fields.apiVersion ?? '2021-04-12'}${modelId}&DeviceClientType=${encodeURIComponent(fields.deviceClientType)}`;
}

/**
 * Formats a DPS MQTT user name as the Node provisioning SDK does (protocol.md §3.2), with no `?`:
 * `{idScope}/registrations/{registrationId}/api-version=2019-03-31&ClientVersion={encoded client version}`.
 *
 * @example
 * ```ts
 * formatDpsMqttUsername({ idScope: '0ne00ABCDEF', registrationId: 'dev1', clientVersion: 'azure-iot-provisioning-device/1.9.1' });
 * // '0ne00ABCDEF/registrations/dev1/api-version=2019-03-31&ClientVersion=azure-iot-provisioning-device%2F1.9.1'
 * ```
 */
export function formatDpsMqttUsername(fields: {
  idScope: string;
  registrationId: string;
  clientVersion: string;
  apiVersion?: string | undefined;
}): string {
  return `${fields.idScope}/registrations/${fields.registrationId}/api-version=${fields.apiVersion ?? '2019-03-31'}&ClientVersion=${encodeURIComponent(fields.clientVersion)}`;
}
