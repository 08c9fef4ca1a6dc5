/**
 * One TLS write per event-loop turn. Frames an edge produces in one turn (a burst of MQTT PUBACKs, the
 * AMQP dispositions and flow frames for telemetry just stored) would each cost a TLS record (one
 * encryption, one syscall) if written one by one. The stream is corked at the first write of a turn and
 * uncorked on the next tick, so they leave together. The MQTT edge calls {@link corkEachTurn} before its
 * writes; the AMQP listener, whose frames rhea writes itself, wraps the socket with {@link coalesceWrites}.
 */
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';

/**
 * Returns the function to call before each write to `stream`: the first call of a turn corks it, the
 * next tick uncorks it.
 *
 * @example
 * const corkTurn = corkEachTurn(stream);
 * corkTurn();
 * stream.write(encode(packet));
 */
export function corkEachTurn(stream: Writable): () => void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    stream.uncork();
  };
  return () => {
    if (corked || stream.destroyed) return;
    corked = true;
    stream.cork();
    process.nextTick(uncork);
  };
}

/**
 * Batches every write `socket` receives within one event-loop turn, whoever writes (rhea writes each AMQP
 * frame with its own `socket.write`).
 *
 * @example
 * server.on('secureConnection', (socket) => coalesceWrites(socket));
 */
export function coalesceWrites(socket: Socket): void {
  const corkTurn = corkEachTurn(socket);
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]): boolean => {
    corkTurn();
    return write(...args);
  }) as Socket['write'];
}
