/**
 * The application's enrollment groups in Central's REST shape (protocol.md §7.2,
 * az-central-wire.md `enrollment-group …`): `{id, displayName, enabled, type: "iot"|"iotEdge",
 * attestation, etag}`, kept as the provisioning service's enrollment groups (enabled ↔
 * `provisioningStatus`, `iotEdge` ↔ `capabilities.iotEdge`) with the display name beside. An X.509
 * group is created first and gets its signing certificates through `…/certificates/{primary|secondary}`
 * (`{"certificate": "<base64 of the PEM text>"}`, as `az iot central enrollment-group create
 * --certificate-path` sends it); until it has one, devices cannot use it.
 */
import { randomBytes } from 'node:crypto';
import { DpsError } from '../core/dps-errors.js';
import { verifyCertificateChain } from '../tls/index.js';
import { certificateInfoOf } from '../core/dps-certificates.js';
import type { ProvisioningService } from '../core/dps.js';
import type { EnrollmentGroup } from '../core/dps-types.js';
import type { JsonObject } from '../core/model.js';
import type { Storage } from '../storage/port.js';
import { CentralError, type CentralErrorCode } from './errors.js';

/** What Central keeps beside the DPS group (and the whole group while an X.509 one has no certificate). */
interface GroupExtras {
  displayName: string;
  /** An X.509 group without a certificate yet: not in DPS. */
  pending?: { enabled: boolean; iotEdge: boolean; etag: string };
  /** Outstanding proof-of-possession codes per certificate entry. */
  verificationCodes?: Partial<Record<CertificateEntry, string>>;
}

const KIND = 'central-enrollment-group';
const FIELDS = new Set(['id', 'etag', 'displayName', 'enabled', 'type', 'attestation']);
const ENTRIES = ['primary', 'secondary'] as const;
/** A certificate entry of an X.509 group. */
export type CertificateEntry = (typeof ENTRIES)[number];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const FROM_DPS: Partial<Record<string, CentralErrorCode>> = {
  DPS_BAD_REQUEST: 'CENTRAL_BAD_REQUEST',
  DPS_INVALID_CERTIFICATE: 'CENTRAL_BAD_REQUEST',
  DPS_ENROLLMENT_NOT_FOUND: 'CENTRAL_NOT_FOUND',
  DPS_PRECONDITION_FAILED: 'CENTRAL_PRECONDITION_FAILED',
};

/** Runs a DPS call, answering its refusals as Central errors. */
async function central<T>(call: () => Promise<T> | T): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const code = error instanceof DpsError ? FROM_DPS[error.code] : undefined;
    if (code !== undefined) throw new CentralError(code, (error as Error).message, { cause: error });
    throw error;
  }
}

/**
 * The enrollment groups of one application.
 *
 * @example
 * const groups = await CentralEnrollmentGroups.open({ storage, dps });
 * await groups.put('sensors', { displayName: 'Sensors', type: 'iot', attestation: { type: 'symmetricKey' } });
 */
export class CentralEnrollmentGroups {
  readonly #storage: Storage;
  readonly #dps: ProvisioningService;
  readonly #extras = new Map<string, GroupExtras>();

  private constructor(storage: Storage, dps: ProvisioningService) {
    this.#storage = storage;
    this.#dps = dps;
  }

  static async open(options: { storage: Storage; dps: ProvisioningService }): Promise<CentralEnrollmentGroups> {
    const groups = new CentralEnrollmentGroups(options.storage, options.dps);
    for (const [id, extras] of (await options.storage.loadDocuments(KIND)) as Map<string, GroupExtras>) {
      groups.#extras.set(id, extras);
    }
    return groups;
  }

  /** Every group, in id order. */
  list(): JsonObject[] {
    const ids = new Set([...this.#dps.listEnrollmentGroups().map((g) => g.enrollmentGroupId), ...this.#extras.keys()]);
    return [...ids].sort().flatMap((id) => {
      const view = this.#viewOf(id);
      return view === undefined ? [] : [view];
    });
  }

  /** One group, or `CENTRAL_NOT_FOUND`. */
  get(id: string): JsonObject {
    const view = this.#viewOf(id);
    if (view === undefined) throw new CentralError('CENTRAL_NOT_FOUND', `Enrollment group ${id} does not exist.`);
    return view;
  }

  /**
   * Creates or replaces a group (`PUT`), or with `merge` changes the fields given (`PATCH`). `etag` in
   * the body or `ifMatch` guards a change.
   */
  async put(id: string, input: unknown, options: { ifMatch?: string; merge?: boolean } = {}): Promise<JsonObject> {
    if (!/^[A-Za-z0-9\-._:]{1,128}$/.test(id)) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        `Enrollment group id ${JSON.stringify(id)} is invalid: use up to 128 letters, digits and - . _ :.`,
      );
    }
    if (!isObject(input)) throw new CentralError('CENTRAL_BAD_REQUEST', 'The enrollment group must be a JSON object.');
    for (const key of Object.keys(input)) {
      if (!FIELDS.has(key)) {
        throw new CentralError(
          'CENTRAL_BAD_REQUEST',
          `Unknown enrollment group field ${JSON.stringify(key)}; a group has displayName, enabled, type and attestation.`,
        );
      }
    }
    const current = this.#viewOf(id);
    if (options.merge === true && current === undefined) {
      throw new CentralError('CENTRAL_NOT_FOUND', `Enrollment group ${id} does not exist.`);
    }
    const etag = options.ifMatch ?? (typeof input['etag'] === 'string' ? input['etag'] : undefined);
    if (
      etag !== undefined &&
      etag !== '*' &&
      current !== undefined &&
      etag.replace(/"/g, '') !== String(current['etag']).replace(/"/g, '')
    ) {
      throw new CentralError(
        'CENTRAL_PRECONDITION_FAILED',
        'The etag does not match; read the enrollment group again.',
      );
    }
    const base = options.merge === true ? (current ?? {}) : {};
    const displayName = input['displayName'] ?? base['displayName'] ?? id;
    const enabled = input['enabled'] ?? base['enabled'] ?? true;
    const type = input['type'] ?? base['type'] ?? 'iot';
    const attestation = input['attestation'] ?? base['attestation'];
    if (typeof displayName !== 'string' || displayName === '') {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'displayName must be text.');
    }
    if (typeof enabled !== 'boolean') throw new CentralError('CENTRAL_BAD_REQUEST', 'enabled must be true or false.');
    if (type !== 'iot' && type !== 'iotEdge')
      throw new CentralError('CENTRAL_BAD_REQUEST', 'type must be iot or iotEdge.');
    if (!isObject(attestation) || (attestation['type'] !== 'symmetricKey' && attestation['type'] !== 'x509')) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        'attestation must be {"type": "symmetricKey"[, "symmetricKey": {"primaryKey", "secondaryKey"}]} or {"type": "x509"}.',
      );
    }
    const settings = {
      provisioningStatus: enabled ? ('enabled' as const) : ('disabled' as const),
      capabilities: { iotEdge: type === 'iotEdge' },
    };
    const existing = this.#dpsGroup(id);
    if (attestation['type'] === 'symmetricKey') {
      const keys = isObject(attestation['symmetricKey']) ? attestation['symmetricKey'] : {};
      const kept = existing?.attestation.type === 'symmetricKey' ? existing.attestation.symmetricKey : undefined;
      await central(() =>
        this.#dps.putEnrollmentGroup(id, {
          ...settings,
          attestation: {
            type: 'symmetricKey',
            symmetricKey: {
              primaryKey: (keys['primaryKey'] as string | undefined) ?? kept?.primaryKey ?? '',
              secondaryKey: (keys['secondaryKey'] as string | undefined) ?? kept?.secondaryKey ?? '',
            },
          },
        }),
      );
      await this.#saveExtras(id, { displayName });
    } else if (existing?.attestation.type === 'x509') {
      await central(() => this.#dps.putEnrollmentGroup(id, { ...settings, attestation: existing.attestation }));
      await this.#saveExtras(id, { displayName });
    } else {
      if (existing !== undefined) await central(() => this.#dps.deleteEnrollmentGroup(id));
      const stamp = `"${Date.now().toString(36)}"`;
      await this.#saveExtras(id, { displayName, pending: { enabled, iotEdge: type === 'iotEdge', etag: stamp } });
    }
    return this.get(id);
  }

  /** Deletes a group (devices already registered through it keep their identities). */
  async delete(id: string): Promise<void> {
    this.get(id);
    if (this.#dpsGroup(id) !== undefined) await central(() => this.#dps.deleteEnrollmentGroup(id));
    this.#extras.delete(id);
    await this.#storage.deleteDocument(KIND, id);
  }

  /** An X.509 group's certificate entry: `{certificate, verified, info}`. */
  certificate(id: string, entry: string): JsonObject {
    const slot = this.#entry(entry);
    this.get(id);
    const group = this.#dpsGroup(id);
    const ca = group?.attestation.type === 'x509' ? group.attestation.x509.caCertificates : undefined;
    const pem = ca?.[slot];
    if (pem === undefined)
      throw new CentralError('CENTRAL_NOT_FOUND', `Enrollment group ${id} has no ${slot} certificate.`);
    const info = certificateInfoOf(pem);
    return {
      certificate: Buffer.from(pem).toString('base64'),
      verified: true,
      ...(info === undefined ? {} : { info: info as unknown as JsonObject }),
    };
  }

  /** Sets an X.509 group's primary or secondary signing certificate (base64 of the PEM, or base64 DER). */
  async putCertificate(id: string, entry: string, input: unknown): Promise<JsonObject> {
    const slot = this.#entry(entry);
    const view = this.get(id);
    if ((view['attestation'] as JsonObject)['type'] !== 'x509') {
      throw new CentralError('CENTRAL_CONFLICT', `Enrollment group ${id} uses symmetric keys, not certificates.`);
    }
    const text = isObject(input) ? input['certificate'] : undefined;
    if (typeof text !== 'string' || text.trim() === '') {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        'The body must be {"certificate": "<base64 of the PEM certificate>"}.',
      );
    }
    const decoded = Buffer.from(text, 'base64').toString('utf8');
    const pem = decoded.includes('-----BEGIN') ? decoded : text;
    const group = this.#dpsGroup(id);
    const extras = this.#extras.get(id);
    const ca =
      group?.attestation.type === 'x509'
        ? (group.attestation.x509.caCertificates ?? { primary: pem })
        : { primary: pem };
    const next = { ...ca, [slot]: pem };
    if (slot === 'secondary' && group === undefined) {
      throw new CentralError('CENTRAL_CONFLICT', `Set the primary certificate of ${id} first.`);
    }
    await central(() =>
      this.#dps.putEnrollmentGroup(id, {
        attestation: { type: 'x509', x509: { caCertificates: next } },
        provisioningStatus: (extras?.pending?.enabled ?? view['enabled']) === false ? 'disabled' : 'enabled',
        capabilities: { iotEdge: view['type'] === 'iotEdge' },
      }),
    );
    await this.#saveExtras(id, { displayName: extras?.displayName ?? id });
    return this.certificate(id, slot);
  }

  /** Removes a certificate entry (the primary one takes the group's certificate away: it is pending again). */
  async deleteCertificate(id: string, entry: string): Promise<void> {
    const slot = this.#entry(entry);
    this.certificate(id, slot);
    const group = this.#dpsGroup(id)!;
    const ca = group.attestation.type === 'x509' ? group.attestation.x509.caCertificates : undefined;
    if (slot === 'primary' || ca === undefined) {
      const view = this.get(id);
      await central(() => this.#dps.deleteEnrollmentGroup(id));
      await this.#saveExtras(id, {
        displayName: String(view['displayName']),
        pending: {
          enabled: view['enabled'] === true,
          iotEdge: view['type'] === 'iotEdge',
          etag: `"${Date.now().toString(36)}"`,
        },
      });
      return;
    }
    await central(() =>
      this.#dps.putEnrollmentGroup(id, {
        attestation: { type: 'x509', x509: { caCertificates: { primary: ca.primary } } },
      }),
    );
  }

  /**
   * A proof-of-possession code for an entry's certificate (`generateVerificationCode`): a certificate
   * with this code as its subject CN, signed by the entry's CA, proves the uploader holds the CA's key.
   */
  async generateVerificationCode(id: string, entry: string): Promise<JsonObject> {
    const slot = this.#entry(entry);
    this.certificate(id, slot);
    const code = randomBytes(24).toString('hex').toUpperCase();
    const extras = this.#extras.get(id) ?? { displayName: id };
    await this.#saveExtras(id, { ...extras, verificationCodes: { ...extras.verificationCodes, [slot]: code } });
    return { verificationCode: code };
  }

  /** Checks a verification certificate (`{"certificate": base64}`) against the code and the entry's CA. */
  async verify(id: string, entry: string, input: unknown): Promise<void> {
    const slot = this.#entry(entry);
    this.certificate(id, slot);
    const code = this.#extras.get(id)?.verificationCodes?.[slot];
    if (code === undefined) {
      throw new CentralError(
        'CENTRAL_CONFLICT',
        `Generate a verification code for the ${slot} certificate of ${id} first.`,
      );
    }
    const text = isObject(input) ? input['certificate'] : undefined;
    if (typeof text !== 'string' || text.trim() === '') {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        'The body must be {"certificate": "<base64 of the PEM verification certificate>"}.',
      );
    }
    const decoded = Buffer.from(text, 'base64').toString('utf8');
    const pem = decoded.includes('-----BEGIN') ? decoded : text;
    const group = this.#dpsGroup(id);
    const ca = group?.attestation.type === 'x509' ? group.attestation.x509.caCertificates?.[slot] : undefined;
    const verdict = ca === undefined ? undefined : verifyCertificateChain([pem], [ca]);
    if (verdict === undefined || !verdict.ok) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        `The verification certificate is not signed by the ${slot} certificate of ${id}.`,
      );
    }
    if (verdict.commonName !== code) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        `The verification certificate's subject CN must be the verification code ${code}.`,
      );
    }
    const extras = this.#extras.get(id) ?? { displayName: id };
    const { [slot]: _used, ...codes } = extras.verificationCodes ?? {};
    await this.#saveExtras(id, { ...extras, verificationCodes: codes });
  }

  #entry(entry: string): CertificateEntry {
    if (!(ENTRIES as readonly string[]).includes(entry)) {
      throw new CentralError(
        'CENTRAL_NOT_FOUND',
        `Certificate entry ${JSON.stringify(entry)} does not exist; use primary or secondary.`,
      );
    }
    return entry as CertificateEntry;
  }

  #dpsGroup(id: string): EnrollmentGroup | undefined {
    return this.#dps.listEnrollmentGroups().find((g) => g.enrollmentGroupId === id);
  }

  async #saveExtras(id: string, given: GroupExtras): Promise<void> {
    const codes = given.verificationCodes ?? this.#extras.get(id)?.verificationCodes;
    const extras = codes === undefined ? given : { ...given, verificationCodes: codes };
    this.#extras.set(id, extras);
    await this.#storage.saveDocument(KIND, id, extras);
  }

  #viewOf(id: string): JsonObject | undefined {
    const group = this.#dpsGroup(id);
    const extras = this.#extras.get(id);
    if (group === undefined) {
      if (extras?.pending === undefined) return undefined;
      return {
        id,
        displayName: extras.displayName,
        enabled: extras.pending.enabled,
        type: extras.pending.iotEdge ? 'iotEdge' : 'iot',
        attestation: { type: 'x509', x509: { signingCertificates: {} } },
        etag: extras.pending.etag,
      };
    }
    let attestation: JsonObject;
    if (group.attestation.type === 'symmetricKey') {
      attestation = { type: 'symmetricKey', symmetricKey: { ...group.attestation.symmetricKey } };
    } else {
      const certificates: JsonObject = {};
      for (const slot of ENTRIES) {
        const pem = group.attestation.x509.caCertificates?.[slot];
        if (pem === undefined) continue;
        const info = certificateInfoOf(pem);
        certificates[slot] = { verified: true, ...(info === undefined ? {} : { info: info as unknown as JsonObject }) };
      }
      attestation = { type: 'x509', x509: { signingCertificates: certificates } };
    }
    return {
      id,
      displayName: extras?.displayName ?? id,
      enabled: group.provisioningStatus === 'enabled',
      type: group.capabilities.iotEdge ? 'iotEdge' : 'iot',
      attestation,
      etag: group.etag,
    };
  }
}
