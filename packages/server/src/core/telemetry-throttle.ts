/**
 * Device-to-cloud throttling as IoT Hub applies it (iot-hub-devguide-quotas-throttling, "traffic
 * shaping"): a burst above the rate is accepted at once, then messages wait in a backlog and are
 * accepted at the rate (latency grows, PUBACKs come later), and once the backlog is full messages are
 * refused with 429002 ThrottleBacklogLimitExceeded. Rates come from named profiles — the IoT Hub tiers
 * (per hub) and IoT Central's quotas (per application, with a per-device rate) — or are given.
 * Virtual scheduling (GCRA): each key keeps the time its next message is due.
 */

/** A throttling profile. */
export interface ThrottleProfile {
  /** Messages per second over the scope (a hub, or every hub). */
  ratePerSecond: number;
  /** Messages per second per device, when the profile limits devices too. */
  perDeviceRatePerSecond?: number;
}

/**
 * Named profiles: IoT Hub D2C send throttles for one unit of each tier (S1 and F1: 100/s; S2: 120/s;
 * S3: 6,000/s) and IoT Central's telemetry quota (200 messages/s per application; a device may send up
 * to 10/s).
 */
export const THROTTLE_PROFILES = {
  iotHubF1: { ratePerSecond: 100 },
  iotHubS1: { ratePerSecond: 100 },
  iotHubS2: { ratePerSecond: 120 },
  iotHubS3: { ratePerSecond: 6000 },
  iotCentral: { ratePerSecond: 200, perDeviceRatePerSecond: 10 },
} as const satisfies Record<string, ThrottleProfile>;

/** A profile's name. */
export type ThrottleProfileName = keyof typeof THROTTLE_PROFILES;

/** What the throttle says about one message. */
export type ThrottleVerdict = { accepted: true; delayMs: number } | { accepted: false; backlogMs: number };

/**
 * One throttle: `burstSeconds` of traffic at the rate pass at once, then up to `backlogSeconds` of
 * waiting, then refusals.
 *
 * @example
 * const throttle = new TelemetryThrottle({ ratePerSecond: 10 }, { burstSeconds: 1, backlogSeconds: 2 });
 * throttle.admit('hub-1', 'dev1', Date.now()); // { accepted: true, delayMs: 0 }, … later delays, then refused
 */
export class TelemetryThrottle {
  readonly #profile: ThrottleProfile;
  readonly #burstMs: number;
  readonly #backlogMs: number;
  /** Key → when its next message is due (epoch ms, virtual). */
  readonly #due = new Map<string, number>();

  constructor(profile: ThrottleProfile, options: { burstSeconds?: number; backlogSeconds?: number } = {}) {
    this.#profile = profile;
    this.#burstMs = (options.burstSeconds ?? 1) * 1000;
    this.#backlogMs = (options.backlogSeconds ?? 5) * 1000;
  }

  /** Judges one message of `deviceId` in `scope` arriving at `now`; an accepted one is counted. */
  admit(scope: string, deviceId: string, now: number): ThrottleVerdict {
    const limits: [string, number][] = [[`scope:${scope}`, this.#profile.ratePerSecond]];
    const perDevice = this.#profile.perDeviceRatePerSecond;
    if (perDevice !== undefined) limits.push([`device:${deviceId.toLowerCase()}`, perDevice]);
    let delayMs = 0;
    for (const [key, rate] of limits) {
      const due = Math.max(this.#due.get(key) ?? now, now);
      // Within the burst tolerance a message passes at once; beyond it, it waits until its turn.
      delayMs = Math.max(delayMs, due - now - this.#burstMs + 1000 / rate);
    }
    delayMs = Math.max(0, delayMs);
    if (delayMs > this.#backlogMs) return { accepted: false, backlogMs: delayMs };
    for (const [key, rate] of limits) {
      this.#due.set(key, Math.max(this.#due.get(key) ?? now, now) + 1000 / rate);
    }
    if (this.#due.size > 100_000) this.#due.clear();
    return { accepted: true, delayMs: Math.round(delayMs) };
  }
}
