/**
 * `bench/dps-register` (a benchmark, not a test): DPS registrations per second for 2,000 devices over
 * HTTPS and 2,000 over MQTT against one Plugboard platform (DPS + 2 hubs, SQLite), on this machine. The goal
 * is at least 1,000 registrations/s (Azure DPS allows 1,000 per minute per scope). The server and the load
 * generator each run in their own process; everything is on loopback (127.78.1.x).
 *
 * Usage (the script builds the packages first; the children load their built output):
 *   npm run bench:dps-register -- [--devices 2000] [--concurrency 64] [--transports https,mqtt]
 *     [--request-timeout 30] [--timeout 180] [--cpu-prof DIR] [--out results.json]
 *
 * A registration counts when its `assigned` operation status has arrived: register → 202 assigning → one
 * status poll (sent at once; a real SDK would wait retry-after, 1 s) → 200 assigned. Afterwards the server
 * is asked how many registrations DPS holds and how they are split over the hubs. `--cpu-prof DIR` writes
 * a V8 CPU profile of the server per batch (`server-{transport}-{pid}.cpuprofile`; open it in Chrome DevTools).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  TRANSPORTS,
  nextMessage,
  usageBetween,
  type DpsTarget,
  type LoadReply,
  type LoadRequest,
  type ServerProfiling,
  type ServerReady,
  type ServerRequest,
  type ServerStats,
  type ServerVerdict,
  type Transport,
} from './ipc.js';
import { Children, stopChild } from '../common/children.js';
import { machine } from '../common/machine.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '64' },
    transports: { type: 'string', default: TRANSPORTS.join(',') },
    'request-timeout': { type: 'string', default: '30' },
    timeout: { type: 'string', default: '180' },
    'cpu-prof': { type: 'string' },
    out: { type: 'string' },
  },
});

function positiveInt(name: string, raw: string, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new RangeError(`--${name} must be an integer from 1 to ${max}`);
  return n;
}

const options = {
  devices: positiveInt('devices', values.devices, 100_000),
  concurrency: positiveInt('concurrency', values.concurrency, 1000),
  requestTimeoutSeconds: positiveInt('request-timeout', values['request-timeout'], 300),
  timeoutSeconds: positiveInt('timeout', values.timeout, 3600),
};
const transports = values.transports.split(',').map((t) => {
  if (!(TRANSPORTS as readonly string[]).includes(t)) throw new RangeError(`--transports: unknown transport ${t}`);
  return t as Transport;
});
const STEP_TIMEOUT_MS = options.timeoutSeconds * 1000;

// ------------------------------------------------------------------------------------------ children

const children = new Children(import.meta.url);
// The children load the packages' built output (dist), as `npm start` runs them; tsx only loads the
// benchmark's own TypeScript files.
const CHILD_EXEC_ARGV = ['--import', 'tsx'];

const profileDir = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']);

const start = (file: string, args: string[]): ChildProcess => children.start(file, args, CHILD_EXEC_ARGV);
const killAll = (): void => children.killAll();

const stop = (child: ChildProcess, goodbye: ServerRequest | LoadRequest): Promise<void> => stopChild(child, goodbye);

function ask<T extends { type: string }>(child: ChildProcess, request: ServerRequest | LoadRequest, reply: T['type']) {
  const answer = nextMessage<T>(child, reply, STEP_TIMEOUT_MS);
  child.send(request);
  return answer;
}

function log(message: string): void {
  process.stderr.write(`[dps-register] ${message}\n`);
}

// ------------------------------------------------------------------------------------------ phases

type Ran = Extract<LoadReply, { type: 'ran' }>;

interface BatchResult {
  transport: Transport;
  devices: number;
  assigned: number;
  errors: number;
  errorSamples: string[];
  seconds: number;
  registrationsPerSecond: number;
  latencyMs: Ran['latencyMs'];
  /**
   * Cores busy (1 = one core), event-loop utilisation and CPU per registration over the batch. CPU per
   * registration is the figure least disturbed by other work on the machine: 1,000 / `cpuMsPerRegistration`
   * is what one core could do.
   */
  server: { cores: number; loop: number; cpuMsPerRegistration: number; rssMiB: number };
  load: { cores: number; loop: number; cpuMsPerRegistration: number };
  /** Untimed: key derivation and token minting for every device. */
  prepareSeconds: number;
  loadAverageAtStart: number;
}

async function batch(server: ChildProcess, generator: ChildProcess, target: DpsTarget, transport: Transport) {
  const prepared = await ask<Extract<LoadReply, { type: 'prepared' }>>(
    generator,
    { type: 'prepare', target, transport, devices: options.devices },
    'prepared',
  );
  const loadAverageAtStart = loadavg()[0] ?? NaN;
  log(`${transport}: ${options.devices} devices, ${options.concurrency} in flight`);
  if (profileDir !== undefined) await ask<ServerProfiling>(server, { type: 'profile-start' }, 'profiling');
  const before = await ask<ServerStats>(server, { type: 'stats' }, 'stats');
  const ran = await ask<Ran>(
    generator,
    { type: 'run', concurrency: options.concurrency, requestTimeoutMs: options.requestTimeoutSeconds * 1000 },
    'ran',
  );
  const after = await ask<ServerStats>(server, { type: 'stats' }, 'stats');
  if (profileDir !== undefined) {
    const path = join(profileDir, `server-${transport}-${process.pid}.cpuprofile`);
    await ask<ServerProfiling>(server, { type: 'profile-stop', path }, 'profiling');
    log(`${transport}: server profile ${path}`);
  }
  const seconds = ran.elapsedMs / 1000;
  const serverUse = usageBetween(before, after, ran.devices);
  const loadUse = usageBetween(ran.loadBefore, ran.load, ran.devices);
  const result: BatchResult = {
    transport,
    devices: ran.devices,
    assigned: ran.assigned,
    errors: ran.errors,
    errorSamples: ran.errorSamples,
    seconds,
    registrationsPerSecond: ran.assigned / seconds,
    latencyMs: ran.latencyMs,
    server: {
      cores: serverUse.cores,
      loop: serverUse.loop,
      cpuMsPerRegistration: serverUse.cpuMsEach,
      rssMiB: after.rss / 2 ** 20,
    },
    load: { cores: loadUse.cores, loop: loadUse.loop, cpuMsPerRegistration: loadUse.cpuMsEach },
    prepareSeconds: prepared.elapsedMs / 1000,
    loadAverageAtStart,
  };
  log(`${transport}: ${ran.assigned} assigned, ${ran.errors} errors, ${result.registrationsPerSecond.toFixed(0)}/s`);
  for (const sample of ran.errorSamples) log(`${transport}: error: ${sample}`);
  return result;
}

/** Bare TLS handshakes with DPS's MQTT listener, measured like a batch: what one handshake per device costs. */
interface HandshakeResult {
  count: number;
  errors: number;
  perSecond: number;
  server: { cores: number; cpuMsPerHandshake: number };
  load: { cores: number; cpuMsPerHandshake: number };
}

async function tlsBaseline(server: ChildProcess, generator: ChildProcess, target: DpsTarget): Promise<HandshakeResult> {
  log(`tls: ${options.devices} bare handshakes with the MQTT listener, ${options.concurrency} at a time`);
  const before = await ask<ServerStats>(server, { type: 'stats' }, 'stats');
  const done = await ask<Extract<LoadReply, { type: 'handshaken' }>>(
    generator,
    { type: 'handshakes', target, count: options.devices, concurrency: options.concurrency },
    'handshaken',
  );
  const after = await ask<ServerStats>(server, { type: 'stats' }, 'stats');
  const serverUse = usageBetween(before, after, done.count);
  const loadUse = usageBetween(done.loadBefore, done.load, done.count);
  const result: HandshakeResult = {
    count: done.count,
    errors: done.errors,
    perSecond: done.count / (done.elapsedMs / 1000),
    server: { cores: serverUse.cores, cpuMsPerHandshake: serverUse.cpuMsEach },
    load: { cores: loadUse.cores, cpuMsPerHandshake: loadUse.cpuMsEach },
  };
  log(`tls: ${result.perSecond.toFixed(0)} handshakes/s, ${done.errors} errors`);
  return result;
}

// ------------------------------------------------------------------------------------------ report

interface Checks {
  registrationsExpected: number;
  registrationsFound: number;
  allAssigned: boolean;
  noErrors: boolean;
  /** Every hub within max(1, 1 %) of an even share, and its identities match its registrations. */
  balanced: boolean;
  goalMet: boolean;
}

function check(results: BatchResult[], verdict: ServerVerdict): Checks {
  const expected = options.devices * results.length;
  const totals = Object.values(verdict.hubs).map((h) => Object.values(h.registrations).reduce((a, b) => a + b, 0));
  const spread = Math.max(...totals) - Math.min(...totals);
  const identitiesMatch = Object.values(verdict.hubs).every(
    (h) => h.identities === Object.values(h.registrations).reduce((a, b) => a + b, 0),
  );
  return {
    registrationsExpected: expected,
    registrationsFound: verdict.registrations,
    allAssigned: verdict.assigned === verdict.registrations,
    noErrors: results.every((r) => r.errors === 0 && r.assigned === r.devices),
    balanced: identitiesMatch && spread <= Math.max(1, expected * 0.01),
    goalMet: results.every((r) => r.registrationsPerSecond >= 1000),
  };
}

function report(
  results: BatchResult[],
  verdict: ServerVerdict,
  checks: Checks,
  baseline: HandshakeResult | undefined,
): void {
  const m = machine();
  const lines: string[] = [];
  lines.push(
    `Machine: ${m.cpu} x ${m.cpus}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}; code ${m.revision}`,
    `DPS registration: ${options.devices} devices per transport, ${options.concurrency} in flight, ` +
      `group-key (symmetric) attestation, 2 hubs, SQLite durability normal; no retry-after wait before the poll`,
    '',
    '| transport | devices | errors | wall s | registrations/s | p50 ms | p99 ms | server CPU cores | server loop util | server CPU ms/reg | load CPU ms/reg | load avg at start |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of results) {
    lines.push(
      `| ${r.transport} | ${r.devices} | ${r.errors} | ${r.seconds.toFixed(2)} | ` +
        `${r.registrationsPerSecond.toFixed(0)} | ${r.latencyMs.p50.toFixed(1)} | ${r.latencyMs.p99.toFixed(1)} | ` +
        `${r.server.cores.toFixed(2)} | ${(r.server.loop * 100).toFixed(0)} % | ${r.server.cpuMsPerRegistration.toFixed(2)} | ` +
        `${r.load.cpuMsPerRegistration.toFixed(2)} | ${r.loadAverageAtStart.toFixed(2)} |`,
    );
  }
  const split = Object.entries(verdict.hubs)
    .map(([hub, h]) => `${hub}: ${JSON.stringify(h.registrations)} (${h.identities} identities)`)
    .join('; ');
  lines.push(
    '',
    `Server check: ${checks.registrationsFound} registrations (expected ${checks.registrationsExpected}), ` +
      `all assigned: ${checks.allAssigned ? 'yes' : 'NO'}; split ${split}; balanced: ${checks.balanced ? 'yes' : 'NO'}`,
    `Goal >= 1,000 registrations/s on every transport: ${checks.goalMet ? 'met' : 'NOT met'}`,
  );
  if (baseline !== undefined) {
    lines.push(
      `Ceiling of one TLS handshake per device on this machine: ${baseline.count} bare handshakes with the same ` +
        `MQTT listener (nothing sent) ran at ${baseline.perSecond.toFixed(0)}/s, ${baseline.errors} errors; ` +
        `server CPU ${baseline.server.cpuMsPerHandshake.toFixed(2)} ms, load generator ` +
        `${baseline.load.cpuMsPerHandshake.toFixed(2)} ms per handshake`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
  const json = { machine: m, options: { ...options, transports }, checks, results, verdict, tlsBaseline: baseline };
  process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify(json, null, 2)}\n`);
}

// ------------------------------------------------------------------------------------------ main

const timer = children.guard(STEP_TIMEOUT_MS, () =>
  log(`global timeout of ${options.timeoutSeconds} s reached; stopping`),
);

const tmp = mkdtempSync(join(tmpdir(), 'plugboard-bench-dps-'));
let server: ChildProcess | undefined;
let generator: ChildProcess | undefined;
try {
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  server = start('./server.ts', ['--data-dir', tmp]);
  const ready = await nextMessage<ServerReady>(server, 'ready', STEP_TIMEOUT_MS);
  generator = start('./load.ts', []);
  const results: BatchResult[] = [];
  for (const transport of transports) results.push(await batch(server, generator, ready.target, transport));
  // Over MQTT every registration pays a full TLS handshake: measure what bare handshakes alone reach.
  const baseline = transports.includes('mqtt') ? await tlsBaseline(server, generator, ready.target) : undefined;
  const verdict = await ask<ServerVerdict>(server, { type: 'verify' }, 'verdict');
  const checks = check(results, verdict);
  report(results, verdict, checks, baseline);
  const valid =
    checks.noErrors &&
    checks.allAssigned &&
    checks.balanced &&
    checks.registrationsFound === checks.registrationsExpected;
  if (!valid) {
    log('the run is not valid: see the checks above');
    process.exitCode = 1;
  }
} catch (error) {
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  if (generator !== undefined) await stop(generator, { type: 'exit' });
  if (server !== undefined) await stop(server, { type: 'close' });
  killAll();
  rmSync(tmp, { recursive: true, force: true });
}
