/**
 * What the edges log, in one shape, so a device developer can see why a device failed: every refusal a
 * device or client receives is one info line `{code, status, reason, …}`, and at debug every MQTT packet
 * is one line with its type and topic — never a password, token or payload.
 */
import type { FastifyRequest } from 'fastify';
import type { Packet } from 'mqtt-packet';
import type { Logger } from 'pino';

/** A refusal as it is logged. */
export interface Refusal {
  code: string;
  message: string;
  status?: number;
}

/**
 * Logs a refusal once, at info: its code, the HTTP-like status the client got, the reason, and `fields`
 * (the return code, topic, `$rid`, route…). The logger's bindings already name the identity.
 *
 * @example
 * logRefusal(log, 'CONNECT refused', error, { returnCode: 5 });
 */
export function logRefusal(log: Logger, what: string, refusal: Refusal, fields: Record<string, unknown> = {}): void {
  log.info({ code: refusal.code, status: refusal.status, reason: refusal.message, ...fields }, what);
}

/**
 * The fields of an MQTT packet worth a debug line: type, topic or filters, packet id, QoS, return codes.
 * CONNECT shows its client id and user name, never its password; payloads are left out.
 *
 * @example
 * log.debug(packetFields(packet), 'packet received');
 */
export function packetFields(packet: Packet): Record<string, unknown> {
  switch (packet.cmd) {
    case 'connect':
      return {
        packet: 'connect',
        clientId: packet.clientId,
        username: packet.username,
        clean: packet.clean,
        keepalive: packet.keepalive,
      };
    case 'connack':
      return { packet: 'connack', returnCode: packet.returnCode, sessionPresent: packet.sessionPresent };
    case 'publish':
      return {
        packet: 'publish',
        topic: packet.topic,
        qos: packet.qos,
        messageId: packet.messageId,
        bytes: packet.payload.length,
      };
    case 'subscribe':
      return {
        packet: 'subscribe',
        messageId: packet.messageId,
        filters: packet.subscriptions.map((s) => `${s.topic} (QoS ${s.qos})`),
      };
    case 'suback':
      return { packet: 'suback', messageId: packet.messageId, granted: packet.granted };
    case 'unsubscribe':
      return { packet: 'unsubscribe', messageId: packet.messageId, filters: packet.unsubscriptions };
    case 'puback':
    case 'unsuback':
      return { packet: packet.cmd, messageId: packet.messageId };
    default:
      return { packet: packet.cmd };
  }
}

/**
 * Fields naming a REST request in logs: method, path (no query) and the identity in the URL.
 *
 * @example
 * logRefusal(log, 'REST request refused', error, requestLogFields(request));
 */
export function requestLogFields(request: FastifyRequest): Record<string, unknown> {
  const params = (request.params ?? {}) as Record<string, unknown>;
  const fields: Record<string, unknown> = { method: request.method, path: request.url.split('?')[0] };
  for (const name of ['deviceId', 'moduleId', 'registrationId', 'id']) {
    if (typeof params[name] === 'string') fields[name === 'id' ? 'resourceId' : name] = params[name];
  }
  return fields;
}
