/**
 * The Device Provisioning Service core: ID scope, enrollment groups and individual enrollments,
 * attestation (symmetric keys, derived group keys, X.509), allocation across the linked hubs, reprovision
 * policies, registration records and operations, quotas. Protocol-neutral: the MQTT and HTTPS edges call
 * {@link ProvisioningService.register} and {@link ProvisioningService.operationStatus}.
 */
import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import {
  ProtocolError,
  decodeResource,
  ifMatchHolds,
  parseIfMatch,
  parseSharedAccessSignature,
  readJson,
  type SharedAccessSignature,
} from '@plugboard/protocol';
import type { Logger } from 'pino';
import type { Storage } from '../storage/port.js';
import { certificateThumbprints, verifyCertificateChain } from '../tls/index.js';
import { balancedHub, enrollmentKeyOf } from './dps-allocation.js';
import { readEnrollmentCertificate } from './dps-certificates.js';
import {
  copyAuthentication,
  enableIdentity,
  migrateTwin,
  moveC2dQueue,
  retireIdentity,
  trustGroupCertificates,
} from './dps-device-move.js';
import { DpsError, dpsJsonError } from './dps-errors.js';
import { WindowCounter } from './dps-rate-window.js';
import type {
  Attested,
  DpsCredentials,
  DpsQuotas,
  DpsServicePolicy,
  EnrollmentGroup,
  EnrollmentSettings,
  IndividualEnrollment,
  OperationStatus,
  ProvisioningServiceOptions,
  RegisterRequest,
  RegistrationAdmission,
  RegistrationRecord,
  RegistrationSubstatus,
} from './dps-types.js';
import type { PlatformEventStream } from './events.js';
import type { RegistrationFaults } from './faults.js';
import { hmacBase64, verifySas } from './sas.js';
import type { Hub } from './hub.js';
import type { JsonObject, JsonValue } from './model.js';

/**
 * DPS registration ids: up to 128 letters, digits and `- . _ :`, the first a letter or digit, the last a
 * letter, digit or `-`; case-insensitive (`Dev1` and `dev1` are one registration).
 */
export const REGISTRATION_ID_PATTERN = /^[a-z0-9](?:[a-z0-9\-._:]{0,126}[a-z0-9-])?$/i;
const REGISTRATION_ID = REGISTRATION_ID_PATTERN;
const GROUP_ID = /^[A-Za-z0-9\-._:]{1,128}$/;
const OPERATION_TTL_MS = 10 * 60_000;
const MAX_PAYLOAD_BYTES = 4096;

function etagOf(value: unknown): string {
  return Buffer.from(`"${createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32)}"`).toString(
    'base64',
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates base64 keys of 16–64 bytes. */
function checkKey(key: unknown, what: string): string {
  if (typeof key !== 'string') throw new DpsError('DPS_BAD_REQUEST', `${what} must be a base64 string.`);
  const bytes = Buffer.from(key, 'base64');
  if (bytes.length < 16 || bytes.length > 64 || bytes.toString('base64') !== key) {
    throw new DpsError('DPS_BAD_REQUEST', `${what} must be the base64 encoding of 16 to 64 bytes.`);
  }
  return key;
}

/** What allocation reads of an enrollment. */
type AllocationSettings = Pick<EnrollmentSettings, 'allocationPolicy' | 'iotHubs' | 'weights' | 'staticHub'>;

/**
 * The provisioning service of a Plugboard application.
 *
 * @example
 * const dps = await ProvisioningService.open({ hostName: '127.0.0.1', hubs, storage, logger });
 * await dps.putEnrollmentGroup('SAS-IoT-Devices', { attestation: { type: 'symmetricKey', ... }, ... });
 */
export class ProvisioningService {
  readonly hostName: string;
  readonly idScope: string;
  /** The `provisioningserviceowner` policy of the service API. */
  readonly servicePolicy: DpsServicePolicy;
  readonly retryAfterSeconds: number;
  readonly #hubs: Map<string, Hub>;
  readonly #storage: Storage;
  readonly #log: Logger;
  readonly #now: () => number;
  #quotas: DpsQuotas;
  readonly #groups: Map<string, EnrollmentGroup>;
  readonly #individuals: Map<string, IndividualEnrollment>;
  readonly #registrations: Map<string, RegistrationRecord>;
  /** Devices per hub for each enrollment (`group:{id}` or `individual`), for balanced allocation. */
  readonly #allocationCounts = new Map<string, Map<string, number>>();
  readonly #operations = new Map<
    string,
    { registrationId: string; status: OperationStatus; expires: number; token?: string; tokenExpires?: number }
  >();
  /** Counters since start: what the UI and tests read. */
  readonly stats = { registrations: 0, assigned: 0, throttled: 0, unauthorized: 0 };
  readonly #registrationRate = new WindowCounter();
  readonly #events: PlatformEventStream | undefined;
  readonly #faults: RegistrationFaults | undefined;
  readonly #pollRate = new WindowCounter();
  #admission: RegistrationAdmission | undefined;

  private constructor(
    options: ProvisioningServiceOptions,
    idScope: string,
    servicePolicy: DpsServicePolicy,
    groups: Map<string, EnrollmentGroup>,
    individuals: Map<string, IndividualEnrollment>,
    registrations: Map<string, RegistrationRecord>,
  ) {
    this.hostName = options.hostName;
    this.idScope = idScope;
    this.servicePolicy = servicePolicy;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
    this.#hubs = new Map(options.hubs.map((h) => [h.name, h]));
    this.#storage = options.storage;
    this.#log = options.logger;
    this.#now = options.now ?? Date.now;
    this.#quotas = { ...options.quotas };
    this.#events = options.events;
    this.#faults = options.faults;
    this.#groups = groups;
    this.#individuals = individuals;
    this.#registrations = registrations;
    for (const record of registrations.values()) this.#count(record, +1);
  }

  /** Loads (or initialises) the service's state. */
  static async open(options: ProvisioningServiceOptions): Promise<ProvisioningService> {
    const storage = options.storage;
    const settings = (await storage.loadDocuments('dps')).get('settings') as
      { idScope: string; servicePolicy: DpsServicePolicy } | undefined;
    const idScope = options.idScope ?? settings?.idScope ?? `0ne${randomBytes(4).toString('hex').toUpperCase()}`;
    const servicePolicy = settings?.servicePolicy ?? {
      keyName: 'provisioningserviceowner',
      primaryKey: randomBytes(32).toString('base64'),
      secondaryKey: randomBytes(32).toString('base64'),
    };
    if (settings?.idScope !== idScope || settings.servicePolicy !== servicePolicy) {
      await storage.saveDocument('dps', 'settings', { idScope, servicePolicy });
    }
    const groups = (await storage.loadDocuments('dps-group')) as Map<string, EnrollmentGroup>;
    const individuals = (await storage.loadDocuments('dps-individual')) as Map<string, IndividualEnrollment>;
    const registrations = (await storage.loadDocuments('dps-registration')) as Map<string, RegistrationRecord>;
    return new ProvisioningService(options, idScope, servicePolicy, groups, individuals, registrations);
  }

  #iso(ms = this.#now()): string {
    return new Date(ms).toISOString();
  }

  /** Lets the application on top admit or refuse registering devices and learn of assignments. */
  setAdmission(admission: RegistrationAdmission | undefined): void {
    this.#admission = admission;
  }

  /** Linked hubs, by name. */
  get hubs(): ReadonlyMap<string, Hub> {
    return this.#hubs;
  }

  /** Replaces the quota settings (e.g. `DPS_QUOTA_PROFILES.iotCentral`). */
  setQuotas(quotas: DpsQuotas): void {
    this.#quotas = { ...quotas };
  }

  // ---------------------------------------------------------------- enrollments (management)

  #settings(input: Partial<EnrollmentSettings>, previous?: EnrollmentSettings): EnrollmentSettings {
    let attestation = input.attestation ?? previous?.attestation;
    if (attestation === undefined) throw new DpsError('DPS_BAD_REQUEST', 'An enrollment needs an attestation.');
    if (attestation.type === 'symmetricKey') {
      // Keys left out are kept from the enrollment being replaced, or generated, as DPS does.
      const kept = previous?.attestation.type === 'symmetricKey' ? previous.attestation.symmetricKey : undefined;
      const given = attestation.symmetricKey as Partial<{ primaryKey: string; secondaryKey: string }> | undefined;
      attestation = {
        type: 'symmetricKey',
        symmetricKey: {
          primaryKey: given?.primaryKey || kept?.primaryKey || randomBytes(64).toString('base64'),
          secondaryKey: given?.secondaryKey || kept?.secondaryKey || randomBytes(64).toString('base64'),
        },
      };
      checkKey(attestation.symmetricKey?.primaryKey, 'symmetricKey.primaryKey');
      checkKey(attestation.symmetricKey?.secondaryKey, 'symmetricKey.secondaryKey');
    } else if (attestation.type === 'x509') {
      const { caCertificates, clientCertificates } = attestation.x509 ?? {};
      if (caCertificates === undefined && clientCertificates === undefined) {
        throw new DpsError('DPS_BAD_REQUEST', 'An x509 attestation needs caCertificates or clientCertificates.');
      }
      const now = new Date(this.#now());
      for (const [slot, pem] of [
        ['primary', caCertificates?.primary],
        ['secondary', caCertificates?.secondary],
      ] as const) {
        if (pem === undefined) continue;
        const what = `The ${slot} signing certificate`;
        if (!readEnrollmentCertificate(pem, what, now).isCa) {
          throw new DpsError(
            'DPS_INVALID_CERTIFICATE',
            `${what} is not a CA certificate (basicConstraints CA:TRUE); an enrollment group needs the root or intermediate CA that signed the devices' certificates.`,
          );
        }
      }
      for (const [slot, pem] of [
        ['primary', clientCertificates?.primaryCertificate],
        ['secondary', clientCertificates?.secondaryCertificate],
      ] as const) {
        if (pem !== undefined) readEnrollmentCertificate(pem, `The ${slot} device certificate`, now);
      }
    } else {
      throw new DpsError(
        'DPS_BAD_REQUEST',
        `Unknown attestation type ${JSON.stringify((attestation as { type: unknown }).type)}.`,
      );
    }
    const allocationPolicy = input.allocationPolicy ?? previous?.allocationPolicy ?? 'hashed';
    if (!['hashed', 'weighted', 'static'].includes(allocationPolicy)) {
      throw new DpsError('DPS_BAD_REQUEST', 'allocationPolicy must be hashed, weighted or static.');
    }
    const iotHubs = input.iotHubs ?? previous?.iotHubs;
    for (const name of iotHubs ?? []) {
      if (!this.#hubs.has(name)) throw new DpsError('DPS_BAD_REQUEST', `Hub ${name} is not linked to this service.`);
    }
    const settings: EnrollmentSettings = {
      attestation,
      allocationPolicy,
      reprovisionPolicy: {
        updateHubAssignment: true,
        migrateDeviceData: true,
        ...previous?.reprovisionPolicy,
        ...input.reprovisionPolicy,
      },
      provisioningStatus: input.provisioningStatus ?? previous?.provisioningStatus ?? 'enabled',
      capabilities: { iotEdge: input.capabilities?.iotEdge ?? previous?.capabilities.iotEdge ?? false },
    };
    if (!['enabled', 'disabled'].includes(settings.provisioningStatus)) {
      throw new DpsError('DPS_BAD_REQUEST', 'provisioningStatus must be enabled or disabled.');
    }
    if (iotHubs !== undefined) settings.iotHubs = [...iotHubs];
    const weights = input.weights ?? previous?.weights;
    if (allocationPolicy === 'weighted') {
      if (weights === undefined || Object.values(weights).every((w) => !(w > 0))) {
        throw new DpsError('DPS_BAD_REQUEST', 'A weighted allocation needs positive weights per hub.');
      }
      for (const name of Object.keys(weights)) {
        if (!this.#hubs.has(name)) throw new DpsError('DPS_BAD_REQUEST', `Hub ${name} is not linked to this service.`);
      }
      settings.weights = { ...weights };
    }
    const staticHub = input.staticHub ?? previous?.staticHub;
    if (allocationPolicy === 'static') {
      if (staticHub === undefined || !this.#hubs.has(staticHub)) {
        throw new DpsError('DPS_BAD_REQUEST', 'A static allocation needs staticHub naming a linked hub.');
      }
      settings.staticHub = staticHub;
    }
    const initialTwin = input.initialTwin ?? previous?.initialTwin;
    if (initialTwin !== undefined) settings.initialTwin = initialTwin;
    return settings;
  }

  /** Creates or replaces an enrollment group. `ifMatch` guards replacement. */
  async putEnrollmentGroup(
    enrollmentGroupId: string,
    input: Partial<EnrollmentSettings>,
    ifMatch?: string,
  ): Promise<EnrollmentGroup> {
    if (!GROUP_ID.test(enrollmentGroupId)) {
      throw new DpsError('DPS_BAD_REQUEST', `Enrollment group id ${JSON.stringify(enrollmentGroupId)} is invalid.`);
    }
    const previous = this.#groups.get(enrollmentGroupId);
    this.#checkEtag(ifMatch, previous?.etag);
    const now = this.#iso();
    const settings = this.#settings(input, previous);
    const group: EnrollmentGroup = {
      enrollmentGroupId,
      ...settings,
      etag: '',
      createdDateTimeUtc: previous?.createdDateTimeUtc ?? now,
      lastUpdatedDateTimeUtc: now,
    };
    group.etag = etagOf({ ...group, etag: undefined });
    await this.#storage.saveDocument('dps-group', enrollmentGroupId, group);
    this.#groups.set(enrollmentGroupId, group);
    return group;
  }

  /** Creates or replaces an individual enrollment. */
  async putIndividualEnrollment(
    registrationId: string,
    input: Partial<EnrollmentSettings> & { deviceId?: string },
    ifMatch?: string,
  ): Promise<IndividualEnrollment> {
    this.#checkRegistrationId(registrationId);
    const previous = this.#individuals.get(registrationId.toLowerCase());
    this.#checkEtag(ifMatch, previous?.etag);
    const now = this.#iso();
    const settings = this.#settings(input, previous);
    const enrollment: IndividualEnrollment = {
      registrationId,
      ...settings,
      etag: '',
      createdDateTimeUtc: previous?.createdDateTimeUtc ?? now,
      lastUpdatedDateTimeUtc: now,
    };
    const deviceId = input.deviceId ?? previous?.deviceId;
    if (deviceId !== undefined) enrollment.deviceId = deviceId;
    enrollment.etag = etagOf({ ...enrollment, etag: undefined });
    await this.#storage.saveDocument('dps-individual', registrationId.toLowerCase(), enrollment);
    this.#individuals.set(registrationId.toLowerCase(), enrollment);
    return enrollment;
  }

  /** `If-Match`: absent, `*`, or the current etag (quoted or bare); empty or malformed never matches. */
  #checkEtag(ifMatch: string | undefined, current: string | undefined): void {
    const wanted = parseIfMatch(ifMatch, { allowUnquoted: true });
    if (wanted === undefined || wanted.kind === 'any') return;
    if (!ifMatchHolds(wanted, current?.replace(/^"|"$/g, ''))) {
      throw new DpsError(
        'DPS_PRECONDITION_FAILED',
        wanted.kind === 'malformed'
          ? `If-Match ${JSON.stringify(ifMatch)} is neither * nor an etag.`
          : 'The etag does not match; read the enrollment again and retry.',
      );
    }
  }

  /** The enrollment group, or `DPS_ENROLLMENT_NOT_FOUND`. */
  getEnrollmentGroup(enrollmentGroupId: string): EnrollmentGroup {
    const group = this.#groups.get(enrollmentGroupId);
    if (group === undefined) {
      throw new DpsError('DPS_ENROLLMENT_NOT_FOUND', `Enrollment group ${enrollmentGroupId} does not exist.`);
    }
    return group;
  }

  /** Every enrollment group. */
  listEnrollmentGroups(): EnrollmentGroup[] {
    return [...this.#groups.values()];
  }

  /** Deletes an enrollment group (its registrations stay; devices keep their hub identities). */
  async deleteEnrollmentGroup(enrollmentGroupId: string, ifMatch?: string): Promise<void> {
    const group = this.getEnrollmentGroup(enrollmentGroupId);
    this.#checkEtag(ifMatch, group.etag);
    await this.#storage.deleteDocument('dps-group', enrollmentGroupId);
    this.#groups.delete(enrollmentGroupId);
  }

  /** The individual enrollment, or `DPS_ENROLLMENT_NOT_FOUND`. */
  getIndividualEnrollment(registrationId: string): IndividualEnrollment {
    const enrollment = this.#individuals.get(registrationId.toLowerCase());
    if (enrollment === undefined) {
      throw new DpsError('DPS_ENROLLMENT_NOT_FOUND', `No individual enrollment for ${registrationId}.`);
    }
    return enrollment;
  }

  /** Every individual enrollment. */
  listIndividualEnrollments(): IndividualEnrollment[] {
    return [...this.#individuals.values()];
  }

  /** Deletes an individual enrollment. */
  async deleteIndividualEnrollment(registrationId: string, ifMatch?: string): Promise<void> {
    const enrollment = this.getIndividualEnrollment(registrationId);
    this.#checkEtag(ifMatch, enrollment.etag);
    await this.#storage.deleteDocument('dps-individual', registrationId.toLowerCase());
    this.#individuals.delete(registrationId.toLowerCase());
  }

  /** The registration record, or `DPS_REGISTRATION_NOT_FOUND`. */
  getRegistration(registrationId: string): RegistrationRecord {
    const record = this.#registrations.get(registrationId.toLowerCase());
    if (record === undefined) {
      throw new DpsError('DPS_REGISTRATION_NOT_FOUND', `${registrationId} has not registered.`);
    }
    return record;
  }

  /** Every registration record. */
  listRegistrations(): RegistrationRecord[] {
    return [...this.#registrations.values()];
  }

  /** Deletes a registration record (the device gets a fresh allocation when it registers next). */
  async deleteRegistration(registrationId: string): Promise<void> {
    const record = this.getRegistration(registrationId);
    await this.#storage.deleteDocument('dps-registration', registrationId.toLowerCase());
    this.#count(record, -1);
    this.#registrations.delete(registrationId.toLowerCase());
  }

  // ---------------------------------------------------------------- device runtime

  #checkRegistrationId(registrationId: string): void {
    if (typeof registrationId !== 'string' || !REGISTRATION_ID.test(registrationId)) {
      throw new DpsError(
        'DPS_INVALID_REGISTRATION_ID',
        `Registration id ${JSON.stringify(registrationId)} is invalid: use up to 128 letters, digits and - . _ :, starting with a letter or digit and ending with a letter, digit or -.`,
      );
    }
  }

  #checkScope(idScope: string): void {
    if (idScope.toLowerCase() !== this.idScope.toLowerCase()) {
      throw new DpsError('DPS_NOT_FOUND', `ID scope ${idScope} does not exist.`);
    }
  }

  /**
   * Finds the enrollment a device's credentials prove. Individual enrollments take precedence over
   * groups. Throws `DPS_UNAUTHORIZED` (401002).
   */
  async #attest(registrationId: string, credentials: DpsCredentials): Promise<Attested> {
    const individual = this.#individuals.get(registrationId.toLowerCase());
    if (credentials.token !== undefined && credentials.token !== '') {
      let sas: SharedAccessSignature;
      try {
        sas = parseSharedAccessSignature(credentials.token);
      } catch (cause) {
        throw new DpsError('DPS_UNAUTHORIZED', 'The Authorization value is not a SharedAccessSignature.', { cause });
      }
      const resource = decodeResource(sas.resource).toLowerCase();
      if (resource !== `${this.idScope}/registrations/${registrationId}`.toLowerCase()) {
        throw new DpsError('DPS_UNAUTHORIZED', 'The token is for another ID scope or registration id.');
      }
      if (sas.expiry * 1000 <= this.#now()) throw new DpsError('DPS_UNAUTHORIZED', 'The token has expired.');
      // Individual enrollments take precedence; otherwise every symmetric-key group, primary key first.
      const candidates: { key: () => string; enrollment: Attested['enrollment'] }[] = [];
      if (individual !== undefined && individual.attestation.type === 'symmetricKey') {
        const { primaryKey, secondaryKey } = individual.attestation.symmetricKey;
        for (const key of [primaryKey, secondaryKey]) {
          candidates.push({ key: () => key, enrollment: { kind: 'individual', individual } });
        }
      } else if (individual === undefined) {
        for (const group of this.#groups.values()) {
          if (group.attestation.type !== 'symmetricKey') continue;
          const { primaryKey, secondaryKey } = group.attestation.symmetricKey;
          for (const groupKey of [primaryKey, secondaryKey]) {
            candidates.push({ key: () => hmacBase64(groupKey, registrationId), enrollment: { kind: 'group', group } });
          }
        }
      }
      for (const candidate of candidates) {
        const key = candidate.key();
        if (verifySas(sas, key)) {
          return {
            enrollment: candidate.enrollment,
            authentication: { type: 'sas', symmetricKey: { primaryKey: key, secondaryKey: key } },
            attestationType: 'symmetricKey',
          };
        }
      }
      throw new DpsError('DPS_UNAUTHORIZED', 'Unauthorized: the token does not match an enrollment.');
    }
    const chain = credentials.clientCertificates ?? [];
    const leaf = chain[0];
    if (leaf === undefined)
      throw new DpsError('DPS_UNAUTHORIZED', 'No SAS token and no client certificate were presented.');
    const now = new Date(this.#now());
    const { sha1, sha256 } = certificateThumbprints(leaf);
    if (individual !== undefined) {
      const x509 = individual.attestation.type === 'x509' ? individual.attestation.x509 : undefined;
      const allowed = [x509?.clientCertificates?.primaryThumbprint, x509?.clientCertificates?.secondaryThumbprint]
        .filter((t): t is string => t !== undefined)
        .map((t) => t.replace(/:/g, '').toUpperCase());
      const cert = new X509Certificate(leaf);
      const valid = Date.parse(cert.validFrom) <= now.getTime() && Date.parse(cert.validTo) > now.getTime();
      if (!valid || (!allowed.includes(sha1) && !allowed.includes(sha256))) {
        throw new DpsError('DPS_UNAUTHORIZED', 'Invalid certificate.');
      }
      return {
        enrollment: { kind: 'individual', individual },
        authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: sha1, secondaryThumbprint: null } },
        attestationType: 'x509',
      };
    }
    for (const group of this.#groups.values()) {
      if (group.attestation.type !== 'x509' || group.attestation.x509.caCertificates === undefined) continue;
      const { primary, secondary } = group.attestation.x509.caCertificates;
      const verdict = verifyCertificateChain(chain, secondary === undefined ? [primary] : [primary, secondary], now);
      if (!verdict.ok) continue;
      if (verdict.commonName?.toLowerCase() !== registrationId.toLowerCase()) {
        throw new DpsError('DPS_UNAUTHORIZED', 'The certificate subject CN must equal the registration id.');
      }
      return {
        enrollment: { kind: 'group', group },
        authentication: { type: 'certificateAuthority' },
        attestationType: 'x509',
      };
    }
    throw new DpsError('DPS_UNAUTHORIZED', 'Invalid certificate.');
  }

  #parsePayload(body: unknown, registrationId: string): { payload?: JsonValue; modelId?: string } {
    if (body === undefined || body === null || (typeof body === 'string' && body.trim() === '')) return {};
    if (!isObject(body)) throw new DpsError('DPS_BAD_REQUEST', 'The request body must be a JSON object.');
    if (
      body['registrationId'] !== undefined &&
      String(body['registrationId']).toLowerCase() !== registrationId.toLowerCase()
    ) {
      throw new DpsError('DPS_BAD_REQUEST', 'registrationId in the body does not match the one in the path.');
    }
    let payload = body['payload'] as JsonValue | undefined;
    if (typeof payload === 'string' && payload.length <= MAX_PAYLOAD_BYTES) {
      // A JSON-encoded payload (protocol.md §3.4); an opaque string is allowed too.
      try {
        payload = readJson(payload, { maxBytes: MAX_PAYLOAD_BYTES });
      } catch (cause) {
        if (cause instanceof ProtocolError && cause.code !== 'PROTOCOL_JSON_MALFORMED') {
          throw dpsJsonError(cause, 'The registration payload');
        }
      }
    }
    if (payload !== undefined && Buffer.byteLength(JSON.stringify(payload)) > MAX_PAYLOAD_BYTES) {
      throw new DpsError('DPS_PAYLOAD_TOO_LARGE', `The registration payload exceeds ${MAX_PAYLOAD_BYTES} bytes.`);
    }
    const legacy = isObject(body['data']) ? body['data'] : undefined;
    const fromPayload = isObject(payload) ? payload : undefined;
    const modelId = [fromPayload?.['modelId'], fromPayload?.['iotcModelId'], legacy?.['iotcModelId']].find(
      (v): v is string => typeof v === 'string' && v.length > 0,
    );
    const out: { payload?: JsonValue; modelId?: string } = {};
    if (payload !== undefined) out.payload = payload;
    if (modelId !== undefined) out.modelId = modelId;
    return out;
  }

  #allocate(settings: AllocationSettings, enrollmentKey: string, registrationId: string): Hub {
    let name: string | undefined;
    if (settings.allocationPolicy === 'static') name = settings.staticHub;
    else {
      const weights = new Map<string, number>();
      for (const hub of this.#candidates(settings)) {
        weights.set(hub, settings.allocationPolicy === 'weighted' ? (settings.weights?.[hub] ?? 0) : 1);
      }
      name = balancedHub(registrationId, weights, this.#allocationCounts.get(enrollmentKey) ?? new Map());
    }
    const hub = name === undefined ? undefined : this.#hubs.get(name);
    if (hub === undefined) throw new DpsError('DPS_INTERNAL', 'No linked hub is available for this enrollment.');
    return hub;
  }

  /**
   * A device registers. Resolves with the operation (status `assigning`, to be polled — as DPS answers)
   * and the seconds to wait; the assignment itself is already done.
   */
  async register(request: RegisterRequest): Promise<{ operation: OperationStatus; retryAfter: number }> {
    try {
      return await this.#register(request);
    } catch (error) {
      this.#reportRefused(request.registrationId, error);
      throw error;
    }
  }

  /** Reports a refused registration on the event stream (the device timeline shows it). */
  #reportRefused(registrationId: unknown, error: unknown): void {
    this.#events?.emit({
      type: 'registration',
      registrationId: String(registrationId),
      outcome: 'refused',
      code: error instanceof DpsError ? error.code : 'DPS_INTERNAL',
      reason: error instanceof Error ? error.message : String(error),
    });
  }

  async #register(request: RegisterRequest): Promise<{ operation: OperationStatus; retryAfter: number }> {
    this.#checkScope(request.idScope);
    this.#checkRegistrationId(request.registrationId);
    await this.#faults?.beforeRegister(request.registrationId);
    const { payload, modelId } = this.#parsePayload(request.body, request.registrationId);
    const limit = this.#quotas.registrations;
    if (limit !== undefined) {
      const wait = this.#registrationRate.take(this.idScope, limit, this.#now());
      if (wait > 0) {
        this.stats.throttled += 1;
        throw new DpsError('DPS_THROTTLED', 'Too many registrations; retry later.', { retryAfter: wait });
      }
    }
    this.stats.registrations += 1;
    let attested: Attested;
    try {
      attested = await this.#attest(request.registrationId, request.credentials);
    } catch (error) {
      this.stats.unauthorized += 1;
      throw error;
    }
    const enrollmentSettings =
      attested.enrollment.kind === 'group' ? attested.enrollment.group : attested.enrollment.individual;
    const operationId = `4.${randomBytes(8).toString('hex')}.${randomUUID()}`;
    const key = request.registrationId.toLowerCase();
    const now = this.#iso();
    let status: OperationStatus;
    if (enrollmentSettings.provisioningStatus === 'disabled') {
      status = {
        operationId,
        status: 'disabled',
        registrationState: {
          registrationId: request.registrationId,
          status: 'disabled',
          createdDateTimeUtc: now,
          lastUpdatedDateTimeUtc: now,
        },
      };
      this.#log.info({ registrationId: request.registrationId }, 'registration refused: enrollment disabled');
      this.#events?.emit({ type: 'registration', registrationId: request.registrationId, outcome: 'disabled' });
    } else {
      await this.#admission?.admit({
        registrationId: request.registrationId,
        ...(modelId === undefined ? {} : { modelId }),
      });
      const record = await this.#assign(request.registrationId, attested, enrollmentSettings, {
        ...(payload === undefined ? {} : { payload }),
        ...(modelId === undefined ? {} : { modelId }),
        force: request.forceRegistration === true,
      });
      await this.#admission?.assigned(record);
      status = { operationId, status: 'assigned', registrationState: this.registrationState(record) };
      this.stats.assigned += 1;
      this.#events?.emit({
        type: 'registration',
        registrationId: request.registrationId,
        outcome: 'assigned',
        hub: record.hub,
        deviceId: record.deviceId,
        ...(record.modelId === undefined ? {} : { modelId: record.modelId }),
      });
    }
    const operation: {
      registrationId: string;
      status: OperationStatus;
      expires: number;
      token?: string;
      tokenExpires?: number;
    } = {
      registrationId: key,
      status,
      expires: this.#now() + OPERATION_TTL_MS,
    };
    const token = request.credentials.token;
    if (token !== undefined && token !== '') {
      // The token that registered may poll without a second signature check while it is valid.
      operation.token = token;
      operation.tokenExpires = parseSharedAccessSignature(token).expiry * 1000;
    }
    this.#operations.set(operationId, operation);
    this.#sweepOperations();
    return { operation: { operationId, status: 'assigning' }, retryAfter: this.retryAfterSeconds };
  }

  async #assign(
    registrationId: string,
    attested: Attested,
    settings: EnrollmentSettings,
    extra: { payload?: JsonValue; modelId?: string; force: boolean },
  ): Promise<RegistrationRecord> {
    const key = registrationId.toLowerCase();
    const previous = this.#registrations.get(key);
    // Registration ids are case-insensitive: a device that registers again with another casing keeps the
    // device id it was first given, so it never gets a second identity on the hub.
    const deviceId =
      attested.enrollment.kind === 'individual'
        ? (attested.enrollment.individual.deviceId ??
          previous?.deviceId ??
          attested.enrollment.individual.registrationId)
        : (previous?.deviceId ?? registrationId);
    const enrollmentKey = enrollmentKeyOf(attested.enrollment);
    const allocated =
      previous !== undefined && previous.hub !== undefined && enrollmentKeyOf(previous.enrollment) === enrollmentKey
        ? this.#preferCurrent(settings, enrollmentKey, registrationId, previous.hub)
        : this.#allocate(settings, enrollmentKey, registrationId);
    let hub = allocated;
    let substatus: RegistrationSubstatus = 'initialAssignment';
    let migrateFrom: Hub | undefined;
    if (previous !== undefined) {
      const current = this.#hubs.get(previous.hub);
      const stillAllowed = current !== undefined && (settings.iotHubs ?? [...this.#hubs.keys()]).includes(current.name);
      if (
        current !== undefined &&
        (current === allocated || (!settings.reprovisionPolicy.updateHubAssignment && stillAllowed))
      ) {
        hub = current;
        substatus = previous.substatus;
      } else if (current !== undefined && !settings.reprovisionPolicy.updateHubAssignment) {
        hub = current;
        substatus = previous.substatus;
      } else if (current !== undefined) {
        migrateFrom = current;
        substatus = settings.reprovisionPolicy.migrateDeviceData ? 'deviceDataMigrated' : 'deviceDataReset';
      }
    }
    await this.#ensureIdentity(hub, deviceId, attested, settings, attested.enrollment, migrateFrom);
    const now = this.#iso();
    const record: RegistrationRecord = {
      registrationId,
      deviceId,
      hub: hub.name,
      status: 'assigned',
      substatus,
      createdDateTimeUtc: previous?.createdDateTimeUtc ?? now,
      lastUpdatedDateTimeUtc: now,
      etag: '',
      enrollment:
        attested.enrollment.kind === 'group'
          ? { kind: 'group', enrollmentGroupId: attested.enrollment.group.enrollmentGroupId }
          : { kind: 'individual' },
      attestationType: attested.attestationType,
      initialHub: previous?.initialHub ?? hub.name,
    };
    const modelId = extra.modelId ?? previous?.modelId;
    if (modelId !== undefined) record.modelId = modelId;
    if (extra.payload !== undefined) record.payload = extra.payload;
    await this.#save(record);
    if (previous !== undefined) this.#count(previous, -1);
    this.#count(record, +1);
    this.#log.info({ registrationId, hub: hub.name, substatus }, 'device assigned');
    return record;
  }

  async #ensureIdentity(
    hub: Hub,
    deviceId: string,
    attested: Attested,
    settings: EnrollmentSettings,
    enrollment: Attested['enrollment'],
    migrateFrom: Hub | undefined,
  ): Promise<void> {
    const identity = { deviceId };
    if (attested.authentication.type === 'certificateAuthority' && enrollment.kind === 'group') {
      await trustGroupCertificates(hub, enrollment.group);
    }
    const created = await enableIdentity(hub, deviceId, copyAuthentication(attested.authentication), {
      iotEdge: settings.capabilities.iotEdge,
    });
    if (migrateFrom !== undefined && migrateFrom !== hub && migrateFrom.has(identity)) {
      if (settings.reprovisionPolicy.migrateDeviceData) await migrateTwin(migrateFrom, hub, deviceId);
      else if (settings.initialTwin !== undefined) {
        await hub.updateTwin(identity, settings.initialTwin, { replace: true });
      }
      await retireIdentity(migrateFrom, deviceId, `moved to ${hub.name} by the provisioning service`);
    } else if (created && settings.initialTwin !== undefined) {
      await hub.updateTwin(identity, settings.initialTwin);
    }
  }

  /** The `registrationState` object of a record. */
  registrationState(record: RegistrationRecord): JsonObject {
    const hub = this.#hubs.get(record.hub);
    const state: JsonObject = {
      registrationId: record.registrationId,
      createdDateTimeUtc: record.createdDateTimeUtc,
      assignedHub: hub?.hostName ?? record.hub,
      deviceId: record.deviceId,
      status: record.status,
      substatus: record.substatus,
      lastUpdatedDateTimeUtc: record.lastUpdatedDateTimeUtc,
      etag: record.etag,
    };
    if (record.payload !== undefined) state['payload'] = record.payload;
    if (record.enrollment.kind === 'group') {
      state[record.attestationType === 'x509' ? 'x509' : 'symmetricKey'] = {
        enrollmentGroupId: record.enrollment.enrollmentGroupId,
      };
    }
    return state;
  }

  /** A device polls its operation. Same credentials as `register`. */
  async operationStatus(request: {
    idScope: string;
    registrationId: string;
    operationId: string;
    credentials: DpsCredentials;
  }): Promise<OperationStatus> {
    this.#checkScope(request.idScope);
    this.#checkRegistrationId(request.registrationId);
    const limit = this.#quotas.pollsPerDevice;
    if (limit !== undefined) {
      const wait = this.#pollRate.take(request.registrationId.toLowerCase(), limit, this.#now());
      if (wait > 0) {
        this.stats.throttled += 1;
        throw new DpsError('DPS_THROTTLED', 'Too many status polls; retry later.', { retryAfter: wait });
      }
    }
    const operation = this.#operations.get(request.operationId);
    const sameToken =
      operation?.token !== undefined &&
      operation.token === request.credentials.token &&
      (operation.tokenExpires ?? 0) > this.#now();
    if (!sameToken) await this.#attest(request.registrationId, request.credentials);
    if (operation === undefined || operation.registrationId !== request.registrationId.toLowerCase()) {
      throw new DpsError('DPS_NOT_FOUND', `Operation ${request.operationId} does not exist.`);
    }
    return operation.status;
  }

  /**
   * Checks a device's credentials as `register` does (ID scope, registration id, an enrollment they
   * prove) without registering: DPS over AMQP checks them in the SASL exchange (protocol.md §3.5). A
   * refusal is counted and reported as a refused registration, then thrown.
   *
   * @example
   * await dps.authenticate({ idScope, registrationId, credentials: { token } }); // throws DPS_UNAUTHORIZED
   */
  async authenticate(request: { idScope: string; registrationId: string; credentials: DpsCredentials }): Promise<void> {
    try {
      this.#checkScope(request.idScope);
      this.#checkRegistrationId(request.registrationId);
      await this.#attest(request.registrationId, request.credentials);
    } catch (error) {
      if (error instanceof DpsError && error.code === 'DPS_UNAUTHORIZED') this.stats.unauthorized += 1;
      this.#reportRefused(request.registrationId, error);
      throw error;
    }
  }

  /** The registration status lookup (`POST /{idScope}/registrations/{id}`): the registration state. */
  async registrationStatus(request: {
    idScope: string;
    registrationId: string;
    credentials: DpsCredentials;
  }): Promise<JsonObject> {
    this.#checkScope(request.idScope);
    this.#checkRegistrationId(request.registrationId);
    await this.#attest(request.registrationId, request.credentials);
    return this.registrationState(this.getRegistration(request.registrationId));
  }

  /**
   * Re-points a device to another linked hub (failover) or back to its initial hub (failback), migrating
   * its twin and queued cloud-to-device messages and disabling the identity on the hub it leaves.
   */
  async moveDevice(registrationId: string, target: string): Promise<RegistrationRecord> {
    const record = this.getRegistration(registrationId);
    const from = this.#hubs.get(record.hub);
    const to = this.#hubs.get(target);
    if (to === undefined) throw new DpsError('DPS_BAD_REQUEST', `Hub ${target} is not linked to this service.`);
    if (from === to) return record;
    if (from === undefined || !from.has({ deviceId: record.deviceId })) {
      throw new DpsError('DPS_REGISTRATION_NOT_FOUND', `${registrationId} has no identity on its hub.`);
    }
    return this.#carry(record, from, to);
  }

  /** Links a hub added while running: new registrations may be allocated to it from now on. */
  linkHub(hub: Hub): void {
    if (this.#hubs.has(hub.name)) throw new DpsError('DPS_CONFLICT', `Hub ${hub.name} is linked already.`);
    this.#hubs.set(hub.name, hub);
    this.#log.info({ hub: hub.name }, 'hub linked');
  }

  /**
   * Unlinks a hub: no registration is allocated to it any more, and every device registered to it is
   * carried (identity, twin, queued C2D) to the hub its enrollment would allocate it now, with its
   * identity on the unlinked hub disabled, so the device's next connection goes back to DPS. Refused
   * (`DPS_CONFLICT`) for the last hub and when an enrollment could use no other hub. Resolves with the
   * number of devices moved, by the hub they went to.
   */
  async unlinkHub(name: string): Promise<Map<string, number>> {
    const hub = this.#hubs.get(name);
    if (hub === undefined) throw new DpsError('DPS_NOT_FOUND', `Hub ${name} is not linked to this service.`);
    if (this.#hubs.size < 2) throw new DpsError('DPS_CONFLICT', `Hub ${name} is the only linked hub.`);
    const enrollments: [string, EnrollmentSettings][] = [
      ...[...this.#groups.values()].map((g): [string, EnrollmentSettings] => [`group ${g.enrollmentGroupId}`, g]),
      ...[...this.#individuals.values()].map((e): [string, EnrollmentSettings] => [
        `enrollment ${e.registrationId}`,
        e,
      ]),
    ];
    for (const [label, settings] of enrollments) {
      if (this.#candidates(settings).every((h) => h === name)) {
        throw new DpsError(
          'DPS_CONFLICT',
          `The ${label} can allocate devices to ${name} only; give it other hubs before removing this one.`,
        );
      }
    }
    const edge = [...this.#registrations.values()].filter(
      (r) =>
        r.hub === name &&
        hub.has({ deviceId: r.deviceId }) &&
        hub.getIdentity({ deviceId: r.deviceId }).record.capabilities?.iotEdge === true,
    );
    if (edge.length > 0) {
      throw new DpsError(
        'DPS_CONFLICT',
        `Hub ${name} has IoT Edge devices (${edge
          .slice(0, 3)
          .map((r) => r.deviceId)
          .join(
            ', ',
          )}${edge.length > 3 ? ', …' : ''}), and IoT Edge devices cannot move between hubs; delete them first.`,
      );
    }
    this.#hubs.delete(name);
    const moved = new Map<string, number>();
    for (const record of [...this.#registrations.values()]) {
      if (record.hub !== name) continue;
      const settings =
        record.enrollment.kind === 'group'
          ? this.#groups.get(record.enrollment.enrollmentGroupId)
          : this.#individuals.get(record.registrationId.toLowerCase());
      // A registration whose enrollment is gone goes to the least-loaded hub.
      const to = this.#allocate(
        settings ?? { allocationPolicy: 'hashed' },
        enrollmentKeyOf(record.enrollment),
        record.registrationId,
      );
      // A device first assigned to the removed hub fails back to where it goes now.
      await this.#carry(record, hub, to, record.initialHub === name ? to.name : record.initialHub);
      moved.set(to.name, (moved.get(to.name) ?? 0) + 1);
    }
    for (const counts of this.#allocationCounts.values()) counts.delete(name);
    this.#log.info({ hub: name, moved: Object.fromEntries(moved) }, 'hub unlinked');
    return moved;
  }

  /**
   * Carries a registered device from one hub to another and re-points its registration (`initialHub`:
   * where it fails back to, kept unless given).
   */
  async #carry(
    record: RegistrationRecord,
    from: Hub,
    to: Hub,
    initialHub = record.initialHub,
  ): Promise<RegistrationRecord> {
    const identity = { deviceId: record.deviceId };
    if (from.has(identity)) {
      const authentication = copyAuthentication(from.getIdentity(identity).record.authentication);
      const group =
        record.enrollment.kind === 'group' ? this.#groups.get(record.enrollment.enrollmentGroupId) : undefined;
      if (authentication.type === 'certificateAuthority' && group !== undefined) {
        await trustGroupCertificates(to, group);
      }
      await enableIdentity(to, record.deviceId, authentication);
      await migrateTwin(from, to, record.deviceId);
      await moveC2dQueue(from, to, record.deviceId);
      await retireIdentity(from, record.deviceId, `moved to ${to.name}`);
    }
    const next: RegistrationRecord = {
      ...record,
      hub: to.name,
      initialHub,
      substatus: to.name === record.initialHub ? 'reprovisionedToInitialAssignment' : 'deviceDataMigrated',
    };
    this.#count(record, -1);
    this.#count(next, +1);
    await this.#save(next);
    return next;
  }

  /** Stores a changed registration record (new etag and update time). */
  async #save(record: RegistrationRecord): Promise<void> {
    record.lastUpdatedDateTimeUtc = this.#iso();
    record.etag = etagOf({ ...record, etag: undefined, lastUpdatedDateTimeUtc: undefined });
    const key = record.registrationId.toLowerCase();
    await this.#storage.saveDocument('dps-registration', key, record);
    this.#registrations.set(key, record);
  }

  /** The linked hubs an enrollment may allocate to. */
  #candidates(settings: AllocationSettings): string[] {
    if (settings.allocationPolicy === 'static') return settings.staticHub === undefined ? [] : [settings.staticHub];
    return (settings.iotHubs ?? [...this.#hubs.keys()]).filter(
      (h) => this.#hubs.has(h) && (settings.allocationPolicy !== 'weighted' || (settings.weights?.[h] ?? 0) > 0),
    );
  }

  /**
   * Re-registration: the current hub stays while it is still one the enrollment may use (the balanced
   * choice would move devices around whenever counts change); otherwise a new hub is allocated.
   */
  #preferCurrent(settings: EnrollmentSettings, enrollmentKey: string, registrationId: string, current: string): Hub {
    const hub = this.#hubs.get(current);
    return hub !== undefined && this.#candidates(settings).includes(current)
      ? hub
      : this.#allocate(settings, enrollmentKey, registrationId);
  }

  #count(record: RegistrationRecord, delta: number): void {
    const key = enrollmentKeyOf(record.enrollment);
    const counts = this.#allocationCounts.get(key) ?? new Map<string, number>();
    counts.set(record.hub, Math.max(0, (counts.get(record.hub) ?? 0) + delta));
    this.#allocationCounts.set(key, counts);
  }

  /** Operations all live equally long and the map keeps insertion order: expired ones are at the front. */
  #sweepOperations(): void {
    const now = this.#now();
    for (const [id, op] of this.#operations) {
      if (op.expires > now) return;
      this.#operations.delete(id);
    }
  }
}
