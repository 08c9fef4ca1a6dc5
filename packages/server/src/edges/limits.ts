/**
 * Time limits of every phase of every listener, in one place: what a client that opens a connection and
 * then stalls (never finishes TLS, never sends CONNECT or its HTTP headers, trickles a body, idles) may
 * hold before the platform lets go of the socket. Documented in docs/architecture.md#limits; every limit
 * is configurable through `PlatformOptions.limits`.
 */

/** Milliseconds each phase may last. */
export interface ListenerLimits {
  /** TLS handshake on every port (MQTT 8883, AMQP 5671 and HTTPS 443, hubs and DPS), from the TCP accept. */
  tlsHandshakeMs: number;
  /** From an MQTT connection being established (TLS done, or WebSocket upgraded) to its CONNECT packet. */
  mqttConnectMs: number;
  /**
   * Longest an MQTT connection may stay silent. The client's keep-alive (1.5 × keepalive) applies when
   * shorter; keepalive 0 gets this limit (IoT Hub caps server-side keep-alive at 1,767 s).
   */
  mqttMaxIdleMs: number;
  /** From an AMQP connection being established over TLS to the client's `open` frame (SASL included). */
  amqpOpenMs: number;
  /** From an HTTP request's first byte to the end of its headers. */
  httpHeadersMs: number;
  /** From an HTTP request's first byte to the end of its body. */
  httpRequestMs: number;
  /** An idle keep-alive HTTP connection between requests. */
  httpKeepAliveMs: number;
}

/**
 * The defaults: generous for a slow microcontroller on a cellular link (an ECDHE handshake that takes
 * seconds, a 256 KB body at 50 kbit/s), short enough that stalled sockets do not pile up.
 *
 * @example
 * startPlatform({ dataDir, limits: { ...DEFAULT_LISTENER_LIMITS, tlsHandshakeMs: 5_000 } });
 */
export const DEFAULT_LISTENER_LIMITS: Readonly<ListenerLimits> = Object.freeze({
  tlsHandshakeMs: 30_000,
  mqttConnectMs: 10_000,
  mqttMaxIdleMs: 1_767_000,
  amqpOpenMs: 10_000,
  httpHeadersMs: 20_000,
  httpRequestMs: 60_000,
  httpKeepAliveMs: 30_000,
});

/**
 * The defaults with `overrides` applied; throws a RangeError for a limit that is not a positive integer
 * or for headers allowed longer than the whole request.
 *
 * @example
 * listenerLimits({ tlsHandshakeMs: 500 }); // the defaults, handshakes cut at 0.5 s
 */
export function listenerLimits(overrides: Partial<ListenerLimits> = {}): ListenerLimits {
  const limits: ListenerLimits = { ...DEFAULT_LISTENER_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value <= 0 || value > 2_147_483_647) {
      throw new RangeError(`limits.${name} must be a positive integer of milliseconds (got ${String(value)}).`);
    }
  }
  if (limits.httpHeadersMs > limits.httpRequestMs) {
    throw new RangeError('limits.httpHeadersMs must not exceed limits.httpRequestMs.');
  }
  return limits;
}

/**
 * The TLS 1.2 cipher suites offered: the AEAD ECDHE suites IoT Hub offers (no CBC, SHA-1, CCM-8 or
 * ARIA); TLS 1.3 keeps OpenSSL's three AEAD suites.
 */
export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');
