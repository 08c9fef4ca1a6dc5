/**
 * Devices for the `plugboard device check` tests, built on the unmodified official SDKs: a
 * well-behaved Thermostat written as the IoT Central high-availability samples write one (DPS with its
 * model id, a retry policy that gives up on the errors that mean "reprovision", a disconnect handler
 * that goes back to DPS, creation times, acknowledged writable properties, the full twin reconciled on
 * every connect, its command answered), and the same device with one deliberate mistake at a time.
 */
import common from 'azure-iot-common';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { deriveDeviceKey } from '@plugboard/protocol';
import { provisionDevice } from './central-fixtures.js';
import { withTimeout, type TestPlatform } from './harness.js';

const { ExponentialBackOffWithJitter, NoRetry } = common;
const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;

export const THERMOSTAT_ID = 'dtmi:com:example:Thermostat;1';

/** The mistakes a test device can make. */
export interface DeviceFlaws {
  /** Register without a model id. */
  noModelId?: boolean;
  /** Send the temperature as a string. */
  wrongTelemetryType?: boolean;
  /** Writable properties: never acknowledged, or acknowledged with a wrong `av`. */
  ack?: 'never' | 'wrongVersion';
  /** Leave the command unanswered. */
  noCommandHandler?: boolean;
  /** On a refused reconnect: retry at once in a loop (`tightLoop`), or let the SDK retry on the same hub forever (`sameHub`). */
  reconnect?: 'tightLoop' | 'sameHub';
}

/** Messages the samples' policy gives up on: the hub said the connection string is no longer good. */
const REPROVISION_ERRORS = new Set([
  'Connection refused: Server unavailable',
  'Connection refused: Not authorized',
  'Connection to the server has been closed.',
]);

/**
 * The samples' policy with a back-off that grows. (The SDK's own `ExponentialBackOffWithJitter` draws its
 * jitter from `rand(c·(1−jd), c·(1−ju))` with ju > jd — a negative range — so its intervals never grow
 * past `cMin`, 100 ms: `device check` rightly calls that a tight loop.)
 */
class HighAvailabilityRetryPolicy extends ExponentialBackOffWithJitter {
  constructor(readonly stopped: () => boolean) {
    super();
  }

  override shouldRetry(error: Error): boolean {
    if (this.stopped() || REPROVISION_ERRORS.has(error.message)) return false;
    return super.shouldRetry(error);
  }

  override nextRetryTimeout(retryCount: number): number {
    return Math.min(200 * 2 ** retryCount * (0.8 + Math.random() * 0.4), 10_000);
  }
}

/** The SDK's default policy (retry on the same hub, never back to DPS), until the test ends. */
class SameHubRetryPolicy extends ExponentialBackOffWithJitter {
  constructor(readonly stopped: () => boolean) {
    super();
  }

  override shouldRetry(error: Error): boolean {
    return !this.stopped() && super.shouldRetry(error);
  }
}

/** A Thermostat device, well-behaved unless `flaws` say otherwise. */
export class CheckedDevice {
  client: InstanceType<typeof Client> | undefined;
  /** Every client it opened (a failed open may still be retrying inside the SDK). */
  readonly #clients: InstanceType<typeof Client>[] = [];
  #connected = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #sent = 0;

  constructor(
    readonly platform: TestPlatform,
    readonly deviceId: string,
    readonly groupKey: string,
    readonly flaws: DeviceFlaws = {},
  ) {}

  /** Provisions, connects, and starts sending telemetry every 250 ms. */
  async start(): Promise<void> {
    await this.#connect();
    this.#timer = setInterval(() => void this.#sendTelemetry(), 250);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await Promise.all(this.#clients.map((c) => c.close().catch(() => undefined)));
  }

  async #connect(): Promise<void> {
    const registration = await provisionDevice(
      this.platform,
      this.deviceId,
      this.groupKey,
      this.flaws.noModelId === true ? undefined : { modelId: THERMOSTAT_ID },
    );
    const key = await deriveDeviceKey(this.groupKey, this.deviceId);
    const client = Client.fromConnectionString(
      `HostName=${registration.assignedHub};DeviceId=${registration.deviceId};SharedAccessKey=${key}`,
      Mqtt,
    );
    if (this.flaws.noModelId !== true) await client.setOptions({ modelId: THERMOSTAT_ID });
    const stopped = (): boolean => this.#stopped;
    if (this.flaws.reconnect === 'tightLoop') client.setRetryPolicy(new NoRetry() as never);
    else if (this.flaws.reconnect === 'sameHub') client.setRetryPolicy(new SameHubRetryPolicy(stopped) as never);
    else client.setRetryPolicy(new HighAvailabilityRetryPolicy(stopped) as never);
    client.on('error', () => undefined);
    client.on('disconnect', () => void this.#onDisconnect(client));
    if (this.flaws.noCommandHandler !== true) {
      client.onDeviceMethod('getMaxMinReport', (request, response) => {
        const since = typeof request.payload === 'string' ? request.payload : '2026-01-01T00:00:00.000Z';
        void response.send(200, { maxTemp: 22, minTemp: 20, avgTemp: 21, startTime: since, endTime: since });
      });
    }
    this.client = client;
    this.#clients.push(client);
    await withTimeout(client.open(), 20_000, 'open');
    this.#connected = true;
    const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
    const ack = (value: unknown, version: number): void => {
      if (this.flaws.ack === 'never') return;
      const av = this.flaws.ack === 'wrongVersion' ? version + 7 : version;
      twin.properties.reported.update({ targetTemperature: { value, ac: 200, ad: 'completed', av } }, () => undefined);
    };
    // The full twin on every connect: a desired value changed while offline is acknowledged now.
    const desired = twin.properties.desired as Record<string, unknown> & { $version: number };
    if (desired['targetTemperature'] !== undefined) ack(desired['targetTemperature'], desired.$version);
    twin.on('properties.desired', (patch: Record<string, unknown>) => {
      if (patch['targetTemperature'] !== undefined) ack(patch['targetTemperature'], Number(patch['$version']));
    });
    twin.properties.reported.update({ maxTempSinceLastReboot: 22.5 }, () => undefined);
  }

  async #onDisconnect(client: InstanceType<typeof Client>): Promise<void> {
    if (this.client !== client || this.#stopped || !this.#connected) return;
    this.#connected = false;
    if (this.flaws.reconnect === 'sameHub') return;
    if (this.flaws.reconnect === 'tightLoop') {
      // Straight back to the same hub, no pause, no DPS.
      while (!this.#stopped) {
        try {
          await client.open();
          this.#connected = true;
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      return;
    }
    await client.close().catch(() => undefined);
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        await this.#connect();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(3000, 200 * 2 ** attempt)));
      }
    }
  }

  async #sendTelemetry(): Promise<void> {
    if (!this.#connected || this.client === undefined) return;
    const temperature = this.flaws.wrongTelemetryType === true ? 'warm' : 20 + (this.#sent++ % 5);
    const message = new Message(JSON.stringify({ temperature }));
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    message.properties.add('iothub-creation-time-utc', new Date().toISOString());
    await this.client.sendEvent(message).catch(() => undefined);
  }
}
