/**
 * The Central application's system routes that `az iot central device manual-failover|manual-failback`
 * call (protocol.md §7.6, az-central-wire.md): `POST /system/iothub/devices/{id}/manual-failover` with
 * `{"ttl": minutes}` (or `{}`) and `POST …/manual-failback` (no body), both without an api-version,
 * answering `{"hubIdentifier", "message"}`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import type { JsonValue } from '../../core/model.js';
import { json, type CentralRouteKit } from './central-api.js';

type SystemRequest = FastifyRequest<{ Params: { deviceId: string } }>;

/**
 * Registers the system routes.
 *
 * @example
 * registerCentralSystemApi(app, central, kit);
 */
export function registerCentralSystemApi(app: FastifyInstance, central: CentralApp, kit: CentralRouteKit): void {
  const { guard, body } = kit;
  app.post('/system/iothub/devices/:deviceId/manual-failover', async (request: SystemRequest, reply) => {
    guard(request, 'operate', { apiVersion: false });
    const answer = await central.failover.failover(request.params.deviceId, body(request));
    return json(reply, 200, answer as unknown as JsonValue);
  });
  app.post('/system/iothub/devices/:deviceId/manual-failback', async (request: SystemRequest, reply) => {
    guard(request, 'operate', { apiVersion: false });
    const answer = await central.failover.failback(request.params.deviceId);
    return json(reply, 200, answer as unknown as JsonValue);
  });
}
