/**
 * Plugboard's live view of the application: `GET /plugboard/events` streams application events
 * (live-events.ts) as server-sent events — `event: telemetry|properties|connected|disconnected|dropped`,
 * `data:` one JSON object — optionally for one device (`?deviceId=`) and some types (`?types=a,b`).
 * What `plugboard diagnostics …` and the UI's live views read. A watcher that cannot keep up is told
 * how many events it missed instead of growing the server's memory.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CentralApp } from '../../central/app.js';
import { CentralError } from '../../central/errors.js';
import type { ApplicationEvent } from '../../central/live-events.js';
import type { CentralRouteKit } from './central-api.js';

const TYPES = new Set(['telemetry', 'properties', 'connected', 'disconnected']);
/** Bytes a watcher's connection may have unsent before events are skipped (and counted as dropped). */
const MAX_UNSENT_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * Registers the event stream route.
 *
 * @example
 * registerCentralEventsApi(app, central, kit);
 */
export function registerCentralEventsApi(app: FastifyInstance, central: CentralApp, kit: CentralRouteKit): void {
  app.get('/plugboard/events', async (request: FastifyRequest, reply) => {
    kit.guard(request, 'read', { apiVersion: false });
    const query = request.query as Record<string, unknown>;
    const deviceId = query['deviceId'];
    if (deviceId !== undefined && typeof deviceId !== 'string') {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'deviceId must be one device id.');
    }
    const device = deviceId === undefined ? undefined : central.devices.get(deviceId).id;
    const rawTypes = query['types'];
    if (rawTypes !== undefined && typeof rawTypes !== 'string') {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'types must be a comma-separated list.');
    }
    const types = rawTypes === undefined ? TYPES : new Set(rawTypes.split(',').map((t) => t.trim()));
    for (const type of types) {
      if (!TYPES.has(type)) {
        throw new CentralError(
          'CENTRAL_BAD_REQUEST',
          `Unknown event type ${JSON.stringify(type)}; use ${[...TYPES].join(', ')}.`,
        );
      }
    }
    reply.hijack();
    const out = reply.raw;
    out.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    out.write(': plugboard application events\n\n');
    let skipped = 0;
    const send = (event: ApplicationEvent): void => {
      if (event.type !== 'dropped') {
        if (!types.has(event.type)) return;
        if (device !== undefined && event.deviceId.toLowerCase() !== device.toLowerCase()) return;
      }
      if (out.writableLength > MAX_UNSENT_BYTES) {
        skipped += event.type === 'dropped' ? event.count : 1;
        return;
      }
      if (skipped > 0) {
        out.write(`event: dropped\ndata: ${JSON.stringify({ type: 'dropped', count: skipped })}\n\n`);
        skipped = 0;
      }
      out.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    const stop = central.watch(send);
    const heartbeat = setInterval(() => out.write(': ping\n\n'), HEARTBEAT_MS);
    const close = (): void => {
      clearInterval(heartbeat);
      stop();
    };
    out.once('close', close);
    request.raw.once('close', close);
  });
}
