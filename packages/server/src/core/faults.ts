/**
 * Fault injection: the connection-time conditions of protocol.md §7.5, made to happen on demand. A
 * fault names a condition, a scope (a device, a hub, the DPS, or all devices) and how long it lasts (a
 * duration, a number of matching attempts, or until cleared). The hubs ask before authenticating a
 * connection and DPS before a registration; a matching fault answers with the domain error the real
 * service produces (each edge maps it once: CONNACK code, HTTP status and body), or delays the answer,
 * or drops the connection without one. Adding a fault that makes a device's connection invalid (token
 * expired, disabled, blocked, unreachable, internal error) also drops its live connections, as the real
 * condition would. Faults are kept in memory: a restart clears them.
 */
import { randomUUID } from 'node:crypto';
import { HubError } from '../errors.js';
import { DpsError } from './dps-errors.js';
import type { Identity } from './model.js';
import { THROTTLE_PROFILES, TelemetryThrottle, type ThrottleProfileName } from './telemetry-throttle.js';

/**
 * The conditions. Hub side (at connect): `unreachable` (no answer: the connection is closed without a
 * CONNACK or response — or, with `answer: 'silent'`, left open and never answered), `tokenExpired` (401, CONNACK 5), `deviceDisabled` (the device moved to another hub: CONNACK
 * 3), `deviceBlocked` (an operator blocked it: CONNACK 3), `internalError` (500: CONNACK 3), `throttled`
 * (429: CONNACK 3), `drop` (the connection is accepted, then dropped at once), `latency` (the answer waits
 * `latencyMs`); on a live connection, `stall` (each telemetry message is acknowledged only after
 * `latencyMs`: a packet-level stall, long enough to make SDKs time out their sends), `throttling` (telemetry
 * over a profile's rate is shaped — acknowledged later — and, once the backlog is full, refused with 429002:
 * the connection closes, as MQTT has no negative acknowledgement). DPS side (at registration):
 * `dpsUnauthorized` (401002), `dpsBlocked` (400209),
 * `dpsThrottled` (429 with Retry-After), `dpsInternalError` (500), `dpsLatency`.
 */
export const FAULT_CONDITIONS = [
  'unreachable',
  'tokenExpired',
  'deviceDisabled',
  'deviceBlocked',
  'internalError',
  'throttled',
  'drop',
  'latency',
  'stall',
  'throttling',
  'dpsUnauthorized',
  'dpsBlocked',
  'dpsThrottled',
  'dpsInternalError',
  'dpsLatency',
] as const;

/** One condition. */
export type FaultCondition = (typeof FAULT_CONDITIONS)[number];

const DPS_CONDITIONS = new Set<FaultCondition>([
  'dpsUnauthorized',
  'dpsBlocked',
  'dpsThrottled',
  'dpsInternalError',
  'dpsLatency',
]);
/** Conditions asked on each telemetry message rather than at connect. */
const ON_TELEMETRY = new Set<FaultCondition>(['stall', 'throttling']);
/** Conditions under which a live connection could not go on: adding one drops matching connections. */
const DROPS_LIVE = new Set<FaultCondition>([
  'unreachable',
  'tokenExpired',
  'deviceDisabled',
  'deviceBlocked',
  'internalError',
  'drop',
]);

/** The fields of a {@link FaultInput} besides its condition. */
export const FAULT_OPTIONS = [
  'deviceId',
  'hub',
  'attempts',
  'durationSeconds',
  'latencyMs',
  'profile',
  'ratePerSecond',
  'backlogSeconds',
  'answer',
] as const satisfies readonly (keyof FaultInput)[];

/** How an unreachable hub answers: `close` ends each connection at once, `silent` leaves it unanswered. */
export const UNREACHABLE_ANSWERS = ['close', 'silent'] as const;

/** What a fault is added with. */
export interface FaultInput {
  condition: FaultCondition;
  /** Only this device (registration id at DPS); absent: every device. */
  deviceId?: string;
  /** Only connections to this hub (its name); hub conditions only. */
  hub?: string;
  /** Ends after this many matching attempts. */
  attempts?: number;
  /** Ends after this many seconds. */
  durationSeconds?: number;
  /** `latency`/`dpsLatency`: how long the answer waits (ms, default 2,000). */
  latencyMs?: number;
  /** `throttling`: the rate profile (default `iotHubS1`). */
  profile?: ThrottleProfileName;
  /** `throttling`: messages per second over the scope, instead of the profile's. */
  ratePerSecond?: number;
  /** `throttling`: how many seconds of traffic may wait before messages are refused (default 5). */
  backlogSeconds?: number;
  /**
   * `unreachable`: `close` (default) ends each connection without an answer, as a refused or reset
   * connection; `silent` never answers and leaves it open, as a black-holed network path (the device
   * must time out by itself).
   */
  answer?: (typeof UNREACHABLE_ANSWERS)[number];
}

/** A fault as listed. */
export interface Fault extends FaultInput {
  id: string;
  createdAt: string;
  /** When it ends by time (ISO 8601). */
  endsAt?: string;
  /** Attempts it matched (connections or registrations it answered). */
  matched: number;
  /** `throttling`: messages accepted late (shaped) and refused (429002). */
  shaped?: number;
  refused?: number;
  /** The last attempts it matched: who, where, when. */
  lastMatches: { deviceId: string; hub?: string; at: string }[];
  /** Set once it has ended (by attempts, time or clearing). */
  endedAt?: string;
}

/** What the hubs ask before authenticating a connection. */
export interface ConnectionFaults {
  /** Throws the injected error, or waits, when a fault matches; a `drop` match resolves `'drop'`. */
  beforeConnect(hub: string, identity: Identity): Promise<'drop' | undefined>;
  /** Whether any `stall` or `throttling` fault is active (checked on every message, so it must be cheap). */
  readonly stalling: boolean;
  /**
   * Waits before a telemetry message is stored and acknowledged, when a `stall` or `throttling` fault
   * matches; throws `HUB_THROTTLE_BACKLOG_EXCEEDED` when a throttle's backlog is full.
   */
  beforeTelemetry(hub: string, identity: Identity): Promise<void>;
}

/** What DPS asks before a registration. */
export interface RegistrationFaults {
  beforeRegister(registrationId: string): Promise<void>;
}

/** What the injector needs to drop live connections when a fault is added. */
export interface FaultTargets {
  /** Drops the live connections of `deviceId` (every device when absent) on hub `hub` (every hub when absent). */
  dropConnections(scope: { deviceId?: string; hub?: string }, error: HubError): number;
}

const MAX_ENDED = 100;
const LAST_MATCHES = 10;

/** The latency of a `latency`, `stall` or `dpsLatency` fault (default 2 s). */
function latencyOf(fault: Fault): number {
  return fault.latencyMs ?? 2000;
}

/** Whether a fault's scope (its device, its hub) takes in `deviceId` on `hub`. */
function inScope(fault: Fault, deviceId: string, hub: string | undefined): boolean {
  if (fault.hub !== undefined && fault.hub !== hub) return false;
  return fault.deviceId === undefined || fault.deviceId.toLowerCase() === deviceId.toLowerCase();
}

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The error a hub condition answers with. */
function hubErrorOf(fault: FaultInput, identity: Identity, hub: string): HubError | undefined {
  const who = identity.deviceId;
  switch (fault.condition) {
    case 'unreachable':
      return fault.answer === 'silent'
        ? new HubError('HUB_SILENT', `Hub ${hub} is unreachable and answers nothing (injected fault).`)
        : new HubError('HUB_NO_ANSWER', `Hub ${hub} is unreachable (injected fault).`);
    case 'tokenExpired':
      return new HubError('HUB_TOKEN_EXPIRED', `The security token of ${who} has expired (injected fault).`);
    case 'deviceDisabled':
      return new HubError(
        'HUB_DEVICE_DISABLED',
        `Device ${who} is disabled in this hub: it moved to another hub (injected fault).`,
      );
    case 'deviceBlocked':
      return new HubError('HUB_DEVICE_DISABLED', `Device ${who} is blocked by an operator (injected fault).`);
    case 'internalError':
      return new HubError('HUB_INTERNAL', `Internal error (injected fault).`);
    case 'throttled':
      return new HubError('HUB_THROTTLED', `Too many requests; retry later (injected fault).`);
    default:
      return undefined;
  }
}

function dpsErrorOf(condition: FaultCondition, registrationId: string): DpsError | undefined {
  switch (condition) {
    case 'dpsUnauthorized':
      return new DpsError('DPS_UNAUTHORIZED', `The credentials of ${registrationId} are not valid (injected fault).`);
    case 'dpsBlocked':
      return new DpsError(
        'DPS_DEVICE_BLOCKED',
        `${registrationId} is blocked or waiting for approval (injected fault).`,
      );
    case 'dpsThrottled':
      return new DpsError('DPS_THROTTLED', 'Too many registrations; retry later (injected fault).', { retryAfter: 3 });
    case 'dpsInternalError':
      return new DpsError('DPS_INTERNAL', 'Internal error (injected fault).');
    default:
      return undefined;
  }
}

/**
 * The platform's faults.
 *
 * @example
 * const faults = new FaultInjector({ targets });
 * const fault = faults.add({ condition: 'tokenExpired', deviceId: 'thermo-1', attempts: 3 });
 * faults.list(); // [{ id, condition: 'tokenExpired', matched: 0, … }]
 * faults.remove(fault.id);
 */
export class FaultInjector implements ConnectionFaults, RegistrationFaults {
  readonly #faults = new Map<string, Fault>();
  readonly #ended: Fault[] = [];
  readonly #targets: FaultTargets | undefined;
  readonly #now: () => number;
  readonly #throttles = new Map<string, TelemetryThrottle>();

  constructor(options: { targets?: FaultTargets; now?: () => number } = {}) {
    this.#targets = options.targets;
    this.#now = options.now ?? Date.now;
  }

  /** Adds a fault (validated: a `TypeError` names what is wrong). */
  add(input: FaultInput): Fault {
    const fault = validate(input);
    const now = this.#now();
    const added: Fault = {
      ...fault,
      id: randomUUID(),
      createdAt: new Date(now).toISOString(),
      matched: 0,
      lastMatches: [],
    };
    if (fault.durationSeconds !== undefined) {
      added.endsAt = new Date(now + fault.durationSeconds * 1000).toISOString();
    }
    if (fault.condition === 'throttling') {
      added.shaped = 0;
      added.refused = 0;
      const profile = THROTTLE_PROFILES[fault.profile ?? 'iotHubS1'];
      this.#throttles.set(
        added.id,
        new TelemetryThrottle(
          { ...profile, ...(fault.ratePerSecond === undefined ? {} : { ratePerSecond: fault.ratePerSecond }) },
          fault.backlogSeconds === undefined ? {} : { backlogSeconds: fault.backlogSeconds },
        ),
      );
    }
    this.#faults.set(added.id, added);
    if (DROPS_LIVE.has(fault.condition) && this.#targets !== undefined) {
      const error = hubErrorOf(fault, { deviceId: fault.deviceId ?? 'the device' }, fault.hub ?? 'the hub');
      this.#targets.dropConnections(
        {
          ...(fault.deviceId === undefined ? {} : { deviceId: fault.deviceId }),
          ...(fault.hub === undefined ? {} : { hub: fault.hub }),
        },
        error ?? new HubError('HUB_SERVICE_UNAVAILABLE', 'The connection was dropped (injected fault).'),
      );
    }
    return added;
  }

  /** Active faults, then ended ones (newest first). */
  list(): Fault[] {
    this.#expire();
    return [...this.#faults.values(), ...this.#ended];
  }

  /** A fault, active or ended. */
  get(id: string): Fault | undefined {
    this.#expire();
    return this.#faults.get(id) ?? this.#ended.find((f) => f.id === id);
  }

  /** Ends a fault now; false if no active fault has that id. */
  remove(id: string): boolean {
    const fault = this.#faults.get(id);
    if (fault === undefined) return false;
    this.#end(fault);
    return true;
  }

  /** Ends every active fault; answers how many. */
  clear(): number {
    const active = [...this.#faults.values()];
    for (const fault of active) this.#end(fault);
    return active.length;
  }

  async beforeConnect(hub: string, identity: Identity): Promise<'drop' | undefined> {
    const fault = this.#match(
      (f) => !DPS_CONDITIONS.has(f.condition) && !ON_TELEMETRY.has(f.condition),
      identity.deviceId,
      hub,
    );
    if (fault === undefined) return undefined;
    if (fault.condition === 'latency') {
      await wait(latencyOf(fault));
      return undefined;
    }
    if (fault.condition === 'drop') return 'drop';
    throw hubErrorOf(fault, identity, hub);
  }

  get stalling(): boolean {
    if (this.#faults.size === 0) return false;
    for (const fault of this.#faults.values()) if (ON_TELEMETRY.has(fault.condition)) return true;
    return false;
  }

  async beforeTelemetry(hub: string, identity: Identity): Promise<void> {
    let delayMs = 0;
    this.#expire();
    for (const fault of this.#faults.values()) {
      const throttle = this.#throttles.get(fault.id);
      if (throttle === undefined || !inScope(fault, identity.deviceId, hub)) continue;
      // A fault on one hub throttles that hub; one on every hub throttles the application as a whole.
      const verdict = throttle.admit(fault.hub ?? '*', identity.deviceId, this.#now());
      if (verdict.accepted && verdict.delayMs === 0) continue;
      this.#record(fault, identity.deviceId, hub);
      if (!verdict.accepted) {
        fault.refused = (fault.refused ?? 0) + 1;
        throw new HubError(
          'HUB_THROTTLE_BACKLOG_EXCEEDED',
          `Telemetry of ${identity.deviceId} is throttled and the backlog is full (${Math.round(verdict.backlogMs / 1000)} s of traffic waiting); back off (injected fault).`,
        );
      }
      fault.shaped = (fault.shaped ?? 0) + 1;
      delayMs = Math.max(delayMs, verdict.delayMs);
    }
    const stall = this.#match((f) => f.condition === 'stall', identity.deviceId, hub);
    if (stall !== undefined) delayMs = Math.max(delayMs, latencyOf(stall));
    if (delayMs > 0) await wait(delayMs);
  }

  async beforeRegister(registrationId: string): Promise<void> {
    const fault = this.#match((f) => DPS_CONDITIONS.has(f.condition), registrationId, undefined);
    if (fault === undefined) return;
    if (fault.condition === 'dpsLatency') {
      await wait(latencyOf(fault));
      return;
    }
    throw dpsErrorOf(fault.condition, registrationId);
  }

  /** The first active fault for `deviceId` that `applies`, counted as matched. */
  #match(applies: (fault: Fault) => boolean, deviceId: string, hub: string | undefined): Fault | undefined {
    if (this.#faults.size === 0) return undefined;
    this.#expire();
    for (const fault of this.#faults.values()) {
      if (!applies(fault) || !inScope(fault, deviceId, hub)) continue;
      this.#record(fault, deviceId, hub);
      return fault;
    }
    return undefined;
  }

  /** Counts a match (ending the fault after its attempts). */
  #record(fault: Fault, deviceId: string, hub: string | undefined): void {
    fault.matched += 1;
    fault.lastMatches = [
      { deviceId, ...(hub === undefined ? {} : { hub }), at: new Date(this.#now()).toISOString() },
      ...fault.lastMatches,
    ].slice(0, LAST_MATCHES);
    if (fault.attempts !== undefined && fault.matched >= fault.attempts) this.#end(fault);
  }

  #expire(): void {
    const now = this.#now();
    for (const fault of [...this.#faults.values()]) {
      if (fault.endsAt !== undefined && Date.parse(fault.endsAt) <= now) this.#end(fault, fault.endsAt);
    }
  }

  #end(fault: Fault, at = new Date(this.#now()).toISOString()): void {
    this.#faults.delete(fault.id);
    this.#throttles.delete(fault.id);
    fault.endedAt = at;
    this.#ended.unshift(fault);
    this.#ended.length = Math.min(this.#ended.length, MAX_ENDED);
  }
}

/** Checks a fault's input; throws a `TypeError` that says what is wrong. */
function validate(input: unknown): FaultInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TypeError(
      'A fault is a JSON object: {"condition", "deviceId"?, "hub"?, "attempts"?, "durationSeconds"?, "latencyMs"?}.',
    );
  }
  const raw = input as Record<string, unknown>;
  const known = new Set<string>(['condition', ...FAULT_OPTIONS]);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new TypeError(`Unknown fault field ${JSON.stringify(key)}.`);
  }
  const condition = raw['condition'];
  if (typeof condition !== 'string' || !(FAULT_CONDITIONS as readonly string[]).includes(condition)) {
    throw new TypeError(`condition must be one of ${FAULT_CONDITIONS.join(', ')}.`);
  }
  const out: FaultInput = { condition: condition as FaultCondition };
  for (const name of ['deviceId', 'hub'] as const) {
    const value = raw[name];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
      throw new TypeError(`${name} must be a non-empty string of at most 128 characters.`);
    }
    out[name] = value;
  }
  if (out.hub !== undefined && DPS_CONDITIONS.has(out.condition)) {
    throw new TypeError(`${condition} is a DPS condition; it takes no hub.`);
  }
  const positive = (
    name: 'attempts' | 'durationSeconds' | 'latencyMs' | 'ratePerSecond' | 'backlogSeconds',
    integer: boolean,
    max: number,
  ): void => {
    const value = raw[name];
    if (value === undefined) return;
    if (typeof value !== 'number' || !(value > 0) || value > max || (integer && !Number.isInteger(value))) {
      throw new TypeError(`${name} must be a ${integer ? 'whole ' : ''}number above 0 and at most ${max}.`);
    }
    out[name] = value;
  };
  positive('attempts', true, 1_000_000);
  positive('durationSeconds', false, 86_400);
  positive('latencyMs', true, 120_000);
  if (out.latencyMs !== undefined && !['latency', 'dpsLatency', 'stall'].includes(out.condition)) {
    throw new TypeError('latencyMs goes with the latency, dpsLatency and stall conditions only.');
  }
  const profile = raw['profile'];
  if (profile !== undefined) {
    if (typeof profile !== 'string' || !Object.hasOwn(THROTTLE_PROFILES, profile)) {
      throw new TypeError(`profile must be one of ${Object.keys(THROTTLE_PROFILES).join(', ')}.`);
    }
    out.profile = profile as ThrottleProfileName;
  }
  positive('ratePerSecond', false, 100_000);
  positive('backlogSeconds', false, 3_600);
  if (
    (out.profile !== undefined || out.ratePerSecond !== undefined || out.backlogSeconds !== undefined) &&
    out.condition !== 'throttling'
  ) {
    throw new TypeError('profile, ratePerSecond and backlogSeconds go with the throttling condition only.');
  }
  const answer = raw['answer'];
  if (answer !== undefined) {
    if (out.condition !== 'unreachable') throw new TypeError('answer goes with the unreachable condition only.');
    if (typeof answer !== 'string' || !(UNREACHABLE_ANSWERS as readonly string[]).includes(answer)) {
      throw new TypeError(`answer must be one of ${UNREACHABLE_ANSWERS.join(', ')}.`);
    }
    out.answer = answer as (typeof UNREACHABLE_ANSWERS)[number];
  }
  return out;
}
