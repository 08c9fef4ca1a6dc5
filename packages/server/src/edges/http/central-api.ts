/**
 * The IoT Central REST API (`/api/...?api-version=2022-07-31`, and the `2022-06-30-preview` that
 * `az iot central device-template` sends) on the application's host name, as `az iot central` sends and
 * reads it (../shared/reference/az-central-wire.md): API-token auth with roles, `{"value", "nextLink"}`
 * collections whose last page has no `nextLink`, raw `:` and `;` in template ids, errors as
 * `{"error":{"code","message","requestId","time"}}`. This file: the shared route kit, errors, device
 * templates, API tokens and `GET /plugboard/me` (the signed-in token's id, roles and permissions);
 * devices are in central-devices-api.ts.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { CentralPermission } from '../../central/api-tokens.js';
import type { CentralApp } from '../../central/app.js';
import { CentralError, type CentralErrorCode } from '../../central/errors.js';
import { DpsError } from '../../core/dps-errors.js';
import { HubError } from '../../errors.js';
import type { JsonObject, JsonValue } from '../../core/model.js';
import { logRefusal, requestLogFields } from '../log-fields.js';
import { registerCentralCommandsApi } from './central-commands-api.js';
import { registerCentralDeviceApi } from './central-devices-api.js';
import { registerCentralEnrollmentApi } from './central-enrollment-api.js';
import { registerCentralEventsApi } from './central-events-api.js';
import { registerCentralFaultsApi } from './central-faults-api.js';
import { registerCentralHubsApi } from './central-hubs-api.js';
import { registerCentralPropertiesApi } from './central-properties-api.js';
import { registerCentralSystemApi } from './central-system-api.js';
import { registerCentralTelemetryApi } from './central-telemetry-api.js';
import { isJsonError, jsonErrorStatus } from './json-body.js';

/** The Central code for a hub or DPS refusal's HTTP status. */
const CENTRAL_CODE_OF_STATUS: Partial<Record<number, CentralErrorCode>> = {
  400: 'CENTRAL_BAD_REQUEST',
  403: 'CENTRAL_CONFLICT',
  404: 'CENTRAL_NOT_FOUND',
  409: 'CENTRAL_CONFLICT',
  412: 'CENTRAL_PRECONDITION_FAILED',
  413: 'CENTRAL_PAYLOAD_TOO_LARGE',
  429: 'CENTRAL_CONFLICT',
};

const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;

/** Sends a {@link CentralError} as Central does, and logs the refusal once. */
export function sendCentralError(reply: FastifyReply, error: CentralError): FastifyReply {
  if (error.code !== 'CENTRAL_INTERNAL') {
    logRefusal(reply.log as unknown as Logger, 'Central request refused', error, requestLogFields(reply.request));
  }
  return reply
    .code(error.status)
    .header('content-type', 'application/json; charset=utf-8')
    .send(
      JSON.stringify({
        error: {
          code: error.centralCode,
          message: error.message,
          requestId: randomUUID(),
          time: new Date().toUTCString(),
        },
        // Plugboard's code, as on the other APIs.
        code: error.code,
      }),
    );
}

/** Sends a JSON answer. */
export function json(reply: FastifyReply, status: number, body: JsonValue): FastifyReply {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(body));
}

/** What every Central route does: authorise, check the api-version, read the body, page. */
export interface CentralRouteKit {
  /** Authorises the request for `permission` and checks its api-version (Plugboard's own routes have none). */
  guard(request: FastifyRequest, permission: CentralPermission, options?: { apiVersion: boolean }): void;
  /** The JSON body (a Buffer means it was not sent as JSON). */
  body(request: FastifyRequest): unknown;
  /** The next page's link: the same path with the same api-version and where to continue. */
  nextLink(request: FastifyRequest, after: string): string;
  /** `$top` (1–100), if given. */
  top(request: FastifyRequest): number | undefined;
  /** The query parameter `name` as an integer from `min` to `max`, if given (`CENTRAL_BAD_REQUEST` otherwise). */
  integer(request: FastifyRequest, name: string, min: number, max: number): number | undefined;
  /** `$skiptoken`, if given. */
  skipToken(request: FastifyRequest): string | undefined;
  /** The `If-Match` header, if given once. */
  ifMatch(request: FastifyRequest): string | undefined;
}

/** The query parameter `name` as an integer from `min` to `max`, if given. */
function queryInteger(request: FastifyRequest, name: string, min: number, max: number): number | undefined {
  const raw = (request.query as Record<string, unknown>)[name];
  if (raw === undefined) return undefined;
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new CentralError('CENTRAL_BAD_REQUEST', `${name} must be an integer from ${min} to ${max}.`);
  }
  return n;
}

function centralRouteKit(central: CentralApp): CentralRouteKit {
  return {
    guard(request, permission, options) {
      const authorization = request.headers['authorization'];
      central.tokens.authorize(typeof authorization === 'string' ? authorization : undefined, permission);
      if (options?.apiVersion === false) return;
      const version = (request.query as Record<string, unknown>)['api-version'];
      if (typeof version !== 'string' || !API_VERSION.test(version)) {
        throw new CentralError('CENTRAL_BAD_REQUEST', 'api-version is required, e.g. ?api-version=2022-07-31.');
      }
    },
    body(request) {
      if (Buffer.isBuffer(request.body)) {
        throw new CentralError('CENTRAL_BAD_REQUEST', 'Send the body as JSON (content-type application/json).');
      }
      return request.body;
    },
    nextLink(request, after) {
      const host = request.headers['host'] ?? central.hostName;
      const url = new URL(request.url, `https://${host}`);
      url.searchParams.set('$skiptoken', after);
      return url.toString();
    },
    top(request) {
      return queryInteger(request, '$top', 1, 100);
    },
    integer: queryInteger,
    ifMatch(request) {
      const value = request.headers['if-match'];
      return typeof value === 'string' ? value : undefined;
    },
    skipToken(request) {
      const skip = (request.query as Record<string, unknown>)['$skiptoken'];
      return typeof skip === 'string' ? skip : undefined;
    },
  };
}

/**
 * Registers the Central routes.
 *
 * @example
 * registerCentralApi(app, central, logger);
 */
export function registerCentralApi(app: FastifyInstance, central: CentralApp, logger: Logger): void {
  app.setErrorHandler((error: unknown, _request, reply) => {
    if (error instanceof CentralError) return sendCentralError(reply, error);
    // A refusal of the hub or DPS underneath (a twin patch over its limits, a full C2D queue, …): the
    // same meaning in the application's terms, with the message that says why.
    if (error instanceof HubError || error instanceof DpsError) {
      const code = CENTRAL_CODE_OF_STATUS[error.status];
      if (code !== undefined) return sendCentralError(reply, new CentralError(code, error.message, { cause: error }));
    }
    if (isJsonError(error)) {
      const code = jsonErrorStatus(error) === 413 ? 'CENTRAL_PAYLOAD_TOO_LARGE' : 'CENTRAL_BAD_REQUEST';
      return sendCentralError(reply, new CentralError(code, error.message, { cause: error }));
    }
    const e = error as { statusCode?: number; message?: string; code?: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendCentralError(reply, new CentralError('CENTRAL_PAYLOAD_TOO_LARGE', 'The request body is too large.'));
    }
    if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
      return sendCentralError(reply, new CentralError('CENTRAL_BAD_REQUEST', e.message ?? 'Bad request.'));
    }
    logger.error({ err: error }, 'Central request failed');
    return sendCentralError(reply, new CentralError('CENTRAL_INTERNAL', 'Internal error.'));
  });
  app.setNotFoundHandler((request, reply) =>
    sendCentralError(
      reply,
      new CentralError(
        'CENTRAL_NOT_FOUND',
        `The application serves no ${request.method} ${request.url.split('?')[0] ?? ''}.`,
      ),
    ),
  );

  const kit = centralRouteKit(central);
  const { guard, body, nextLink, top } = kit;
  registerCentralDeviceApi(app, central, kit);
  registerCentralTelemetryApi(app, central, kit);
  registerCentralPropertiesApi(app, central, kit);
  registerCentralCommandsApi(app, central, kit);
  registerCentralEnrollmentApi(app, central, kit);
  registerCentralEventsApi(app, central, kit);
  registerCentralSystemApi(app, central, kit);
  registerCentralFaultsApi(app, central, kit);
  registerCentralHubsApi(app, central, kit);

  // ---- device templates
  app.get('/api/deviceTemplates', async (request, reply) => {
    guard(request, 'read');
    const skip = (request.query as Record<string, unknown>)['$skiptoken'];
    const limit = top(request);
    const page = central.templates.list({
      ...(typeof skip === 'string' ? { after: skip } : {}),
      ...(limit === undefined ? {} : { top: limit }),
    });
    const out: JsonObject = { value: page.templates.map((t) => central.templates.view(t)) };
    const last = page.templates.at(-1);
    if (page.more && last !== undefined) out['nextLink'] = nextLink(request, last.id);
    return json(reply, 200, out);
  });
  app.get(
    '/api/deviceTemplates/:templateId',
    async (request: FastifyRequest<{ Params: { templateId: string } }>, reply) => {
      guard(request, 'read');
      return json(reply, 200, central.templates.view(central.templates.get(request.params.templateId)));
    },
  );
  app.put(
    '/api/deviceTemplates/:templateId',
    async (request: FastifyRequest<{ Params: { templateId: string } }>, reply) => {
      guard(request, 'build');
      const template = await central.templates.put(request.params.templateId, body(request), kit.ifMatch(request));
      return json(reply, 200, central.templates.view(template));
    },
  );
  app.patch(
    '/api/deviceTemplates/:templateId',
    async (request: FastifyRequest<{ Params: { templateId: string } }>, reply) => {
      guard(request, 'build');
      const patch = body(request);
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
        throw new CentralError('CENTRAL_BAD_REQUEST', 'The patch must be a JSON object.');
      }
      const current = central.templates.get(request.params.templateId);
      const { etag, ...changes } = patch as JsonObject;
      const template = await central.templates.put(
        current.id,
        { ...current.body, ...changes },
        typeof etag === 'string' ? etag : undefined,
      );
      return json(reply, 200, central.templates.view(template));
    },
  );
  app.delete(
    '/api/deviceTemplates/:templateId',
    async (request: FastifyRequest<{ Params: { templateId: string } }>, reply) => {
      guard(request, 'build');
      await central.templates.delete(request.params.templateId, (id) => central.devices.usesTemplate(id));
      return reply.code(204).send();
    },
  );

  // ---- API tokens
  // The signed-in token itself (no api-version: a Plugboard route, as /plugboard/application).
  app.get('/plugboard/me', async (request, reply) => {
    const authorization = request.headers['authorization'];
    const me = central.tokens.signedIn(typeof authorization === 'string' ? authorization : undefined);
    return json(reply, 200, me as unknown as JsonObject);
  });
  app.get('/api/apiTokens', async (request, reply) => {
    guard(request, 'administer');
    return json(reply, 200, { value: central.tokens.list() as unknown as JsonValue[] });
  });
  app.get('/api/apiTokens/:tokenId', async (request: FastifyRequest<{ Params: { tokenId: string } }>, reply) => {
    guard(request, 'administer');
    return json(reply, 200, central.tokens.get(request.params.tokenId) as unknown as JsonObject);
  });
  app.put('/api/apiTokens/:tokenId', async (request: FastifyRequest<{ Params: { tokenId: string } }>, reply) => {
    guard(request, 'administer');
    const input = body(request);
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        'The token must be a JSON object: {"roles":[{"role":"<role id>"}]}.',
      );
    }
    const { roles, expiry } = input as { roles?: unknown; expiry?: unknown };
    if (
      !Array.isArray(roles) ||
      roles.some((r) => typeof r !== 'object' || r === null || typeof (r as { role?: unknown }).role !== 'string')
    ) {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'roles must be a list of {"role": "<role id>"}.');
    }
    if (expiry !== undefined && typeof expiry !== 'string') {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'expiry must be an ISO 8601 time.');
    }
    const created = await central.tokens.create(
      request.params.tokenId,
      roles as { role: string; organization?: string }[],
      expiry,
    );
    return json(reply, 200, created as unknown as JsonObject);
  });
  app.delete('/api/apiTokens/:tokenId', async (request: FastifyRequest<{ Params: { tokenId: string } }>, reply) => {
    guard(request, 'administer');
    await central.tokens.delete(request.params.tokenId);
    return reply.code(204).send();
  });
}
