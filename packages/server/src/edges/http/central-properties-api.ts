/**
 * The Central REST API's property routes, as `az iot central device twin show|update|replace` send and
 * read them: `GET|PATCH|PUT /api/devices/{id}[/modules/{m}][/components/{c}]/properties`. The answer
 * is the properties view (values and `$metadata`, protocol.md §7.7). `PUT` sets the properties given,
 * as `PATCH` does (Plugboard does not clear the writable properties a replacement leaves out).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import { json, type CentralRouteKit } from './central-api.js';

type PropertiesRequest = FastifyRequest<{ Params: { deviceId: string; moduleName?: string; componentName?: string } }>;

/**
 * Registers the property routes.
 *
 * @example
 * registerCentralPropertiesApi(app, central, kit);
 */
export function registerCentralPropertiesApi(app: FastifyInstance, central: CentralApp, kit: CentralRouteKit): void {
  const { guard, body } = kit;
  const { properties } = central;
  for (const path of [
    '/api/devices/:deviceId/properties',
    '/api/devices/:deviceId/components/:componentName/properties',
    '/api/devices/:deviceId/modules/:moduleName/properties',
    '/api/devices/:deviceId/modules/:moduleName/components/:componentName/properties',
  ]) {
    app.get(path, async (request: PropertiesRequest, reply) => {
      guard(request, 'read');
      const { deviceId, componentName, moduleName } = request.params;
      return json(reply, 200, properties.view(deviceId, componentName, moduleName));
    });
    const update = async (request: PropertiesRequest, reply: FastifyReply): Promise<FastifyReply> => {
      guard(request, 'operate');
      const { deviceId, componentName, moduleName } = request.params;
      const view = await properties.update(deviceId, body(request), componentName, moduleName);
      return json(reply, 200, view);
    };
    app.patch(path, update);
    app.put(path, update);
  }
}
