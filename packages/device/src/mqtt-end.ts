/**
 * Ending an MQTT.js client without waiting on what can never come: MQTT.js's `end(false)` waits until
 * every QoS 1 publish is acknowledged, and a connection that died keeps those publishes pending for ever
 * (it fails them only for clean sessions). The device's own queue sends unacknowledged telemetry again,
 * so the pending publishes are dropped first; the DISCONNECT is sent when the socket is still up, and a
 * deadline forces the socket closed if the peer does not let go.
 */

import type { MqttClient } from 'mqtt';

/**
 * Ends `client` gracefully (DISCONNECT) when it can, forcibly after `timeoutMs`; always resolves.
 *
 * @example
 * ```ts
 * await endClient(client, 2000);
 * ```
 */
export function endClient(client: MqttClient, timeoutMs = 2000): Promise<void> {
  for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.end(true, {}, () => resolve());
      resolve();
    }, timeoutMs);
    client.end(!client.connected, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
