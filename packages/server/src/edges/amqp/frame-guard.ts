/**
 * A bound on what an AMQP client can make the server buffer. rhea reads a frame's 4-byte size and then
 * buffers until the whole frame has arrived, whatever size it declared; this guard watches the same
 * byte stream (without changing it) and reports a frame over the limit as soon as its header arrives,
 * so the edge can drop the connection before the bytes pile up. Protocol headers (`AMQP` + 4 bytes, sent
 * at the start and again after SASL) are stepped over. AMQP over WebSockets is accepted here too, with
 * the same guard on its messages.
 */

/** The largest frame a client may send: the `max_frame_size` the edge advertises. */
export const MAX_AMQP_FRAME_BYTES = 64 * 1024;

import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Container } from 'rhea';
import type { WebSocket } from 'ws';

/** `AMQP` read as a frame size: the start of a protocol header. */
const HEADER = Buffer.from('AMQP', 'latin1').readUInt32BE(0);
const EMPTY = Buffer.alloc(0);

/**
 * Follows the frames of one connection's input.
 *
 * @example
 * const guard = new FrameGuard();
 * socket.on('data', (chunk) => { if (guard.push(chunk) !== undefined) socket.destroy(); });
 */
export class FrameGuard {
  readonly #limit: number;
  /** Bytes of the current frame (or header) still to skip. */
  #skip = 0;
  /** The start of a frame header split across chunks. */
  #partial = EMPTY;

  constructor(limit = MAX_AMQP_FRAME_BYTES) {
    this.#limit = limit;
  }

  /** Takes the next chunk; returns the declared size of a frame over the limit, else `undefined`. */
  push(chunk: Buffer): number | undefined {
    const data = this.#partial.length === 0 ? chunk : Buffer.concat([this.#partial, chunk]);
    this.#partial = EMPTY;
    let at = 0;
    for (;;) {
      if (this.#skip > 0) {
        const skipped = Math.min(this.#skip, data.length - at);
        this.#skip -= skipped;
        at += skipped;
      }
      if (at === data.length) return undefined;
      if (data.length - at < 4) {
        this.#partial = Buffer.from(data.subarray(at));
        return undefined;
      }
      const size = data.readUInt32BE(at);
      if (size === HEADER) {
        this.#skip = 8;
        continue;
      }
      if (size > this.#limit) return size;
      // A size under 8 is malformed; rhea refuses it. Step over it as 8 bytes so the guard never stalls.
      this.#skip = Math.max(size, 8);
    }
  }
}

/**
 * Watches a connection's input (a TLS socket, or a WebSocket's messages) and ends it when the client
 * declares a frame over {@link MAX_AMQP_FRAME_BYTES}.
 *
 * @example
 * server.on('secureConnection', (socket) => guardFrames(socket, log));
 */
export function guardFrames(
  input: {
    on(event: 'data' | 'message', listener: (chunk: Buffer) => void): unknown;
    destroy?(): void;
    terminate?(): void;
  },
  log: Logger,
  event: 'data' | 'message' = 'data',
): void {
  const guard = new FrameGuard();
  input.on(event, (chunk: Buffer) => {
    const size = guard.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    if (size === undefined) return;
    log.info({ declaredBytes: size, limit: MAX_AMQP_FRAME_BYTES }, 'AMQP connection closed: frame over the limit');
    if (input.terminate !== undefined) input.terminate();
    else input.destroy?.();
  });
}

/**
 * Serves an AMQP connection of `container` over an accepted WebSocket, its frames guarded as over TLS;
 * `tlsSocket` is the HTTPS connection under it (its client certificate authenticates X.509 clients, read
 * through the `tls_socket` connection option).
 *
 * @example
 * acceptAmqpWebSocket(container, ws, request.socket as TLSSocket, log);
 */
export function acceptAmqpWebSocket(container: Container, ws: WebSocket, tlsSocket: TLSSocket, log: Logger): void {
  guardFrames(ws as never, log, 'message');
  container.websocket_accept(
    ws as never,
    { autoaccept: false, max_frame_size: MAX_AMQP_FRAME_BYTES, tls_socket: tlsSocket } as never,
  );
}
