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

/**
 * What the official SDK's `Message` carries besides its body for a message of `shape` (undefined for
 * `bare`): `contentType`, `contentEncoding`, the application properties and, for `pnp`, the component
 * (`dt-subject`). The AMQP and HTTPS publishers map it as their SDK transports do; over MQTT
 * `messageTopic` (ipc.ts) encodes the same values in the topic.
 */
export interface SdkMessageProperties {
  contentType: string;
  contentEncoding: string;
  application: Record<string, string>;
  component?: string;
}

export function sdkMessageProperties(shape: MessageShape, createdAt: string): SdkMessageProperties | undefined {
  if (shape === 'bare') return undefined;
  const out: SdkMessageProperties = {
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    application: { 'iothub-creation-time-utc': createdAt },
  };
  if (shape === 'pnp') out.component = 'thermostat1';
  return out;
}
