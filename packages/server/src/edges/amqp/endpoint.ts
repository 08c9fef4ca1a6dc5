/**
 * A hub's AMQP endpoint: one `rhea` container whose connections — over TLS on 5671 (`listenAmqp`) or over
 * WebSockets at `/$iothub/websocket` with subprotocol `AMQPWSB10` (the HTTPS listener) — are each an
 * {@link AmqpDeviceConnection}. The container's events are routed to the connection they belong to.
 */
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import rhea, { type Connection, type Container, type EventContext } from 'rhea';
import type { WebSocket } from 'ws';
import { AmqpDeviceConnection, type AmqpHubResolver } from './connection.js';
import { acceptAmqpWebSocket } from './frame-guard.js';

/**
 * The AMQP endpoint of one hub.
 *
 * @example
 * const endpoint = new AmqpEndpoint({ name: 'hub-1', resolveHub, logger });
 * await listenAmqp({ ...listen, port: 5671, endpoint });
 */
export class AmqpEndpoint {
  readonly container: Container;
  readonly #log: Logger;

  constructor(options: { name: string; resolveHub: AmqpHubResolver; logger: Logger }) {
    this.#log = options.logger;
    this.container = rhea.create_container({ id: `plugboard-${options.name}` });
    const connections = new WeakMap<Connection, AmqpDeviceConnection>();
    const of = (context: EventContext): AmqpDeviceConnection => {
      let connection = connections.get(context.connection);
      if (connection === undefined) {
        connection = new AmqpDeviceConnection(context.connection, {
          resolveHub: options.resolveHub,
          logger: this.#log,
        });
        connections.set(context.connection, connection);
      }
      return connection;
    };
    const guard = (what: string, run: (context: EventContext) => unknown) => (context: EventContext) => {
      Promise.resolve()
        .then(() => run(context))
        .catch((error: unknown) => this.#log.error({ err: error }, `AMQP ${what} failed`));
    };
    this.container.on(
      'receiver_open',
      guard('attach', (c) => c.receiver && of(c).receiverOpened(c.receiver)),
    );
    this.container.on(
      'sender_open',
      guard('attach', (c) => c.sender && of(c).senderOpened(c.sender)),
    );
    this.container.on(
      'message',
      guard(
        'message',
        (c) => c.receiver && c.message && c.delivery && of(c).message(c.receiver, c.message, c.delivery),
      ),
    );
    for (const [event, outcome] of [
      ['accepted', 'complete'],
      ['rejected', 'reject'],
      // rhea reports a `modified` outcome as `released` too (treat_modified_as_released).
      ['released', 'abandon'],
    ] as const) {
      this.container.on(
        event,
        guard('settlement', (c) => c.sender && c.delivery && of(c).c2dSettled(c.sender, c.delivery, outcome)),
      );
    }
    this.container.on(
      'sendable',
      guard('credit', (c) => c.sender && of(c).sendable(c.sender)),
    );
    this.container.on(
      'receiver_close',
      guard('detach', (c) => c.receiver && of(c).linkClosed(c.receiver)),
    );
    this.container.on(
      'sender_close',
      guard('detach', (c) => c.sender && of(c).linkClosed(c.sender)),
    );
    this.container.on(
      'session_close',
      guard('close', (c) => c.session && of(c).sessionClosed(c.session)),
    );
    this.container.on(
      'connection_close',
      guard('close', (c) => of(c).ended('client closed the connection')),
    );
    this.container.on(
      'disconnected',
      guard('close', (c) => of(c).ended('connection lost')),
    );
    this.container.on('protocol_error', (error: unknown) => this.#log.debug({ err: error }, 'AMQP protocol error'));
    this.container.on('error', (error: unknown) => this.#log.debug({ err: error }, 'AMQP error'));
  }

  /**
   * Serves an AMQP connection over an accepted WebSocket; `tlsSocket` is the HTTPS connection under it
   * (its client certificate authenticates X.509 devices).
   */
  acceptWebSocket(ws: WebSocket, tlsSocket: TLSSocket): void {
    acceptAmqpWebSocket(this.container, ws, tlsSocket, this.#log);
  }
}
