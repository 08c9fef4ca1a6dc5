/**
 * The Central application's system routes that `az iot central device manual-failover|manual-failback`
 * call (protocol.md §7.6, az-central-wire.md): `POST /system/iothub/devices/{id}/manual-failover` with
 * `{"ttl": minutes}` (or `{}`) and `POST …/manual-failback` (no body), both without an api-version,
 * answering `{"hubIdentifier", "message"}`; and `GET /system/iothub/devices/{id}/get-twin` — the device
 * twin as its hub has it (`$metadata`, `$version`, component markers and all). `POST
 * /system/iothubs/generateEventSasTokens` (az's `diagnostics monitor-events|validate-messages`) answers,
 * per internal hub, a one-hour `service`-policy token for the hub's Event Hub-compatible endpoint
 * (`{expiry, eventhubSasToken: {sasToken, entityPath, hostname: "sb://{host}/"}}`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import type { JsonValue } from '../../core/model.js';
import { CentralError } from '../../central/errors.js';
import { json, type CentralRouteKit } from './central-api.js';

/** How long the `diagnostics` tokens are valid. */
const TOKEN_SECONDS = 3600;

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
  app.get('/system/iothub/devices/:deviceId/get-twin', async (request: SystemRequest, reply) => {
    guard(request, 'read', { apiVersion: false });
    const device = central.devices.get(request.params.deviceId);
    const target = central.devices.hubIdentity(device.id);
    if (target === undefined) {
      throw new CentralError('CENTRAL_NOT_FOUND', `Device ${device.id} has not provisioned, so it has no twin yet.`);
    }
    return json(reply, 200, target.hub.getTwin(target.identity) as JsonValue);
  });
  app.post('/system/iothubs/generateEventSasTokens', (request, reply) => {
    guard(request, 'read', { apiVersion: false });
    const expiry = Math.floor(Date.now() / 1000) + TOKEN_SECONDS;
    const tokens: Record<string, JsonValue> = {};
    for (const hub of central.dps.hubs.values()) {
      tokens[hub.name] = {
        expiry,
        eventhubSasToken: {
          sasToken: hub.eventHubToken(expiry),
          entityPath: hub.name,
          hostname: `sb://${hub.hostName}/`,
        },
      };
    }
    return json(reply, 200, tokens);
  });
}
