/**
 * A simulated fleet: N Plug and Play devices of one DTDL model in one process, each a {@link PnpDevice}
 * with the SDK's defaults (DPS, reconnection, acknowledgements, offline queue). Each sends one telemetry
 * message per component every interval (phases spread so the fleet does not pulse), reports its
 * read-only properties once connected, accepts every writable property it is sent, and answers every
 * command with a valid response of its schema; values come from plausible-values.ts. Devices start at a
 * paced rate so a large fleet stays under the DPS registration quota. Progress is counted as it happens.
 */

import { sampleValue, type DtdlModel, type ModelElement } from '@plugboard/dtdl';
import { memoryAssignmentStore } from '../assignment-store.js';
import type { DeviceClientOptions } from '../device-options.js';
import { DeviceError } from '../errors.js';
import { PnpDevice } from '../pnp-device.js';
import { PlausibleValues, seededRandom } from './plausible-values.js';

/**
 * What to simulate and where.
 *
 * @example
 * ```ts
 * const options: FleetOptions = { model, modelId: 'dtmi:com:example:Thermostat;1', count: 100, connection: { idScope, credentials: { groupKey } } };
 * ```
 */
export interface FleetOptions {
  model: DtdlModel;
  modelId: string;
  count: number;
  /** Device ids are `{idPrefix}-{n}` (default `sim`), n from 1. */
  idPrefix?: string | undefined;
  /** Everything of a device's options but its registration id and model (a group key makes each device's key). */
  connection: Omit<DeviceClientOptions, 'registrationId' | 'modelId'>;
  /** Telemetry period per device (default 5 s). */
  intervalMs?: number | undefined;
  /** Devices started per second (default 10: IoT Central's DPS quota is a few hundred registrations a minute). */
  rampPerSecond?: number | undefined;
  /** Seed of the values (default 1). */
  seed?: number | undefined;
}

/**
 * The fleet's counters.
 *
 * @example
 * ```ts
 * const stats: FleetStats = { devices: 100, started: 100, provisioned: 100, connected: 98, messages: 4200, messagesPerSecond: 19.6, writableAcks: 3, commands: 1, errors: 2 };
 * ```
 */
export interface FleetStats {
  devices: number;
  /** Devices whose start has begun. */
  started: number;
  /** Devices that registered with DPS at least once. */
  provisioned: number;
  /** Devices connected now. */
  connected: number;
  /** Telemetry messages the hubs acknowledged. */
  messages: number;
  /** Acknowledged messages per second over the last few seconds. */
  messagesPerSecond: number;
  writableAcks: number;
  commands: number;
  /** Failed starts, rejected messages and warnings. */
  errors: number;
  /** The last error, for the progress line. */
  lastError?: string;
}

interface Capabilities {
  component: string | undefined;
  telemetry: ModelElement[];
  readOnly: ModelElement[];
  writable: ModelElement[];
  commands: ModelElement[];
}

/** The model's capabilities per component (root first). */
export function capabilitiesOf(model: DtdlModel, modelId: string): Capabilities[] {
  const root = model.get(modelId);
  if (root?.kind !== 'Interface') {
    throw new DeviceError('DEVICE_INVALID_OPTIONS', `${modelId} is not an Interface of the model.`);
  }
  const of = (iface: ModelElement, component: string | undefined): Capabilities => {
    const caps: Capabilities = { component, telemetry: [], readOnly: [], writable: [], commands: [] };
    for (const id of Object.values(iface.contents ?? {})) {
      const element = model.get(id);
      if (element === undefined) continue;
      if (element.kind === 'Telemetry') caps.telemetry.push(element);
      else if (element.kind === 'Property') (element.writable === true ? caps.writable : caps.readOnly).push(element);
      else if (element.kind === 'Command') caps.commands.push(element);
    }
    return caps;
  };
  const out = [of(root, undefined)];
  for (const id of Object.values(root.contents ?? {})) {
    const element = model.get(id);
    if (element?.kind !== 'Component' || element.name === undefined) continue;
    const schema = model.get(element.schema ?? '');
    if (schema?.kind === 'Interface') out.push(of(schema, element.name));
  }
  return out;
}

/**
 * A running fleet.
 *
 * @example
 * ```ts
 * const fleet = new SimulatedFleet(options);
 * await fleet.start();
 * console.log(fleet.stats());
 * await fleet.stop();
 * ```
 */
export class SimulatedFleet {
  readonly #options: FleetOptions;
  readonly #capabilities: Capabilities[];
  readonly #devices: PnpDevice[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #provisioned = new Set<string>();
  readonly #connected = new Set<string>();
  /** Acknowledged messages per second, the last few seconds: [second, count]. */
  readonly #recent: [number, number][] = [];
  #stats: FleetStats;
  #stopped = false;

  constructor(options: FleetOptions) {
    if (!Number.isSafeInteger(options.count) || options.count < 1) {
      throw new DeviceError('DEVICE_INVALID_OPTIONS', 'The fleet needs a count of at least 1.');
    }
    this.#options = options;
    this.#capabilities = capabilitiesOf(options.model, options.modelId);
    this.#stats = {
      devices: options.count,
      started: 0,
      provisioned: 0,
      connected: 0,
      messages: 0,
      messagesPerSecond: 0,
      writableAcks: 0,
      commands: 0,
      errors: 0,
    };
  }

  /** The counters now. */
  stats(): FleetStats {
    const second = Math.floor(Date.now() / 1000);
    while (this.#recent.length > 0 && (this.#recent[0]?.[0] ?? 0) <= second - 5) this.#recent.shift();
    // The five whole seconds before this one.
    const counted = this.#recent.filter(([s]) => s < second).reduce((sum, [, c]) => sum + c, 0);
    return {
      ...this.#stats,
      provisioned: this.#provisioned.size,
      connected: this.#connected.size,
      messagesPerSecond: Math.round((counted / 5) * 10) / 10,
    };
  }

  /**
   * Starts every device at the paced rate; resolves when each has been started: connected, or — when
   * DPS refused it for good (a wrong key) — counted as an error. Devices that lose their connection
   * later reconnect on their own.
   */
  async start(signal?: AbortSignal): Promise<void> {
    const rate = this.#options.rampPerSecond ?? 10;
    const prefix = this.#options.idPrefix ?? 'sim';
    const store = memoryAssignmentStore();
    const starting: Promise<void>[] = [];
    const began = Date.now();
    for (let n = 1; n <= this.#options.count && !this.#stopped && signal?.aborted !== true; n++) {
      const due = began + ((n - 1) * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      starting.push(this.#startDevice(`${prefix}-${n}`, n, store));
    }
    await Promise.all(starting);
  }

  /** Stops every device. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    await Promise.all(this.#devices.map((d) => d.close()));
  }

  #error(message: string): void {
    this.#stats.errors += 1;
    this.#stats.lastError = message;
  }

  async #startDevice(deviceId: string, n: number, store: ReturnType<typeof memoryAssignmentStore>): Promise<void> {
    const { model, modelId } = this.#options;
    const device = new PnpDevice({
      ...this.#options.connection,
      assignmentStore: this.#options.connection.assignmentStore ?? store,
      registrationId: deviceId,
      modelId,
      model,
    });
    this.#devices.push(device);
    this.#stats.started += 1;
    const values = new PlausibleValues(model, seededRandom((this.#options.seed ?? 1) * 100_003 + n));
    device.on('connectionState', ({ state }) => {
      if (state === 'connecting') this.#provisioned.add(deviceId);
      if (state === 'connected') this.#connected.add(deviceId);
      else this.#connected.delete(deviceId);
    });
    device.on('warning', (error) => this.#error(`${deviceId}: ${error.message}`));
    // One handle per component, made once: telemetry goes through them every interval.
    const handles = this.#capabilities.map((caps) =>
      caps.component === undefined ? device : device.component(caps.component),
    );
    for (const [i, caps] of this.#capabilities.entries()) {
      const handle = handles[i] ?? device;
      for (const property of caps.writable) {
        handle.onWritableProperty(property.name ?? '', () => {
          this.#stats.writableAcks += 1;
        });
      }
      for (const command of caps.commands) {
        handle.onCommand(command.name ?? '', () => {
          this.#stats.commands += 1;
          const response = command.response === undefined ? undefined : model.get(command.response);
          return response?.schema === undefined ? undefined : sampleValue(model, response.schema);
        });
      }
    }
    try {
      await device.start();
    } catch (error) {
      this.#error(`${deviceId}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    for (const [i, caps] of this.#capabilities.entries()) {
      if (caps.readOnly.length === 0) continue;
      const handle = handles[i] ?? device;
      const patch = Object.fromEntries(caps.readOnly.map((p) => [p.name ?? '', values.next(p)]));
      handle.reportProperties(patch).catch((error: unknown) => this.#error(`${deviceId}: ${String(error)}`));
    }
    const interval = this.#options.intervalMs ?? 5000;
    const send = (): void => {
      if (this.#stopped) return;
      for (const [i, caps] of this.#capabilities.entries()) {
        if (caps.telemetry.length === 0) continue;
        const handle = handles[i] ?? device;
        const message = Object.fromEntries(caps.telemetry.map((t) => [t.name ?? '', values.next(t)]));
        handle.sendTelemetry(message).then(
          () => {
            this.#stats.messages += 1;
            const second = Math.floor(Date.now() / 1000);
            const last = this.#recent.at(-1);
            if (last?.[0] === second) last[1] += 1;
            else this.#recent.push([second, 1]);
          },
          (error: unknown) => {
            if (!this.#stopped) this.#error(`${deviceId}: ${error instanceof Error ? error.message : String(error)}`);
          },
        );
      }
      this.#timers[n - 1] = setTimeout(send, interval);
    };
    // Spread the first messages over one interval.
    this.#timers[n - 1] = setTimeout(send, Math.floor((((n * 7919) % 1000) / 1000) * interval));
  }
}
