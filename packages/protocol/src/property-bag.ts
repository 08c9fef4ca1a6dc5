import { ProtocolError } from './errors.js';
import { splitQuery } from './query.js';

/**
 * An ordered list of message properties; a `null` value is a key written without `=`.
 *
 * @example
 * ```ts
 * const bag: PropertyBag = [['$.mid', 'mid-1'], ['my prop', 'a&b=c'], ['flag', null]];
 * ```
 */
export type PropertyBag = ReadonlyArray<readonly [key: string, value: string | null]>;

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch (cause) {
    throw new ProtocolError(
      'PROTOCOL_PROPERTY_BAG_MALFORMED',
      `property bag item '${text}' is not valid percent-encoding`,
      {
        cause,
      },
    );
  }
}

/**
 * Decodes an MQTT property bag (protocol.md §1.5): strip ONE trailing `/`, split on `&` (empty items are
 * skipped), split each item on the first `=`, turn `+` into a space (form encoding from .NET clients) and
 * percent-decode both sides. A key without `=` gets the value `null`.
 *
 * @throws {@link ProtocolError} `PROTOCOL_PROPERTY_BAG_MALFORMED` on invalid percent-encoding.
 * @example
 * ```ts
 * decodePropertyBag('%24.mid=mid-1&%24.ct=application%2Fjson&my%20prop=a%26b%3Dc&flag');
 * // [['$.mid', 'mid-1'], ['$.ct', 'application/json'], ['my prop', 'a&b=c'], ['flag', null]]
 * ```
 */
export function decodePropertyBag(encoded: string): PropertyBag {
  const text = encoded.endsWith('/') ? encoded.slice(0, -1) : encoded;
  return splitQuery(text).map(([key, value]) => [decodeComponent(key), value === null ? null : decodeComponent(value)]);
}

function encodeComponent(text: string): string {
  // `+` must be escaped too: the decoder reads a bare `+` as a space.
  return encodeURIComponent(text).replaceAll('+', '%2B');
}

/**
 * Encodes a property bag for a topic (protocol.md §1.6): `encodeURIComponent` on keys and values (so `/`,
 * `&`, `=` and `+` are escaped), `null` as a bare key, `''` as `key=`. The inverse of
 * {@link decodePropertyBag}.
 *
 * @throws {@link ProtocolError} `PROTOCOL_PROPERTY_BAG_MALFORMED` for an empty key (it cannot be written).
 * @example
 * ```ts
 * encodePropertyBag([['$.to', '/devices/dev1/messages/devicebound'], ['iothub-ack', 'full'], ['flag', null]]);
 * // '%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&iothub-ack=full&flag'
 * ```
 */
export function encodePropertyBag(bag: PropertyBag): string {
  return bag
    .map(([key, value]) => {
      if (key === '') throw new ProtocolError('PROTOCOL_PROPERTY_BAG_MALFORMED', 'property bag key must not be empty');
      return value === null ? encodeComponent(key) : `${encodeComponent(key)}=${encodeComponent(value)}`;
    })
    .join('&');
}

/**
 * Property-bag keys of the IoT Hub system properties (protocol.md §1.5).
 *
 * @example
 * ```ts
 * SYSTEM_PROPERTIES.messageId; // '$.mid'
 * ```
 */
export const SYSTEM_PROPERTIES = {
  messageId: '$.mid',
  correlationId: '$.cid',
  userId: '$.uid',
  to: '$.to',
  contentType: '$.ct',
  contentEncoding: '$.ce',
  expiryTimeUtc: '$.exp',
  subject: '$.sub',
  interfaceId: '$.ifid',
  outputName: '$.on',
  creationTime: '$.ctime',
} as const;

/** The application property a device uses to stamp its creation time (protocol.md §1.5). */
const CREATION_TIME_PROPERTY = 'iothub-creation-time-utc';

/**
 * Properties of a device-to-cloud message, split into system and application properties.
 *
 * @example
 * ```ts
 * const props: D2cProperties = { contentType: 'application/json', component: 'thermostat1', application: {} };
 * ```
 */
export interface D2cProperties {
  messageId?: string;
  correlationId?: string;
  userId?: string;
  to?: string;
  contentType?: string;
  contentEncoding?: string;
  expiryTimeUtc?: string;
  /** From `$.sub`: the Plug and Play component (system property `dt-subject`). */
  component?: string;
  /** From `$.ifid` (legacy PnP preview, `iothub-interface-id`). */
  interfaceId?: string;
  /** From `$.on`: the module output name. */
  outputName?: string;
  /** From application property `iothub-creation-time-utc`, else `$.ctime`. */
  creationTimeUtc?: string;
  /** Everything that is not a known `$.` system key (`iothub-creation-time-utc` stays here too). */
  application: Record<string, string | null>;
}

type D2cSystemField = Exclude<keyof D2cProperties, 'application' | 'creationTimeUtc'>;

const D2C_SYSTEM_FIELDS: ReadonlyMap<string, D2cSystemField> = new Map([
  [SYSTEM_PROPERTIES.messageId, 'messageId'],
  [SYSTEM_PROPERTIES.correlationId, 'correlationId'],
  [SYSTEM_PROPERTIES.userId, 'userId'],
  [SYSTEM_PROPERTIES.to, 'to'],
  [SYSTEM_PROPERTIES.contentType, 'contentType'],
  [SYSTEM_PROPERTIES.contentEncoding, 'contentEncoding'],
  [SYSTEM_PROPERTIES.expiryTimeUtc, 'expiryTimeUtc'],
  [SYSTEM_PROPERTIES.subject, 'component'],
  [SYSTEM_PROPERTIES.interfaceId, 'interfaceId'],
  [SYSTEM_PROPERTIES.outputName, 'outputName'],
]);

/**
 * Splits a decoded D2C property bag into system properties and application properties (protocol.md §1.5).
 * A system key with a `null` value is ignored; when a key repeats, the last value wins. Unknown `$.` keys
 * are kept as application properties.
 *
 * @example
 * ```ts
 * splitD2cProperties(decodePropertyBag('%24.ct=application%2Fjson&%24.sub=thermostat1&iothub-creation-time-utc=2021-04-21T11%3A30%3A16Z'));
 * // { contentType: 'application/json', component: 'thermostat1', creationTimeUtc: '2021-04-21T11:30:16Z',
 * //   application: { 'iothub-creation-time-utc': '2021-04-21T11:30:16Z' } }
 * ```
 */
export function splitD2cProperties(bag: PropertyBag): D2cProperties {
  const system: Partial<Record<D2cSystemField, string>> = {};
  const application = new Map<string, string | null>();
  let creationTime: string | undefined;
  for (const [key, value] of bag) {
    const field = D2C_SYSTEM_FIELDS.get(key);
    if (field !== undefined) {
      if (value !== null) system[field] = value;
    } else if (key === SYSTEM_PROPERTIES.creationTime) {
      if (value !== null) creationTime = value;
    } else {
      application.set(key, value);
    }
  }
  const result: D2cProperties = { ...system, application: Object.fromEntries(application) };
  const creationTimeUtc = application.get(CREATION_TIME_PROPERTY) ?? creationTime;
  if (creationTimeUtc !== undefined) result.creationTimeUtc = creationTimeUtc;
  return result;
}

/** Percent-decodes one bag item, skipping the work for the common item that has nothing encoded. */
function decodeItem(text: string): string {
  if (text.indexOf('+') >= 0) return decodeComponent(text);
  if (text.indexOf('%') < 0) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return decodeComponent(text);
  }
}

/**
 * Decoded keys (and values of {@link REPEATED_FIELDS}) by their encoded form: devices repeat the same few
 * in every message. A bounded memo of a pure function: it changes no result.
 */
const decodedKeys = new Map<string, string>();

const REPEATED_FIELDS: ReadonlySet<string> = new Set(['contentType', 'contentEncoding', 'component']);

function decodeKey(text: string): string {
  let key = decodedKeys.get(text);
  if (key === undefined) {
    key = decodeItem(text);
    if (decodedKeys.size >= 1024) decodedKeys.clear();
    decodedKeys.set(text, key);
  }
  return key;
}

/** Sets an own property, also one named `__proto__` (which plain assignment would not create). */
function setOwn(target: Record<string, string | null>, key: string, value: string | null): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * Decodes a D2C topic property bag straight into its system and application properties: the same result
 * as `splitD2cProperties(decodePropertyBag(encoded))`, in one pass without intermediate arrays (this runs
 * once per telemetry message).
 *
 * @throws {@link ProtocolError} `PROTOCOL_PROPERTY_BAG_MALFORMED` on invalid percent-encoding.
 * @example
 * ```ts
 * decodeD2cProperties('%24.ct=application%2Fjson&%24.ce=utf-8&iothub-creation-time-utc=2021-04-21T11%3A30%3A16Z');
 * // { contentType: 'application/json', contentEncoding: 'utf-8', creationTimeUtc: '2021-04-21T11:30:16Z',
 * //   application: { 'iothub-creation-time-utc': '2021-04-21T11:30:16Z' } }
 * ```
 */
export function decodeD2cProperties(encoded: string): D2cProperties {
  const text = encoded.endsWith('/') ? encoded.slice(0, -1) : encoded;
  const result: D2cProperties = { application: {} };
  const application = result.application;
  let ctime: string | undefined;
  const n = text.length;
  let start = 0;
  while (start < n) {
    let end = text.indexOf('&', start);
    if (end < 0) end = n;
    if (end > start) {
      const eq = text.indexOf('=', start);
      const hasValue = eq >= 0 && eq < end;
      const key = decodeKey(text.slice(start, hasValue ? eq : end));
      const field = D2C_SYSTEM_FIELDS.get(key);
      // Content type, encoding and component repeat message after message: their values are memoised too.
      const raw = hasValue ? text.slice(eq + 1, end) : null;
      const value =
        raw === null ? null : field !== undefined && REPEATED_FIELDS.has(field) ? decodeKey(raw) : decodeItem(raw);
      if (field !== undefined) {
        if (value !== null) result[field] = value;
      } else if (key === SYSTEM_PROPERTIES.creationTime) {
        if (value !== null) ctime = value;
      } else {
        setOwn(application, key, value);
      }
    }
    start = end + 1;
  }
  const creationTimeUtc = Object.prototype.hasOwnProperty.call(application, CREATION_TIME_PROPERTY)
    ? (application[CREATION_TIME_PROPERTY] ?? ctime)
    : ctime;
  if (creationTimeUtc !== undefined) result.creationTimeUtc = creationTimeUtc;
  return result;
}

/**
 * Properties of a cloud-to-device message (protocol.md §1.6).
 *
 * @example
 * ```ts
 * const props: C2dProperties = { messageId: 'm1', ack: 'full', application: { myprop: 'hello w' } };
 * ```
 */
export interface C2dProperties {
  messageId?: string;
  correlationId?: string;
  userId?: string;
  to?: string;
  contentType?: string;
  contentEncoding?: string;
  expiryTimeUtc?: string;
  /** `iothub-ack`: `none`, `positive`, `negative` or `full`. */
  ack?: string;
  application: Readonly<Record<string, string | null>>;
}

/**
 * Builds the property bag of a C2D delivery, in the order real hubs use: `$.mid`, `$.to`, `$.cid`, `$.uid`,
 * `$.ct`, `$.ce`, `$.exp`, `iothub-ack`, then application properties; `undefined` fields are omitted.
 *
 * @example
 * ```ts
 * encodePropertyBag(c2dPropertyBag({ messageId: 'm1', to: '/devices/dev1/messages/devicebound', ack: 'full', application: { myprop: 'hello w' } }));
 * // '%24.mid=m1&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&iothub-ack=full&myprop=hello%20w'
 * ```
 */
export function c2dPropertyBag(props: C2dProperties): PropertyBag {
  return bagOf(
    [
      [SYSTEM_PROPERTIES.messageId, props.messageId],
      [SYSTEM_PROPERTIES.to, props.to],
      [SYSTEM_PROPERTIES.correlationId, props.correlationId],
      [SYSTEM_PROPERTIES.userId, props.userId],
      [SYSTEM_PROPERTIES.contentType, props.contentType],
      [SYSTEM_PROPERTIES.contentEncoding, props.contentEncoding],
      [SYSTEM_PROPERTIES.expiryTimeUtc, props.expiryTimeUtc],
      ['iothub-ack', props.ack],
    ],
    props.application,
  );
}

/** The defined system fields in the order given, then the application properties. */
function bagOf(
  system: ReadonlyArray<readonly [string, string | undefined]>,
  application: Readonly<Record<string, string | null>>,
): PropertyBag {
  const bag: Array<readonly [string, string | null]> = [];
  for (const [key, value] of system) if (value !== undefined) bag.push([key, value]);
  for (const [key, value] of Object.entries(application)) bag.push([key, value]);
  return bag;
}

/**
 * Builds the property bag of a device-to-cloud message in the order the Node SDK writes it (protocol.md
 * §1.5): `$.mid`, `$.cid`, `$.uid`, `$.to`, `$.ct`, `$.ce`, `$.ifid`, `$.exp`, `$.on`, then `$.sub` for the
 * component and the application properties (`iothub-creation-time-utc` among them when
 * `creationTimeUtc` is set and the application properties do not already carry it). The inverse of
 * {@link splitD2cProperties}, up to order.
 *
 * @example
 * ```ts
 * encodePropertyBag(d2cPropertyBag({ contentType: 'application/json', contentEncoding: 'utf-8', component: 'thermostat1', application: {} }));
 * // '%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1'
 * ```
 */
export function d2cPropertyBag(props: D2cProperties): PropertyBag {
  const stampCreationTime =
    props.creationTimeUtc !== undefined &&
    !Object.prototype.hasOwnProperty.call(props.application, CREATION_TIME_PROPERTY);
  return bagOf(
    [
      [SYSTEM_PROPERTIES.messageId, props.messageId],
      [SYSTEM_PROPERTIES.correlationId, props.correlationId],
      [SYSTEM_PROPERTIES.userId, props.userId],
      [SYSTEM_PROPERTIES.to, props.to],
      [SYSTEM_PROPERTIES.contentType, props.contentType],
      [SYSTEM_PROPERTIES.contentEncoding, props.contentEncoding],
      [SYSTEM_PROPERTIES.interfaceId, props.interfaceId],
      [SYSTEM_PROPERTIES.expiryTimeUtc, props.expiryTimeUtc],
      [SYSTEM_PROPERTIES.outputName, props.outputName],
      [SYSTEM_PROPERTIES.subject, props.component],
      [CREATION_TIME_PROPERTY, stampCreationTime ? props.creationTimeUtc : undefined],
    ],
    props.application,
  );
}
