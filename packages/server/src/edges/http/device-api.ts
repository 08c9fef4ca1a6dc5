/**
 * The IoT Hub device HTTPS API (protocol.md §4) that `azure-iot-device-http` and the other SDKs' HTTP
 * transports use: send telemetry (one message, its properties as headers; or a batch), and poll for C2D
 * messages, each locked under an `ETag` lock token until it is completed, rejected or abandoned. Every
 * request is authenticated on its own (SAS token in `Authorization`, or the TLS client certificate), so
 * injected faults answer each request: an error status with IoT Hub's body, or — for an unreachable hub
 * or a dropped connection — the connection closed with no answer at all.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  BATCH_CONTENT_TYPE,
  ProtocolError,
  c2dResponseHeaders,
  d2cPropertiesFromHeaders,
  decodeD2cBatch,
  readJson,
} from '@plugboard/protocol';
import { incomingTelemetry, type DeviceSession, type Hub } from '../../core/hub.js';
import { copyMessageProperties } from '../../core/model.js';
import { HubError } from '../../errors.js';
import { peerCertificateChain } from '../../tls/peer.js';
import { header, requestHost, type HttpHubResolver } from './service-api.js';

/** Largest device-to-cloud request body, one message or a batch (IoT Hub's 256 KB). */
export const MAX_D2C_BYTES = 256 * 1024;

interface DeviceParams {
  deviceId: string;
}

interface LockParams extends DeviceParams {
  lockToken: string;
}

/** Thrown to end a request with no answer (unreachable hub, dropped connection). */
class NoAnswer extends Error {
  /** Leave the connection open, unanswered (a black-holed path), instead of closing it. */
  readonly silent: boolean;
  constructor(message: string, silent = false) {
    super(message);
    this.silent = silent;
  }
}

/** How long a swallowed request's connection is held open before it is closed anyway. */
const SILENT_HOLD_MS = 30 * 60_000;

/** The request's headers with their names as the device wrote them (application property names keep their case). */
function rawHeaders(request: FastifyRequest): Record<string, string> {
  const raw = request.raw.rawHeaders;
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name !== undefined && value !== undefined) headers[name] = value;
  }
  return headers;
}

/** The lock token an `If-Match` header names, quoted or not (the Node SDK sends it unquoted). */
function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/**
 * Registers the device routes on a hub's HTTPS listener. They take any body as bytes (a message body is
 * opaque; its type travels in `iothub-contenttype`), up to {@link MAX_D2C_BYTES}.
 *
 * @example
 * registerDeviceApi(app, (host) => hubs.get(host));
 */
export function registerDeviceApi(app: FastifyInstance, resolveHub: HttpHubResolver): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_D2C_BYTES }, (_request, body, done) =>
      done(null, body),
    );

    /** The hub and device session of an authenticated request; faults apply here, once per request. */
    const authenticate = async (request: FastifyRequest<{ Params: DeviceParams }>): Promise<[Hub, DeviceSession]> => {
      const host = requestHost(request);
      const hub = resolveHub(host);
      if (hub === undefined) throw new HubError('HUB_UNAUTHORIZED', `No hub is named ${host ?? '(no Host header)'}.`);
      const password = header(request, 'authorization');
      const clientCertificates = peerCertificateChain(request.raw.socket as TLSSocket);
      if (password === undefined && clientCertificates === undefined) {
        throw new HubError(
          'HUB_UNAUTHORIZED',
          'Send a SAS token in the Authorization header, or a client certificate.',
        );
      }
      let auth;
      try {
        auth = await hub.authenticate({
          hostName: hub.hostName,
          deviceId: request.params.deviceId,
          ...(password === undefined ? {} : { password }),
          ...(clientCertificates === undefined ? {} : { clientCertificates }),
        });
      } catch (error) {
        if (error instanceof HubError && error.code === 'HUB_NO_ANSWER') throw new NoAnswer(error.message);
        if (error instanceof HubError && error.code === 'HUB_SILENT') throw new NoAnswer(error.message, true);
        throw error;
      }
      if (auth.dropAfterConnect === true) throw new NoAnswer('The connection was dropped (injected fault).');
      return [hub, hub.requestSession(auth)];
    };

    /** Runs a route; a {@link NoAnswer} closes the connection without a response. */
    const route =
      <P extends DeviceParams>(
        handler: (request: FastifyRequest<{ Params: P }>, reply: FastifyReply) => Promise<unknown>,
      ) =>
      async (request: FastifyRequest<{ Params: P }>, reply: FastifyReply): Promise<unknown> => {
        try {
          return await handler(request, reply);
        } catch (error) {
          if (error instanceof NoAnswer) {
            const { deviceId } = request.params as DeviceParams;
            request.log.info({ deviceId, reason: error.message }, 'HTTPS request dropped');
            reply.hijack();
            const socket = request.raw.socket;
            if (error.silent) setTimeout(() => socket.destroy(), SILENT_HOLD_MS).unref();
            else socket.destroy();
            return undefined;
          }
          if (error instanceof ProtocolError) {
            throw new HubError('HUB_INVALID_ARGUMENT', error.message, { cause: error });
          }
          throw error;
        }
      };

    const bytes = (request: FastifyRequest): Buffer => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));

    scope.post(
      '/devices/:deviceId/messages/events',
      { bodyLimit: MAX_D2C_BYTES },
      route<DeviceParams>(async (request, reply) => {
        const [hub, session] = await authenticate(request);
        const body = bytes(request);
        const contentType = header(request, 'content-type')?.split(';')[0]?.trim().toLowerCase();
        if (contentType === BATCH_CONTENT_TYPE) {
          const items = decodeD2cBatch(readJson(body, { maxBytes: MAX_D2C_BYTES }));
          // In order: each message is stored before the next is taken, as a device's sends are.
          for (const item of items) await hub.ingestTelemetry(session, incomingTelemetry(item.body, item.properties));
        } else {
          await hub.ingestTelemetry(session, incomingTelemetry(body, d2cPropertiesFromHeaders(rawHeaders(request))));
        }
        return reply.code(204).send();
      }),
    );

    scope.get(
      '/devices/:deviceId/messages/devicebound',
      route<DeviceParams>(async (request, reply) => {
        const [hub, session] = await authenticate(request);
        const lease = hub.receiveC2d(session);
        if (lease === undefined) return reply.code(204).send();
        const { message } = lease;
        const delivery: Parameters<typeof c2dResponseHeaders>[0] = {
          lockToken: lease.lockToken,
          to: message.to,
          ack: message.ack,
          expiryTimeUtc: new Date(message.expiresAt).toISOString(),
          enqueuedTime: message.enqueuedTime,
          deliveryCount: message.deliveryCount,
          application: message.properties,
        };
        copyMessageProperties(message, delivery);
        return reply.code(200).headers(c2dResponseHeaders(delivery)).send(Buffer.from(message.body));
      }),
    );

    const settle = (outcome: 'complete' | 'reject' | 'abandon' | 'byQuery') =>
      route<LockParams>(async (request, reply) => {
        const [hub, session] = await authenticate(request);
        const { lockToken } = request.params;
        const ifMatch = header(request, 'if-match');
        if (ifMatch !== undefined && unquote(ifMatch) !== lockToken) {
          throw new HubError('HUB_PRECONDITION_FAILED', 'If-Match names another lock token than the URL.');
        }
        const query = request.query as Record<string, unknown>;
        const chosen = outcome === 'byQuery' ? ('reject' in query ? 'reject' : 'complete') : outcome;
        hub.settleC2d(session, lockToken, chosen);
        return reply.code(204).send();
      });
    scope.delete('/devices/:deviceId/messages/devicebound/:lockToken', settle('byQuery'));
    scope.post('/devices/:deviceId/messages/devicebound/:lockToken/abandon', settle('abandon'));
  });
}
