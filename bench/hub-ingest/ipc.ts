/**
 * Messages between the orchestrator (`run.ts`) and its child processes (a server, the load generator), and
 * the small helpers both sides share. Children are started with `fork`, so messages travel over the IPC
 * channel as JSON.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { LatencySummary } from '../common/latency.js';

/** The device protocols the benchmark loads a hub with. */
export type Transport = 'mqtt' | 'amqp' | 'http';

/** Where a server listens and how a client trusts it. */
export interface Target {
  host: string;
  port: number;
  /** PEM of the CA that issued the server certificate. */
  caPath: string;
  /** Plugboard: the hub's host name (SAS audience, AMQP `hostname`, HTTPS `Host`), its AMQP and HTTPS ports. */
  hostName?: string;
  amqpPort?: number;
  httpsPort?: number;
}

/** What one simulated device needs to connect. */
export interface DeviceCredential {
  deviceId: string;
  username: string;
  password: string;
}

/** A `process.memoryUsage()` sample taken after a forced GC. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Server → orchestrator, once. */
export interface ServerReady {
  type: 'ready';
  target: Target;
  devices: DeviceCredential[];
  /** Memory after start, before the identities were registered (Plugboard only). */
  memoryBeforeIdentities?: MemorySample;
  /** With `--central`: where the Central REST API answers, and its admin token. */
  central?: { address: string; hostName: string; port: number; token: string };
}

/** Orchestrator → server. */
export type ServerRequest = { type: 'stats'; id: number } | { type: 'close' };

/** Server → orchestrator, answering `stats`. */
export interface ServerStats {
  type: 'stats';
  id: number;
  memory: MemorySample;
  /** `process.cpuUsage()` user + system, microseconds since the process started. */
  cpuMicros: number;
  connections: number;
  /** Event-loop delay since the previous `stats`, milliseconds: how long the server was stalled. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** Telemetry rows in storage (Plugboard only). */
  storedMessages?: number;
  /** Messages the Central application has judged (Plugboard with `--central` only). */
  projectedMessages?: number;
}

/**
 * How telemetry messages look: `bare` is a topic without a property bag; `sdk` is what the official Node
 * SDK sends for a Plug and Play sample's message (`contentType` application/json, `contentEncoding`
 * utf-8, an `iothub-creation-time-utc` property stamped per message); `pnp` is the same for a Plug and
 * Play component's telemetry (`$.sub=thermostat1`, a `{"temperature": …}` body), as bench/central-ingest
 * sends it.
 */
export type MessageShape = 'bare' | 'sdk' | 'pnp';

/** Orchestrator → load generator. */
export type LoadRequest =
  | {
      type: 'connect';
      target: Target;
      devices: DeviceCredential[];
      concurrency: number;
      keepaliveSeconds: number;
      shape: MessageShape;
      /** The device protocol; MQTT when absent. */
      transport?: Transport;
    }
  | { type: 'warmup'; messagesPerDevice: number; window: number }
  | { type: 'publish'; messagesPerDevice: number; window: number }
  | { type: 'paced'; messages: number; rate: number }
  | { type: 'disconnect' }
  | { type: 'idle-open'; target: Target; devices: DeviceCredential[]; concurrency: number; keepaliveSeconds: number }
  | { type: 'idle-close' }
  | { type: 'exit' };

export type { LatencySummary };

/** Load generator → orchestrator. */
export type LoadReply =
  | { type: 'connected'; connections: number; elapsedMs: number }
  | { type: 'warmed-up'; acked: number }
  | {
      type: 'published';
      messages: number;
      elapsedMs: number;
      msgsPerSecond: number;
      latencyMs: LatencySummary;
      /** Load generator CPU over the publishing phase, microseconds. */
      cpuMicros: number;
    }
  | { type: 'paced'; messages: number; elapsedMs: number; msgsPerSecond: number; latencyMs: LatencySummary }
  | { type: 'disconnected' }
  | { type: 'idle-opened'; connections: number; elapsedMs: number }
  | { type: 'idle-closed' }
  | { type: 'failed'; message: string };

/** Options for the simulated devices' MQTT CONNECT. */
export const API_VERSION = '2021-04-12';

/** `devices/{deviceId}/messages/events/`: the D2C telemetry topic, used against both servers. */
export function telemetryTopic(deviceId: string): string {
  return `devices/${deviceId}/messages/events/`;
}

/**
 * The topic of one message of `shape`: for `sdk`, the property bag azure-iot-device-mqtt encodes for
 * `message.contentType = 'application/json'`, `message.contentEncoding = 'utf-8'` and
 * `message.properties.add('iothub-creation-time-utc', new Date().toISOString())` (protocol.md §1.5: system
 * keys first, percent-encoded).
 */
export function messageTopic(base: string, shape: MessageShape, createdAt: string): string {
  if (shape === 'bare') return base;
  const bag = `${base}%24.ct=application%2Fjson&%24.ce=utf-8&iothub-creation-time-utc=${encodeURIComponent(createdAt)}`;
  return shape === 'pnp' ? `${bag}&%24.sub=thermostat1` : bag;
}

/** Device ids `dev-00001`...: the same ids (and so the same packet sizes) against both servers. */
export function deviceIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `dev-${String(i + 1).padStart(5, '0')}`);
}

/** Sends one message to the parent; throws when there is no IPC channel (not started by `run.ts`). */
export function toParent(message: ServerReady | ServerStats | LoadReply): void {
  if (process.send === undefined) throw new Error('start this file through bench/hub-ingest/run.ts');
  process.send(message);
}

export { nextMessage } from '../common/children.js';

/** A memory sample after two forced collections (children run with `--expose-gc`). */
export function sampleMemory(): MemorySample {
  if (globalThis.gc !== undefined) {
    globalThis.gc();
    globalThis.gc();
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, external, arrayBuffers };
}

/** User + system CPU of this process so far, microseconds. */
export function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

const loopDelay = monitorEventLoopDelay({ resolution: 1 });

/** Starts measuring event-loop delay (servers call it once, at start). */
export function watchEventLoop(): void {
  loopDelay.enable();
}

/** Event-loop delay percentiles since the previous call, milliseconds. */
export function takeEventLoopDelay(): ServerStats['eventLoopDelayMs'] {
  const out = {
    p50: loopDelay.percentile(50) / 1e6,
    p99: loopDelay.percentile(99) / 1e6,
    max: loopDelay.max / 1e6,
  };
  loopDelay.reset();
  return out;
}
