/**
 * DPS over HTTPS: the device runtime API (protocol.md §3.3) and the service API for enrollments and
 * registrations (policy SAS `provisioningserviceowner`). Every body is JSON with
 * `content-type: application/json; charset=utf-8`; errors carry DPS's body and, for 429, `retry-after`.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { parseSharedAccessSignature, verifySharedAccessSignature, decodeResource } from '@plugboard/protocol';
import { DPS_MAX_BODY_BYTES, DpsError } from '../../core/dps-errors.js';
import type { DpsCredentials, DpsServicePolicy, EnrollmentSettings, ProvisioningService } from '../../core/dps.js';
import { peerCertificateChain } from '../../tls/peer.js';
import { isJsonError, jsonErrorStatus } from '../http/json-body.js';

function send(reply: FastifyReply, status: number, body: unknown, retryAfter?: number): FastifyReply {
  reply.code(status).header('content-type', 'application/json; charset=utf-8');
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  return reply.send(JSON.stringify(body));
}

/** Sends a {@link DpsError} as DPS does. */
export function sendDpsError(reply: FastifyReply, error: DpsError): FastifyReply {
  return send(reply, error.status, { ...error.toBody(), code: error.code }, error.retryAfter);
}

function credentialsOf(request: FastifyRequest): DpsCredentials {
  const credentials: DpsCredentials = {};
  const authorization = request.headers['authorization'];
  if (typeof authorization === 'string' && authorization !== '') credentials.token = authorization;
  const chain = peerCertificateChain(request.raw.socket as TLSSocket);
  if (chain !== undefined) credentials.clientCertificates = chain;
  return credentials;
}

interface DeviceParams {
  idScope: string;
  registrationId: string;
  operationId?: string;
}

/**
 * Registers the DPS routes.
 *
 * @example
 * registerDpsApi(app, dps, logger);
 */
export function registerDpsApi(app: FastifyInstance, dps: ProvisioningService, logger: Logger): void {
  const policy: DpsServicePolicy = dps.servicePolicy;
  app.setErrorHandler((error: unknown, _request, reply) => {
    if (error instanceof DpsError) return sendDpsError(reply, error);
    if (isJsonError(error)) {
      const code = jsonErrorStatus(error) === 413 ? 'DPS_PAYLOAD_TOO_LARGE' : 'DPS_BAD_REQUEST';
      return sendDpsError(reply, new DpsError(code, error.message, { cause: error }));
    }
    const e = error as { statusCode?: number; message?: string; code?: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendDpsError(reply, new DpsError('DPS_PAYLOAD_TOO_LARGE', 'The request body is too large.'));
    }
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      return sendDpsError(reply, new DpsError('DPS_BAD_REQUEST', e.message ?? 'Bad request.'));
    }
    logger.error({ err: error }, 'DPS request failed');
    return sendDpsError(reply, new DpsError('DPS_INTERNAL', 'Internal error.'));
  });
  // ---- device runtime API
  // A register body is a registration id and a 4 KB payload: anything much larger is refused unread (413).
  const deviceRoute = { bodyLimit: DPS_MAX_BODY_BYTES };
  app.put(
    '/:idScope/registrations/:registrationId/register',
    deviceRoute,
    async (request: FastifyRequest<{ Params: DeviceParams; Querystring: { forceRegistration?: string } }>, reply) => {
      const { operation, retryAfter } = await dps.register({
        idScope: request.params.idScope,
        registrationId: request.params.registrationId,
        credentials: credentialsOf(request),
        body: request.body,
        forceRegistration: request.query.forceRegistration === 'true',
      });
      return send(reply, 202, operation, retryAfter);
    },
  );

  app.get(
    '/:idScope/registrations/:registrationId/operations/:operationId',
    async (request: FastifyRequest<{ Params: DeviceParams & { operationId: string } }>, reply) => {
      const status = await dps.operationStatus({
        idScope: request.params.idScope,
        registrationId: request.params.registrationId,
        operationId: request.params.operationId,
        credentials: credentialsOf(request),
      });
      return status.status === 'assigning' ? send(reply, 202, status, dps.retryAfterSeconds) : send(reply, 200, status);
    },
  );

  app.post(
    '/:idScope/registrations/:registrationId',
    deviceRoute,
    async (request: FastifyRequest<{ Params: DeviceParams }>, reply) => {
      const state = await dps.registrationStatus({
        idScope: request.params.idScope,
        registrationId: request.params.registrationId,
        credentials: credentialsOf(request),
      });
      return send(reply, 200, state);
    },
  );

  // ---- service API
  const authorize = async (request: FastifyRequest): Promise<void> => {
    const header = request.headers['authorization'];
    if (typeof header !== 'string') throw new DpsError('DPS_UNAUTHORIZED', 'Missing Authorization header.');
    let sas;
    try {
      sas = parseSharedAccessSignature(header);
    } catch (cause) {
      throw new DpsError('DPS_UNAUTHORIZED', 'The Authorization header is not a SharedAccessSignature.', { cause });
    }
    const resource = decodeResource(sas.resource).toLowerCase().replace(/\/$/, '');
    const valid =
      sas.keyName === policy.keyName &&
      resource === dps.hostName.toLowerCase() &&
      ((await verifySharedAccessSignature(sas, policy.primaryKey)) ||
        (await verifySharedAccessSignature(sas, policy.secondaryKey)));
    if (!valid) throw new DpsError('DPS_UNAUTHORIZED', 'The service token is invalid.');
    if (sas.expiry * 1000 <= Date.now()) throw new DpsError('DPS_UNAUTHORIZED', 'The service token has expired.');
  };

  const ifMatch = (request: FastifyRequest): string | undefined => {
    const value = request.headers['if-match'];
    return typeof value === 'string' ? value : undefined;
  };

  app.put('/enrollmentGroups/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    const group = await dps.putEnrollmentGroup(
      request.params.id,
      settingsFromBody(request.body, dps),
      ifMatch(request),
    );
    return send(reply, 200, group);
  });
  app.get('/enrollmentGroups/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    return send(reply, 200, dps.getEnrollmentGroup(request.params.id));
  });
  app.get('/enrollmentGroups', async (request, reply) => {
    await authorize(request);
    return send(reply, 200, dps.listEnrollmentGroups());
  });
  app.delete('/enrollmentGroups/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    await dps.deleteEnrollmentGroup(request.params.id, ifMatch(request));
    return reply.code(204).send();
  });
  app.put('/enrollments/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    const body = request.body as { deviceId?: unknown } | undefined;
    const settings: Partial<EnrollmentSettings> & { deviceId?: string } = settingsFromBody(request.body, dps);
    if (typeof body?.deviceId === 'string') settings.deviceId = body.deviceId;
    const enrollment = await dps.putIndividualEnrollment(request.params.id, settings, ifMatch(request));
    return send(reply, 200, enrollment);
  });
  app.get('/enrollments/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    return send(reply, 200, dps.getIndividualEnrollment(request.params.id));
  });
  app.get('/enrollments', async (request, reply) => {
    await authorize(request);
    return send(reply, 200, dps.listIndividualEnrollments());
  });
  app.delete('/enrollments/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    await dps.deleteIndividualEnrollment(request.params.id, ifMatch(request));
    return reply.code(204).send();
  });
  app.get('/registrations/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    return send(reply, 200, dps.registrationState(dps.getRegistration(request.params.id)));
  });
  app.delete('/registrations/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    await dps.deleteRegistration(request.params.id);
    return reply.code(204).send();
  });
}

/**
 * Reads an enrollment body: Plugboard's shape (hub names) or Azure's (hub host names in `iotHubs`,
 * `x509.signingCertificates.primary.certificate`).
 */
export function settingsFromBody(body: unknown, dps: ProvisioningService): Partial<EnrollmentSettings> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new DpsError('DPS_BAD_REQUEST', 'The enrollment must be a JSON object.');
  }
  const input = body as Record<string, unknown>;
  const out: Partial<EnrollmentSettings> = {};
  const byHost = new Map([...dps.hubs.values()].map((h) => [h.hostName.toLowerCase(), h.name]));
  const hubName = (value: unknown): string => {
    if (typeof value !== 'string') throw new DpsError('DPS_BAD_REQUEST', 'Hub names must be strings.');
    return dps.hubs.has(value) ? value : (byHost.get(value.toLowerCase()) ?? value);
  };
  const attestation = input['attestation'] as Record<string, unknown> | undefined;
  if (attestation !== undefined) {
    if (attestation['type'] === 'x509') {
      const x509 = (attestation['x509'] ?? {}) as Record<string, unknown>;
      const signing = x509['signingCertificates'] as Record<string, { certificate?: string }> | undefined;
      const toPem = (text: string | undefined): string | undefined =>
        text === undefined
          ? undefined
          : text.includes('BEGIN CERTIFICATE')
            ? text
            : `-----BEGIN CERTIFICATE-----\n${text.replace(/\s+/g, '').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
      const caPrimary =
        toPem(signing?.['primary']?.certificate) ??
        (x509['caCertificates'] as { primary?: string } | undefined)?.primary;
      const caSecondary =
        toPem(signing?.['secondary']?.certificate) ??
        (x509['caCertificates'] as { secondary?: string } | undefined)?.secondary;
      const client = x509['clientCertificates'] as
        | { primaryThumbprint?: string; secondaryThumbprint?: string; primary?: { info?: { sha1Thumbprint?: string } } }
        | undefined;
      const primaryThumbprint = client?.primaryThumbprint ?? client?.primary?.info?.sha1Thumbprint;
      out.attestation = {
        type: 'x509',
        x509: {
          ...(caPrimary === undefined
            ? {}
            : {
                caCertificates: {
                  primary: caPrimary,
                  ...(caSecondary === undefined ? {} : { secondary: caSecondary }),
                },
              }),
          ...(primaryThumbprint === undefined
            ? {}
            : {
                clientCertificates: {
                  primaryThumbprint,
                  ...(client?.secondaryThumbprint === undefined
                    ? {}
                    : { secondaryThumbprint: client.secondaryThumbprint }),
                },
              }),
        },
      };
    } else {
      out.attestation = attestation as unknown as EnrollmentSettings['attestation'];
    }
  }
  if (Array.isArray(input['iotHubs'])) out.iotHubs = (input['iotHubs'] as unknown[]).map(hubName);
  if (input['allocationPolicy'] !== undefined) {
    out.allocationPolicy = (
      input['allocationPolicy'] === 'custom' ? 'weighted' : input['allocationPolicy']
    ) as EnrollmentSettings['allocationPolicy'];
  }
  if (typeof input['weights'] === 'object' && input['weights'] !== null) {
    out.weights = Object.fromEntries(
      Object.entries(input['weights'] as Record<string, number>).map(([k, v]) => [hubName(k), v]),
    );
  }
  if (input['staticHub'] !== undefined) out.staticHub = hubName(input['staticHub']);
  if (input['reprovisionPolicy'] !== undefined)
    out.reprovisionPolicy = input['reprovisionPolicy'] as EnrollmentSettings['reprovisionPolicy'];
  if (input['initialTwin'] !== undefined)
    out.initialTwin = input['initialTwin'] as NonNullable<EnrollmentSettings['initialTwin']>;
  if (input['provisioningStatus'] !== undefined) {
    out.provisioningStatus = input['provisioningStatus'] as EnrollmentSettings['provisioningStatus'];
  }
  if (input['capabilities'] !== undefined)
    out.capabilities = input['capabilities'] as EnrollmentSettings['capabilities'];
  return out;
}
