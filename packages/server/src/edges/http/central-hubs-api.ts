/**
 * The application's internal hubs through its REST API (Plugboard's own routes, no api-version; IoT
 * Central scales its hubs itself and has no such API): `GET /plugboard/hubs` (each hub with where it
 * listens, its registered devices and open connections), `POST` to add one (`{"name"?, "address"?,
 * "hostName"?}` → 201 with the hub), `GET /plugboard/hubs/{name}`, and `DELETE` to remove one
 * (`?drainSeconds=` 0–600, default 30: how long it refuses devices before it closes; 200 with where its
 * devices went and when it closes). Changing the set takes the administrator role; reading it, any role.
 * `GET /plugboard/application` is the application as its devices reach it: the ID scope, the
 * provisioning host and the hubs (what the web UI's application page shows).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import type { JsonValue } from '../../core/model.js';
import { json, type CentralRouteKit } from './central-api.js';

type HubRequest = FastifyRequest<{ Params: { hubName: string } }>;

/**
 * Registers the hub routes.
 *
 * @example
 * registerCentralHubsApi(app, central, kit);
 */
export function registerCentralHubsApi(app: FastifyInstance, central: CentralApp, kit: CentralRouteKit): void {
  const { guard, body, integer } = kit;
  const own = { apiVersion: false };
  app.get('/plugboard/application', async (request, reply) => {
    guard(request, 'read', own);
    return json(reply, 200, {
      idScope: central.dps.idScope,
      provisioningHost: central.dps.hostName,
      hubs: central.hubs.list() as unknown as JsonValue[],
    });
  });
  app.get('/plugboard/hubs', async (request, reply) => {
    guard(request, 'read', own);
    return json(reply, 200, { value: central.hubs.list() as unknown as JsonValue[] });
  });
  app.post('/plugboard/hubs', async (request, reply) => {
    guard(request, 'administer', own);
    return json(reply, 201, (await central.hubs.add(body(request))) as unknown as JsonValue);
  });
  app.get('/plugboard/hubs/:hubName', async (request: HubRequest, reply) => {
    guard(request, 'read', own);
    return json(reply, 200, central.hubs.get(request.params.hubName) as unknown as JsonValue);
  });
  app.delete('/plugboard/hubs/:hubName', async (request: HubRequest, reply) => {
    guard(request, 'administer', own);
    const drainSeconds = integer(request, 'drainSeconds', 0, 600);
    const removal = await central.hubs.remove(request.params.hubName, drainSeconds);
    return json(reply, 200, removal as unknown as JsonValue);
  });
}
