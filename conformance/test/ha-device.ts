/**
 * An official-SDK device written as the IoT Central high-availability samples write one: a retry policy
 * that stops on "Server unavailable" (CONNACK 3) and a disconnect handler that provisions again through
 * DPS and connects to the hub it is given. It answers `getMaxMinReport` and acknowledges
 * `targetTemperature`, as the Thermostat model asks. The failover and hub-scaling tests drive it.
 */
import common from 'azure-iot-common';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { deriveDeviceKey } from '@plugboard/protocol';
import { provisionDevice } from './central-fixtures.js';
import { eventually, withTimeout, type TestPlatform } from './harness.js';

const { ExponentialBackOffWithJitter } = common;
const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;

/**
 * The samples' retry policy: no retries once the hub answers "Server unavailable" (go back to DPS), and
 * none for a client the device has closed to move on (the SDK would go on retrying its pending sends on
 * the closed client for its four-minute operation timeout).
 */
export class MultiHubRetryPolicy extends ExponentialBackOffWithJitter {
  abandoned = false;

  override shouldRetry(error: Error): boolean {
    if (this.abandoned || error.message === 'Connection refused: Server unavailable') return false;
    return super.shouldRetry(error);
  }
}

/** A device as the high-availability samples write it (provision, connect, on disconnect: again). */
export class HighAvailabilityDevice {
  /** Every hub it was given by DPS, in order. */
  readonly hubs: string[] = [];
  client: InstanceType<typeof Client> | undefined;
  /** The retry policy of `client`. */
  #policy: MultiHubRetryPolicy | undefined;
  #connected = false;
  #stopped = false;

  constructor(
    readonly platform: TestPlatform,
    readonly deviceId: string,
    readonly groupKey: string,
    readonly modelId = 'dtmi:com:example:Thermostat;1',
  ) {}

  async connect(): Promise<void> {
    const registration = await provisionDevice(this.platform, this.deviceId, this.groupKey, {
      iotcModelId: this.modelId,
    });
    const key = await deriveDeviceKey(this.groupKey, this.deviceId);
    const client = Client.fromConnectionString(
      `HostName=${registration.assignedHub};DeviceId=${registration.deviceId};SharedAccessKey=${key}`,
      Mqtt,
    );
    const policy = new MultiHubRetryPolicy();
    client.setRetryPolicy(policy as never);
    client.on('connect', () => (this.#connected = true));
    client.on('disconnect', () => void this.#reconnect(client));
    client.on('error', () => undefined);
    await withTimeout(client.open(), 15_000, 'open');
    this.#connected = true;
    this.client = client;
    this.#policy = policy;
    this.hubs.push(registration.assignedHub);
    client.onDeviceMethod('getMaxMinReport', (request, response) => {
      void response.send(200, {
        maxTemp: 30,
        minTemp: 10,
        avgTemp: 20,
        startTime: String(request.payload),
        endTime: String(request.payload),
      });
    });
    const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
    twin.on('properties.desired', (patch: Record<string, unknown>) => {
      if (patch['targetTemperature'] === undefined) return;
      twin.properties.reported.update(
        { targetTemperature: { value: patch['targetTemperature'], ac: 200, ad: 'completed', av: patch['$version'] } },
        () => undefined,
      );
    });
  }

  /** The samples' disconnect handler: close, then provision and connect again (retrying while DPS refuses). */
  async #reconnect(client: InstanceType<typeof Client>): Promise<void> {
    if (!this.#connected || this.client !== client || this.#stopped) return;
    this.#connected = false;
    this.#policy!.abandoned = true;
    await client.close().catch(() => undefined);
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        await this.connect();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  async send(body: Record<string, unknown>): Promise<void> {
    const message = new Message(JSON.stringify(body));
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    await withTimeout(this.client!.sendEvent(message), 10_000, 'sendEvent');
  }

  /** Waits until it is connected to a hub other than the `count` it had. */
  async movedFrom(count: number): Promise<string> {
    return eventually(
      () => (this.hubs.length > count && this.#connected ? this.hubs[this.hubs.length - 1] : undefined),
      20_000,
      'the device to reprovision and connect',
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#policy !== undefined) this.#policy.abandoned = true;
    await this.client?.close().catch(() => undefined);
  }
}
