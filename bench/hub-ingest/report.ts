/**
 * bench/hub-ingest's results and their report: one row per server, transport, message shape and round,
 * medians over the rounds, the ratios the issue goals are stated in (Plugboard / Aedes over MQTT, each
 * transport / MQTT on Plugboard, Plugboard / a baseline build), then the idle-connection memory; printed as
 * Markdown followed by the JSON of everything.
 */
import { writeFileSync } from 'node:fs';
import type { LatencySummary, MemorySample, MessageShape, ServerStats, Transport } from './ipc.js';
import { median } from '../common/latency.js';
import { machine } from '../common/machine.js';

export type ServerKind = 'plugboard' | 'aedes' | 'baseline';

/** What the report states about the run besides its results. */
export interface ReportContext {
  options: {
    devices: number;
    messagesPerDevice: number;
    warmup: number;
    window: number;
    durability: string;
    rounds: number;
    idle: number;
  } & Record<string, unknown>;
  shapes: MessageShape[];
  transports: Transport[];
  /** `--baseline DIR`, when given. */
  baseline: string | undefined;
  keepaliveSeconds: number;
  /** `--out FILE`: where the JSON goes too. */
  out: string | undefined;
}

export interface IngestResult {
  server: ServerKind;
  transport: Transport;
  shape: MessageShape;
  round: number;
  connections: number;
  connectSeconds: number;
  messages: number;
  seconds: number;
  msgsPerSecond: number;
  latencyMs: LatencySummary;
  /** Server CPU (user + system) per message over the measured phase, microseconds. */
  serverCpuMicrosPerMessage: number;
  /** Load generator CPU per message, microseconds. */
  loadCpuMicrosPerMessage: number;
  serverRssAfter: number;
  /** Server event-loop delay over the closed-loop phase, milliseconds. */
  serverEventLoopDelayMs: ServerStats['eventLoopDelayMs'];
  /** Open-loop phase at `--paced-rate`, with the server's event-loop delay over it. */
  paced?: { msgsPerSecond: number; latencyMs: LatencySummary; serverEventLoopDelayMs: ServerStats['eventLoopDelayMs'] };
  /** 1-minute load average when the phase started: anything else running shows here. */
  loadAverageAtStart: number;
  /** Plugboard: telemetry rows stored vs. messages PUBACKed (warm-up + measured). */
  stored?: { rows: number; acked: number };
}

export interface IdleResult {
  server: ServerKind;
  connections: number;
  connectSeconds: number;
  before: MemorySample;
  after: MemorySample;
  rssPerConnection: number;
  heapPerConnection: number;
  /** Off-heap (`external`) per connection: Buffers and native objects the heap points to. */
  externalPerConnection: number;
  /** Plugboard: RSS per registered (not connected) identity, for context. */
  rssPerRegisteredIdentity?: number;
}

/** Medians over the rounds of one message shape, MQTT: the servers side by side. */
function summarizeShape(results: IngestResult[], shape: MessageShape) {
  const of = (kind: ServerKind): IngestResult[] =>
    results.filter((r) => r.server === kind && r.shape === shape && r.transport === 'mqtt');
  const summary = {
    shape,
    plugboardMsgsPerSecond: median(of('plugboard').map((r) => r.msgsPerSecond)),
    aedesMsgsPerSecond: median(of('aedes').map((r) => r.msgsPerSecond)),
    plugboardP50: median(of('plugboard').map((r) => r.latencyMs.p50)),
    plugboardP99: median(of('plugboard').map((r) => r.latencyMs.p99)),
    aedesP50: median(of('aedes').map((r) => r.latencyMs.p50)),
    aedesP99: median(of('aedes').map((r) => r.latencyMs.p99)),
    plugboardPacedP50: median(of('plugboard').map((r) => r.paced?.latencyMs.p50 ?? NaN)),
    plugboardPacedP99: median(of('plugboard').map((r) => r.paced?.latencyMs.p99 ?? NaN)),
    aedesPacedP50: median(of('aedes').map((r) => r.paced?.latencyMs.p50 ?? NaN)),
    aedesPacedP99: median(of('aedes').map((r) => r.paced?.latencyMs.p99 ?? NaN)),
    plugboardServerCpuMicrosPerMessage: median(of('plugboard').map((r) => r.serverCpuMicrosPerMessage)),
    aedesServerCpuMicrosPerMessage: median(of('aedes').map((r) => r.serverCpuMicrosPerMessage)),
    /** Per round, Plugboard / Aedes of the same round (the fairest pairing on a noisy machine). */
    roundRatios: [] as number[],
    baselineMsgsPerSecond: median(of('baseline').map((r) => r.msgsPerSecond)),
    baselineServerCpuMicrosPerMessage: median(of('baseline').map((r) => r.serverCpuMicrosPerMessage)),
    /** Per round, Plugboard / baseline of the same round. */
    baselineRoundRatios: [] as number[],
    ratio: 0,
    everyMessageStored: of('plugboard').every((r) => r.stored !== undefined && r.stored.rows === r.stored.acked),
  };
  for (const p of of('plugboard')) {
    const a = of('aedes').find((r) => r.round === p.round);
    if (a !== undefined) summary.roundRatios.push(p.msgsPerSecond / a.msgsPerSecond);
    const b = of('baseline').find((r) => r.round === p.round);
    if (b !== undefined) summary.baselineRoundRatios.push(p.msgsPerSecond / b.msgsPerSecond);
  }
  summary.ratio = summary.plugboardMsgsPerSecond / summary.aedesMsgsPerSecond;
  return summary;
}

/** Medians over the rounds of one transport and shape on Plugboard, and its ratio to MQTT. */
function summarizeTransport(results: IngestResult[], transport: Transport, shape: MessageShape) {
  const of = (t: Transport): IngestResult[] =>
    results.filter((r) => r.server === 'plugboard' && r.shape === shape && r.transport === t);
  const mine = of(transport);
  const baseline = results.filter((r) => r.server === 'baseline' && r.shape === shape && r.transport === transport);
  const mqtt = of('mqtt');
  const summary = {
    transport,
    shape,
    msgsPerSecond: median(mine.map((r) => r.msgsPerSecond)),
    p50: median(mine.map((r) => r.latencyMs.p50)),
    p99: median(mine.map((r) => r.latencyMs.p99)),
    pacedP50: median(mine.map((r) => r.paced?.latencyMs.p50 ?? NaN)),
    pacedP99: median(mine.map((r) => r.paced?.latencyMs.p99 ?? NaN)),
    serverCpuMicrosPerMessage: median(mine.map((r) => r.serverCpuMicrosPerMessage)),
    /** This transport's median msgs/s over MQTT's, both on Plugboard in the same run. */
    ratioToMqtt: median(mine.map((r) => r.msgsPerSecond)) / median(mqtt.map((r) => r.msgsPerSecond)),
    /** Per round, this transport / MQTT of the same round. */
    roundRatios: [] as number[],
    everyMessageStored: mine.every((r) => r.stored !== undefined && r.stored.rows === r.stored.acked),
    /** With `--baseline`: the baseline build over the same transport, same rounds. */
    baselineMsgsPerSecond: median(baseline.map((r) => r.msgsPerSecond)),
    baselineServerCpuMicrosPerMessage: median(baseline.map((r) => r.serverCpuMicrosPerMessage)),
  };
  for (const r of mine) {
    const m = mqtt.find((x) => x.round === r.round);
    if (m !== undefined) summary.roundRatios.push(r.msgsPerSecond / m.msgsPerSecond);
  }
  return summary;
}

export function report(ingestResults: IngestResult[], idleResults: IdleResult[], context: ReportContext): void {
  const { options, shapes, transports } = context;
  const m = machine();
  const lines: string[] = [];
  lines.push(
    `Machine: ${m['cpu']} x ${m['cpus']}, ${m['memoryGiB']} GiB, Node ${m['node']}, ${m['os']}; code ${m['revision']}`,
  );
  lines.push(
    `Ingest: ${options.devices} devices x ${options.messagesPerDevice} messages, each acknowledged (MQTT QoS 1 PUBACK, AMQP accepted, HTTPS 204), after ${options.warmup} warm-up each, ` +
      `window ${options.window}, transports ${transports.join(', ')} over TLS (MQTT 3.1.1, AMQP 1.0, HTTPS 1.1), Plugboard durability ${options.durability}, ${options.rounds} round(s), ` +
      `shapes ${shapes.join(', ')}`,
  );
  lines.push('');
  lines.push(
    '| server | transport | shape | round | msgs/s | p50 ms | p99 ms | paced msgs/s | paced p50 ms | paced p99 ms | paced loop delay max ms | server CPU µs/msg | load CPU µs/msg | stored / acked | load avg |',
  );
  lines.push('| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |');
  const ms = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(2));
  for (const r of ingestResults) {
    lines.push(
      `| ${r.server} | ${r.transport} | ${r.shape} | ${r.round} | ${r.msgsPerSecond.toFixed(0)} | ${ms(r.latencyMs.p50)} | ${ms(r.latencyMs.p99)} | ` +
        `${r.paced === undefined ? '-' : r.paced.msgsPerSecond.toFixed(0)} | ${ms(r.paced?.latencyMs.p50)} | ${ms(r.paced?.latencyMs.p99)} | ` +
        `${ms(r.paced?.serverEventLoopDelayMs.max)} | ` +
        `${r.serverCpuMicrosPerMessage.toFixed(1)} | ${r.loadCpuMicrosPerMessage.toFixed(1)} | ` +
        `${r.stored === undefined ? 'n/a (in memory)' : `${r.stored.rows} / ${r.stored.acked}`} | ${r.loadAverageAtStart.toFixed(2)} |`,
    );
  }
  const summaries = shapes.map((shape) => summarizeShape(ingestResults, shape));
  const withAedes = ingestResults.some((r) => r.server === 'aedes');
  for (const summary of summaries) {
    lines.push('');
    if (!withAedes) {
      lines.push(
        `${summary.shape} messages over MQTT — Plugboard median ${summary.plugboardMsgsPerSecond.toFixed(0)} msgs/s, ` +
          `p50/p99 ${summary.plugboardP50.toFixed(1)}/${summary.plugboardP99.toFixed(1)} ms, server CPU ` +
          `${summary.plugboardServerCpuMicrosPerMessage.toFixed(1)} µs/msg; every PUBACKed message stored: ${summary.everyMessageStored ? 'yes' : 'NO'}`,
      );
    } else {
      lines.push(
        `${summary.shape} messages — throughput ratio Plugboard / Aedes: ${summary.ratio.toFixed(2)} ` +
          `(medians ${summary.plugboardMsgsPerSecond.toFixed(0)} vs ${summary.aedesMsgsPerSecond.toFixed(0)} msgs/s; ` +
          `per round ${summary.roundRatios.map((r) => r.toFixed(2)).join(', ')}); ` +
          `every PUBACKed message stored by Plugboard: ${summary.everyMessageStored ? 'yes' : 'NO'}`,
      );
      lines.push(
        `  median latency p50/p99 ms: closed loop Plugboard ${summary.plugboardP50.toFixed(1)}/${summary.plugboardP99.toFixed(1)}, ` +
          `Aedes ${summary.aedesP50.toFixed(1)}/${summary.aedesP99.toFixed(1)}; paced Plugboard ` +
          `${summary.plugboardPacedP50.toFixed(2)}/${summary.plugboardPacedP99.toFixed(2)}, ` +
          `Aedes ${summary.aedesPacedP50.toFixed(2)}/${summary.aedesPacedP99.toFixed(2)}`,
      );
      lines.push(
        `  median server CPU per message: Plugboard ${summary.plugboardServerCpuMicrosPerMessage.toFixed(1)} µs, ` +
          `Aedes ${summary.aedesServerCpuMicrosPerMessage.toFixed(1)} µs ` +
          `(Aedes / Plugboard ${(summary.aedesServerCpuMicrosPerMessage / summary.plugboardServerCpuMicrosPerMessage).toFixed(2)})`,
      );
    }
    if (summary.baselineRoundRatios.length > 0) {
      lines.push(
        `  Plugboard / baseline (${context.baseline ?? ''}): ${(summary.plugboardMsgsPerSecond / summary.baselineMsgsPerSecond).toFixed(2)} ` +
          `(medians ${summary.plugboardMsgsPerSecond.toFixed(0)} vs ${summary.baselineMsgsPerSecond.toFixed(0)} msgs/s; per round ` +
          `${summary.baselineRoundRatios.map((r) => r.toFixed(2)).join(', ')}); server CPU ` +
          `${summary.plugboardServerCpuMicrosPerMessage.toFixed(1)} vs ${summary.baselineServerCpuMicrosPerMessage.toFixed(1)} µs/msg`,
      );
    }
  }
  const transportSummaries = shapes.flatMap((shape) =>
    transports.filter((t) => t !== 'mqtt').map((t) => summarizeTransport(ingestResults, t, shape)),
  );
  for (const t of transportSummaries) {
    lines.push('');
    lines.push(
      `Plugboard, ${t.shape} messages — ${t.transport.toUpperCase()} / MQTT: ${t.ratioToMqtt.toFixed(2)} ` +
        `(median ${t.msgsPerSecond.toFixed(0)} msgs/s; per round ${t.roundRatios.map((r) => r.toFixed(2)).join(', ')}); ` +
        `p50/p99 ${t.p50.toFixed(1)}/${t.p99.toFixed(1)} ms closed loop, ${t.pacedP50.toFixed(2)}/${t.pacedP99.toFixed(2)} ms paced; ` +
        `server CPU ${t.serverCpuMicrosPerMessage.toFixed(1)} µs/msg; every acknowledged message stored: ${t.everyMessageStored ? 'yes' : 'NO'}`,
    );
    if (Number.isFinite(t.baselineMsgsPerSecond)) {
      lines.push(
        `  Plugboard / baseline over ${t.transport}: ${(t.msgsPerSecond / t.baselineMsgsPerSecond).toFixed(2)} ` +
          `(${t.msgsPerSecond.toFixed(0)} vs ${t.baselineMsgsPerSecond.toFixed(0)} msgs/s); server CPU ` +
          `${t.serverCpuMicrosPerMessage.toFixed(1)} vs ${t.baselineServerCpuMicrosPerMessage.toFixed(1)} µs/msg`,
      );
    }
  }
  if (idleResults.length > 0) {
    const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
    lines.push('');
    lines.push(
      `Idle: ${options.idle} TLS connections, MQTT CONNECT with SAS, then nothing (keep-alive ${context.keepaliveSeconds} s)`,
    );
    lines.push('');
    lines.push(
      '| server | RSS before MiB | RSS after MiB | RSS KiB/conn | heap KiB/conn | external KiB/conn | connect s |',
    );
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of idleResults) {
      lines.push(
        `| ${r.server} | ${(r.before.rss / 2 ** 20).toFixed(0)} | ${(r.after.rss / 2 ** 20).toFixed(0)} | ${kib(r.rssPerConnection)} | ` +
          `${kib(r.heapPerConnection)} | ${kib(r.externalPerConnection)} | ${r.connectSeconds.toFixed(1)} |`,
      );
    }
    for (const r of idleResults) {
      if (r.rssPerRegisteredIdentity !== undefined) {
        lines.push('');
        lines.push(
          `Plugboard registry (identities registered, not connected): ${kib(r.rssPerRegisteredIdentity)} KiB RSS each`,
        );
      }
    }
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
  const json = {
    machine: m,
    options: { ...options, shapes, transports },
    summaries,
    transportSummaries,
    ingest: ingestResults,
    idle: idleResults,
  };
  process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  if (context.out !== undefined) writeFileSync(context.out, `${JSON.stringify(json, null, 2)}\n`);
}
