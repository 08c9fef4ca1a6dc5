/**
 * The AMQP device edge's wire vocabulary (protocol.md §5): the link addresses a device may attach, the
 * mapping between AMQP messages and the core's telemetry and C2D records (§5.4, §5.5), and the one table
 * from hub error codes to AMQP error conditions (§5.8).
 */
import rhea, { type Message } from 'rhea';
import type { D2cProperties } from '@plugboard/protocol';
import { incomingTelemetry, type IncomingTelemetry, type OutgoingC2d } from '../../core/hub.js';
import {
  copyMessageProperties,
  type C2dAck,
  type C2dRecord,
  type Identity,
  type MessageProperties,
} from '../../core/model.js';
import { HubError, type HubErrorCode } from '../../errors.js';

// rhea is CommonJS: its functions come through the default export.
const { message: rheaMessage, uuid_to_string } = rhea;

/** A data-section body (what the Node SDK sends and requires). */
export function dataSection(bytes: Uint8Array): unknown {
  return rheaMessage.data_section(Buffer.from(bytes));
}

/** What a device link is for. */
export type DeviceLinkKind = 'events' | 'c2d' | 'methods' | 'twin';

/** A device link address: whose, and what for. */
export interface DeviceAddress {
  identity: Identity;
  kind: DeviceLinkKind;
}

const ADDRESS =
  /^\/devices\/([^/]+)(?:\/modules\/([^/]+))?\/(messages\/events|messages\/devicebound|methods\/devicebound|twin)$/;
const KINDS: Readonly<Record<string, DeviceLinkKind>> = {
  'messages/events': 'events',
  'messages/devicebound': 'c2d',
  'methods/devicebound': 'methods',
  twin: 'twin',
};

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * Parses a device link address (§5.3), `undefined` when it is none. Modules send and receive input
 * messages on `…/modules/{m}/messages/events`.
 *
 * @example
 * parseDeviceAddress('/devices/dev1/messages/events'); // { identity: { deviceId: 'dev1' }, kind: 'events' }
 */
export function parseDeviceAddress(address: string | undefined): DeviceAddress | undefined {
  const match = address === undefined ? null : ADDRESS.exec(address);
  if (match === null) return undefined;
  const deviceId = decodeSegment(match[1] ?? '');
  const moduleId = match[2] === undefined ? undefined : decodeSegment(match[2]);
  const kind = KINDS[match[3] ?? ''];
  if (deviceId === undefined || deviceId === '' || (match[2] !== undefined && !moduleId) || kind === undefined) {
    return undefined;
  }
  return { identity: moduleId === undefined ? { deviceId } : { deviceId, moduleId }, kind };
}

/** An AMQP message id or correlation id as text (16-byte uuids in canonical form). */
export function idText(id: unknown): string | undefined {
  if (id === undefined || id === null) return undefined;
  if (typeof id === 'string') return id;
  if (Buffer.isBuffer(id)) return id.length === 16 ? uuid_to_string(id) : id.toString('utf8');
  return String(id);
}

/** A message body as bytes: a data section's content, or an AMQP value (text as UTF-8, others as JSON). */
export function bodyBytes(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'object' && 'content' in body) {
    const content = (body as { content: unknown }).content;
    if (Buffer.isBuffer(content)) return content;
    if (Array.isArray(content)) return Buffer.concat(content.filter((c): c is Buffer => Buffer.isBuffer(c)));
  }
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body), 'utf8');
}

function text(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return value.toISOString();
  return typeof value === 'object' ? JSON.stringify(value) : String(value as number | boolean);
}

/**
 * A device-to-cloud AMQP message as the core takes it (§5.4): properties (ids as text, uuids
 * canonical), `dt-subject` from the message annotations (or an application property `$.sub`, as the
 * Node Plug and Play samples set it), `iothub-creation-time-utc` and `iothub-outputname` from the
 * application properties.
 *
 * @example
 * telemetryFromAmqp({ body: message.data_section(Buffer.from('{}')), message_annotations: { 'dt-subject': 'c1' } });
 * // { body: <{}>, properties: {}, component: 'c1' }
 */
export function telemetryFromAmqp(message: Message): IncomingTelemetry {
  const props: D2cProperties = { application: {} };
  for (const [key, value] of Object.entries(message.application_properties ?? {})) {
    if (key === '$.sub') {
      const component = text(value);
      if (component !== null) props.component = component;
    } else if (key === 'iothub-outputname') {
      const output = text(value);
      if (output !== null) props.outputName = output;
    } else if (key === '__proto__') {
      Object.defineProperty(props.application, key, { value: text(value), enumerable: true, writable: true });
    } else {
      props.application[key] = text(value);
    }
  }
  const creation = props.application['iothub-creation-time-utc'];
  if (typeof creation === 'string') props.creationTimeUtc = creation;
  copyMessageProperties(systemProperties(message), props);
  if (message.to !== undefined) props.to = message.to;
  const expiry = message.absolute_expiry_time === undefined ? null : text(message.absolute_expiry_time);
  if (expiry !== null) props.expiryTimeUtc = expiry;
  const subject = message.message_annotations?.['dt-subject'];
  if (typeof subject === 'string') props.component = subject;
  return incomingTelemetry(bodyBytes(message.body), props);
}

/**
 * A C2D record as the AMQP message delivered to the device (§5.5): a data-section body (the Node SDK
 * requires one), the system properties, `iothub-ack` and the application properties, and the header's
 * delivery count (prior deliveries).
 *
 * @example
 * c2dToAmqp(record); // { message_id: 'c2d-1', to: '/devices/dev1/messages/deviceBound', body: <data>, … }
 */
export function c2dToAmqp(record: C2dRecord): Message {
  const message: Message = {
    message_id: record.messageId ?? record.id,
    to: record.to,
    absolute_expiry_time: new Date(record.expiresAt),
    delivery_count: Math.max(0, record.deliveryCount - 1),
    application_properties: { ...record.properties, 'iothub-ack': record.ack },
    body: dataSection(record.body),
  };
  if (record.correlationId !== undefined) message.correlation_id = record.correlationId;
  if (record.userId !== undefined) message.user_id = record.userId;
  if (record.contentType !== undefined) message.content_type = record.contentType;
  if (record.contentEncoding !== undefined) message.content_encoding = record.contentEncoding;
  return message;
}

/** The system properties an AMQP message carries in both directions (ids as text, uuids canonical). */
function systemProperties(message: Message): MessageProperties {
  const props: MessageProperties = {};
  const fields = {
    messageId: idText(message.message_id),
    correlationId: idText(message.correlation_id),
    userId: message.user_id === undefined ? undefined : (text(message.user_id) ?? undefined),
    contentType: message.content_type,
    contentEncoding: message.content_encoding,
  };
  copyMessageProperties(fields, props);
  return props;
}

const ACKS: ReadonlySet<string> = new Set(['none', 'positive', 'negative', 'full']);

/**
 * A C2D message a service sends over AMQP (§9.4) as the core queues it: body, system properties,
 * `absolute_expiry_time` as the expiry, application property `iothub-ack` as the feedback wanted, the
 * other application properties as the message's. Throws `HUB_INVALID_ARGUMENT` for an unknown ack or an
 * unreadable expiry.
 *
 * @example
 * c2dFromAmqp({ message_id: 'svc-1', application_properties: { 'iothub-ack': 'full', k: 'v' }, body: 'hello' });
 * // { body: <hello>, messageId: 'svc-1', ack: 'full', properties: { k: 'v' } }
 */
export function c2dFromAmqp(message: Message): OutgoingC2d {
  const properties: Record<string, string | null> = {};
  let ack: C2dAck | undefined;
  for (const [key, value] of Object.entries(message.application_properties ?? {})) {
    if (key === 'iothub-ack') {
      const wanted = text(value);
      if (wanted === null || !ACKS.has(wanted)) {
        throw new HubError('HUB_INVALID_ARGUMENT', 'iothub-ack must be none, positive, negative or full.');
      }
      ack = wanted as C2dAck;
    } else if (key !== '__proto__') {
      properties[key] = text(value);
    }
  }
  const outgoing: OutgoingC2d = { body: bodyBytes(message.body), properties };
  if (ack !== undefined) outgoing.ack = ack;
  const expiry = message.absolute_expiry_time as unknown;
  if (expiry !== undefined && expiry !== null) {
    const at = expiry instanceof Date ? expiry.getTime() : Number(expiry);
    if (!Number.isFinite(at)) throw new HubError('HUB_INVALID_ARGUMENT', 'absolute_expiry_time is not a time.');
    outgoing.expiresAt = at;
  }
  copyMessageProperties(systemProperties(message), outgoing);
  return outgoing;
}

/**
 * The AMQP error condition of each hub error code (§5.8), as the Node SDK maps them back: closing a
 * link or rejecting a delivery with it gives the device the same error class as IoT Hub does.
 */
export const AMQP_CONDITIONS: Readonly<Record<HubErrorCode, string>> = {
  HUB_INVALID_ARGUMENT: 'com.microsoft:argument-error',
  HUB_INVALID_TWIN_PATCH: 'com.microsoft:argument-error',
  HUB_PROTOCOL_VIOLATION: 'amqp:not-allowed',
  HUB_CONNECTION_REPLACED: 'amqp:link:detach-forced',
  HUB_UNAUTHORIZED: 'amqp:unauthorized-access',
  HUB_TOKEN_EXPIRED: 'amqp:unauthorized-access',
  HUB_BAD_CREDENTIALS: 'amqp:unauthorized-access',
  HUB_IDENTIFIER_REJECTED: 'amqp:unauthorized-access',
  HUB_DEVICE_DISABLED: 'amqp:unauthorized-access',
  HUB_TOPIC_NOT_ALLOWED: 'amqp:unauthorized-access',
  HUB_QUOTA_EXCEEDED: 'com.microsoft:quota-exceeded',
  HUB_C2D_QUEUE_FULL: 'amqp:resource-limit-exceeded',
  HUB_DEVICE_NOT_FOUND: 'amqp:not-found',
  HUB_MODULE_NOT_FOUND: 'amqp:not-found',
  HUB_DEVICE_NOT_ONLINE: 'amqp:not-found',
  HUB_MESSAGE_NOT_FOUND: 'amqp:not-found',
  HUB_ROUTE_NOT_FOUND: 'amqp:not-found',
  HUB_DEVICE_ALREADY_EXISTS: 'com.microsoft:device-already-exists',
  HUB_MODULE_ALREADY_EXISTS: 'com.microsoft:device-already-exists',
  HUB_PRECONDITION_FAILED: 'com.microsoft:precondition-failed',
  HUB_MESSAGE_LOCK_LOST: 'com.microsoft:message-lock-lost',
  HUB_MESSAGE_TOO_LARGE: 'amqp:link:message-size-exceeded',
  HUB_THROTTLED: 'com.microsoft:device-container-throttled',
  HUB_THROTTLE_BACKLOG_EXCEEDED: 'com.microsoft:device-container-throttled',
  HUB_INTERNAL: 'amqp:internal-error',
  HUB_SERVICE_UNAVAILABLE: 'com.microsoft:timeout',
  HUB_NO_ANSWER: 'com.microsoft:timeout',
  HUB_SILENT: 'com.microsoft:timeout',
  HUB_METHOD_TIMEOUT: 'com.microsoft:timeout',
};

/**
 * `error` as a {@link HubError}: itself, or `HUB_INTERNAL` ("{what} failed.") with it as the cause.
 *
 * @example
 * delivery.reject(condition(asHubError(error, 'Storing telemetry')));
 */
export function asHubError(error: unknown, what: string): HubError {
  return error instanceof HubError ? error : new HubError('HUB_INTERNAL', `${what} failed.`, { cause: error });
}
