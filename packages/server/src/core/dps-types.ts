/**
 * The Device Provisioning Service's vocabulary: attestations, enrollments and their allocation and
 * reprovision policies, registration records and operations, credentials, quotas, and the options of
 * {@link ProvisioningService}. Types only, plus the named quota profiles.
 */
import type { Logger } from 'pino';
import type { Storage } from '../storage/port.js';
import type { PlatformEventStream } from './events.js';
import type { RegistrationFaults } from './faults.js';
import type { Hub } from './hub.js';
import type { Authentication, JsonObject, JsonValue } from './model.js';

/** How an enrollment proves a device. */
export type Attestation =
  | { type: 'symmetricKey'; symmetricKey: { primaryKey: string; secondaryKey: string } }
  /** Groups: CA certificates (PEM) a device chain must end in. Individual: leaf thumbprints (or PEM). */
  | {
      type: 'x509';
      x509: {
        caCertificates?: { primary: string; secondary?: string };
        /** Leaf thumbprints; the PEMs too when the certificates were uploaded (for the `info` DPS shows). */
        clientCertificates?: {
          primaryThumbprint: string;
          secondaryThumbprint?: string;
          primaryCertificate?: string;
          secondaryCertificate?: string;
        };
      };
    };

/**
 * `hashed` (evenly weighted): each new device goes to the enrollment's hub with the fewest devices, so hubs
 * stay balanced; `weighted`: the same in proportion to per-hub weights; `static`: one hub. Ties are broken
 * by hashing the registration id, so the choice is deterministic.
 */
export type AllocationPolicy = 'hashed' | 'weighted' | 'static';

/** What happens when a registered device registers again and its hub is no longer the allocated one. */
export interface ReprovisionPolicy {
  /** Move the device to the newly allocated hub (default true). */
  updateHubAssignment: boolean;
  /** Move its twin along (true) or start from the initial twin (false). Default true. */
  migrateDeviceData: boolean;
}

/** Settings shared by groups and individual enrollments. */
export interface EnrollmentSettings {
  attestation: Attestation;
  /** Names of the linked hubs this enrollment may use (default: all). */
  iotHubs?: string[];
  allocationPolicy: AllocationPolicy;
  /** For `weighted`: hub name → weight (> 0). */
  weights?: Record<string, number>;
  /** For `static`: the hub name. */
  staticHub?: string;
  reprovisionPolicy: ReprovisionPolicy;
  initialTwin?: { tags?: JsonObject; properties?: { desired?: JsonObject } };
  provisioningStatus: 'enabled' | 'disabled';
  capabilities: { iotEdge: boolean };
}

/** An enrollment group. */
export interface EnrollmentGroup extends EnrollmentSettings {
  enrollmentGroupId: string;
  etag: string;
  createdDateTimeUtc: string;
  lastUpdatedDateTimeUtc: string;
}

/** An individual enrollment (takes precedence over groups). */
export interface IndividualEnrollment extends EnrollmentSettings {
  registrationId: string;
  /** Device id in the hub (default: the registration id). */
  deviceId?: string;
  etag: string;
  createdDateTimeUtc: string;
  lastUpdatedDateTimeUtc: string;
}

/** DPS registration status values. */
export type RegistrationStatus = 'unassigned' | 'assigning' | 'assigned' | 'failed' | 'disabled';

/** Sub-status of an assigned registration. */
export type RegistrationSubstatus =
  'initialAssignment' | 'deviceDataMigrated' | 'deviceDataReset' | 'reprovisionedToInitialAssignment';

/** The stored registration of a device (`registrationState` on the wire, plus bookkeeping). */
export interface RegistrationRecord {
  registrationId: string;
  deviceId: string;
  /** Hub name (not host name). */
  hub: string;
  status: RegistrationStatus;
  substatus: RegistrationSubstatus;
  createdDateTimeUtc: string;
  lastUpdatedDateTimeUtc: string;
  etag: string;
  enrollment: { kind: 'group'; enrollmentGroupId: string } | { kind: 'individual' };
  attestationType: 'symmetricKey' | 'x509';
  /** The model id the device sent in its registration payload. */
  modelId?: string;
  payload?: JsonValue;
  /** The hub the device was first assigned to (failback target). */
  initialHub: string;
}

/** Credentials a device presents to DPS. */
export interface DpsCredentials {
  /** SAS token (MQTT password or HTTP Authorization header). */
  token?: string;
  /** TLS client certificate chain, DER, leaf first. */
  clientCertificates?: readonly Uint8Array[];
}

/** A register request as the edges decode it. */
export interface RegisterRequest {
  idScope: string;
  registrationId: string;
  credentials: DpsCredentials;
  /** The request body (`{"registrationId", "payload"}`); already JSON-parsed. */
  body: unknown;
  forceRegistration?: boolean;
}

/** `RegistrationOperationStatus` on the wire. */
export interface OperationStatus {
  operationId: string;
  status: RegistrationStatus;
  registrationState?: JsonObject;
}

/** The enrollment a device's credentials proved, and the hub authentication that follows from it. */
export interface Attested {
  enrollment: { kind: 'group'; group: EnrollmentGroup } | { kind: 'individual'; individual: IndividualEnrollment };
  authentication: Authentication;
  attestationType: 'symmetricKey' | 'x509';
}

/** A DPS shared access policy (service API). */
export interface DpsServicePolicy {
  keyName: string;
  primaryKey: string;
  secondaryKey: string;
}

/** A rate limit: at most `limit` requests per fixed window of `windowSeconds`. */
export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

/** Quota settings; all off by default. Over a limit, requests get 429 with `retry-after`. */
export interface DpsQuotas {
  /** Registrations per ID scope (IoT Central: 200 per minute; DPS: 1,000 per minute). */
  registrations?: RateLimit;
  /** Operation-status polls per device (DPS: 5 per 10 s). */
  pollsPerDevice?: RateLimit;
}

/** Named quota profiles. */
export const DPS_QUOTA_PROFILES = {
  off: {},
  iotCentral: { registrations: { limit: 200, windowSeconds: 60 }, pollsPerDevice: { limit: 5, windowSeconds: 10 } },
  dps: { registrations: { limit: 1000, windowSeconds: 60 }, pollsPerDevice: { limit: 5, windowSeconds: 10 } },
} as const satisfies Record<string, DpsQuotas>;

/**
 * What the application built on DPS (the IoT Central app) says about a device that registers: it may
 * refuse it (blocked, waiting for approval) and learns of each assignment before the device does.
 */
export interface RegistrationAdmission {
  /** After attestation, before assignment: throw a {@link DpsError} (`DPS_DEVICE_BLOCKED`, 400209) to refuse. */
  admit(registration: { registrationId: string; modelId?: string }): Promise<void>;
  /** The device was assigned; awaited before the operation reports `assigned`. */
  assigned(record: RegistrationRecord): Promise<void>;
}

/** Options for {@link ProvisioningService.open}. */
export interface ProvisioningServiceOptions {
  /** The host name devices use as `provisioningHost`. */
  hostName: string;
  /** Linked hubs. */
  hubs: readonly Hub[];
  storage: Storage;
  logger: Logger;
  /** Fixed ID scope; default: generated once and stored. */
  idScope?: string;
  quotas?: DpsQuotas;
  /** Seconds the device is told to wait before polling (default 1, as DPS). */
  retryAfterSeconds?: number;
  now?: () => number;
  /** The platform's event stream: registration attempts and outcomes go there. */
  events?: PlatformEventStream;
  /** Injected faults, asked before each registration. */
  faults?: RegistrationFaults;
}
