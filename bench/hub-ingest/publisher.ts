/**
 * One simulated device as the load generator sees it, whatever its transport: it sends one telemetry
 * message at a time and reports when the hub acknowledged it (MQTT PUBACK, AMQP `accepted`, HTTPS 204).
 * `mqtt-publisher.ts`, `amqp-publisher.ts` and `http-publisher.ts` build one each, shaped as the official
 * Node SDK's transport sends the same message.
 */
import type { DeviceCredential, MessageShape, Target } from './ipc.js';

export interface Publisher {
  readonly deviceId: string;
  /**
   * Sends `body` (stamped with `createdAt` for SDK-shaped messages); `done` runs once, when the hub
   * acknowledged it or the send failed.
   */
  send(body: string, createdAt: string, done: (error?: Error) => void): void;
  /** Closes the device's connection(s) gracefully. */
  close(): Promise<void>;
}

/** What every transport's `connect` is given. */
export interface PublisherOptions {
  target: Target;
  /** PEM of the CA the hub's certificate chains to. */
  ca: Buffer;
  device: DeviceCredential;
  shape: MessageShape;
  keepaliveSeconds: number;
  /** Called at most once if the connection drops after `connect` resolved. */
  onBroken: (error: Error) => void;
}

/** The application properties of an SDK-shaped message besides content type and encoding. */
export function applicationProperties(shape: MessageShape, createdAt: string): Record<string, string> {
  if (shape === 'bare') return {};
  return { 'iothub-creation-time-utc': createdAt };
}
