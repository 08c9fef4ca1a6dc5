/**
 * The Central REST API's telemetry routes: the last value of a capability
 * (`GET /api/devices/{id}[/modules/{m}][/components/{c}]/telemetry/{name}`, as `az iot central device telemetry show`
 * reads it: `{"timestamp","value"}`, with Plugboard's `enqueuedTime` and `creationTime` beside), and
 * Plugboard's own views under `/plugboard/devices/{id}`: a capability's values over a time range (up to
 * 10,000 a page, so a chart reads a day of 1-per-second values in nine requests), as objects or, at
 * `…/series`, as columns (`{time, value, enqueuedTime, creationTime, next}`, what the UI's charts read), and
 * the raw messages with their modeled and unmodeled values and the reason for each unmodeled one.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import { CentralError } from '../../central/errors.js';
import { capabilityScope } from '../../central/templates.js';
import type { JsonObject, JsonValue } from '../../core/model.js';
import { json, type CentralRouteKit } from './central-api.js';

type TelemetryRequest = FastifyRequest<{
  Params: { deviceId: string; moduleName?: string; componentName?: string; telemetryName: string };
}>;

function query(request: FastifyRequest): Record<string, unknown> {
  return request.query as Record<string, unknown>;
}

function time(request: FastifyRequest, name: string): string | undefined {
  const raw = query(request)[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || Number.isNaN(Date.parse(raw))) {
    throw new CentralError('CENTRAL_BAD_REQUEST', `${name} must be an ISO 8601 time.`);
  }
  return raw;
}

/**
 * Registers the telemetry routes.
 *
 * @example
 * registerCentralTelemetryApi(app, central, kit);
 */
export function registerCentralTelemetryApi(app: FastifyInstance, central: CentralApp, kit: CentralRouteKit): void {
  const { guard, integer } = kit;
  const { devices, telemetry } = central;

  /** Checks that the device's template (or its module `module`) defines the telemetry (404 otherwise). */
  const checkCapability = (
    deviceId: string,
    component: string | undefined,
    name: string,
    module: string | undefined,
  ): void => {
    const device = devices.get(deviceId);
    if (device.template === undefined) {
      throw new CentralError('CENTRAL_NOT_FOUND', `Device ${device.id} has no template, so no modeled telemetry.`);
    }
    const scope = capabilityScope(central.templates.get(device.template), module);
    const capability = scope.model.capability(scope.modelId, component, name);
    if (capability?.kind !== 'Telemetry') {
      throw new CentralError(
        'CENTRAL_NOT_FOUND',
        `The template of ${device.id} defines no telemetry ${name}${component === undefined ? '' : ` in component ${component}`}${module === undefined ? '' : ` of module ${module}`}.`,
      );
    }
  };

  const lastValue = async (request: TelemetryRequest): Promise<JsonObject> => {
    const { deviceId, moduleName, componentName, telemetryName } = request.params;
    checkCapability(deviceId, componentName, telemetryName, moduleName);
    const last = telemetry.lastValue(deviceId, componentName, telemetryName, moduleName);
    if (last === undefined) return {};
    const out: JsonObject = { timestamp: last.timestamp, value: last.value, enqueuedTime: last.enqueuedTime };
    if (last.creationTime !== undefined) out['creationTime'] = last.creationTime;
    return out;
  };
  for (const path of [
    '/api/devices/:deviceId/telemetry/:telemetryName',
    '/api/devices/:deviceId/components/:componentName/telemetry/:telemetryName',
    '/api/devices/:deviceId/modules/:moduleName/telemetry/:telemetryName',
    '/api/devices/:deviceId/modules/:moduleName/components/:componentName/telemetry/:telemetryName',
  ]) {
    app.get(path, async (request: TelemetryRequest, reply) => {
      guard(request, 'read');
      return json(reply, 200, await lastValue(request));
    });
  }

  /** The query of a capability's history: where it is, the time range and the page. */
  const historyQuery = (request: TelemetryRequest) => {
    const { deviceId, telemetryName } = request.params;
    const component = query(request)['component'];
    if (component !== undefined && typeof component !== 'string') {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'component must be a component name.');
    }
    const module = query(request)['module'];
    if (module !== undefined && typeof module !== 'string') {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'module must be a module name.');
    }
    checkCapability(deviceId, component, telemetryName, module);
    const from = time(request, 'from');
    const to = time(request, 'to');
    const after = integer(request, 'after', 0, Number.MAX_SAFE_INTEGER);
    const top = integer(request, 'top', 1, 10_000);
    return {
      deviceId,
      component,
      name: telemetryName,
      options: {
        ...(from === undefined ? {} : { from }),
        ...(to === undefined ? {} : { to }),
        ...(after === undefined ? {} : { after }),
        ...(top === undefined ? {} : { top }),
        ...(module === undefined ? {} : { module }),
      },
    };
  };

  app.get('/plugboard/devices/:deviceId/telemetry/:telemetryName', async (request: TelemetryRequest, reply) => {
    guard(request, 'read', { apiVersion: false });
    const q = historyQuery(request);
    const page = await telemetry.history(q.deviceId, q.component, q.name, q.options);
    const out: JsonObject = { value: page.values as unknown as JsonValue[] };
    if (page.next !== undefined) out['next'] = page.next;
    return json(reply, 200, out);
  });

  // The same values as columns, for charts (a tenth of the JSON).
  app.get('/plugboard/devices/:deviceId/telemetry/:telemetryName/series', async (request: TelemetryRequest, reply) => {
    guard(request, 'read', { apiVersion: false });
    const q = historyQuery(request);
    const series = await telemetry.series(q.deviceId, q.component, q.name, q.options);
    return json(reply, 200, series as unknown as JsonObject);
  });

  app.get(
    '/plugboard/devices/:deviceId/rawMessages',
    async (request: FastifyRequest<{ Params: { deviceId: string } }>, reply) => {
      guard(request, 'read', { apiVersion: false });
      const device = devices.get(request.params.deviceId);
      const after = integer(request, 'after', 0, Number.MAX_SAFE_INTEGER);
      const top = integer(request, 'top', 1, 1000);
      const from = time(request, 'from');
      const to = time(request, 'to');
      const page = await telemetry.raw(device.id, {
        ...(after === undefined ? {} : { after }),
        ...(top === undefined ? {} : { top }),
        ...(from === undefined ? {} : { from }),
        ...(to === undefined ? {} : { to }),
      });
      const out: JsonObject = {
        value: page.messages as unknown as JsonValue[],
        counts: telemetry.counts(device.id) as unknown as JsonObject,
      };
      if (page.next !== undefined) out['next'] = page.next;
      return json(reply, 200, out);
    },
  );
}
