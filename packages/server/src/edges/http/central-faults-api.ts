/**
 * Fault injection through the application's REST API (Plugboard's own routes, no api-version):
 * `GET /plugboard/faults` (active ones, then ended ones, each with what it matched), `POST` to add one
 * (`{"condition", "deviceId"?, "hub"?, "attempts"?, "durationSeconds"?, "latencyMs"?}` → 201 with the
 * fault), `GET|DELETE /plugboard/faults/{id}`, and `DELETE /plugboard/faults` to clear them all.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import { CentralError } from '../../central/errors.js';
import type { FaultInput } from '../../core/faults.js';
import type { JsonValue } from '../../core/model.js';
import { json, type CentralRouteKit } from './central-api.js';

type FaultRequest = FastifyRequest<{ Params: { faultId: string } }>;

/**
 * Registers the fault routes.
 *
 * @example
 * registerCentralFaultsApi(app, central, kit);
 */
export function registerCentralFaultsApi(app: FastifyInstance, central: CentralApp, kit: CentralRouteKit): void {
  const { guard, body } = kit;
  const { faults } = central;
  const own = { apiVersion: false };
  app.get('/plugboard/faults', async (request, reply) => {
    guard(request, 'read', own);
    return json(reply, 200, { value: faults.list() as unknown as JsonValue[] });
  });
  app.post('/plugboard/faults', async (request, reply) => {
    guard(request, 'operate', own);
    let fault;
    try {
      fault = faults.add(body(request) as FaultInput);
    } catch (error) {
      if (error instanceof TypeError) throw new CentralError('CENTRAL_BAD_REQUEST', error.message, { cause: error });
      throw error;
    }
    return json(reply, 201, fault as unknown as JsonValue);
  });
  app.delete('/plugboard/faults', async (request, reply) => {
    guard(request, 'operate', own);
    return json(reply, 200, { cleared: faults.clear() });
  });
  app.get('/plugboard/faults/:faultId', async (request: FaultRequest, reply) => {
    guard(request, 'read', own);
    const fault = faults.get(request.params.faultId);
    if (fault === undefined)
      throw new CentralError('CENTRAL_NOT_FOUND', `Fault ${request.params.faultId} does not exist.`);
    return json(reply, 200, fault as unknown as JsonValue);
  });
  app.delete('/plugboard/faults/:faultId', async (request: FaultRequest, reply) => {
    guard(request, 'operate', own);
    if (!faults.remove(request.params.faultId)) {
      throw new CentralError('CENTRAL_NOT_FOUND', `No active fault ${request.params.faultId}.`);
    }
    return reply.code(204).send();
  });
}
