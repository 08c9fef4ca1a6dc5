/**
 * The Central REST API's command routes, as `az iot central device command run|history` send and read
 * them: `POST /api/devices/{id}[/modules/{m}][/components/{c}]/commands/{name}` with `{"request", "connectionTimeout",
 * "responseTimeout"}` answers 201 with the `DeviceCommand` (`{id, request, response, responseCode}` and
 * Plugboard's `status`, `responseIssues`, `error`); `GET` on the same path lists its history, newest first.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import type { JsonValue } from '../../core/model.js';
import { json, type CentralRouteKit } from './central-api.js';

type CommandRequest = FastifyRequest<{
  Params: { deviceId: string; moduleName?: string; componentName?: string; commandName: string };
}>;

/**
 * Registers the command routes.
 *
 * @example
 * registerCentralCommandsApi(app, central, kit);
 */
export function registerCentralCommandsApi(app: FastifyInstance, central: CentralApp, kit: CentralRouteKit): void {
  const { guard, body } = kit;
  const { commands } = central;
  for (const path of [
    '/api/devices/:deviceId/commands/:commandName',
    '/api/devices/:deviceId/components/:componentName/commands/:commandName',
    '/api/devices/:deviceId/modules/:moduleName/commands/:commandName',
    '/api/devices/:deviceId/modules/:moduleName/components/:componentName/commands/:commandName',
  ]) {
    app.post(path, async (request: CommandRequest, reply) => {
      guard(request, 'operate');
      const { deviceId, moduleName, componentName, commandName } = request.params;
      const invocation = await commands.run(deviceId, componentName, commandName, body(request), moduleName);
      return json(reply, 201, invocation as unknown as JsonValue);
    });
    app.get(path, async (request: CommandRequest, reply) => {
      guard(request, 'read');
      const { deviceId, moduleName, componentName, commandName } = request.params;
      return json(reply, 200, {
        value: commands.history(deviceId, componentName, commandName, moduleName) as unknown as JsonValue[],
      });
    });
  }
}
