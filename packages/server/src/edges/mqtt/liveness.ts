/** MQTT 3.1.1 caps the server-side keep-alive at 1.5 x keepalive; IoT Hub caps it at 1,767 s. */
const MAX_IDLE_MS = 1_767_000;

/**
 * Closes connections that go quiet: first a deadline for CONNECT, then keep-alive — nothing received for
 * 1.5 × the client's keepalive [MQTT-3.1.2-24]. One timer per connection, re-armed lazily rather than on
 * every packet.
 *
 * @example
 * const liveness = new Liveness((why) => session.close(why), 10_000);
 * liveness.touch();              // on every packet
 * liveness.connected(keepalive); // after CONNACK
 */
export class Liveness {
  readonly #onExpire: (reason: string) => void;
  #lastPacketAt = Date.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(onExpire: (reason: string) => void, connectTimeoutMs: number) {
    this.#onExpire = onExpire;
    this.#arm(() => this.#onExpire('No CONNECT packet within the connect timeout.'), connectTimeoutMs);
  }

  /** A packet arrived. */
  touch(): void {
    this.#lastPacketAt = Date.now();
  }

  /** CONNACK sent: the connect deadline ends and keep-alive (seconds; 0 = none) starts. */
  connected(keepaliveSeconds: number): void {
    this.stop();
    if (keepaliveSeconds <= 0) return;
    const limit = Math.min(keepaliveSeconds * 1500, MAX_IDLE_MS);
    const check = (): void => {
      const idle = Date.now() - this.#lastPacketAt;
      if (idle >= limit) this.#onExpire('Keep-alive expired: nothing received for 1.5 x keepalive.');
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
