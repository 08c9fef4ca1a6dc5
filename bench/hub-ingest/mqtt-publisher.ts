/**
 * A publishing device over MQTT 3.1.1/TLS: an MQTT.js 5 client (what a Node device would use), QoS 1,
 * the property bag in the topic as azure-iot-device-mqtt encodes it (protocol.md §1.5).
 */
import type { TLSSocket } from 'node:tls';
import mqtt from 'mqtt';
import { messageTopic, telemetryTopic } from './ipc.js';
import type { Publisher, PublisherOptions } from './publisher.js';

export function connectMqtt(options: PublisherOptions): Promise<Publisher> {
  const { target, ca, device, shape, keepaliveSeconds, onBroken } = options;
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: target.host,
      port: target.port,
      ca,
      rejectUnauthorized: true,
      protocolVersion: 4,
      clientId: device.deviceId,
      username: device.username,
      password: device.password,
      clean: false,
      keepalive: keepaliveSeconds,
      reconnectPeriod: 0,
      connectTimeout: 120_000,
    });
    const base = telemetryTopic(device.deviceId);
    let closing = false;
    const publisher: Publisher = {
      deviceId: device.deviceId,
      send(body, createdAt, done) {
        const topic = shape === 'bare' ? base : messageTopic(base, shape, createdAt);
        client.publish(topic, body, { qos: 1 }, (error) => done(error ?? undefined));
      },
      async close() {
        closing = true;
        await client.endAsync();
      },
    };
    const onError = (error: Error): void => {
      client.end(true);
      reject(error);
    };
    client.once('error', onError);
    client.once('connect', () => {
      client.off('error', onError);
      (client.stream as TLSSocket).setNoDelay(true);
      client.on('close', () => {
        if (!closing) onBroken(new Error(`${device.deviceId} lost its MQTT connection`));
      });
      client.on('error', (error) => onBroken(error));
      resolve(publisher);
    });
  });
}
