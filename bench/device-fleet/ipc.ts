/**
 * Messages between the orchestrator (`run.ts`), the Plugboard platform (`server.ts`) and the device fleet
 * (`fleet.ts`, one process per SDK kind and fleet size), and the small helpers they share. Children are
 * started with `fork`, so messages travel over the IPC channel as JSON.
 */

/** The device SDKs compared: `@plugboard/device` and the official `azure-iot-device` + `azure-iot-device-mqtt`. */
export const SDK_KINDS = ['plugboard', 'official'] as const;
export type SdkKind = (typeof SDK_KINDS)[number];

/** The model id every device announces (the Plug and Play Thermostat sample's). */
export const MODEL_ID = 'dtmi:com:example:Thermostat;1';

/** Where the hub listens and how a device trusts it. */
export interface HubTarget {
  /** The hub's host name: its loopback address (SAS audience, TLS server name, TCP host). */
  hostName: string;
  mqttPort: number;
  /** PEM of the platform CA that issued the hub's certificate. */
  ca: string;
}

/** One hub identity: its device id and primary symmetric key. */
export interface DeviceKey {
  deviceId: string;
  symmetricKey: string;
}

/** A `process.memoryUsage()` sample taken after forced collections. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** Server → orchestrator, once: the hub and the identities of each SDK kind (a warm-up device first). */
export interface ServerReady {
  type: 'ready';
  target: HubTarget;
  devices: Record<SdkKind, DeviceKey[]>;
  /** How long registering every identity took (untimed set-up). */
  identitySeconds: number;
}

/** Orchestrator → server. */
export type ServerRequest = { type: 'stats' } | { type: 'close' };

/** Server → orchestrator, answering `stats`. */
export interface ServerStats {
  type: 'stats';
  /** Connections the hub counts as established. */
  connections: number;
  /** `process.cpuUsage()` user + system since the process started, microseconds. */
  cpuMicros: number;
  memory: MemorySample;
}

/** What the fleet does, sent with `connect`. */
export interface FleetPlan {
  target: HubTarget;
  /** Connected (and sent one message) before the baseline, so loaded code is not counted per device. */
  warmup: DeviceKey;
  devices: DeviceKey[];
  /** Connects in flight at once. */
  concurrency: number;
  keepaliveSeconds: number;
  /** The connect phase stops starting new devices after this and measures the ones connected. */
  connectTimeoutMs: number;
  /**
   * How a plugboard device trusts the platform CA: `option` passes it as `ca` (what a user of a local
   * platform does); `env` passes nothing, the fleet process trusting it through NODE_EXTRA_CA_CERTS.
   */
  plugboardCa: PlugboardCa;
  /** With `--heap-snapshot DIR`: V8 heap snapshots at the baseline and once connected, for DevTools' Comparison view. */
  heapSnapshotPrefix?: string;
}

/** See {@link FleetPlan.plugboardCa}. */
export type PlugboardCa = 'option' | 'env';

/** Orchestrator → fleet. */
export type FleetRequest =
  | { type: 'connect'; plan: FleetPlan }
  | { type: 'measure'; settleSeconds: number; idleSeconds: number; messages: number }
  | { type: 'close' }
  | { type: 'exit' };

/** How the connect phase went. */
export interface ConnectResult {
  type: 'connected';
  requested: number;
  connected: number;
  /** Opens that failed for good (official: `open()` or `getTwin()` rejected). */
  failed: number;
  /** Retries the SDK made by itself (plugboard: `backingOff` transitions during the connect phase). */
  retries: number;
  /** Whether the connect deadline cut the phase short. */
  timedOut: boolean;
  elapsedMs: number;
  errorSamples: string[];
  /** Before any client of the fleet (after the warm-up device). */
  baseline: MemorySample;
}

/** How the measurement went. */
export interface MeasureResult {
  type: 'measured';
  /** After the connect phase, forced GC and `settleSeconds`. */
  connectedMemory: MemorySample;
  /** Over the idle window: keep-alive and timers only. */
  idle: { seconds: number; cpuMicros: number };
  /** Over the send window (same length as the idle one): each device sends `messages` messages. */
  send?: { seconds: number; cpuMicros: number; sent: number; acked: number; failed: number };
  /** After the send window, forced GC. */
  afterSendMemory?: MemorySample;
  /** Devices that lost their connection during the windows. */
  drops: number;
  /** `process.resourceUsage().maxRSS`, bytes. */
  maxRss: number;
}

/** Fleet → orchestrator. */
export type FleetReply =
  | { type: 'progress'; connected: number; failed: number }
  | ConnectResult
  | MeasureResult
  | { type: 'closed'; elapsedMs: number }
  | { type: 'failed'; message: string };

/** Device ids `pb-00001`, `az-00001`, …: one set per kind (the hub allows one connection per id), same lengths. */
export function deviceIdsOf(kind: SdkKind, count: number): string[] {
  const prefix = kind === 'plugboard' ? 'pb' : 'az';
  return [
    `${prefix}-warmup`,
    ...Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(5, '0')}`),
  ];
}

/** Sends one message to the parent; throws when there is no IPC channel (not started by `run.ts`). */
export function toParent(message: ServerReady | ServerStats | FleetReply): void {
  if (process.send === undefined) throw new Error('start this file through bench/device-fleet/run.ts');
  process.send(message);
}

/** A memory sample after forced collections (children run with `--expose-gc`). */
export function sampleMemory(): MemorySample {
  if (globalThis.gc !== undefined) {
    globalThis.gc();
    globalThis.gc();
  }
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, heapTotal, external, arrayBuffers };
}

/** User + system CPU of this process so far, microseconds. */
export function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
