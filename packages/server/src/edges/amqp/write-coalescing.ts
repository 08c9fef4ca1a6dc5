/**
 * rhea writes every AMQP frame it produces with its own `socket.write`: over TLS, one record (one
 * encryption, one syscall) per disposition or flow frame. `coalesceWrites` corks the socket at the first
 * write of an event-loop turn and uncorks it on the next tick, so the frames of one turn (a burst of
 * dispositions for telemetry just stored, their flow frames) leave together, as the MQTT edge's PUBACKs do.
 */
import type { Socket } from 'node:net';

/**
 * Batches the writes `socket` receives within one event-loop turn into one.
 *
 * @example
 * server.on('secureConnection', (socket) => coalesceWrites(socket));
 */
export function coalesceWrites(socket: Socket): void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]): boolean => {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write(...args);
  }) as Socket['write'];
}
