/**
 * The IoT Hub device HTTPS API's message grammar (protocol.md §4): a device-to-cloud message's properties
 * as request headers, the batch body of `application/vnd.microsoft.iothub.json`, and a cloud-to-device
 * message's properties as response headers. Pure: the edge passes header maps in and out.
 */
import { tryDecodeBase64 } from './base64.js';
import { ProtocolError } from './errors.js';
import type { D2cProperties } from './property-bag.js';

/** The header prefix of an application property (`iothub-app-<name>`). */
export const APP_PROPERTY_HEADER_PREFIX = 'iothub-app-';

/** The content type of a batch send. */
export const BATCH_CONTENT_TYPE = 'application/vnd.microsoft.iothub.json';

/** System headers of a D2C request and the {@link D2cProperties} field each fills. */
const D2C_SYSTEM_HEADERS: ReadonlyMap<string, keyof Omit<D2cProperties, 'application' | 'creationTimeUtc'>> = new Map([
  ['iothub-messageid', 'messageId'],
  ['iothub-correlationid', 'correlationId'],
  ['iothub-userid', 'userId'],
  ['iothub-to', 'to'],
  ['iothub-contenttype', 'contentType'],
  ['iothub-contentencoding', 'contentEncoding'],
  ['iothub-expiry', 'expiryTimeUtc'],
  ['iothub-interface-id', 'interfaceId'],
  ['dt-subject', 'component'],
]);

const CREATION_TIME_PROPERTY = 'iothub-creation-time-utc';

/** The Plug and Play component marker an MQTT-minded device may also send as an application property. */
const SUBJECT_PROPERTY = '$.sub';

/**
 * A D2C message's properties from its request headers (or a batch item's `properties`, which use the same
 * names). Header names are matched case-insensitively; `iothub-app-<name>` becomes application property
 * `<name>` with the name's case kept as the device wrote it in a batch (HTTP headers arrive lower-cased);
 * `dt-subject` — or an application property `$.sub` — is the component; application property
 * `iothub-creation-time-utc` (or a header of that name) is the creation time. Other headers are not
 * message properties and are ignored.
 *
 * @example
 * ```ts
 * d2cPropertiesFromHeaders({ 'dt-subject': 'thermostat1', 'iothub-app-p1': 'v1', 'iothub-messageid': 'mid-1' });
 * // { component: 'thermostat1', messageId: 'mid-1', application: { p1: 'v1' } }
 * ```
 */
export function d2cPropertiesFromHeaders(headers: Readonly<Record<string, string | undefined>>): D2cProperties {
  const result: D2cProperties = { application: {} };
  let creationHeader: string | undefined;
  for (const [rawName, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (name.startsWith(APP_PROPERTY_HEADER_PREFIX)) {
      const key = rawName.slice(APP_PROPERTY_HEADER_PREFIX.length);
      if (key === '') continue;
      if (key === SUBJECT_PROPERTY) result.component = value;
      else if (key === '__proto__')
        Object.defineProperty(result.application, key, { value, enumerable: true, writable: true, configurable: true });
      else result.application[key] = value;
      continue;
    }
    if (name === CREATION_TIME_PROPERTY) {
      creationHeader = value;
      continue;
    }
    const field = D2C_SYSTEM_HEADERS.get(name);
    if (field !== undefined) result[field] = value;
  }
  const creationTime = result.application[CREATION_TIME_PROPERTY] ?? creationHeader;
  if (typeof creationTime === 'string') result.creationTimeUtc = creationTime;
  return result;
}

/** One message of a batch send. */
export interface D2cBatchItem {
  body: Uint8Array;
  properties: D2cProperties;
}

function malformed(message: string): ProtocolError {
  return new ProtocolError('PROTOCOL_HTTP_BATCH_MALFORMED', message);
}

/**
 * The messages of a batch send (§4.2), from its parsed JSON body: an array of `{ body, properties? ,
 * base64Encoded? }` where `body` is base64 (the Node SDK's form, and `base64Encoded: true`) or, with
 * `base64Encoded: false`, the text itself, and `properties` maps header-style names to strings.
 *
 * @throws {@link ProtocolError} `PROTOCOL_HTTP_BATCH_MALFORMED` when the body is not such an array, an
 *   item's body is not valid base64, or a property value is not a string.
 * @example
 * ```ts
 * decodeD2cBatch([{ body: 'eyJ0IjoxfQ==', properties: { 'dt-subject': 'thermostat1', 'iothub-app-p1': 'v1' } }]);
 * // [{ body: <bytes of {"t":1}>, properties: { component: 'thermostat1', application: { p1: 'v1' } } }]
 * ```
 */
export function decodeD2cBatch(value: unknown): D2cBatchItem[] {
  if (!Array.isArray(value)) throw malformed('A batch is a JSON array of {"body", "properties"} objects.');
  if (value.length === 0) throw malformed('A batch holds at least one message.');
  return value.map((item: unknown, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw malformed(`Batch item ${index} is not an object.`);
    }
    const { body, properties, base64Encoded } = item as Record<string, unknown>;
    if (typeof body !== 'string') throw malformed(`Batch item ${index} has no string "body".`);
    if (base64Encoded !== undefined && typeof base64Encoded !== 'boolean') {
      throw malformed(`Batch item ${index}: "base64Encoded" must be true or false.`);
    }
    let bytes: Uint8Array | undefined;
    if (base64Encoded === false) bytes = new TextEncoder().encode(body);
    else bytes = tryDecodeBase64(body);
    if (bytes === undefined) throw malformed(`Batch item ${index}: "body" is not valid base64.`);
    const headers: Record<string, string> = {};
    if (properties !== undefined && properties !== null) {
      if (typeof properties !== 'object' || Array.isArray(properties)) {
        throw malformed(`Batch item ${index}: "properties" must be an object.`);
      }
      for (const [name, v] of Object.entries(properties as Record<string, unknown>)) {
        if (typeof v !== 'string')
          throw malformed(`Batch item ${index}: property ${JSON.stringify(name)} is not a string.`);
        headers[name] = v;
      }
    }
    return { body: bytes, properties: d2cPropertiesFromHeaders(headers) };
  });
}

/** What a C2D delivery over HTTPS says about its message (§4.3). */
export interface C2dDelivery {
  lockToken: string;
  messageId?: string;
  to: string;
  correlationId?: string;
  userId?: string;
  /** ISO 8601. */
  expiryTimeUtc?: string;
  ack?: string;
  enqueuedTime: string;
  deliveryCount: number;
  contentType?: string;
  contentEncoding?: string;
  application: Readonly<Record<string, string | null>>;
}

/** HTTP `tchar`s: what a header name may hold. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, space and tab: what a header value may hold as is. */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/** Percent-encodes what a header cannot carry as is (IoT Hub's own encoding of such values is not known). */
function headerSafe(text: string, allowed: RegExp): string {
  if (allowed.test(text)) return text;
  return encodeURIComponent(text).replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The response headers of a C2D delivery (`200` to `GET …/messages/devicebound`): the lock token as a
 * quoted `ETag`, the system properties as `iothub-*` headers and each application property as
 * `iothub-app-<name>`. Names or values a header cannot carry (non-ASCII, control characters) are
 * percent-encoded.
 *
 * @example
 * ```ts
 * c2dResponseHeaders({ lockToken: 'l1', messageId: 'm1', to: '/devices/dev1/messages/deviceBound',
 *   enqueuedTime: '2026-01-01T00:00:00.000Z', deliveryCount: 1, application: { color: 'red' } });
 * // { etag: '"l1"', 'iothub-messageid': 'm1', 'iothub-to': '/devices/dev1/messages/deviceBound',
 * //   'iothub-enqueuedtime': '2026-01-01T00:00:00.000Z', 'iothub-deliverycount': '1', 'iothub-app-color': 'red' }
 * ```
 */
export function c2dResponseHeaders(delivery: C2dDelivery): Record<string, string> {
  const headers: Record<string, string> = { etag: `"${delivery.lockToken}"` };
  const system: ReadonlyArray<readonly [string, string | undefined]> = [
    ['iothub-messageid', delivery.messageId],
    ['iothub-to', delivery.to],
    ['iothub-correlationid', delivery.correlationId],
    ['iothub-userid', delivery.userId],
    ['iothub-expiry', delivery.expiryTimeUtc],
    ['iothub-ack', delivery.ack],
    ['iothub-enqueuedtime', delivery.enqueuedTime],
    ['iothub-deliverycount', String(delivery.deliveryCount)],
    ['content-type', delivery.contentType],
    ['iothub-contentencoding', delivery.contentEncoding],
  ];
  for (const [name, value] of system) if (value !== undefined) headers[name] = headerSafe(value, FIELD_VALUE);
  for (const [name, value] of Object.entries(delivery.application)) {
    headers[APP_PROPERTY_HEADER_PREFIX + headerSafe(name, TOKEN)] = headerSafe(value ?? '', FIELD_VALUE);
  }
  return headers;
}
