/**
 * The hub's domain records, shaped as Azure IoT Hub shows them so that the service API can return them
 * without translation.
 */

/** A JSON value as stored in twins and messages. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** Who a connection or request acts for: a device, or a module of a device. */
export interface Identity {
  readonly deviceId: string;
  readonly moduleId?: string;
}

/** Just the identity of anything that names a device and maybe a module (no other fields, no `undefined`). */
export function identityOf(source: { readonly deviceId: string; readonly moduleId?: string | undefined }): Identity {
  return source.moduleId === undefined
    ? { deviceId: source.deviceId }
    : { deviceId: source.deviceId, moduleId: source.moduleId };
}

/** `deviceId` or `deviceId/moduleId`: the MQTT client id and the key of every per-identity map. */
export function identityKey(identity: Identity): string {
  return identity.moduleId === undefined ? identity.deviceId : `${identity.deviceId}/${identity.moduleId}`;
}

/** How an identity authenticates, as in Azure's `authentication` object. */
export type Authentication =
  | { readonly type: 'sas'; readonly symmetricKey: { readonly primaryKey: string; readonly secondaryKey: string } }
  | {
      readonly type: 'selfSigned';
      readonly x509Thumbprint: {
        readonly primaryThumbprint: string | null;
        readonly secondaryThumbprint: string | null;
      };
    }
  | { readonly type: 'certificateAuthority' };

/** `Connected` or `Disconnected`. */
export type ConnectionState = 'Connected' | 'Disconnected';

/** A registered device or module identity (Azure's `Device` / `Module` JSON, minus derived fields). */
export interface IdentityRecord extends Identity {
  generationId: string;
  etag: string;
  status: 'enabled' | 'disabled';
  statusReason: string | null;
  statusUpdatedTime: string;
  authentication: Authentication;
  capabilities: { iotEdge: boolean };
  managedBy?: string;
}

/** Volatile facts about an identity, kept in memory and persisted lazily. */
export interface IdentityActivity {
  connectionState: ConnectionState;
  connectionStateUpdatedTime: string;
  lastActivityTime: string;
  modelId: string;
}

/** A desired or reported section with its `$version` and `$metadata`. */
export interface TwinSection {
  [key: string]: JsonValue;
  $version: number;
  $metadata: JsonObject;
}

/** The stored twin of an identity. */
export interface TwinRecord {
  tags: JsonObject;
  desired: TwinSection;
  reported: TwinSection;
  /** Monotonic twin version (any change). */
  version: number;
  etag: string;
}

/**
 * The system properties a message carries end to end, in both directions (D2C `$.mid`, `$.cid`, `$.uid`,
 * `$.ct`, `$.ce`; C2D the same): one shape for the edge's decoded message, the stored record, the C2D
 * request and the delivery, copied with {@link copyMessageProperties}.
 */
export interface MessageProperties {
  messageId?: string;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
}

/** The names of {@link MessageProperties}. */
export const MESSAGE_PROPERTY_NAMES = [
  'messageId',
  'correlationId',
  'userId',
  'contentType',
  'contentEncoding',
] as const;

/**
 * Copies the message properties `from` has onto `to` (absent ones stay absent: no `undefined` fields).
 *
 * @example
 * copyMessageProperties(decodedBag, message);
 */
export function copyMessageProperties(
  from: { readonly [K in keyof MessageProperties]?: string | undefined },
  to: MessageProperties,
): void {
  for (const name of MESSAGE_PROPERTY_NAMES) {
    const value = from[name];
    if (value !== undefined) to[name] = value;
  }
}

/** A device-to-cloud message as stored. */
export interface TelemetryRecord extends MessageProperties {
  /** Assigned by storage, monotonic per hub. */
  sequenceNumber?: number;
  hub: string;
  deviceId: string;
  moduleId?: string;
  /** When the hub accepted the message (ISO 8601, ms precision, UTC). */
  enqueuedTime: string;
  /** `iothub-creation-time-utc` (or `$.ctime`) as the device set it. */
  creationTime?: string;
  /** `$.sub` → `dt-subject`: the Plug and Play component. */
  component?: string;
  /** Application properties as sent. */
  properties: Record<string, string | null>;
  /** System properties the hub stamped (`iothub-connection-device-id`, `dt-dataschema`, ...). */
  systemProperties: Record<string, string>;
  body: Uint8Array;
}

/** Delivery acknowledgement a C2D sender asked for (`iothub-ack`). */
export type C2dAck = 'none' | 'positive' | 'negative' | 'full';

/** A cloud-to-device message in a device queue. */
export interface C2dRecord extends MessageProperties {
  /** Lock token / queue id, unique per hub. */
  id: string;
  deviceId: string;
  moduleId?: string;
  to: string;
  /** Epoch ms after which the message expires. */
  expiresAt: number;
  ack: C2dAck;
  properties: Record<string, string | null>;
  body: Uint8Array;
  enqueuedTime: string;
  deliveryCount: number;
}

/** Outcome reported on the feedback endpoint. */
export type C2dFeedbackStatus = 'Success' | 'Expired' | 'DeliveryCountExceeded' | 'Rejected' | 'Purged';

/** One feedback record (Azure's JSON shape). */
export interface C2dFeedbackRecord {
  originalMessageId: string;
  enqueuedTimeUtc: string;
  statusCode: C2dFeedbackStatus;
  description: string;
  deviceId: string;
  deviceGenerationId: string;
}

/** One MQTT subscription kept in a persistent session. */
export interface SessionSubscription {
  topic: string;
  qos: 0 | 1;
}

/** Hub shared access policy permissions. */
export type HubPermission = 'RegistryRead' | 'RegistryWrite' | 'ServiceConnect' | 'DeviceConnect';

/** A hub shared access policy (`iothubowner`, `service`, ...). */
export interface AccessPolicy {
  keyName: string;
  primaryKey: string;
  secondaryKey: string;
  rights: readonly HubPermission[];
}
