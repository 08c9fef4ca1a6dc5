/**
 * Scaling the application's internal IoT hubs while it runs, as IoT Central does behind the scenes:
 * adding a hub links it to DPS, so new registrations are balanced over the enlarged set; removing one
 * carries every device registered to it (identity, twin, queued C2D) to the hub DPS allocates it now and
 * disables it on the removed hub: the live connections drop, and for a drain period (default 30 s) the
 * hub still answers, refusing every device with "Server unavailable" (CONNACK 3, what a disabled device
 * gets), so a well-written device goes back to DPS and is given its new hub; then the hub closes and
 * connections to it are refused (an unreachable endpoint). Telemetry a hub acknowledged is already
 * stored and stays. The set survives restarts: what was added and removed is stored and applied over the
 * hubs the platform is started with.
 */
import { isIP } from 'node:net';
import { DpsError } from '../core/dps-errors.js';
import type { ProvisioningService } from '../core/dps.js';
import type { Hub } from '../core/hub.js';
import type { Storage } from '../storage/port.js';
import { CentralError } from './errors.js';
import type { CentralFailover } from './failover.js';

/** A hub as the platform starts it. */
export interface HubPlacement {
  /** Short name, e.g. `hub-1`. */
  name: string;
  /** Loopback (or other local) address the hub's listeners bind. */
  address: string;
  /** Host name devices use; the address when absent. */
  hostName?: string;
}

/** Where a running hub listens. */
export interface HubListening {
  name: string;
  hostName: string;
  address: string;
  mqttPort: number;
  httpsPort: number;
}

/** What opens and closes hubs on the network (the platform). */
export interface HubHost {
  /** Opens the hub and its listeners; resolves with the hub, to be linked to DPS. */
  open(placement: HubPlacement): Promise<Hub>;
  close(name: string): Promise<void>;
  list(): HubListening[];
}

/** A hub as `GET /plugboard/hubs` shows it. */
export interface HubView extends HubListening {
  /** Devices registered to it. */
  devices: number;
  /** Device and module connections open now. */
  connections: number;
  /** `draining`: removed, refusing every device until `closesAt`. */
  state: 'running' | 'draining';
  closesAt?: string;
}

/** What removing a hub did. */
export interface HubRemoval {
  name: string;
  /** Devices carried to each remaining hub. */
  moved: Record<string, number>;
  /** When the hub stops listening (ISO 8601); until then it refuses every device with CONNACK 3. */
  closesAt: string;
}

/** The drain period of a removal when the request names none (seconds). */
export const DEFAULT_DRAIN_SECONDS = 30;
const MAX_DRAIN_SECONDS = 600;

/** Options for {@link CentralHubs}. */
export interface CentralHubsOptions {
  storage: Storage;
  dps: ProvisioningService;
  failover: CentralFailover;
  host: HubHost;
  /** First three octets of the addresses given to added hubs (default `127.0.0`). */
  loopbackPrefix?: string;
  /** Addresses hubs may not take (DPS, the Central app). */
  reservedAddresses?: readonly string[];
  /** Open connections of a hub. */
  hubConnections: (name: string) => number;
  /** Called after each change of the set (the platform rewrites `plugboard.json`). */
  onChange?: () => void;
  /** Where a failed timed close is reported (a log). */
  onError?: (error: unknown) => void;
}

const KIND = 'central-hub';
const NAME = /^[A-Za-z0-9][A-Za-z0-9\-_.]{0,62}$/;
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A stored change of the hub set. */
interface HubChange extends HubPlacement {
  state: 'added' | 'removed';
}

/**
 * The hubs to start: `configured` without those removed while running, plus those added.
 *
 * @example
 * const placements = await storedHubSet(storage, [{ name: 'hub-1', address: '127.0.0.2' }]);
 */
export async function storedHubSet(storage: Storage, configured: readonly HubPlacement[]): Promise<HubPlacement[]> {
  const changes = (await storage.loadDocuments(KIND)) as Map<string, HubChange>;
  const set = configured.filter((p) => changes.get(p.name.toLowerCase())?.state !== 'removed');
  for (const change of changes.values()) {
    if (change.state !== 'added' || set.some((p) => p.name.toLowerCase() === change.name.toLowerCase())) continue;
    set.push({
      name: change.name,
      address: change.address,
      ...(change.hostName === undefined ? {} : { hostName: change.hostName }),
    });
  }
  return set;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The application's hub set.
 *
 * @example
 * const hubs = new CentralHubs({ storage, dps, failover, host });
 * await hubs.add({});              // hub-3 on the next free loopback address
 * await hubs.remove('hub-2');      // { name: 'hub-2', moved: { 'hub-1': 4, 'hub-3': 5 } }
 */
export class CentralHubs {
  readonly #options: CentralHubsOptions;
  #queue: Promise<unknown> = Promise.resolve();
  /** Removed hubs still listening: when each closes, and its timer. */
  readonly #draining = new Map<string, { closesAt: string; timer: NodeJS.Timeout }>();

  constructor(options: CentralHubsOptions) {
    this.#options = options;
  }

  /** The running hubs with their device and connection counts, by name. */
  list(): HubView[] {
    const devices = new Map<string, number>();
    for (const record of this.#options.dps.listRegistrations()) {
      devices.set(record.hub, (devices.get(record.hub) ?? 0) + 1);
    }
    return this.#options.host
      .list()
      .map((h): HubView => {
        const drain = this.#draining.get(h.name);
        return {
          ...h,
          devices: devices.get(h.name) ?? 0,
          connections: this.#options.hubConnections(h.name),
          ...(drain === undefined ? { state: 'running' } : { state: 'draining', closesAt: drain.closesAt }),
        };
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** One hub; `CENTRAL_NOT_FOUND` when there is none of that name. */
  get(name: string): HubView {
    const hub = this.list().find((h) => h.name.toLowerCase() === name.toLowerCase());
    if (hub === undefined) throw new CentralError('CENTRAL_NOT_FOUND', `The application has no hub ${name}.`);
    return hub;
  }

  /**
   * Adds a hub: `body` is `{}` or `{"name"?, "address"?, "hostName"?}` (defaults: `hub-N` with the next
   * free number, the next free address of the loopback prefix, the address as host name).
   */
  add(body: unknown): Promise<HubView> {
    return this.#serially(async () => {
      const placement = this.#placement(body);
      let hub: Hub;
      try {
        hub = await this.#options.host.open(placement);
      } catch (error) {
        throw new CentralError(
          'CENTRAL_CONFLICT',
          `Hub ${placement.name} cannot listen on ${placement.address}: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
      this.#options.dps.linkHub(hub);
      await this.#options.storage.saveDocument(KIND, placement.name.toLowerCase(), {
        ...placement,
        state: 'added',
      } satisfies HubChange);
      this.#options.onChange?.();
      return this.get(placement.name);
    });
  }

  /**
   * Removes a hub, carrying its devices to the others (see the file header); `drainSeconds` (0 to 600,
   * default 30) is how long it goes on refusing devices before it closes.
   */
  remove(name: string, drainSeconds: number = DEFAULT_DRAIN_SECONDS): Promise<HubRemoval> {
    if (!Number.isFinite(drainSeconds) || drainSeconds < 0 || drainSeconds > MAX_DRAIN_SECONDS) {
      return Promise.reject(
        new CentralError('CENTRAL_BAD_REQUEST', `drainSeconds must be from 0 to ${MAX_DRAIN_SECONDS}.`),
      );
    }
    return this.#serially(async () => {
      const hub = this.get(name);
      if (hub.state === 'draining') {
        throw new CentralError('CENTRAL_CONFLICT', `Hub ${hub.name} is removed already; it closes at ${hub.closesAt}.`);
      }
      let moved: Map<string, number>;
      try {
        moved = await this.#options.dps.unlinkHub(hub.name);
      } catch (error) {
        if (error instanceof DpsError && error.code === 'DPS_CONFLICT') {
          throw new CentralError('CENTRAL_CONFLICT', error.message, { cause: error });
        }
        throw error;
      }
      await this.#options.failover.forgetHub(hub.name);
      await this.#options.storage.saveDocument(KIND, hub.name.toLowerCase(), {
        name: hub.name,
        address: hub.address,
        state: 'removed',
      } satisfies HubChange);
      const closesAt = new Date(Date.now() + drainSeconds * 1000).toISOString();
      if (drainSeconds === 0) await this.#shut(hub.name);
      else {
        const timer = setTimeout(() => {
          this.#serially(() => this.#close(hub.name)).catch(this.#options.onError ?? (() => undefined));
        }, drainSeconds * 1000);
        timer.unref();
        this.#draining.set(hub.name, { closesAt, timer });
      }
      this.#options.onChange?.();
      return { name: hub.name, moved: Object.fromEntries(moved), closesAt };
    });
  }

  /** Closes the hubs still draining now (at shutdown; a removed hub is not opened again at start). */
  async close(): Promise<void> {
    await this.#serially(async () => {
      for (const name of [...this.#draining.keys()]) await this.#close(name);
    });
  }

  /** Ends a removed hub's drain (see {@link #shut}). */
  async #close(name: string): Promise<void> {
    const drain = this.#draining.get(name);
    if (drain === undefined) return;
    clearTimeout(drain.timer);
    this.#draining.delete(name);
    await this.#shut(name);
    this.#options.onChange?.();
  }

  /** A removed hub stops listening and what it stored is forgotten. */
  async #shut(name: string): Promise<void> {
    await this.#options.host.close(name);
    await this.#options.storage.deleteHub(name);
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #placement(body: unknown): HubPlacement {
    if (body === undefined || body === null) body = {};
    if (!isObject(body)) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        'The body must be a JSON object: {"name"?, "address"?, "hostName"?}.',
      );
    }
    for (const key of Object.keys(body)) {
      if (!['name', 'address', 'hostName'].includes(key)) {
        throw new CentralError(
          'CENTRAL_BAD_REQUEST',
          `Unknown field ${JSON.stringify(key)}; a hub takes name, address and hostName.`,
        );
      }
    }
    const running = this.#options.host.list();
    const { name, address, hostName } = body;
    if (name !== undefined && (typeof name !== 'string' || !NAME.test(name))) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        'name must be 1 to 63 letters, digits, "-", "_" or ".", starting with a letter or digit.',
      );
    }
    if (address !== undefined && (typeof address !== 'string' || isIP(address) === 0)) {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'address must be an IPv4 or IPv6 address, e.g. 127.0.0.4.');
    }
    if (hostName !== undefined && (typeof hostName !== 'string' || !HOST_NAME.test(hostName))) {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'hostName must be a DNS name, e.g. hub-3.plugboard.local.');
    }
    const chosenName = name ?? this.#freeName(running);
    if (running.some((h) => h.name.toLowerCase() === chosenName.toLowerCase())) {
      throw new CentralError('CENTRAL_CONFLICT', `The application has a hub ${chosenName} already.`);
    }
    const taken = new Set([...running.map((h) => h.address), ...(this.#options.reservedAddresses ?? [])]);
    const chosenAddress = address ?? this.#freeAddress(taken);
    if (taken.has(chosenAddress)) {
      throw new CentralError('CENTRAL_CONFLICT', `Address ${chosenAddress} is in use by the application.`);
    }
    if (hostName !== undefined && running.some((h) => h.hostName.toLowerCase() === hostName.toLowerCase())) {
      throw new CentralError('CENTRAL_CONFLICT', `Host name ${hostName} is in use by another hub.`);
    }
    return { name: chosenName, address: chosenAddress, ...(hostName === undefined ? {} : { hostName }) };
  }

  #freeName(running: readonly HubListening[]): string {
    const names = new Set(running.map((h) => h.name.toLowerCase()));
    let n = 1;
    while (names.has(`hub-${n}`)) n += 1;
    return `hub-${n}`;
  }

  #freeAddress(taken: ReadonlySet<string>): string {
    const prefix = this.#options.loopbackPrefix ?? '127.0.0';
    for (let octet = 2; octet < 254; octet += 1) {
      if (!taken.has(`${prefix}.${octet}`)) return `${prefix}.${octet}`;
    }
    throw new CentralError('CENTRAL_CONFLICT', `No address of ${prefix}.2–253 is free; give one with "address".`);
  }
}
