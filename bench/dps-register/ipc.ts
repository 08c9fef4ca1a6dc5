/**
 * Messages between the orchestrator (`run.ts`) and its two child processes (the Plugboard server and the
 * load generator), plus the helpers both sides share. Children are started with `fork`, so messages travel
 * over the IPC channel as JSON.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { LatencySummary } from '../common/latency.js';

/** The two device transports measured. */
export const TRANSPORTS = ['https', 'mqtt'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** What the load generator needs to reach DPS and pass attestation. */
export interface DpsTarget {
  idScope: string;
  /** Loopback address DPS listens on (also its host name here). */
  address: string;
  hostName: string;
  mqttPort: number;
  httpsPort: number;
  /** PEM of the CA that issued the server certificate. */
  caPem: string;
  /** Primary key of the symmetric-key enrollment group (devices derive their keys from it). */
  groupKey: string;
}

/** Server → orchestrator, once. */
export interface ServerReady {
  type: 'ready';
  target: DpsTarget;
}

/** Orchestrator → server. `profile-start`/`profile-stop` bracket one batch when run.ts got `--cpu-prof`. */
export type ServerRequest =
  | { type: 'stats' }
  | { type: 'verify' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; path: string }
  | { type: 'close' };

/** Server → orchestrator, answering `profile-start` and `profile-stop`. */
export interface ServerProfiling {
  type: 'profiling';
  /** Where the `.cpuprofile` was written (after `profile-stop`). */
  path?: string;
}

/** CPU and event-loop use of a process since it started; diff two samples for a phase. */
export interface ProcessSample {
  /** `process.cpuUsage()` user + system, microseconds. */
  cpuMicros: number;
  /** `performance.eventLoopUtilization()` cumulative idle/active, milliseconds. */
  loop: { idle: number; active: number };
  /** Wall clock of the sample, `performance.now()` of that process. */
  at: number;
}

/** Server → orchestrator, answering `stats`. */
export interface ServerStats extends ProcessSample {
  type: 'stats';
  rss: number;
}

/** Server → orchestrator, answering `verify`: what DPS and the hubs hold after the run. */
export interface ServerVerdict {
  type: 'verdict';
  /** `platform.dps.listRegistrations().length`. */
  registrations: number;
  /** Registrations with status `assigned`. */
  assigned: number;
  /** Hub name → registrations per transport prefix (`https`, `mqtt`) and identities in that hub. */
  hubs: Record<string, { registrations: Record<string, number>; identities: number }>;
  /** `platform.dps.stats`. */
  dpsStats: { registrations: number; assigned: number; throttled: number; unauthorized: number };
}

/** Orchestrator → load generator. */
export type LoadRequest =
  | { type: 'prepare'; target: DpsTarget; transport: Transport; devices: number }
  | { type: 'run'; concurrency: number; requestTimeoutMs: number }
  /** Bare TLS handshakes to DPS's MQTT listener (no MQTT): the ceiling of one handshake per registration. */
  | { type: 'handshakes'; target: DpsTarget; count: number; concurrency: number }
  | { type: 'exit' };

export type { LatencySummary };

/** Load generator → orchestrator. */
export type LoadReply =
  | { type: 'prepared'; devices: number; elapsedMs: number }
  | {
      type: 'ran';
      transport: Transport;
      devices: number;
      /** Registrations whose `assigned` status arrived. */
      assigned: number;
      errors: number;
      /** Up to 10 distinct error messages, for the report. */
      errorSamples: string[];
      elapsedMs: number;
      latencyMs: LatencySummary;
      /** Load generator CPU and event loop over the batch. */
      load: ProcessSample;
      loadBefore: ProcessSample;
    }
  | {
      type: 'handshaken';
      count: number;
      errors: number;
      elapsedMs: number;
      load: ProcessSample;
      loadBefore: ProcessSample;
    }
  | { type: 'failed'; message: string };

/** Registration ids of one transport: `https-0` ... `https-1999`, `mqtt-0` ... */
export function registrationIds(transport: Transport, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${transport}-${i}`);
}

/** Sends one message to the parent; throws when there is no IPC channel (not started by `run.ts`). */
export function toParent(message: ServerReady | ServerStats | ServerVerdict | ServerProfiling | LoadReply): void {
  if (process.send === undefined) throw new Error('start this file through bench/dps-register/run.ts');
  process.send(message);
}

/** This process's CPU and event-loop counters now. */
export function sampleProcess(): ProcessSample {
  const { user, system } = process.cpuUsage();
  const elu: EventLoopUtilization = performance.eventLoopUtilization();
  return { cpuMicros: user + system, loop: { idle: elu.idle, active: elu.active }, at: performance.now() };
}

/** CPU cores used (1.0 = one core busy), event-loop utilisation (0..1) and CPU ms per item between two samples. */
export function usageBetween(
  before: ProcessSample,
  after: ProcessSample,
  items: number,
): { cores: number; loop: number; cpuMsEach: number } {
  const wallMs = after.at - before.at;
  const cpuMs = (after.cpuMicros - before.cpuMicros) / 1000;
  const active = after.loop.active - before.loop.active;
  const idle = after.loop.idle - before.loop.idle;
  return {
    cores: wallMs > 0 ? cpuMs / wallMs : NaN,
    loop: active + idle > 0 ? active / (active + idle) : NaN,
    cpuMsEach: items > 0 ? cpuMs / items : NaN,
  };
}

export { nextMessage } from '../common/children.js';
