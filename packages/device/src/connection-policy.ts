/**
 * The connection policy of device-implementation.md's "Handle connection failures", as pure functions:
 * which failures mean "the connection string is no longer valid — reprovision with DPS" and which mean
 * "transient — back off and retry", and the back-off intervals (protocol.md §8: exponential with jitter,
 * the Node SDK's constants, a throttled schedule for 429). No timers and no I/O: the device client asks
 * {@link decide} after each failure and waits what it says.
 */

import type { DeviceError } from './errors.js';

/**
 * One exponential back-off schedule (protocol.md §8.2): the n-th retry waits
 * `min(minMs + (2^(n-1) - 1) · stepMs · jitter, maxMs)` with `jitter` drawn from `[1 - jitterDown, 1 + jitterUp]`.
 *
 * @example
 * ```ts
 * const schedule: BackoffSchedule = { stepMs: 100, minMs: 100, maxMs: 10_000, jitterUp: 0.25, jitterDown: 0.5 };
 * ```
 */
export interface BackoffSchedule {
  stepMs: number;
  minMs: number;
  maxMs: number;
  jitterUp: number;
  jitterDown: number;
}

/**
 * How a device reacts to failures. Every field has the default of {@link DEFAULT_CONNECTION_POLICY}.
 *
 * @example
 * ```ts
 * const policy: ConnectionPolicy = { ...DEFAULT_CONNECTION_POLICY, reprovisionAfterFailures: 5 };
 * ```
 */
export interface ConnectionPolicy {
  /** Retries after 5xx, blocked, unreachable and refused connections. */
  normal: BackoffSchedule;
  /** Retries after throttling (429, DPS `retry-after`). */
  throttled: BackoffSchedule;
  /** The first retry of a streak waits nothing (the Node SDK's `immediateFirstRetry`). */
  immediateFirstRetry: boolean;
  /**
   * Consecutive failed hub connects after which the device goes back to DPS even for failures that do not
   * by themselves mean "reprovision" (Microsoft's reconnection guidance: 10).
   */
  reprovisionAfterFailures: number;
  /**
   * Lost connections are counted over this window (default 10 s): the first is retried at once, each
   * further one waits longer, so a device whose connections keep dropping (another process with the
   * same id, a hub that closes every connection) backs off instead of looping.
   */
  lossWindowMs: number;
}

/**
 * The defaults: the Node SDK's `ExponentialBackOffWithJitter` constants (protocol.md §8.2), with the jitter
 * range the right way round (the SDK's own draws from an empty range and never grows past 100 ms), and
 * reprovisioning after 10 failed reconnects (§8.1).
 *
 * @example
 * ```ts
 * DEFAULT_CONNECTION_POLICY.normal.maxMs; // 10000
 * ```
 */
export const DEFAULT_CONNECTION_POLICY: Readonly<ConnectionPolicy> = Object.freeze({
  normal: Object.freeze({ stepMs: 100, minMs: 100, maxMs: 10_000, jitterUp: 0.25, jitterDown: 0.5 }),
  throttled: Object.freeze({ stepMs: 5_000, minMs: 10_000, maxMs: 60_000, jitterUp: 0.5, jitterDown: 0.25 }),
  immediateFirstRetry: true,
  reprovisionAfterFailures: 10,
  lossWindowMs: 10_000,
});

/**
 * The wait before retry number `retry` (1 = the first retry of a failure streak), in milliseconds.
 *
 * @param random - a number in [0, 1) (default `Math.random()`), for tests.
 * @example
 * ```ts
 * backoffDelay(DEFAULT_CONNECTION_POLICY.normal, 1, 0.5); // 100
 * backoffDelay(DEFAULT_CONNECTION_POLICY.normal, 4, 0.5); // 100 + 7 · 100 · 0.875 = 712.5
 * backoffDelay(DEFAULT_CONNECTION_POLICY.normal, 30, 0.5); // 10000
 * ```
 */
export function backoffDelay(schedule: BackoffSchedule, retry: number, random: number = Math.random()): number {
  const n = Math.max(1, Math.floor(retry));
  const jitter = 1 - schedule.jitterDown + random * (schedule.jitterDown + schedule.jitterUp);
  const grown = schedule.minMs + (2 ** Math.min(n - 1, 30) - 1) * schedule.stepMs * jitter;
  return Math.min(grown, schedule.maxMs);
}

/**
 * What a failure was, as the device client saw it.
 *
 * - `hubConnect`: connecting to the assigned hub failed — `error` carries the CONNACK return code, or
 *   none for an endpoint that did not answer. `freshAssignment`: DPS gave this hub in the same streak.
 * - `hubLost`: a live hub connection ended without the device asking.
 * - `provisioning`: DPS refused or failed.
 *
 * @example
 * ```ts
 * const failure: Failure = { kind: 'hubConnect', error, freshAssignment: false, streak: 1 };
 * ```
 */
export type Failure =
  | { kind: 'hubConnect'; error: DeviceError; freshAssignment: boolean; streak: number }
  | { kind: 'hubLost'; error: DeviceError; streak: number }
  | { kind: 'provisioning'; error: DeviceError; streak: number };

/**
 * What to do next: connect to the same hub again, or go back to DPS, after `delayMs`; or give up with
 * `error` (only configuration mistakes DPS names as such, before the device ever connected).
 *
 * @example
 * ```ts
 * const decision: Decision = { action: 'reprovision', delayMs: 0, reason: 'the hub refused the token' };
 * ```
 */
export type Decision =
  | { action: 'reconnect' | 'reprovision'; delayMs: number; reason: string }
  | { action: 'fail'; error: DeviceError; reason: string };

/** MQTT CONNACK return codes that say the credentials or identity are no longer good (protocol.md §1.2). */
const REFUSED_CREDENTIALS = new Set([2, 4, 5]);

/** Azure's DPS error code for "waiting for approval or blocked" (protocol.md §7.5): back off. */
const DPS_BLOCKED = 400209;

function delay(
  policy: ConnectionPolicy,
  streak: number,
  throttled: boolean,
  random: number,
  retryAfter?: number,
): number {
  const asked = retryAfter === undefined ? 0 : retryAfter * 1000;
  if (streak <= 1 && policy.immediateFirstRetry && !throttled) return asked;
  const retry = policy.immediateFirstRetry && !throttled ? streak - 1 : streak;
  return Math.max(backoffDelay(throttled ? policy.throttled : policy.normal, retry, random), asked);
}

/**
 * Chooses the reaction to a failure (device-implementation.md, "Handle connection failures"):
 *
 * - Reprovision on an unreachable hub endpoint (no answer), a refused or expired token (CONNACK 5, 4, 2)
 *   and a disabled device (CONNACK 3 — over MQTT the hub cannot say more, so DPS decides: a device that
 *   moved gets its new hub, a blocked one is refused by DPS and backs off there).
 * - When DPS has just handed out this same hub and it still refuses, the cause is on the hub (500,
 *   throttling, an operator block): back off and reconnect, going back to DPS after
 *   `reprovisionAfterFailures` consecutive failures.
 * - A lost live connection is retried on the same hub at once; the next refusal decides.
 * - DPS: throttling (429) waits the throttled schedule or its `retry-after`; blocked or waiting for
 *   approval (400209), 5xx and no answer back off; other 4xx back off too once the device has been
 *   connected, and fail the start otherwise (`neverConnected`), since they name a configuration mistake.
 *
 * @param random - a number in [0, 1) (default `Math.random()`), for tests.
 * @example
 * ```ts
 * const error = new DeviceError('DEVICE_CONNECTION_REFUSED', 'Server unavailable', { returnCode: 3 });
 * decide({ kind: 'hubConnect', error, freshAssignment: false, streak: 1 }, DEFAULT_CONNECTION_POLICY, false);
 * // { action: 'reprovision', delayMs: 0, reason: 'the hub refused the connection (CONNACK 3) …' }
 * ```
 */
export function decide(
  failure: Failure,
  policy: ConnectionPolicy,
  neverConnected: boolean,
  random: number = Math.random(),
): Decision {
  const { error, streak } = failure;
  switch (failure.kind) {
    case 'hubLost':
      return { action: 'reconnect', delayMs: delay(policy, streak, false, random), reason: 'the connection was lost' };
    case 'hubConnect': {
      const rc = error.returnCode;
      if (rc === undefined && error.code === 'DEVICE_CONNECTION_REFUSED' && error.status === 403) {
        // Connected, but a subscription was refused: the credentials are good, the hub says no for now.
        return { action: 'reconnect', delayMs: delay(policy, streak, false, random), reason: error.message };
      }
      const what =
        rc === undefined
          ? 'the hub endpoint did not answer'
          : REFUSED_CREDENTIALS.has(rc)
            ? `the hub refused the credentials (CONNACK ${rc})`
            : `the hub refused the connection (CONNACK ${rc})`;
      if (failure.freshAssignment && streak < policy.reprovisionAfterFailures) {
        return {
          action: 'reconnect',
          delayMs: delay(policy, streak, false, random),
          reason: `${what}; DPS assigned this hub`,
        };
      }
      const reason = failure.freshAssignment ? `${what} ${streak} times` : `${what}: reprovisioning`;
      return { action: 'reprovision', delayMs: delay(policy, streak, false, random), reason };
    }
    case 'provisioning': {
      const status = error.status;
      if (status === 429) {
        return {
          action: 'reprovision',
          delayMs: delay(policy, streak, true, random, error.retryAfter),
          reason: 'DPS throttled the registration',
        };
      }
      if (error.errorCode === DPS_BLOCKED) {
        return {
          action: 'reprovision',
          delayMs: delay(policy, streak, false, random, error.retryAfter),
          reason: 'DPS says the device is blocked or waiting for approval',
        };
      }
      if (status !== undefined && status >= 400 && status < 500 && neverConnected) {
        return { action: 'fail', error, reason: `DPS refused the registration (${status})` };
      }
      return {
        action: 'reprovision',
        delayMs: delay(policy, streak, false, random, error.retryAfter),
        reason: status === undefined ? 'DPS did not answer' : `DPS failed the registration (${status})`,
      };
    }
  }
}
