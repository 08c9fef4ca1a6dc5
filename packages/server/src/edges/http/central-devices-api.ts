/**
 * The Central REST API's device routes (`/api/devices...`), as `az iot central device ...` sends and reads
 * them (../shared/reference/az-central-wire.md): list with `nextLink` pages, show, create (`PUT`),
 * update (`PATCH`, read-only `id`/`etag`/`provisioned` echoed and ignored), delete, credentials, the
 * template's components and IoT Edge modules (and each module's components), the device's own attestation (an individual enrollment: symmetric keys or an
 * X.509 certificate, read as the DPS service API reads it); and Plugboard's device details and
 * timeline (provisioning attempts, connects, refusals, disconnects, with a retry summary), and a page of
 * devices with those details, searched and filtered by status and template (what the web UI lists). An
 * operator may manage devices; a builder may too; a read-only token only reads.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import type { CentralDeviceStatus } from '../../central/devices.js';
import type { JsonObject, JsonValue } from '../../core/model.js';
import { CentralError } from '../../central/errors.js';
import { summarize, TIMELINE_LENGTH } from '../../central/timeline.js';
import { DpsError } from '../../core/dps-errors.js';
import type { Attestation } from '../../core/dps-types.js';
import { enrollmentFromBody } from '../dps/enrollment-body.js';
import { enrollmentView } from '../dps/enrollment-view.js';
import { json, type CentralRouteKit } from './central-api.js';

type DeviceRequest = FastifyRequest<{ Params: { deviceId: string } }>;

const DEVICE_STATUSES: ReadonlySet<string> = new Set<CentralDeviceStatus>([
  'waitingForApproval',
  'blocked',
  'unassociated',
  'registered',
  'provisioned',
]);

/**
 * Registers the device routes.
 *
 * @example
 * registerCentralDeviceApi(app, central, kit);
 */
export function registerCentralDeviceApi(app: FastifyInstance, central: CentralApp, kit: CentralRouteKit): void {
  const { guard, body, nextLink, top, skipToken, ifMatch } = kit;
  const { devices } = central;

  app.get('/api/devices', async (request, reply) => {
    guard(request, 'read');
    const after = skipToken(request);
    const limit = top(request);
    const page = devices.list({
      ...(after === undefined ? {} : { after }),
      ...(limit === undefined ? {} : { top: limit }),
    });
    const out: JsonObject = { value: page.devices.map((d) => devices.view(d)) };
    const last = page.devices.at(-1);
    if (page.more && last !== undefined) out['nextLink'] = nextLink(request, last.id);
    return json(reply, 200, out);
  });
  app.get('/api/devices/:deviceId', async (request: DeviceRequest, reply) => {
    guard(request, 'read');
    return json(reply, 200, devices.view(devices.get(request.params.deviceId)));
  });
  app.put('/api/devices/:deviceId', async (request: DeviceRequest, reply) => {
    guard(request, 'operate');
    const device = await devices.put(request.params.deviceId, body(request), ifMatch(request));
    return json(reply, 200, devices.view(device));
  });
  app.patch('/api/devices/:deviceId', async (request: DeviceRequest, reply) => {
    guard(request, 'operate');
    const device = await devices.patch(request.params.deviceId, body(request), ifMatch(request));
    return json(reply, 200, devices.view(device));
  });
  app.delete('/api/devices/:deviceId', async (request: DeviceRequest, reply) => {
    guard(request, 'operate');
    await central.deleteDevice(request.params.deviceId);
    return reply.code(204).send();
  });
  app.get('/api/devices/:deviceId/components', async (request: DeviceRequest, reply) => {
    guard(request, 'read');
    return json(reply, 200, { value: central.components(request.params.deviceId) as JsonValue[] });
  });
  app.get('/api/devices/:deviceId/modules', async (request: DeviceRequest, reply) => {
    guard(request, 'read');
    return json(reply, 200, { value: central.modules(request.params.deviceId) as JsonValue[] });
  });
  app.get(
    '/api/devices/:deviceId/modules/:moduleName/components',
    async (request: FastifyRequest<{ Params: { deviceId: string; moduleName: string } }>, reply) => {
      guard(request, 'read');
      const { deviceId, moduleName } = request.params;
      return json(reply, 200, { value: central.components(deviceId, moduleName) as JsonValue[] });
    },
  );
  app.get('/plugboard/devices', async (request, reply) => {
    guard(request, 'read', { apiVersion: false });
    const query = request.query as Record<string, unknown>;
    const text = (name: string): string | undefined => {
      const value = query[name];
      if (value !== undefined && typeof value !== 'string') {
        throw new CentralError('CENTRAL_BAD_REQUEST', `${name} must be given once, as text.`);
      }
      return value === '' ? undefined : value;
    };
    const status = text('status');
    if (status !== undefined && !DEVICE_STATUSES.has(status)) {
      throw new CentralError('CENTRAL_BAD_REQUEST', `status must be one of ${[...DEVICE_STATUSES].join(', ')}.`);
    }
    const after = text('after');
    const template = text('template');
    const search = text('search');
    const limit = kit.integer(request, 'top', 1, 100);
    const page = devices.list({
      ...(after === undefined ? {} : { after }),
      ...(template === undefined ? {} : { template }),
      ...(status === undefined ? {} : { status: status as CentralDeviceStatus }),
      ...(search === undefined ? {} : { search }),
      ...(limit === undefined ? {} : { top: limit }),
    });
    const out: JsonObject = { value: page.devices.map((d) => devices.details(d.id)) };
    const last = page.devices.at(-1);
    if (page.more && last !== undefined) out['next'] = last.id;
    return json(reply, 200, out);
  });
  app.get('/plugboard/devices/:deviceId', async (request: DeviceRequest, reply) => {
    guard(request, 'read', { apiVersion: false });
    const details = devices.details(request.params.deviceId);
    const failover = central.failover.state(request.params.deviceId);
    if (failover !== undefined) details['failover'] = failover as unknown as JsonObject;
    return json(reply, 200, details);
  });
  app.get('/plugboard/devices/:deviceId/timeline', async (request: DeviceRequest, reply) => {
    guard(request, 'read', { apiVersion: false });
    const device = devices.get(request.params.deviceId);
    const after = kit.integer(request, 'after', 0, Number.MAX_SAFE_INTEGER);
    const top = kit.integer(request, 'top', 0, TIMELINE_LENGTH);
    const entries = central.timeline.entries(device.id, {
      ...(after === undefined ? {} : { after }),
      ...(top === undefined ? {} : { top }),
    });
    return json(reply, 200, {
      value: entries as unknown as JsonValue[],
      // The summary is of the entries answered: `after` picks the window to judge.
      summary: summarize(entries) as unknown as JsonObject,
    });
  });
  const attestationView = (deviceId: string): JsonObject => {
    const enrollment = devices.individualEnrollment(deviceId);
    if (enrollment === undefined) {
      throw new CentralError(
        'CENTRAL_NOT_FOUND',
        `Device ${deviceId} has no attestation of its own; it provisions through the enrollment groups.`,
      );
    }
    return (enrollmentView(enrollment) as { attestation: JsonObject }).attestation;
  };
  const readAttestation = (input: unknown, current?: JsonObject): Attestation => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        'The attestation must be a JSON object: {"type": "symmetricKey"|"x509", …}.',
      );
    }
    const merged = { ...current, ...(input as JsonObject) };
    try {
      const settings = enrollmentFromBody({ attestation: merged }, central.dps);
      if (settings.attestation === undefined)
        throw new CentralError('CENTRAL_BAD_REQUEST', 'The attestation needs a type.');
      return settings.attestation;
    } catch (error) {
      if (error instanceof DpsError) throw new CentralError('CENTRAL_BAD_REQUEST', error.message, { cause: error });
      throw error;
    }
  };
  app.get('/api/devices/:deviceId/attestation', async (request: DeviceRequest, reply) => {
    guard(request, 'operate');
    return json(reply, 200, attestationView(request.params.deviceId));
  });
  app.put('/api/devices/:deviceId/attestation', async (request: DeviceRequest, reply) => {
    guard(request, 'operate');
    devices.get(request.params.deviceId);
    await devices.putAttestation(request.params.deviceId, readAttestation(body(request)));
    return json(reply, 200, attestationView(request.params.deviceId));
  });
  app.patch('/api/devices/:deviceId/attestation', async (request: DeviceRequest, reply) => {
    guard(request, 'operate');
    const current = devices.individualEnrollment(request.params.deviceId);
    if (current === undefined) attestationView(request.params.deviceId);
    await devices.putAttestation(
      request.params.deviceId,
      readAttestation(body(request), current?.attestation as unknown as JsonObject),
    );
    return json(reply, 200, attestationView(request.params.deviceId));
  });
  app.delete('/api/devices/:deviceId/attestation', async (request: DeviceRequest, reply) => {
    guard(request, 'operate');
    await devices.deleteAttestation(request.params.deviceId);
    return reply.code(204).send();
  });
  app.get('/api/devices/:deviceId/credentials', async (request: DeviceRequest, reply) => {
    guard(request, 'operate');
    return json(reply, 200, devices.credentials(request.params.deviceId));
  });
}
