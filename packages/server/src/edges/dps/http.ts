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
import type { ProvisioningService } from '../../core/dps.js';
import type { DpsCredentials, DpsServicePolicy } from '../../core/dps-types.js';
import { enrollmentFromBody } from './enrollment-body.js';
import { enrollmentView } from './enrollment-view.js';
import { peerCertificateChain } from '../../tls/peer.js';
import { isJsonError, jsonErrorStatus } from '../http/json-body.js';
import { logRefusal, requestLogFields } from '../log-fields.js';

function send(reply: FastifyReply, status: number, body: unknown, retryAfter?: number): FastifyReply {
  reply.code(status).header('content-type', 'application/json; charset=utf-8');
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  return reply.send(JSON.stringify(body));
}

/** Sends a {@link DpsError} as DPS does, and logs the refusal once (internal errors are logged where they happen). */
export function sendDpsError(reply: FastifyReply, error: DpsError): FastifyReply {
  if (error.code !== 'DPS_INTERNAL') {
    logRefusal(reply.log as unknown as Logger, 'DPS request refused', error, requestLogFields(reply.request));
  }
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

/** The id in an enrollment body, when present, must be the one in the URL. */
function matchesUrl(body: unknown, field: string, id: string, caseInsensitive: boolean): void {
  if (typeof body !== 'object' || body === null || !(field in body)) return;
  const value = (body as Record<string, unknown>)[field];
  const same = typeof value === 'string' && (caseInsensitive ? value.toLowerCase() === id.toLowerCase() : value === id);
  if (!same) throw new DpsError('DPS_BAD_REQUEST', `${field} in the body does not match the URL.`);
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
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    return sendDpsError(
      reply,
      new DpsError('DPS_NOT_FOUND', `The provisioning service serves no ${request.method} ${path}.`),
    );
  });
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
    matchesUrl(request.body, 'enrollmentGroupId', request.params.id, false);
    const group = await dps.putEnrollmentGroup(
      request.params.id,
      enrollmentFromBody(request.body, dps),
      ifMatch(request),
    );
    return send(reply, 200, enrollmentView(group));
  });
  app.get('/enrollmentGroups/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    return send(reply, 200, enrollmentView(dps.getEnrollmentGroup(request.params.id)));
  });
  app.get('/enrollmentGroups', async (request, reply) => {
    await authorize(request);
    return send(reply, 200, dps.listEnrollmentGroups().map(enrollmentView));
  });
  app.delete('/enrollmentGroups/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    await dps.deleteEnrollmentGroup(request.params.id, ifMatch(request));
    return reply.code(204).send();
  });
  app.put('/enrollments/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    matchesUrl(request.body, 'registrationId', request.params.id, true);
    const enrollment = await dps.putIndividualEnrollment(
      request.params.id,
      enrollmentFromBody(request.body, dps),
      ifMatch(request),
    );
    return send(reply, 200, enrollmentView(enrollment));
  });
  app.get('/enrollments/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
    await authorize(request);
    return send(reply, 200, enrollmentView(dps.getIndividualEnrollment(request.params.id)));
  });
  app.get('/enrollments', async (request, reply) => {
    await authorize(request);
    return send(reply, 200, dps.listIndividualEnrollments().map(enrollmentView));
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
