/**
 * DPS service-API enrollment bodies (`PUT /enrollmentGroups/{id}`, `PUT /enrollments/{id}`) read into
 * {@link EnrollmentSettings}, every field checked against DPS's `EnrollmentGroup` / `IndividualEnrollment`
 * schema: types, the enums (`allocationPolicy`, `provisioningStatus`, attestation `type`), the reprovision
 * booleans, the initial twin (twin rules), uploaded certificates (PEM or base64 DER, read by
 * `core/dps-certificates.ts`). Azure's shapes (hub host names in `iotHubs`,
 * `x509.signingCertificates.primary.certificate`, `x509.clientCertificates.primary.certificate`) and
 * Plugboard's (hub names, `x509.caCertificates`, thumbprints, `weights`, `staticHub`) are both read; read-only fields (`etag`, timestamps, `registrationState`) and
 * unknown fields are ignored.
 */
import { describeValue } from '../../core/describe-value.js';
import { readEnrollmentCertificate } from '../../core/dps-certificates.js';
import { DpsError } from '../../core/dps-errors.js';
import type { ProvisioningService } from '../../core/dps.js';
import type { EnrollmentSettings } from '../../core/dps-types.js';
import type { JsonObject } from '../../core/model.js';
import { IDENTITY_ID_PATTERN } from '../../core/registry-input.js';
import { validateTwinPatch } from '../../core/twin-document.js';
import { HubError } from '../../errors.js';

type Fields = Record<string, unknown>;

function bad(message: string): DpsError {
  return new DpsError('DPS_BAD_REQUEST', message);
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An optional object field; `undefined` when absent or null. */
function object(value: unknown, what: string): Fields | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isFields(value)) throw bad(`${what} must be an object, not ${describeValue(value)}.`);
  return value;
}

function text(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw bad(`${what} must be a string, not ${describeValue(value)}.`);
  return value;
}

function flag(value: unknown, what: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw bad(`${what} must be true or false, not ${describeValue(value)}.`);
  return value;
}

function oneOf<T extends string>(value: unknown, what: string, allowed: readonly T[]): T | undefined {
  if (value === undefined || value === null) return undefined;
  const match = typeof value === 'string' ? allowed.find((a) => a.toLowerCase() === value.toLowerCase()) : undefined;
  if (match === undefined) throw bad(`${what} must be one of ${allowed.join(', ')}, not ${describeValue(value)}.`);
  return match;
}

function x509Attestation(input: Fields | undefined): Extract<EnrollmentSettings['attestation'], { type: 'x509' }> {
  const x509 = object(input, 'attestation.x509') ?? {};
  const now = new Date();
  if (object(x509['caReferences'], 'attestation.x509.caReferences') !== undefined) {
    throw bad(
      'attestation.x509.caReferences name CA certificates registered with the service, which Plugboard does not hold; upload the CA itself as x509.signingCertificates.primary.certificate.',
    );
  }
  const signing = object(x509['signingCertificates'], 'attestation.x509.signingCertificates');
  const cas = object(x509['caCertificates'], 'attestation.x509.caCertificates');
  const signingCertificate = (slot: 'primary' | 'secondary'): string | undefined => {
    const path = `attestation.x509.signingCertificates.${slot}.certificate`;
    const uploaded = text(
      object(signing?.[slot], `attestation.x509.signingCertificates.${slot}`)?.['certificate'],
      path,
    );
    if (uploaded !== undefined) return readEnrollmentCertificate(uploaded, path, now).pem;
    return text(cas?.[slot], `attestation.x509.caCertificates.${slot}`);
  };
  const client = object(x509['clientCertificates'], 'attestation.x509.clientCertificates');
  /** A device certificate slot: an uploaded certificate (PEM or base64 DER), or a thumbprint. */
  const clientCertificate = (slot: 'primary' | 'secondary'): { thumbprint?: string; pem?: string } => {
    const entry = object(client?.[slot], `attestation.x509.clientCertificates.${slot}`);
    const path = `attestation.x509.clientCertificates.${slot}.certificate`;
    const uploaded = text(entry?.['certificate'], path);
    if (uploaded !== undefined) {
      const read = readEnrollmentCertificate(uploaded, path, now);
      return { thumbprint: read.info.sha1Thumbprint, pem: read.pem };
    }
    const thumbprint =
      text(client?.[`${slot}Thumbprint`], `attestation.x509.clientCertificates.${slot}Thumbprint`) ??
      text(
        object(entry?.['info'], `attestation.x509.clientCertificates.${slot}.info`)?.['sha1Thumbprint'],
        `attestation.x509.clientCertificates.${slot}.info.sha1Thumbprint`,
      );
    return thumbprint === undefined ? {} : { thumbprint };
  };
  const caPrimary = signingCertificate('primary');
  const caSecondary = signingCertificate('secondary');
  const primary = clientCertificate('primary');
  const secondary = clientCertificate('secondary');
  if (primary.thumbprint === undefined && secondary.thumbprint !== undefined) {
    throw bad('attestation.x509.clientCertificates needs a primary certificate when it has a secondary one.');
  }
  return {
    type: 'x509',
    x509: {
      ...(caPrimary === undefined
        ? {}
        : { caCertificates: { primary: caPrimary, ...(caSecondary === undefined ? {} : { secondary: caSecondary }) } }),
      ...(primary.thumbprint === undefined
        ? {}
        : {
            clientCertificates: {
              primaryThumbprint: primary.thumbprint,
              ...(primary.pem === undefined ? {} : { primaryCertificate: primary.pem }),
              ...(secondary.thumbprint === undefined ? {} : { secondaryThumbprint: secondary.thumbprint }),
              ...(secondary.pem === undefined ? {} : { secondaryCertificate: secondary.pem }),
            },
          }),
    },
  };
}

function attestation(value: unknown): EnrollmentSettings['attestation'] | undefined {
  const input = object(value, 'attestation');
  if (input === undefined) return undefined;
  const type = oneOf(input['type'], 'attestation.type', ['symmetricKey', 'x509', 'tpm'] as const);
  if (type === 'tpm') throw bad('TPM attestation is not supported; use symmetricKey or x509.');
  if (type === 'x509') return x509Attestation(object(input['x509'], 'attestation.x509'));
  if (type === undefined) throw bad('attestation.type is required (symmetricKey or x509).');
  const keys = object(input['symmetricKey'], 'attestation.symmetricKey');
  return {
    type: 'symmetricKey',
    symmetricKey: {
      primaryKey: text(keys?.['primaryKey'], 'attestation.symmetricKey.primaryKey') ?? '',
      secondaryKey: text(keys?.['secondaryKey'], 'attestation.symmetricKey.secondaryKey') ?? '',
    },
  };
}

function initialTwin(value: unknown): EnrollmentSettings['initialTwin'] | undefined {
  const input = object(value, 'initialTwin');
  if (input === undefined) return undefined;
  const twin: NonNullable<EnrollmentSettings['initialTwin']> = {};
  try {
    const tags = object(input['tags'], 'initialTwin.tags');
    if (tags !== undefined) {
      validateTwinPatch(tags, 'tags');
      twin.tags = tags as JsonObject;
    }
    const desired = object(object(input['properties'], 'initialTwin.properties')?.['desired'], 'desired');
    if (desired !== undefined) {
      const { $metadata: _m, $version: _v, ...properties } = desired;
      validateTwinPatch(properties, 'desired');
      twin.properties = { desired: properties as JsonObject };
    }
  } catch (error) {
    if (error instanceof HubError) throw bad(`initialTwin: ${error.message}`);
    throw error;
  }
  return twin;
}

/**
 * Reads an enrollment body. Throws `DPS_BAD_REQUEST` naming the first field that breaks the schema.
 *
 * @example
 * enrollmentFromBody({ attestation: { type: 'symmetricKey' }, allocationPolicy: 'hashed' }, dps);
 */
export function enrollmentFromBody(
  body: unknown,
  dps: ProvisioningService,
): Partial<EnrollmentSettings> & { deviceId?: string } {
  if (!isFields(body)) throw bad(`The enrollment must be a JSON object, not ${describeValue(body)}.`);
  const out: Partial<EnrollmentSettings> & { deviceId?: string } = {};
  const byHost = new Map([...dps.hubs.values()].map((h) => [h.hostName.toLowerCase(), h.name]));
  const hubName = (value: unknown, what: string): string => {
    const name = text(value, what);
    if (name === undefined) throw bad(`${what} must be a hub name or host name.`);
    return dps.hubs.has(name) ? name : (byHost.get(name.toLowerCase()) ?? name);
  };
  const attested = attestation(body['attestation']);
  if (attested !== undefined) out.attestation = attested;
  const iotHubs = body['iotHubs'];
  if (iotHubs !== undefined && iotHubs !== null) {
    if (!Array.isArray(iotHubs))
      throw bad(`iotHubs must be an array of hub host names, not ${describeValue(iotHubs)}.`);
    out.iotHubs = iotHubs.map((h, i) => hubName(h, `iotHubs[${i}]`));
  }
  // Azure's custom allocation runs a webhook; offline, per-hub weights stand in (ADR 0009). geoLatency
  // picks the nearest region: every hub here is equally near, so it is hashed.
  const policy = oneOf(body['allocationPolicy'], 'allocationPolicy', [
    'hashed',
    'geoLatency',
    'static',
    'custom',
    'weighted',
  ] as const);
  if (policy !== undefined) {
    out.allocationPolicy = policy === 'custom' ? 'weighted' : policy === 'geoLatency' ? 'hashed' : policy;
  }
  const weights = object(body['weights'], 'weights');
  if (weights !== undefined) {
    out.weights = {};
    for (const [hub, weight] of Object.entries(weights)) {
      if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
        throw bad(`weights.${hub} must be a number of at least 0, not ${describeValue(weight)}.`);
      }
      out.weights[hubName(hub, 'weights')] = weight;
    }
  }
  if (body['staticHub'] !== undefined && body['staticHub'] !== null) {
    out.staticHub = hubName(body['staticHub'], 'staticHub');
  }
  const reprovision = object(body['reprovisionPolicy'], 'reprovisionPolicy');
  if (reprovision !== undefined) {
    const update = flag(reprovision['updateHubAssignment'], 'reprovisionPolicy.updateHubAssignment');
    const migrate = flag(reprovision['migrateDeviceData'], 'reprovisionPolicy.migrateDeviceData');
    out.reprovisionPolicy = {
      ...(update === undefined ? {} : { updateHubAssignment: update }),
      ...(migrate === undefined ? {} : { migrateDeviceData: migrate }),
    } as EnrollmentSettings['reprovisionPolicy'];
  }
  const twin = initialTwin(body['initialTwin']);
  if (twin !== undefined) out.initialTwin = twin;
  const status = oneOf(body['provisioningStatus'], 'provisioningStatus', ['enabled', 'disabled'] as const);
  if (status !== undefined) out.provisioningStatus = status;
  const capabilities = object(body['capabilities'], 'capabilities');
  if (capabilities !== undefined) {
    const iotEdge = flag(capabilities['iotEdge'], 'capabilities.iotEdge');
    out.capabilities = iotEdge === undefined ? ({} as EnrollmentSettings['capabilities']) : { iotEdge };
  }
  const deviceId = text(body['deviceId'], 'deviceId');
  if (deviceId !== undefined) {
    if (!IDENTITY_ID_PATTERN.test(deviceId)) {
      throw bad(
        `deviceId ${JSON.stringify(deviceId)} is not a valid IoT Hub device id (1-128 characters of A-Z a-z 0-9 - . % _ * ? ! ( ) , : = @ $ ').`,
      );
    }
    out.deviceId = deviceId;
  }
  return out;
}
