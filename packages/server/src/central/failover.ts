/**
 * Manual failover and failback of one device, for high-availability testing (protocol.md §7.6, the
 * `/system/iothub/devices/{id}/manual-failover|manual-failback` routes `az iot central` calls): the
 * device's registration moves to another internal hub with its twin (DPS `moveDevice`), its identity on
 * the hub it left is disabled as "moved" — its live connection drops and that hub refuses it, so a
 * well-written device goes back to DPS and is given the new hub — and after the time to live, or at
 * failback, the move is undone the same way. Pending reverts are stored, so a restart keeps the
 * promised revert time (a revert that fell due while the platform was down happens at start).
 */
import { createHash } from 'node:crypto';
import type { ProvisioningService } from '../core/dps.js';
import type { JsonObject } from '../core/model.js';
import type { Storage } from '../storage/port.js';
import type { CentralDevices } from './devices.js';
import { CentralError } from './errors.js';

/** A device that is failed over. */
export interface FailoverState {
  deviceId: string;
  /** The hub it was on before the failover, where it returns. */
  originalHub: string;
  /** The hub it was moved to. */
  hub: string;
  /** When it returns (ISO 8601). */
  revertAt: string;
}

/** What the failover and failback routes answer. */
export interface FailoverAnswer {
  /** An opaque id of the hub the device is now registered to (as Central answers it: 64 hex digits). */
  hubIdentifier: string;
  message: string;
}

/** Options for {@link CentralFailover.open}. */
export interface CentralFailoverOptions {
  storage: Storage;
  devices: CentralDevices;
  dps: ProvisioningService;
  now?: () => number;
  /** Where failures of a timed revert are reported (a log). */
  onError?: (error: unknown) => void;
}

const KIND = 'central-failover';
/** The time to live when the request names none (minutes; az's help gives 30). */
export const DEFAULT_FAILOVER_TTL_MINUTES = 30;
const MAX_TTL_MINUTES = 30;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The hub identifier Central shows for a hub: a hash of its host name. */
function hubIdentifier(hostName: string): string {
  return createHash('sha256').update(hostName).digest('hex');
}

/**
 * The failovers of one application.
 *
 * @example
 * const failover = await CentralFailover.open({ storage, devices, dps });
 * const answer = await failover.failover('thermo-1', { ttl: 5 });
 * answer.message; // 'Success! This device is now being failed over. … revert to its original hub at …'
 */
export class CentralFailover {
  readonly #storage: Storage;
  readonly #devices: CentralDevices;
  readonly #dps: ProvisioningService;
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #states = new Map<string, FailoverState>();
  readonly #timers = new Map<string, NodeJS.Timeout>();

  private constructor(options: CentralFailoverOptions) {
    this.#storage = options.storage;
    this.#devices = options.devices;
    this.#dps = options.dps;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Loads the pending reverts and schedules each (those already due run at once). */
  static async open(options: CentralFailoverOptions): Promise<CentralFailover> {
    const failover = new CentralFailover(options);
    for (const [key, state] of (await options.storage.loadDocuments(KIND)) as Map<string, FailoverState>) {
      failover.#states.set(key, state);
      failover.#schedule(key);
    }
    return failover;
  }

  /** The failover of a device, if it is failed over. */
  state(deviceId: string): FailoverState | undefined {
    return this.#states.get(deviceId.toLowerCase());
  }

  /**
   * Fails a device over: `body` is `{}` or `{"ttl": minutes}` (more than 0, at most 30; fractions allowed
   * for quick tests). The device must have provisioned, not be blocked or failed over already, and the
   * application must have more than one hub.
   */
  async failover(deviceId: string, body: unknown): Promise<FailoverAnswer> {
    const ttl = ttlOf(body);
    const device = this.#devices.get(deviceId);
    const key = device.id.toLowerCase();
    if (this.#dps.hubs.size < 2) {
      throw new CentralError(
        'CENTRAL_CONFLICT',
        'The application has a single IoT hub, so a device has nowhere to fail over to. Start it with more hubs.',
      );
    }
    if (!device.enabled) {
      throw new CentralError('CENTRAL_CONFLICT', `Device ${device.id} is blocked; unblock it before a failover.`);
    }
    if (this.#states.has(key)) {
      const { revertAt } = this.#states.get(key)!;
      throw new CentralError(
        'CENTRAL_CONFLICT',
        `Device ${device.id} is failed over already (it reverts at ${new Date(revertAt).toUTCString()}); fail it back first.`,
      );
    }
    const current = this.#devices.hubIdentity(device.id);
    if (current === undefined) {
      throw new CentralError(
        'CENTRAL_CONFLICT',
        `Device ${device.id} has not provisioned yet, so it has no hub to fail over from.`,
      );
    }
    const target = this.#otherHub(current.hub.name);
    const moved = await this.#dps.moveDevice(device.id, target);
    const state: FailoverState = {
      deviceId: device.id,
      originalHub: current.hub.name,
      hub: moved.hub,
      revertAt: new Date(this.#now() + ttl * 60_000).toISOString(),
    };
    await this.#storage.saveDocument(KIND, key, state);
    this.#states.set(key, state);
    this.#schedule(key);
    return {
      hubIdentifier: hubIdentifier(this.#dps.hubs.get(moved.hub)?.hostName ?? moved.hub),
      message:
        "Success! This device is now being failed over. You can check your device's status using " +
        `'iot central device registration-info' command. The device will revert to its original hub at ` +
        `${new Date(state.revertAt).toUTCString()}. You can choose to failback earlier using ` +
        'device-manual-failback command.',
    };
  }

  /** Returns a failed-over device to its original hub now. */
  async failback(deviceId: string): Promise<FailoverAnswer> {
    const device = this.#devices.get(deviceId);
    const key = device.id.toLowerCase();
    if (!this.#states.has(key)) {
      throw new CentralError(
        'CENTRAL_CONFLICT',
        `Device ${device.id} is not failed over, so there is nothing to fail back.`,
      );
    }
    const hub = await this.#revert(key);
    return {
      hubIdentifier: hubIdentifier(this.#dps.hubs.get(hub)?.hostName ?? hub),
      message: 'Device has successfully failed back to its original hub',
    };
  }

  /** Forgets a deleted device's failover. */
  async forget(deviceId: string): Promise<void> {
    const key = deviceId.toLowerCase();
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
    if (this.#states.delete(key)) await this.#storage.deleteDocument(KIND, key);
  }

  /**
   * A hub is being removed: failovers that would return a device to it are forgotten (the device stays
   * where the removal carries it).
   */
  async forgetHub(name: string): Promise<void> {
    for (const [key, state] of [...this.#states]) {
      if (state.originalHub === name) await this.forget(key);
    }
  }

  /** Stops the revert timers (the stored reverts run at the next start). */
  close(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  /** The hub with the fewest registrations other than `current` (ties: by name). */
  #otherHub(current: string): string {
    const counts = new Map<string, number>();
    for (const name of this.#dps.hubs.keys()) if (name !== current) counts.set(name, 0);
    for (const record of this.#dps.listRegistrations()) {
      const n = counts.get(record.hub);
      if (n !== undefined) counts.set(record.hub, n + 1);
    }
    return [...counts.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  }

  #schedule(key: string): void {
    const state = this.#states.get(key);
    if (state === undefined) return;
    clearTimeout(this.#timers.get(key));
    // Timers take at most 2^31-1 ms; a time to live is at most 30 minutes.
    const delay = Math.max(0, Math.min(Date.parse(state.revertAt) - this.#now(), 2 ** 31 - 1));
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.#revert(key).catch(this.#onError);
    }, delay);
    timer.unref();
    this.#timers.set(key, timer);
  }

  /** Moves the device back to its original hub and forgets the failover; answers the hub it is on. */
  async #revert(key: string): Promise<string> {
    const state = this.#states.get(key);
    if (state === undefined) throw new CentralError('CENTRAL_NOT_FOUND', `No failover of ${key}.`);
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
    let hub = state.originalHub;
    if (this.#devices.find(state.deviceId) !== undefined && this.#dps.hubs.has(state.originalHub)) {
      hub = (await this.#dps.moveDevice(state.deviceId, state.originalHub)).hub;
      // The move enables the identity where it arrives: a device blocked meanwhile stays blocked.
      await this.#devices.enforceEnabled(state.deviceId);
    }
    this.#states.delete(key);
    await this.#storage.deleteDocument(KIND, key);
    return hub;
  }
}

/** The time to live of a failover request, in minutes. */
function ttlOf(body: unknown): number {
  if (body === undefined || body === null) return DEFAULT_FAILOVER_TTL_MINUTES;
  if (!isObject(body))
    throw new CentralError('CENTRAL_BAD_REQUEST', 'The body must be a JSON object: {"ttl": minutes}.');
  for (const name of Object.keys(body)) {
    if (name !== 'ttl')
      throw new CentralError('CENTRAL_BAD_REQUEST', `Unknown field ${JSON.stringify(name)}; a failover takes ttl.`);
  }
  const ttl = body['ttl'];
  if (ttl === undefined) return DEFAULT_FAILOVER_TTL_MINUTES;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0 || ttl > MAX_TTL_MINUTES) {
    throw new CentralError(
      'CENTRAL_BAD_REQUEST',
      `ttl must be a number of minutes above 0 and at most ${MAX_TTL_MINUTES}.`,
    );
  }
  return ttl;
}
