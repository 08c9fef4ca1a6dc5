/**
 * JSON request bodies on every HTTPS listener (hub service API, DPS device and service APIs) go through
 * `readJson`, the bounded reader of `@plugboard/protocol`, instead of Fastify's parser: too deep, too many
 * members or a `__proto__` key is refused with a coded 400 before any handler runs, never a stack overflow
 * later. Each API's error handler maps the {@link ProtocolError} to its own body format.
 */
import type { FastifyInstance } from 'fastify';
import { ProtocolError, readJson, type JsonLimits } from '@plugboard/protocol';

/** The reader's verdict as an HTTP status: 413 for size, 400 for everything else. */
export function jsonErrorStatus(error: ProtocolError): 400 | 413 {
  return error.code === 'PROTOCOL_JSON_TOO_LARGE' ? 413 : 400;
}

/** True for the errors {@link readJson} throws. */
export function isJsonError(error: unknown): error is ProtocolError {
  return error instanceof ProtocolError && error.code.startsWith('PROTOCOL_JSON_');
}

/**
 * Replaces Fastify's `application/json` parser with {@link readJson}. An empty body parses as `undefined`
 * (each route decides whether it needs one).
 *
 * @example
 * const app = Fastify();
 * useBoundedJsonBodies(app, { maxBytes: 1024 * 1024 });
 */
export function useBoundedJsonBodies(app: FastifyInstance, limits: Partial<JsonLimits> = {}): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body: Buffer, done) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    try {
      done(null, readJson(body, limits));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
