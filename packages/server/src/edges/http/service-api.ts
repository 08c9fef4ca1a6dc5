/**
 * The IoT Hub service REST API that `azure-iothub` uses (registry, twins, direct methods), plus Plugboard's
 * own routes under `/plugboard/` (send C2D, read telemetry and feedback). Every request needs a hub policy
 * SAS token. Errors use IoT Hub's body format: `{"Message":"ErrorCode:<Name>;<text>","ExceptionMessage":...}`
 * with an `iothub-errorcode` header.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Hub, MethodInvocation } from '../../core/hub.js';
import { identityInputFromBody } from '../../core/registry-input.js';
import {
  copyMessageProperties,
  identityOf,
  type HubPermission,
  type JsonObject,
  type JsonValue,
  type TelemetryRecord,
} from '../../core/model.js';
import type { StoredIdentity } from '../../storage/port.js';
import { HubError } from '../../errors.js';
import { logRefusal, requestLogFields } from '../log-fields.js';
import { isJsonError, jsonErrorStatus } from './json-body.js';

/** Largest cloud-to-device message body, as IoT Hub's. */
const MAX_C2D_BYTES = 64 * 1024;

/** Finds the hub a request addresses (by its `Host` header). */
export type HttpHubResolver = (host: string | undefined) => Hub | undefined;

interface DeviceParams {
  deviceId: string;
  moduleId?: string;
}

/** Azure's `Device` / `Module` JSON for a stored identity. */
export function identityView(hub: Hub, stored: StoredIdentity): JsonObject {
  const { record, activity } = stored;
  const auth = record.authentication;
  const view: JsonObject = { deviceId: record.deviceId };
  if (record.moduleId !== undefined) view['moduleId'] = record.moduleId;
  if (record.managedBy !== undefined) view['managedBy'] = record.managedBy;
  Object.assign(view, {
    generationId: record.generationId,
    etag: record.etag,
    connectionState: activity.connectionState,
    status: record.status,
    statusReason: record.statusReason,
    connectionStateUpdatedTime: activity.connectionStateUpdatedTime,
    statusUpdatedTime: record.statusUpdatedTime,
    lastActivityTime: activity.lastActivityTime,
    cloudToDeviceMessageCount: hub.c2dQueueLength(record),
    authentication: {
      type: auth.type,
      symmetricKey:
        auth.type === 'sas'
          ? { primaryKey: auth.symmetricKey.primaryKey, secondaryKey: auth.symmetricKey.secondaryKey }
          : { primaryKey: null, secondaryKey: null },
      x509Thumbprint:
        auth.type === 'selfSigned'
          ? {
              primaryThumbprint: auth.x509Thumbprint.primaryThumbprint,
              secondaryThumbprint: auth.x509Thumbprint.secondaryThumbprint,
            }
          : { primaryThumbprint: null, secondaryThumbprint: null },
    },
  } satisfies JsonObject);
  if (record.moduleId === undefined) view['capabilities'] = { iotEdge: record.capabilities.iotEdge };
  return view;
}

/** The JSON form of a stored telemetry record (body as text when it is UTF-8, else base64). */
export function telemetryView(record: TelemetryRecord): JsonObject {
  const body = Buffer.from(record.body);
  const text = body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(body);
  const view: JsonObject = {
    sequenceNumber: record.sequenceNumber ?? null,
    hub: record.hub,
    deviceId: record.deviceId,
    moduleId: record.moduleId ?? null,
    enqueuedTime: record.enqueuedTime,
    creationTime: record.creationTime ?? null,
    component: record.component ?? null,
    messageId: record.messageId ?? null,
    correlationId: record.correlationId ?? null,
    userId: record.userId ?? null,
    contentType: record.contentType ?? null,
    contentEncoding: record.contentEncoding ?? null,
    properties: record.properties,
    systemProperties: record.systemProperties,
  };
  if (isText) view['body'] = text;
  else view['bodyBase64'] = body.toString('base64');
  return view;
}

/** Sends a {@link HubError} in IoT Hub's REST error format, and logs the refusal once (internal errors are logged where they happen). */
export function sendHubError(reply: FastifyReply, error: HubError): FastifyReply {
  if (error.code !== 'HUB_INTERNAL')
    logRefusal(reply.log as unknown as Logger, 'REST request refused', error, requestLogFields(reply.request));
  const trackingId = randomUUID().replace(/-/g, '');
  return reply
    .code(error.status)
    .header('iothub-errorcode', error.azureName)
    .header('content-type', 'application/json; charset=utf-8')
    .send({
      Message: `ErrorCode:${error.azureName};${error.message}`,
      ExceptionMessage: `Tracking ID:${trackingId}-TimeStamp:${new Date().toISOString()}`,
      code: error.code,
      errorCode: error.azureErrorCode,
    });
}

function sendJson(reply: FastifyReply, status: number, body: JsonValue): FastifyReply {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(body));
}

/**
 * The parsed JSON body of a route that takes JSON. Other content types reach routes as raw bytes (the
 * C2D route takes any); here they are refused rather than read as an empty object.
 */
function jsonBody(request: FastifyRequest): unknown {
  if (Buffer.isBuffer(request.body)) {
    throw new HubError(
      'HUB_INVALID_ARGUMENT',
      'This route takes a JSON body: send it as content-type application/json.',
    );
  }
  return request.body;
}

/** A query parameter that must be a decimal integer in [min, max]; otherwise `HUB_INVALID_ARGUMENT`. */
function integerParameter(name: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new HubError(
      'HUB_INVALID_ARGUMENT',
      `${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}.`,
    );
  }
  return n;
}

/** A request header's (first) value. */
export function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The host a request addresses: its `Host` header without the port or IPv6 brackets. */
export function requestHost(request: FastifyRequest): string | undefined {
  return header(request, 'host')
    ?.replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
}

/**
 * Registers the service routes on a Fastify instance.
 *
 * @example
 * const app = Fastify();
 * registerServiceApi(app, (host) => hubs.get(host));
 */
export function registerServiceApi(app: FastifyInstance, resolveHub: HttpHubResolver): void {
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 256 * 1024 }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error: unknown, _request, reply) => {
    if (error instanceof HubError) return sendHubError(reply, error);
    if (isJsonError(error)) {
      const code = jsonErrorStatus(error) === 413 ? 'HUB_MESSAGE_TOO_LARGE' : 'HUB_INVALID_ARGUMENT';
      return sendHubError(reply, new HubError(code, error.message, { cause: error }));
    }
    const e = error as { statusCode?: number; message?: string; code?: string };
    if (e.statusCode === 413 || e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendHubError(reply, new HubError('HUB_MESSAGE_TOO_LARGE', 'The request body is too large.'));
    }
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      return sendHubError(reply, new HubError('HUB_INVALID_ARGUMENT', e.message ?? 'Bad request.'));
    }
    app.log.error({ err: error }, 'service API request failed');
    return sendHubError(reply, new HubError('HUB_INTERNAL', 'Internal error.'));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    return sendHubError(
      reply,
      new HubError(
        'HUB_ROUTE_NOT_FOUND',
        `The hub serves no ${request.method} ${path} (see docs/architecture.md#rest-routes).`,
      ),
    );
  });

  const hubFor = async (request: FastifyRequest, permission: HubPermission): Promise<Hub> => {
    const host = requestHost(request);
    const hub = resolveHub(host);
    if (hub === undefined) throw new HubError('HUB_DEVICE_NOT_FOUND', `No hub is named ${host ?? '(no Host header)'}.`);
    await hub.authorizeService(header(request, 'authorization'), permission);
    return hub;
  };

  // ---- registry
  const putIdentity = async (request: FastifyRequest<{ Params: DeviceParams }>, reply: FastifyReply) => {
    const hub = await hubFor(request, 'RegistryWrite');
    const input = identityInputFromBody(jsonBody(request), identityOf(request.params));
    const ifMatch = header(request, 'if-match');
    const record = ifMatch === undefined ? await hub.createIdentity(input) : await hub.updateIdentity(input, ifMatch);
    return sendJson(reply, 200, identityView(hub, hub.getIdentity(record)));
  };
  app.put('/devices/:deviceId', putIdentity);
  app.put('/devices/:deviceId/modules/:moduleId', putIdentity);

  const getIdentity = async (request: FastifyRequest<{ Params: DeviceParams }>, reply: FastifyReply) => {
    const hub = await hubFor(request, 'RegistryRead');
    return sendJson(reply, 200, identityView(hub, hub.getIdentity(identityOf(request.params))));
  };
  app.get('/devices/:deviceId', getIdentity);
  app.get('/devices/:deviceId/modules/:moduleId', getIdentity);

  const listDevices = async (request: FastifyRequest, reply: FastifyReply) => {
    const hub = await hubFor(request, 'RegistryRead');
    const query = request.query as { top?: string };
    const top = query.top === undefined ? 1000 : Math.max(1, Math.min(1000, Number(query.top) || 1000));
    return sendJson(
      reply,
      200,
      hub
        .listIdentities()
        .slice(0, top)
        .map((s) => identityView(hub, s)),
    );
  };
  app.get('/devices', listDevices);
  app.get('/devices/', listDevices);
  app.get('/devices/:deviceId/modules', async (request: FastifyRequest<{ Params: DeviceParams }>, reply) => {
    const hub = await hubFor(request, 'RegistryRead');
    hub.getIdentity({ deviceId: request.params.deviceId });
    return sendJson(
      reply,
      200,
      hub.listIdentities({ modulesOf: request.params.deviceId }).map((s) => identityView(hub, s)),
    );
  });

  const deleteIdentity = async (request: FastifyRequest<{ Params: DeviceParams }>, reply: FastifyReply) => {
    const hub = await hubFor(request, 'RegistryWrite');
    await hub.deleteIdentity(identityOf(request.params), header(request, 'if-match'));
    return reply.code(204).send();
  };
  app.delete('/devices/:deviceId', deleteIdentity);
  app.delete('/devices/:deviceId/modules/:moduleId', deleteIdentity);

  // ---- twins
  const getTwin = async (request: FastifyRequest<{ Params: DeviceParams }>, reply: FastifyReply) => {
    const hub = await hubFor(request, 'ServiceConnect');
    return sendJson(reply, 200, hub.getTwin(identityOf(request.params)));
  };
  app.get('/twins/:deviceId', getTwin);
  app.get('/twins/:deviceId/modules/:moduleId', getTwin);

  const updateTwin =
    (replace: boolean) => async (request: FastifyRequest<{ Params: DeviceParams }>, reply: FastifyReply) => {
      const hub = await hubFor(request, 'ServiceConnect');
      const ifMatch = header(request, 'if-match');
      const twin = await hub.updateTwin(identityOf(request.params), jsonBody(request), {
        replace,
        ...(ifMatch === undefined ? {} : { ifMatch }),
      });
      return sendJson(reply, 200, twin);
    };
  app.patch('/twins/:deviceId', updateTwin(false));
  app.patch('/twins/:deviceId/modules/:moduleId', updateTwin(false));
  app.put('/twins/:deviceId', updateTwin(true));
  app.put('/twins/:deviceId/modules/:moduleId', updateTwin(true));

  // ---- direct methods
  const invoke = async (request: FastifyRequest<{ Params: DeviceParams }>, reply: FastifyReply) => {
    const hub = await hubFor(request, 'ServiceConnect');
    const body = jsonBody(request) as Partial<MethodInvocation> | undefined;
    if (typeof body !== 'object' || body === null || typeof body.methodName !== 'string') {
      throw new HubError('HUB_INVALID_ARGUMENT', 'The body must be {"methodName": ..., "payload": ...}.');
    }
    const invocation: MethodInvocation = { methodName: body.methodName };
    if (body.payload !== undefined) invocation.payload = body.payload;
    for (const field of ['responseTimeoutInSeconds', 'connectTimeoutInSeconds'] as const) {
      const value = body[field];
      if (value === undefined || value === null) continue;
      if (typeof value !== 'number') throw new HubError('HUB_INVALID_ARGUMENT', `${field} must be a number.`);
      invocation[field] = value;
    }
    const result = await hub.invokeMethod(identityOf(request.params), invocation);
    return sendJson(reply, 200, { status: result.status, payload: result.payload });
  };
  app.post('/twins/:deviceId/methods', invoke);
  app.post('/twins/:deviceId/modules/:moduleId/methods', invoke);

  // ---- Plugboard: cloud-to-device send (the AMQP path of azure-iothub comes with the AMQP edge)
  app.post(
    '/plugboard/devices/:deviceId/messages/deviceBound',
    // C2D messages are limited to 64 KB: larger bodies are refused unread, whatever their content type.
    { bodyLimit: MAX_C2D_BYTES },
    async (request: FastifyRequest<{ Params: DeviceParams }>, reply: FastifyReply) => {
      const hub = await hubFor(request, 'ServiceConnect');
      const raw = request.body;
      const body =
        raw === undefined || raw === null
          ? Buffer.alloc(0)
          : Buffer.isBuffer(raw)
            ? raw
            : Buffer.from(typeof raw === 'string' ? raw : JSON.stringify(raw));
      const properties: Record<string, string | null> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (name.startsWith('iothub-app-') && typeof value === 'string') properties[name.slice(11)] = value;
      }
      const ack = header(request, 'iothub-ack');
      if (ack !== undefined && !['none', 'positive', 'negative', 'full'].includes(ack)) {
        throw new HubError('HUB_INVALID_ARGUMENT', 'iothub-ack must be none, positive, negative or full.');
      }
      const expiry = header(request, 'iothub-expiry');
      const expiresAt = expiry === undefined ? undefined : Date.parse(expiry);
      if (expiresAt !== undefined && Number.isNaN(expiresAt)) {
        throw new HubError('HUB_INVALID_ARGUMENT', 'iothub-expiry must be an ISO 8601 date.');
      }
      const message: Parameters<Hub['sendC2d']>[1] = { body, properties };
      copyMessageProperties(
        {
          messageId: header(request, 'iothub-messageid'),
          correlationId: header(request, 'iothub-correlationid'),
          userId: header(request, 'iothub-userid'),
          contentType: header(request, 'iothub-contenttype'),
          contentEncoding: header(request, 'iothub-contentencoding'),
        },
        message,
      );
      if (ack !== undefined) message.ack = ack as 'none' | 'positive' | 'negative' | 'full';
      if (expiresAt !== undefined) message.expiresAt = expiresAt;
      const record = await hub.sendC2d({ deviceId: request.params.deviceId }, message);
      return sendJson(reply, 201, {
        id: record.id,
        messageId: record.messageId ?? null,
        enqueuedTime: record.enqueuedTime,
      });
    },
  );

  app.get('/plugboard/telemetry', async (request, reply) => {
    const hub = await hubFor(request, 'ServiceConnect');
    const q = request.query as { deviceId?: string; moduleId?: string; after?: string; limit?: string };
    const query: Parameters<Hub['queryTelemetry']>[0] = {};
    if (q.deviceId !== undefined) query.deviceId = q.deviceId;
    if (q.moduleId !== undefined) query.moduleId = q.moduleId;
    if (q.after !== undefined)
      query.afterSequenceNumber = integerParameter('after', q.after, 0, Number.MAX_SAFE_INTEGER);
    if (q.limit !== undefined) query.limit = integerParameter('limit', q.limit, 1, 10_000);
    const records = await hub.queryTelemetry(query);
    return sendJson(reply, 200, { value: records.map(telemetryView) });
  });

  app.get('/plugboard/feedback', async (request, reply) => {
    const hub = await hubFor(request, 'ServiceConnect');
    return sendJson(reply, 200, { value: (await hub.takeFeedback(64)) as unknown as JsonValue });
  });
}
