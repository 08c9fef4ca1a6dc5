/**
 * The Central REST API's enrollment group routes, as `az iot central enrollment-group list|show|create|
 * update|delete` send and read them: `/api/enrollmentGroups[/{id}]` and an X.509 group's
 * `/certificates/{primary|secondary}`. Groups hold the keys devices derive theirs from, so every route
 * needs an admin token.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import type { JsonValue } from '../../core/model.js';
import { json, type CentralRouteKit } from './central-api.js';

type GroupRequest = FastifyRequest<{ Params: { groupId: string; entry?: string } }>;

/**
 * Registers the enrollment group routes.
 *
 * @example
 * registerCentralEnrollmentApi(app, central, kit);
 */
export function registerCentralEnrollmentApi(app: FastifyInstance, central: CentralApp, kit: CentralRouteKit): void {
  const { guard, body, ifMatch } = kit;
  const groups = central.enrollmentGroups;
  app.get('/api/enrollmentGroups', async (request, reply) => {
    guard(request, 'administer');
    return json(reply, 200, { value: groups.list() as JsonValue[] });
  });
  app.get('/api/enrollmentGroups/:groupId', async (request: GroupRequest, reply) => {
    guard(request, 'administer');
    return json(reply, 200, groups.get(request.params.groupId));
  });
  app.put('/api/enrollmentGroups/:groupId', async (request: GroupRequest, reply) => {
    guard(request, 'administer');
    const match = ifMatch(request);
    return json(
      reply,
      200,
      await groups.put(request.params.groupId, body(request), match === undefined ? {} : { ifMatch: match }),
    );
  });
  app.patch('/api/enrollmentGroups/:groupId', async (request: GroupRequest, reply) => {
    guard(request, 'administer');
    const match = ifMatch(request);
    return json(
      reply,
      200,
      await groups.put(request.params.groupId, body(request), {
        merge: true,
        ...(match === undefined ? {} : { ifMatch: match }),
      }),
    );
  });
  app.delete('/api/enrollmentGroups/:groupId', async (request: GroupRequest, reply) => {
    guard(request, 'administer');
    await groups.delete(request.params.groupId);
    return reply.code(204).send();
  });
  const certificate = '/api/enrollmentGroups/:groupId/certificates/:entry';
  app.get(certificate, async (request: GroupRequest, reply) => {
    guard(request, 'administer');
    return json(reply, 200, groups.certificate(request.params.groupId, request.params.entry ?? ''));
  });
  app.put(certificate, async (request: GroupRequest, reply) => {
    guard(request, 'administer');
    return json(
      reply,
      200,
      await groups.putCertificate(request.params.groupId, request.params.entry ?? '', body(request)),
    );
  });
  app.post(`${certificate}/generateVerificationCode`, async (request: GroupRequest, reply) => {
    guard(request, 'administer');
    return json(reply, 200, await groups.generateVerificationCode(request.params.groupId, request.params.entry ?? ''));
  });
  app.post(`${certificate}/verify`, async (request: GroupRequest, reply) => {
    guard(request, 'administer');
    await groups.verify(request.params.groupId, request.params.entry ?? '', body(request));
    return reply.code(204).send();
  });
  app.delete(certificate, async (request: GroupRequest, reply) => {
    guard(request, 'administer');
    await groups.deleteCertificate(request.params.groupId, request.params.entry ?? '');
    return reply.code(204).send();
  });
}
