/**
 * `bench/central-ingest`: Plug and Play component telemetry (QoS 1 over TLS, the property bag the
 * official Node SDK sends, `$.sub=thermostat1`) from the load generator of bench/hub-ingest into
 * (a) a plain Plugboard hub and (b) the same hub whose devices are Central application devices with a
 * template, so every message is also judged against the template and its last value tracked; same
 * machine, same run, alternating per round. Each round: a closed-loop phase (throughput: each device
 * keeps `--window` messages unacknowledged), the time the Central projection then needs to judge every
 * stored message, and an open-loop phase at `--paced-rate` msgs/s during which a REST client reads
 * `GET /api/devices/{id}/components/thermostat1/telemetry/temperature` of random devices at
 * `--rest-rate` and records the latency.
 *
 * Usage: npm run bench:central-ingest -- [--devices 1000] [--messages-per-device 50] [--warmup 5]
 *   [--window 2] [--rounds 3] [--concurrency 100] [--paced-rate 2000] [--paced-messages 20000]
 *   [--rest-rate 50] [--timeout 900] [--out results.json]
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Children, stopChild } from '../common/children.js';
import { median, summarize, type LatencySummary } from '../common/latency.js';
import {
  nextMessage,
  type LoadReply,
  type LoadRequest,
  type ServerReady,
  type ServerStats,
} from '../hub-ingest/ipc.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    'messages-per-device': { type: 'string', default: '50' },
    warmup: { type: 'string', default: '5' },
    window: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '100' },
    'rest-rate': { type: 'string', default: '50' },
    'paced-rate': { type: 'string', default: '2000' },
    'paced-messages': { type: 'string', default: '20000' },
    timeout: { type: 'string', default: '900' },
    out: { type: 'string' },
  },
});

function positiveInt(name: string, raw: string, min = 1): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be an integer >= ${min}`);
  return n;
}

const options = {
  devices: positiveInt('devices', values.devices),
  messagesPerDevice: positiveInt('messages-per-device', values['messages-per-device']),
  warmup: positiveInt('warmup', values.warmup, 0),
  window: positiveInt('window', values.window),
  rounds: positiveInt('rounds', values.rounds),
  concurrency: positiveInt('concurrency', values.concurrency),
  restRate: positiveInt('rest-rate', values['rest-rate'], 0),
  pacedRate: positiveInt('paced-rate', values['paced-rate'], 0),
  pacedMessages: positiveInt('paced-messages', values['paced-messages']),
  timeoutMs: positiveInt('timeout', values.timeout) * 1000,
};
const KEEPALIVE_SECONDS = 300;

type Kind = 'hub' | 'central';

const children = new Children(new URL('../hub-ingest/run.ts', import.meta.url).href);
const CHILD_EXEC_ARGV = ['--import', 'tsx', '--expose-gc', '--max-old-space-size=4096'];

function log(message: string): void {
  process.stderr.write(`[central-ingest] ${message}\n`);
}

async function load<T extends LoadReply>(generator: ChildProcess, request: LoadRequest, reply: T['type']): Promise<T> {
  const answer = nextMessage<T>(generator, reply, options.timeoutMs);
  generator.send(request);
  return answer;
}

let statsId = 0;
async function stats(server: ChildProcess): Promise<ServerStats> {
  const id = ++statsId;
  const reply = nextMessage<ServerStats>(server, 'stats', options.timeoutMs);
  server.send({ type: 'stats', id });
  return reply;
}

/** Reads last values at `rate` requests/s until `stop` resolves; answers the latencies (ms) and failures. */
async function probeRest(
  central: NonNullable<ServerReady['central']>,
  ca: string,
  deviceIds: readonly string[],
  rate: number,
  stop: Promise<unknown>,
): Promise<{ latencies: number[]; failures: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4, ca });
  const latencies: number[] = [];
  let failures = 0;
  let done = false;
  void stop.then(() => (done = true));
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const id = deviceIds[Math.floor(Math.random() * deviceIds.length)] ?? '';
      const started = performance.now();
      const req = httpsRequest(
        {
          agent,
          host: central.address,
          servername: central.hostName,
          port: central.port,
          path: `/api/devices/${id}/components/thermostat1/telemetry/temperature?api-version=2022-07-31`,
          headers: { authorization: central.token, host: central.hostName },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - started);
            else failures++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failures++;
        resolve();
      });
      req.end();
    });
  // Open the connections first: the latency is of reads, not of TLS handshakes.
  await Promise.all(Array.from({ length: 4 }, one));
  latencies.length = 0;
  failures = 0;
  const pending: Promise<void>[] = [];
  while (!done) {
    pending.push(one());
    await new Promise((resolve) => setTimeout(resolve, 1000 / rate));
  }
  await Promise.all(pending);
  agent.destroy();
  return { latencies, failures };
}

interface RoundResult {
  kind: Kind;
  round: number;
  messages: number;
  msgsPerSecond: number;
  pubackP99Ms: number;
  serverCpuMicrosPerMessage: number;
  /** The paced phase (below saturation): achieved rate and PUBACK p99. */
  pacedMsgsPerSecond?: number;
  pacedPubackP99Ms?: number;
  /** Central only: last-value reads during the paced phase. */
  rest?: { requests: number; failures: number; latencyMs: LatencySummary };
  /** Central only: seconds after the last PUBACK until every stored message was judged. */
  projectionLagSeconds?: number;
  /** Central only: messages judged / messages stored at the end. */
  projected?: { judged: number; stored: number };
  loadAverageAtStart: number;
}

async function round(kind: Kind, n: number, tmp: string): Promise<RoundResult> {
  log(`round ${n}: ${kind}: starting, ${options.devices} devices`);
  const loadAverageAtStart = loadavg()[0] ?? NaN;
  const dataDir = mkdtempSync(join(tmp, `${kind}-`));
  const server = children.start(
    './plugboard-server.ts',
    [
      '--devices',
      String(options.devices),
      '--data-dir',
      dataDir,
      '--loopback-prefix',
      kind === 'hub' ? '127.78.1' : '127.78.2',
      ...(kind === 'central' ? ['--central'] : []),
    ],
    CHILD_EXEC_ARGV,
  );
  const ready = await nextMessage<ServerReady>(server, 'ready', options.timeoutMs);
  const generator = children.start('./load.ts', [], CHILD_EXEC_ARGV);
  try {
    await load(
      generator,
      {
        type: 'connect',
        target: ready.target,
        devices: ready.devices,
        concurrency: options.concurrency,
        keepaliveSeconds: KEEPALIVE_SECONDS,
        shape: 'pnp',
      },
      'connected',
    );
    if (options.warmup > 0) {
      await load(generator, { type: 'warmup', messagesPerDevice: options.warmup, window: options.window }, 'warmed-up');
    }
    const before = await stats(server);
    const publishing = load<Extract<LoadReply, { type: 'published' }>>(
      generator,
      { type: 'publish', messagesPerDevice: options.messagesPerDevice, window: options.window },
      'published',
    );
    const published = await publishing;
    const finishedAt = performance.now();
    const after = await stats(server);
    const result: RoundResult = {
      kind,
      round: n,
      messages: published.messages,
      msgsPerSecond: published.msgsPerSecond,
      pubackP99Ms: published.latencyMs.p99,
      serverCpuMicrosPerMessage: (after.cpuMicros - before.cpuMicros) / published.messages,
      loadAverageAtStart,
    };
    if (kind === 'central') {
      let last = after;
      while ((last.projectedMessages ?? 0) < (last.storedMessages ?? 0)) {
        if (performance.now() - finishedAt > options.timeoutMs) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
        last = await stats(server);
      }
      result.projectionLagSeconds = (performance.now() - finishedAt) / 1000;
      result.projected = { judged: last.projectedMessages ?? 0, stored: last.storedMessages ?? 0 };
    }
    // Below saturation: last-value reads while devices send at `--paced-rate` overall.
    if (options.pacedRate > 0) {
      const paced = load<Extract<LoadReply, { type: 'paced' }>>(
        generator,
        { type: 'paced', messages: options.pacedMessages, rate: options.pacedRate },
        'paced',
      );
      if (kind === 'central' && ready.central !== undefined && options.restRate > 0) {
        const probe = await probeRest(
          ready.central,
          readFileSync(ready.target.caPath, 'utf8'),
          ready.devices.map((d) => d.deviceId),
          options.restRate,
          paced,
        );
        result.rest = {
          requests: probe.latencies.length + probe.failures,
          failures: probe.failures,
          latencyMs: summarize(probe.latencies),
        };
      }
      const p = await paced;
      result.pacedMsgsPerSecond = p.msgsPerSecond;
      result.pacedPubackP99Ms = p.latencyMs.p99;
    }
    log(
      `${kind}: ${published.msgsPerSecond.toFixed(0)} msgs/s` +
        (result.rest === undefined ? '' : `, REST p99 ${result.rest.latencyMs.p99.toFixed(2)} ms`) +
        (result.projectionLagSeconds === undefined
          ? ''
          : `, projection lag ${result.projectionLagSeconds.toFixed(2)} s`),
    );
    await load(generator, { type: 'disconnect' }, 'disconnected');
    return result;
  } finally {
    await stopChild(generator, { type: 'exit' });
    await stopChild(server, { type: 'close' });
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'plugboard-central-bench-'));
const deadline = children.guard(options.timeoutMs * options.rounds * 2, () => log('timed out'));
const results: RoundResult[] = [];
try {
  for (let n = 1; n <= options.rounds; n++) {
    // Alternate the order, so neither side always runs on a warmer machine.
    for (const kind of (n % 2 === 1 ? ['hub', 'central'] : ['central', 'hub']) as Kind[]) {
      results.push(await round(kind, n, tmp));
    }
  }
} finally {
  clearTimeout(deadline);
  rmSync(tmp, { recursive: true, force: true });
}

const cores = cpus();
const lines = [
  `Machine: ${cores[0]?.model.trim() ?? 'unknown'} x ${cores.length}, ${Math.round((totalmem() / 2 ** 30) * 10) / 10} GiB, Node ${process.version}, ${process.platform} ${release()}`,
  `Load: ${options.devices} devices x ${options.messagesPerDevice} QoS 1 component messages ($.sub, SDK property bag), window ${options.window}, ${options.rounds} round(s); paced phase ${options.pacedMessages} messages at ${options.pacedRate}/s with REST reads at ${options.restRate}/s (central)`,
  '',
  '| side | round | msgs/s | PUBACK p99 ms | server CPU µs/msg | projection lag s | judged / stored | paced msgs/s | paced PUBACK p99 ms | REST reads | REST p50 ms | REST p99 ms | load avg |',
  '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const r of results) {
  lines.push(
    `| ${r.kind} | ${r.round} | ${r.msgsPerSecond.toFixed(0)} | ${r.pubackP99Ms.toFixed(2)} | ${r.serverCpuMicrosPerMessage.toFixed(1)} | ` +
      `${r.projectionLagSeconds?.toFixed(2) ?? '-'} | ${r.projected === undefined ? '-' : `${r.projected.judged} / ${r.projected.stored}`} | ` +
      `${r.pacedMsgsPerSecond?.toFixed(0) ?? '-'} | ${r.pacedPubackP99Ms?.toFixed(2) ?? '-'} | ` +
      `${r.rest?.requests ?? '-'} | ${r.rest?.latencyMs.p50.toFixed(2) ?? '-'} | ${r.rest?.latencyMs.p99.toFixed(2) ?? '-'} | ${r.loadAverageAtStart.toFixed(2)} |`,
  );
}
const ratios = results
  .filter((r) => r.kind === 'central')
  .map((c) => c.msgsPerSecond / (results.find((h) => h.kind === 'hub' && h.round === c.round)?.msgsPerSecond ?? NaN));
const summary = {
  centralMsgsPerSecond: median(results.filter((r) => r.kind === 'central').map((r) => r.msgsPerSecond)),
  hubMsgsPerSecond: median(results.filter((r) => r.kind === 'hub').map((r) => r.msgsPerSecond)),
  roundRatios: ratios,
  medianRatio: median(ratios),
  restP99Ms: median(results.flatMap((r) => (r.rest === undefined ? [] : [r.rest.latencyMs.p99]))),
  everyMessageJudged: results.every((r) => r.projected === undefined || r.projected.judged === r.projected.stored),
};
lines.push(
  '',
  `Median: central ${summary.centralMsgsPerSecond.toFixed(0)} msgs/s vs plain hub ${summary.hubMsgsPerSecond.toFixed(0)} msgs/s = ${summary.medianRatio.toFixed(2)}x ` +
    `(per round ${ratios.map((x) => x.toFixed(2)).join(', ')}; goal >= 0.8); REST last-value p99 while ingesting at ${options.pacedRate} msgs/s ${summary.restP99Ms.toFixed(2)} ms (goal < 20); ` +
    `every stored message judged: ${summary.everyMessageJudged ? 'yes' : 'NO'}`,
);
process.stdout.write(`${lines.join('\n')}\n`);
if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify({ options, results, summary }, null, 2)}\n`);
