/**
 * `@plugboard/protocol`: the pure IoT Hub / DPS wire grammar shared by the server and tools — SAS tokens,
 * connection strings, MQTT user names, topics and property bags (the hub's side and the device's), the device
 * HTTPS API's headers and batches, Plug and Play naming conventions, the bounded reader for untrusted JSON and
 * the `If-Match` header.
 * No `node:` modules and no `Buffer`: it runs unchanged in Node 20+ and browsers.
 *
 * @example
 * ```ts
 * import { parseMqttUsername, parseSharedAccessSignature } from '@plugboard/protocol';
 * ```
 *
 * @packageDocumentation
 */

export { PROTOCOL_ERROR_CODES, ProtocolError } from './errors.js';
export type { ProtocolErrorCode } from './errors.js';

export {
  createSharedAccessSignature,
  decodeResource,
  deriveDeviceKey,
  encodeUriComponentStrict,
  hmacSha256Base64,
  isBase64Key,
  parseSharedAccessSignature,
  resourceCovers,
  sasSigningCandidates,
  verifySharedAccessSignature,
} from './sas.js';
export type { CreateSharedAccessSignatureOptions, SharedAccessSignature } from './sas.js';

export { formatConnectionString, parseConnectionString } from './connection-string.js';
export type { ConnectionString } from './connection-string.js';

export { formatDpsMqttUsername, formatMqttUsername, parseDpsMqttUsername, parseMqttUsername } from './username.js';
export type { DpsMqttUsername, MqttUsername, MqttUsernameFields } from './username.js';

export {
  SYSTEM_PROPERTIES,
  c2dPropertyBag,
  d2cPropertyBag,
  decodeD2cProperties,
  decodePropertyBag,
  encodePropertyBag,
  splitD2cProperties,
} from './property-bag.js';
export type { C2dProperties, D2cProperties, PropertyBag } from './property-bag.js';

export {
  APP_PROPERTY_HEADER_PREFIX,
  BATCH_CONTENT_TYPE,
  c2dResponseHeaders,
  d2cPropertiesFromHeaders,
  decodeD2cBatch,
} from './http-messages.js';
export type { C2dDelivery, D2cBatchItem } from './http-messages.js';

export {
  DEVICE_PUBLISH_TOPIC_KINDS,
  DEVICE_SUBSCRIPTION_KINDS,
  c2dTopic,
  desiredPatchTopic,
  methodRequestTopic,
  moduleInputTopic,
  parseDevicePublishTopic,
  parseSubscriptionFilter,
  twinResponseTopic,
} from './topics.js';
export type { DevicePublishTopic, DeviceSubscriptionTopic } from './topics.js';

export {
  deviceSubscriptions,
  methodResponseTopic,
  parseHubToDeviceTopic,
  telemetryTopic,
  twinGetTopic,
  twinPatchReportedTopic,
} from './device-topics.js';
export type { DeviceIdentity, HubToDeviceTopic } from './device-topics.js';

export {
  DPS_PUBLISH_TOPIC_KINDS,
  DPS_RESPONSE_FILTER,
  dpsOperationStatusTopic,
  dpsRegisterTopic,
  dpsResponseTopic,
  parseDpsPublishTopic,
  parseDpsResponseTopic,
} from './dps-topics.js';
export type { DpsPublishTopic, DpsResponseTopic } from './dps-topics.js';

export { DEFAULT_JSON_LIMITS, readJson } from './json.js';
export type { JsonLimits, JsonValue } from './json.js';

export { ifMatchHolds, parseIfMatch } from './etag.js';
export type { IfMatch, ParseIfMatchOptions } from './etag.js';

export { COMPONENT_MARKER, componentCommandName, parseCommandName, writablePropertyAck } from './pnp.js';
export type { CommandName, WritablePropertyAck } from './pnp.js';
