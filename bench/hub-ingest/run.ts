/**
 * `bench/hub-ingest`: acknowledged telemetry over TLS from one load generator into (a) Plugboard with
 * durable SQLite storage and (b) Aedes with in-memory persistence, same machine, same run; with
 * `--transports`, Plugboard also over AMQP and HTTPS, as the official SDK's transports send; then the
 * server memory per idle connected device. Each server and the load generator run in their own process.
 *
 * Usage (the script builds the packages first; the children load their built output):
 *   npm run bench:hub-ingest -- [--devices 1000] [--messages-per-device 50] [--idle 10000]
 *     [--warmup 5] [--window 2] [--paced-rate 2000] [--paced-messages 10000] [--rounds 3]
 *     [--concurrency 100] [--durability normal|full] [--servers aedes,plugboard] [--shapes bare,sdk]
 *     [--transports mqtt,amqp,http] [--baseline DIR] [--cpu-prof DIR]
 *     [--timeout 900] [--out results.json]
 *
 * Per server and round: connect every device, a warm-up, a closed-loop phase (each device keeps `--window`
 * QoS 1 messages unacknowledged: the throughput), then an open-loop phase at `--paced-rate` msgs/s overall
 * (the latency below saturation). Each round runs every message shape (`--shapes`): `bare` messages have
 * no property bag; `sdk` messages carry the bag the official Node SDK sends for a Plug and Play sample
 * (`$.ct`, `$.ce`, `iothub-creation-time-utc` stamped per message), or the same as AMQP message properties
 * and HTTPS headers. Every transport of `--transports` (MQTT always) runs on Plugboard; Aedes only over MQTT.
 * The report gives each transport's msgs/s and latency and its ratio to MQTT on Plugboard in the same round.
 *
 * `--baseline DIR` adds a third server: Plugboard as built in DIR (a checkout of an earlier revision with
 * its own `npm ci` and `npx tsc -b`), run against the same load in the same rounds, so a change is measured
 * as a ratio to what came before it on the same machine at the same time.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  nextMessage,
  type MessageShape,
  type LoadReply,
  type LoadRequest,
  type ServerReady,
  type ServerRequest,
  type ServerStats,
  type Transport,
} from './ipc.js';
import { report, type IdleResult, type IngestResult, type ServerKind } from './report.js';
import { Children, stopChild } from '../common/children.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    'messages-per-device': { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    window: { type: 'string', default: '2' },
    'paced-rate': { type: 'string', default: '2000' },
    'paced-messages': { type: 'string', default: '10000' },
    'cpu-prof': { type: 'string' },
    servers: { type: 'string', default: 'aedes,plugboard' },
    shapes: { type: 'string', default: 'bare,sdk' },
    transports: { type: 'string', default: 'mqtt' },
    baseline: { type: 'string' },
    idle: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '100' },
    durability: { type: 'string', default: 'normal' },
    timeout: { type: 'string', default: '900' },
    out: { type: 'string' },
  },
});

function positiveInt(name: string, raw: string, min = 1): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be an integer >= ${min}`);
  return n;
}

function durability(raw: string): 'normal' | 'full' {
  if (raw !== 'normal' && raw !== 'full') throw new RangeError('--durability is normal or full');
  return raw;
}

const options = {
  devices: positiveInt('devices', values.devices),
  messagesPerDevice: positiveInt('messages-per-device', values['messages-per-device']),
  warmup: positiveInt('warmup', values.warmup, 0),
  window: positiveInt('window', values.window),
  pacedRate: positiveInt('paced-rate', values['paced-rate'], 0),
  pacedMessages: positiveInt('paced-messages', values['paced-messages']),
  idle: positiveInt('idle', values.idle, 0),
  rounds: positiveInt('rounds', values.rounds),
  concurrency: positiveInt('concurrency', values.concurrency),
  durability: durability(values.durability),
  timeoutSeconds: positiveInt('timeout', values.timeout),
};
/** Long enough that no PINGREQ falls inside a run; the servers still arm their keep-alive timers. */
const KEEPALIVE_SECONDS = 300;
const STEP_TIMEOUT_MS = options.timeoutSeconds * 1000;

const servers = values.servers
  .split(',')
  .filter((s): s is ServerKind => s === 'plugboard' || s === 'aedes')
  .concat(values.baseline === undefined ? [] : ['baseline']);
if (servers.length === 0) throw new RangeError('--servers is a comma-separated list of aedes and plugboard');
const shapes = values.shapes.split(',').filter((s): s is MessageShape => s === 'bare' || s === 'sdk');
if (shapes.length === 0) throw new RangeError('--shapes is a comma-separated list of bare and sdk');
const transports = values.transports
  .split(',')
  .filter((t): t is Transport => t === 'mqtt' || t === 'amqp' || t === 'http');
if (transports.length === 0) throw new RangeError('--transports is a comma-separated list of mqtt, amqp and http');
// The other transports are compared with MQTT on Plugboard, so MQTT always runs.
if (!transports.includes('mqtt')) transports.unshift('mqtt');

// ------------------------------------------------------------------------------------------ children

const children = new Children(import.meta.url);
// The children load the packages' built output (dist), as `npm start` runs them; tsx only loads the
// benchmark's own TypeScript files.
const CHILD_EXEC_ARGV = ['--import', 'tsx', '--expose-gc', '--max-old-space-size=4096'];

function start(file: string, args: string[], profile = false): ChildProcess {
  const cpuProf = values['cpu-prof'];
  const execArgv =
    profile && cpuProf !== undefined
      ? [...CHILD_EXEC_ARGV, '--cpu-prof', `--cpu-prof-dir=${cpuProf}`]
      : CHILD_EXEC_ARGV;
  return children.start(file, args, execArgv);
}

const killAll = (): void => children.killAll();

const stop = (child: ChildProcess, goodbye: ServerRequest | LoadRequest): Promise<void> => stopChild(child, goodbye);

let statsId = 0;
async function stats(server: ChildProcess): Promise<ServerStats> {
  const id = ++statsId;
  const reply = nextMessage<ServerStats>(server, 'stats', STEP_TIMEOUT_MS);
  server.send({ type: 'stats', id } satisfies ServerRequest);
  return reply;
}

async function load<T extends LoadReply>(generator: ChildProcess, request: LoadRequest, reply: T['type']): Promise<T> {
  const answer = nextMessage<T>(generator, reply, STEP_TIMEOUT_MS);
  generator.send(request);
  return answer;
}

let tmp = '';
async function startServer(kind: ServerKind, devices: number): Promise<{ child: ChildProcess; ready: ServerReady }> {
  const dataDir = mkdtempSync(join(tmp, `${kind}-`));
  const args = ['--devices', String(devices), '--data-dir', dataDir];
  const plugboardArgs = ['--durability', options.durability];
  const child =
    kind === 'plugboard'
      ? start('./plugboard-server.ts', [...args, '--loopback-prefix', '127.77.1', ...plugboardArgs], true)
      : kind === 'baseline'
        ? start(
            pathToFileURL(join(resolve(values.baseline ?? '.'), 'bench/hub-ingest/plugboard-server.ts')).href,
            [...args, '--loopback-prefix', '127.77.3', ...plugboardArgs],
            true,
          )
        : start('./aedes-server.ts', [...args, '--address', '127.77.2.2'], true);
  const ready = await nextMessage<ServerReady>(child, 'ready', STEP_TIMEOUT_MS);
  return { child, ready };
}

function log(message: string): void {
  process.stderr.write(`[hub-ingest] ${message}\n`);
}

// ------------------------------------------------------------------------------------------ phases

async function ingest(
  kind: ServerKind,
  transport: Transport,
  shape: MessageShape,
  round: number,
): Promise<IngestResult> {
  log(`round ${round}: ${kind} over ${transport}, ${shape} messages: starting, ${options.devices} devices`);
  const loadAverageAtStart = loadavg()[0] ?? NaN;
  const { child: server, ready } = await startServer(kind, options.devices);
  const generator = start('./load.ts', []);
  try {
    const connected = await load<Extract<LoadReply, { type: 'connected' }>>(
      generator,
      {
        type: 'connect',
        target: ready.target,
        devices: ready.devices,
        concurrency: options.concurrency,
        keepaliveSeconds: KEEPALIVE_SECONDS,
        shape,
        transport,
      },
      'connected',
    );
    log(`${kind}: ${connected.connections} connected in ${(connected.elapsedMs / 1000).toFixed(1)} s; warm-up`);
    let warmAcked = 0;
    if (options.warmup > 0) {
      const warm = await load<Extract<LoadReply, { type: 'warmed-up' }>>(
        generator,
        { type: 'warmup', messagesPerDevice: options.warmup, window: options.window },
        'warmed-up',
      );
      warmAcked = warm.acked;
    }
    const before = await stats(server);
    const result = await load<Extract<LoadReply, { type: 'published' }>>(
      generator,
      { type: 'publish', messagesPerDevice: options.messagesPerDevice, window: options.window },
      'published',
    );
    const after = await stats(server);
    log(`${kind}: ${result.messages} messages, ${result.msgsPerSecond.toFixed(0)} msgs/s`);
    let paced: IngestResult['paced'];
    if (options.pacedRate > 0) {
      const p = await load<Extract<LoadReply, { type: 'paced' }>>(
        generator,
        { type: 'paced', messages: options.pacedMessages, rate: options.pacedRate },
        'paced',
      );
      paced = {
        msgsPerSecond: p.msgsPerSecond,
        latencyMs: p.latencyMs,
        serverEventLoopDelayMs: { p50: NaN, p99: NaN, max: NaN },
      };
      log(`${kind}: paced ${p.msgsPerSecond.toFixed(0)} msgs/s, p50 ${p.latencyMs.p50.toFixed(2)} ms`);
    }
    const stored = await stats(server);
    if (paced !== undefined) paced.serverEventLoopDelayMs = stored.eventLoopDelayMs;
    await load(generator, { type: 'disconnect' }, 'disconnected');
    const out: IngestResult = {
      server: kind,
      transport,
      shape,
      round,
      connections: connected.connections,
      connectSeconds: connected.elapsedMs / 1000,
      messages: result.messages,
      seconds: result.elapsedMs / 1000,
      msgsPerSecond: result.msgsPerSecond,
      latencyMs: result.latencyMs,
      serverCpuMicrosPerMessage: (after.cpuMicros - before.cpuMicros) / result.messages,
      loadCpuMicrosPerMessage: result.cpuMicros / result.messages,
      serverRssAfter: after.memory.rss,
      serverEventLoopDelayMs: after.eventLoopDelayMs,
      loadAverageAtStart,
    };
    if (paced !== undefined) out.paced = paced;
    if (stored.storedMessages !== undefined) {
      out.stored = {
        rows: stored.storedMessages,
        acked: warmAcked + result.messages + (paced === undefined ? 0 : options.pacedMessages),
      };
    }
    return out;
  } finally {
    await stop(generator, { type: 'exit' });
    await stop(server, { type: 'close' });
  }
}

async function idle(kind: ServerKind): Promise<IdleResult> {
  const n = options.idle;
  log(`idle: ${kind}: starting, ${n} devices`);
  const { child: server, ready } = await startServer(kind, n);
  const generator = start('./load.ts', []);
  try {
    const before = await stats(server);
    const opened = await load<Extract<LoadReply, { type: 'idle-opened' }>>(
      generator,
      {
        type: 'idle-open',
        target: ready.target,
        devices: ready.devices,
        concurrency: options.concurrency,
        keepaliveSeconds: KEEPALIVE_SECONDS,
      },
      'idle-opened',
    );
    // Settled when the server itself counts every connection as established.
    const deadline = Date.now() + 60_000;
    let after = await stats(server);
    while (after.connections < n) {
      if (Date.now() > deadline) throw new Error(`${kind} reports ${after.connections} of ${n} connections`);
      await new Promise((resolve) => setTimeout(resolve, 250));
      after = await stats(server);
    }
    log(`idle: ${kind}: ${after.connections} connected in ${(opened.elapsedMs / 1000).toFixed(1)} s`);
    await load(generator, { type: 'idle-close' }, 'idle-closed');
    const result: IdleResult = {
      server: kind,
      connections: n,
      connectSeconds: opened.elapsedMs / 1000,
      before: before.memory,
      after: after.memory,
      rssPerConnection: (after.memory.rss - before.memory.rss) / n,
      heapPerConnection: (after.memory.heapUsed - before.memory.heapUsed) / n,
      externalPerConnection: (after.memory.external - before.memory.external) / n,
    };
    if (ready.memoryBeforeIdentities !== undefined) {
      result.rssPerRegisteredIdentity = (before.memory.rss - ready.memoryBeforeIdentities.rss) / n;
    }
    return result;
  } finally {
    await stop(generator, { type: 'exit' });
    await stop(server, { type: 'close' });
  }
}

// ------------------------------------------------------------------------------------------ main

const timer = children.guard(STEP_TIMEOUT_MS, () =>
  log(`global timeout of ${options.timeoutSeconds} s reached; stopping`),
);

tmp = mkdtempSync(join(tmpdir(), 'plugboard-bench-'));
try {
  const ingestResults: IngestResult[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    // Alternate who goes first, so neither always gets the cooler machine.
    const order = round % 2 === 1 ? servers : [...servers].reverse();
    for (const shape of shapes) {
      for (const transport of transports) {
        // Aedes is the MQTT reference only.
        const kinds = transport === 'mqtt' ? order : order.filter((k) => k !== 'aedes');
        for (const kind of kinds) ingestResults.push(await ingest(kind, transport, shape, round));
      }
    }
  }
  const idleResults: IdleResult[] = [];
  if (options.idle > 0) {
    for (const kind of ['plugboard', 'aedes'] as const) if (servers.includes(kind)) idleResults.push(await idle(kind));
  }
  report(ingestResults, idleResults, {
    options,
    shapes,
    transports,
    baseline: values.baseline,
    keepaliveSeconds: KEEPALIVE_SECONDS,
    out: values.out,
  });
} catch (error) {
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  killAll();
  rmSync(tmp, { recursive: true, force: true });
}
