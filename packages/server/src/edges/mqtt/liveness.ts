/** Deadlines of one MQTT connection (from `ListenerLimits`). */
export interface LivenessLimits {
  /** Milliseconds from the connection to its CONNECT. */
  connectTimeoutMs: number;
  /** Longest silence accepted after CONNECT, whatever the client's keep-alive (IoT Hub: 1,767 s). */
  maxIdleMs: number;
}

/**
 * Closes connections that go quiet: first a deadline for CONNECT, then keep-alive — nothing received for
 * 1.5 × the client's keepalive [MQTT-3.1.2-24], at most `maxIdleMs` (also when keepalive is 0). One timer
 * per connection, re-armed lazily rather than on every packet.
 *
 * @example
 * const liveness = new Liveness((why) => session.close(why), { connectTimeoutMs: 10_000, maxIdleMs: 1_767_000 });
 * liveness.touch();              // on every packet
 * liveness.connected(keepalive); // after CONNACK
 */
export class Liveness {
  readonly #onExpire: (reason: string) => void;
  #lastPacketAt = Date.now();
  readonly #maxIdleMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(onExpire: (reason: string) => void, limits: LivenessLimits) {
    this.#onExpire = onExpire;
    this.#maxIdleMs = limits.maxIdleMs;
    this.#arm(() => this.#onExpire('No CONNECT packet within the connect timeout.'), limits.connectTimeoutMs);
  }

  /** A packet arrived. */
  touch(): void {
    this.#lastPacketAt = Date.now();
  }

  /** CONNACK sent: the connect deadline ends and keep-alive (seconds; 0 = only the idle limit) starts. */
  connected(keepaliveSeconds: number): void {
    this.stop();
    const byClient = keepaliveSeconds > 0 ? keepaliveSeconds * 1500 : Infinity;
    const limit = Math.min(byClient, this.#maxIdleMs);
    const reason =
      byClient <= this.#maxIdleMs
        ? 'Keep-alive expired: nothing received for 1.5 x keepalive.'
        : `Idle limit reached: nothing received for ${Math.round(this.#maxIdleMs / 1000)} s.`;
    const check = (): void => {
      const idle = Date.now() - this.#lastPacketAt;
      if (idle >= limit) this.#onExpire(reason);
      else this.#arm(check, limit - idle);
    };
    this.#arm(check, limit);
  }

  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(fn: () => void, ms: number): void {
    this.#timer = setTimeout(fn, ms);
    this.#timer.unref();
  }
}
