/**
 * `bench/device-fleet` (a benchmark, not a test): memory and CPU per connected simulated device, for
 * `@plugboard/device` and the official `azure-iot-device` + `azure-iot-device-mqtt`, side by side in one
 * run, with N devices of one SDK in one process over MQTT/TLS. Goals (from the issue): at most half the
 * official SDK's heap per device, and 10,000 devices in one process on this 2-core machine.
 *
 * Run `npm run bench:device-fleet -- --help` for the options. Per fleet size N: a Plugboard platform in
 * its own process (one hub on its own loopback address, MQTT on 8883 — the official SDK has no port
 * option — with N identities per SDK kind), then for each kind a fleet process of its own, so the two
 * SDKs' heaps never mix: a warm-up device, the baseline sample, N devices connected `--concurrency` at a
 * time, forced GC, `--settle` seconds, the memory sample; an idle window of `--idle` seconds (keep-alive
 * every `--keepalive` seconds) for CPU; a window of the same length in which every device sends
 * `--messages` telemetry messages; memory again; every device closed. Per-device figures are the
 * difference from the baseline divided by the devices connected.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  SDK_KINDS,
  type ConnectResult,
  type FleetReply,
  type FleetRequest,
  type MeasureResult,
  type MemorySample,
  type PlugboardCa,
  type SdkKind,
  type ServerReady,
  type ServerRequest,
  type ServerStats,
} from './ipc.js';
import { Children, nextMessage, stopChild } from '../common/children.js';
import { machine } from '../common/machine.js';

const USAGE = `Usage: npm run bench:device-fleet -- [options]

Memory and CPU per connected simulated device over MQTT/TLS: @plugboard/device against the official
azure-iot-device + azure-iot-device-mqtt, N devices of one SDK per process, in the same run.

Options:
  --devices LIST          fleet sizes, comma-separated (default 1000,10000)
  --kinds LIST            SDKs: plugboard, official (default plugboard,official)
  --idle SECONDS          idle window for CPU; the send window is as long (default 30)
  --keepalive SECONDS     MQTT keep-alive of every device, both SDKs (default 15; the SDKs' own default is 180)
  --messages N            telemetry messages per device in the send window; 0 skips the window (default 1)
  --concurrency N         connects in flight at once (default 200)
  --settle SECONDS        wait after the last connect and a forced GC before the memory sample (default 5)
  --connect-timeout SECS  per fleet: stop connecting after this and measure the devices connected (default 600)
  --plugboard-ca MODE     option: each plugboard device gets the platform CA as its \`ca\` option (default);
                          env: no \`ca\`, its fleet process trusts the CA through NODE_EXTRA_CA_CERTS
  --heap-snapshot DIR     write V8 heap snapshots of each fleet process to DIR ({kind}-{N}-baseline and
                          -connected .heapsnapshot; compare them in Chrome DevTools). Writing them
                          disturbs that run's figures: use it to find where memory goes, not to measure
  --timeout SECONDS       the whole run (default 7200)
  --out FILE              also write the JSON results to FILE
  -h, --help              this text

Needs an open-file limit (ulimit -n) above the largest fleet size plus 512: each process holds one
socket per device. Everything listens and connects on 127.79.x.x.
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      devices: { type: 'string', default: '1000,10000' },
      kinds: { type: 'string', default: SDK_KINDS.join(',') },
      idle: { type: 'string', default: '30' },
      keepalive: { type: 'string', default: '15' },
      messages: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '200' },
      settle: { type: 'string', default: '5' },
      'connect-timeout': { type: 'string', default: '600' },
      'plugboard-ca': { type: 'string', default: 'option' },
      'heap-snapshot': { type: 'string' },
      timeout: { type: 'string', default: '7200' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
const { values } = parsed;
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

function integer(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

const options = {
  devices: values.devices.split(',').map((d) => integer('devices', d.trim(), 1, 50_000)),
  kinds: values.kinds.split(',').map((k) => {
    if (!(SDK_KINDS as readonly string[]).includes(k.trim())) fail(`--kinds: unknown SDK ${k}`);
    return k.trim() as SdkKind;
  }),
  idleSeconds: integer('idle', values.idle, 1, 3600),
  keepaliveSeconds: integer('keepalive', values.keepalive, 5, 1767),
  messages: integer('messages', values.messages, 0, 100),
  concurrency: integer('concurrency', values.concurrency, 1, 5000),
  settleSeconds: integer('settle', values.settle, 0, 600),
  connectTimeoutSeconds: integer('connect-timeout', values['connect-timeout'], 1, 86_400),
  timeoutSeconds: integer('timeout', values.timeout, 1, 86_400),
  plugboardCa: ((): PlugboardCa => {
    const mode = values['plugboard-ca'];
    if (mode !== 'option' && mode !== 'env') fail('--plugboard-ca is option or env');
    return mode;
  })(),
};

const snapshotDir = values['heap-snapshot'] === undefined ? undefined : resolve(values['heap-snapshot']);
if (snapshotDir !== undefined) mkdirSync(snapshotDir, { recursive: true });

function log(message: string): void {
  process.stderr.write(`[device-fleet] ${message}\n`);
}

/** The soft open-file limit children inherit (Node raises it to the hard limit at start-up). */
function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft !== undefined) return soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    // Not Linux: ask a shell.
  }
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    return out === 'unlimited' ? Infinity : Number(out);
  } catch {
    return undefined;
  }
}

const largest = Math.max(...options.devices);
const limit = openFileLimit();
if (limit !== undefined && limit < largest + 512) {
  process.stderr.write(
    `[device-fleet] the open-file limit is ${limit}, but ${largest} devices need at least ${largest + 512} ` +
      `(one socket per device in the fleet process and in the server). Raise it, e.g. \`ulimit -n ${largest + 1024}\` ` +
      `(as root, or up to the hard limit \`ulimit -Hn\`), or pass smaller --devices.\n`,
  );
  process.exit(2);
}

// ------------------------------------------------------------------------------------------ children

const children = new Children(import.meta.url);
// The children load the packages' built output (dist), as `npm start` runs them; tsx only loads the
// benchmark's own TypeScript files. A fleet of 10,000 official clients needs more than the default heap.
const SERVER_EXEC_ARGV = ['--import', 'tsx', '--expose-gc', '--max-old-space-size=4096'];
const FLEET_EXEC_ARGV = ['--import', 'tsx', '--expose-gc', '--max-old-space-size=16384'];
const STEP_MARGIN_MS = 120_000;

function ask<T extends { type: string }>(
  child: ChildProcess,
  request: ServerRequest | FleetRequest,
  reply: T['type'],
  timeoutMs: number,
): Promise<T> {
  const answer = nextMessage<T>(child, reply, timeoutMs);
  child.send(request);
  return answer;
}

const stats = (server: ChildProcess): Promise<ServerStats> =>
  ask<ServerStats>(server, { type: 'stats' }, 'stats', STEP_MARGIN_MS);

// ------------------------------------------------------------------------------------------ one fleet

/** One SDK kind at one fleet size. */
interface FleetResult {
  kind: SdkKind;
  devices: number;
  /** Set when the fleet did not get through every phase: what happened, and where. */
  error?: string;
  /** The last progress report (connected so far), for a fleet that died while connecting. */
  lastProgress?: number;
  connect?: ConnectResult;
  /** Connections the hub counted once the fleet reported connected (the warm-up device included). */
  hubConnections?: number;
  measure?: MeasureResult;
  closeSeconds?: number;
  loadAverageAtStart: number;
}

async function runFleet(
  kind: SdkKind,
  devices: number,
  ready: ServerReady,
  server: ChildProcess,
  caPath: string,
): Promise<FleetResult> {
  const result: FleetResult = { kind, devices, loadAverageAtStart: loadavg()[0] ?? NaN };
  const keys = ready.devices[kind];
  const [warmup, ...fleetKeys] = keys;
  if (warmup === undefined) throw new Error(`the server registered no ${kind} identities`);
  log(`${kind} × ${devices}: connecting (${options.concurrency} at a time)`);
  // A forked child gets this process's environment as it is at the fork.
  const inherited = process.env['NODE_EXTRA_CA_CERTS'];
  if (kind === 'plugboard' && options.plugboardCa === 'env') process.env['NODE_EXTRA_CA_CERTS'] = caPath;
  const fleet = children.start('./fleet.ts', ['--kind', kind], FLEET_EXEC_ARGV);
  if (inherited === undefined) delete process.env['NODE_EXTRA_CA_CERTS'];
  else process.env['NODE_EXTRA_CA_CERTS'] = inherited;
  const onProgress = (m: FleetReply): void => {
    if (m.type !== 'progress') return;
    result.lastProgress = m.connected;
    log(`${kind} × ${devices}: ${m.connected} connected${m.failed > 0 ? `, ${m.failed} failed` : ''}`);
  };
  fleet.on('message', onProgress);
  try {
    const connected = await ask<ConnectResult>(
      fleet,
      {
        type: 'connect',
        plan: {
          target: ready.target,
          warmup,
          devices: fleetKeys.slice(0, devices),
          concurrency: options.concurrency,
          keepaliveSeconds: options.keepaliveSeconds,
          connectTimeoutMs: options.connectTimeoutSeconds * 1000,
          plugboardCa: options.plugboardCa,
          ...(snapshotDir === undefined ? {} : { heapSnapshotPrefix: join(snapshotDir, `${kind}-${devices}`) }),
        },
      },
      'connected',
      options.connectTimeoutSeconds * 1000 + STEP_MARGIN_MS,
    );
    result.connect = connected;
    result.lastProgress = connected.connected;
    result.hubConnections = (await stats(server)).connections;
    log(
      `${kind} × ${devices}: ${connected.connected} connected in ${(connected.elapsedMs / 1000).toFixed(1)} s` +
        `${connected.failed > 0 ? `, ${connected.failed} failed` : ''}${connected.retries > 0 ? `, ${connected.retries} retries` : ''}` +
        `${connected.timedOut ? ' (connect timeout)' : ''}; the hub counts ${result.hubConnections}`,
    );
    for (const sample of connected.errorSamples) log(`${kind} × ${devices}: ${sample}`);
    log(`${kind} × ${devices}: settle ${options.settleSeconds} s, idle ${options.idleSeconds} s, send window`);
    result.measure = await ask<MeasureResult>(
      fleet,
      {
        type: 'measure',
        settleSeconds: options.settleSeconds,
        idleSeconds: options.idleSeconds,
        messages: options.messages,
      },
      'measured',
      (options.settleSeconds + 2 * options.idleSeconds) * 1000 + 2 * STEP_MARGIN_MS,
    );
    const closed = await ask<Extract<FleetReply, { type: 'closed' }>>(
      fleet,
      { type: 'close' },
      'closed',
      STEP_MARGIN_MS,
    );
    result.closeSeconds = closed.elapsedMs / 1000;
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    log(`${kind} × ${devices}: ${result.error}`);
  } finally {
    fleet.off('message', onProgress);
    await stopChild(fleet, { type: 'exit' } satisfies FleetRequest);
  }
  // The next fleet starts on a hub that has let go of this one's connections.
  const deadline = Date.now() + 60_000;
  while ((await stats(server)).connections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  return result;
}

// ------------------------------------------------------------------------------------------ report

/** Per-device figures of one fleet, from its samples. */
function perDevice(r: FleetResult) {
  const connect = r.connect;
  const measure = r.measure;
  if (connect === undefined || measure === undefined || connect.connected === 0) return undefined;
  const n = connect.connected;
  const delta = (after: MemorySample, field: keyof MemorySample): number =>
    (after[field] - connect.baseline[field]) / n;
  const idleRate = measure.idle.cpuMicros / measure.idle.seconds;
  const send = measure.send;
  return {
    connected: n,
    heap: delta(measure.connectedMemory, 'heapUsed'),
    external: delta(measure.connectedMemory, 'external'),
    rss: delta(measure.connectedMemory, 'rss'),
    heapAfterSend: measure.afterSendMemory === undefined ? NaN : delta(measure.afterSendMemory, 'heapUsed'),
    /** CPU µs per device per second over the idle window (keep-alive, timers). */
    idleCpu: idleRate / n,
    /** CPU µs per acknowledged message over the send window, above the idle rate. */
    sendCpu: send === undefined || send.acked === 0 ? NaN : (send.cpuMicros - idleRate * send.seconds) / send.acked,
  };
}

const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const fixed = (x: number, digits: number): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');

function report(results: FleetResult[], identitySeconds: Record<number, number>): void {
  const m = machine();
  const lines: string[] = [
    `Machine: ${m.cpu} x ${m.cpus}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}; code ${m.revision}`,
    `Device fleet: MQTT over TLS to one Plugboard hub, model id announced, twin fetched, command handler; ` +
      `plugboard CA ${options.plugboardCa === 'option' ? 'as the `ca` option' : 'through NODE_EXTRA_CA_CERTS'}, official CA through setOptions({ ca }); ` +
      `keep-alive ${options.keepaliveSeconds} s, idle window ${options.idleSeconds} s, ` +
      `${options.messages} message(s) per device in the send window, ${options.concurrency} connects in flight`,
    '',
    '| devices | SDK | connected | failed / retries | connect s | heap B/device | external B/device | RSS B/device | heap after send B/device | idle CPU µs/device·s | send CPU µs/msg | acked / sent | drops | max RSS MiB |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    const p = perDevice(r);
    const c = r.connect;
    const s = r.measure?.send;
    lines.push(
      `| ${int(r.devices)} | ${r.kind} | ${c === undefined ? `${int(r.lastProgress ?? 0)} (${r.error ?? 'no result'})` : `${int(c.connected)}${c.timedOut ? ' (timeout)' : ''}`} | ` +
        `${c === undefined ? '–' : `${c.failed} / ${c.retries}`} | ${c === undefined ? '–' : fixed(c.elapsedMs / 1000, 1)} | ` +
        `${int(p?.heap ?? NaN)} | ${int(p?.external ?? NaN)} | ${int(p?.rss ?? NaN)} | ${int(p?.heapAfterSend ?? NaN)} | ` +
        `${fixed(p?.idleCpu ?? NaN, 2)} | ${fixed(p?.sendCpu ?? NaN, 0)} | ${s === undefined ? '–' : `${int(s.acked)} / ${int(s.sent)}`} | ` +
        `${r.measure?.drops ?? '–'} | ${r.measure === undefined ? '–' : fixed(r.measure.maxRss / 2 ** 20, 0)} |`,
    );
  }
  lines.push('');
  const ratios: { devices: number; heap: number; rss: number; external: number; idleCpu: number }[] = [];
  for (const devices of options.devices) {
    const mine = results.find((r) => r.devices === devices && r.kind === 'plugboard');
    const theirs = results.find((r) => r.devices === devices && r.kind === 'official');
    const a = mine === undefined ? undefined : perDevice(mine);
    const b = theirs === undefined ? undefined : perDevice(theirs);
    if (a === undefined || b === undefined) continue;
    const ratio = {
      devices,
      heap: a.heap / b.heap,
      rss: a.rss / b.rss,
      external: a.external / b.external,
      idleCpu: a.idleCpu / b.idleCpu,
    };
    ratios.push(ratio);
    lines.push(
      `plugboard / official at ${int(devices)}: heap ${fixed(ratio.heap, 2)}×, RSS ${fixed(ratio.rss, 2)}×, ` +
        `external ${fixed(ratio.external, 2)}×, idle CPU ${fixed(ratio.idleCpu, 2)}×`,
    );
  }
  const heapGoal = ratios.length > 0 && ratios.every((r) => r.heap <= 0.5);
  const tenThousand = results.find((r) => r.kind === 'plugboard' && r.devices >= 10_000);
  const tenThousandMet =
    tenThousand?.connect !== undefined &&
    tenThousand.measure !== undefined &&
    tenThousand.connect.connected >= 10_000 &&
    tenThousand.measure.drops === 0;
  lines.push(
    `Goal heap per device <= 0.5× official: ${ratios.length === 0 ? 'not measured (needs both SDKs at one size)' : heapGoal ? 'met' : 'NOT met'}`,
    `Goal 10,000 plugboard devices in one process: ${tenThousand === undefined ? 'not measured (no --devices >= 10000)' : tenThousandMet ? 'met' : 'NOT met'}`,
  );
  process.stdout.write(`${lines.join('\n')}\n\n`);
  const json = {
    machine: m,
    options,
    identitySeconds,
    results: results.map((r) => ({ ...r, perDevice: perDevice(r) })),
    ratios,
    goals: { heapPerDeviceAtMostHalf: heapGoal, tenThousandInOneProcess: tenThousandMet },
  };
  process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify(json, null, 2)}\n`);
}

// ------------------------------------------------------------------------------------------ main

const timer = children.guard(options.timeoutSeconds * 1000, () =>
  log(`global timeout of ${options.timeoutSeconds} s reached; stopping`),
);

const tmp = mkdtempSync(join(tmpdir(), 'plugboard-bench-fleet-'));
try {
  const results: FleetResult[] = [];
  const identitySeconds: Record<number, number> = {};
  for (const [index, devices] of options.devices.entries()) {
    log(`${devices} devices: starting the platform, registering ${devices} identities per SDK`);
    const server = children.start(
      './server.ts',
      [
        '--devices',
        String(devices),
        '--data-dir',
        mkdtempSync(join(tmp, 'platform-')),
        '--loopback-prefix',
        `127.79.${index + 1}`,
      ],
      SERVER_EXEC_ARGV,
    );
    try {
      const ready = await nextMessage<ServerReady>(server, 'ready', options.timeoutSeconds * 1000);
      identitySeconds[devices] = ready.identitySeconds;
      const caPath = join(tmp, `ca-${index}.pem`);
      writeFileSync(caPath, ready.target.ca);
      log(
        `${devices} devices: hub ${ready.target.hostName}:${ready.target.mqttPort}, identities in ${ready.identitySeconds.toFixed(1)} s`,
      );
      // Alternate who goes first, so neither always gets the cooler machine.
      const kinds = index % 2 === 0 ? options.kinds : [...options.kinds].reverse();
      for (const kind of kinds) results.push(await runFleet(kind, devices, ready, server, caPath));
    } finally {
      await stopChild(server, { type: 'close' } satisfies ServerRequest);
    }
  }
  results.sort((a, b) => a.devices - b.devices || options.kinds.indexOf(a.kind) - options.kinds.indexOf(b.kind));
  report(results, identitySeconds);
  if (results.some((r) => r.error !== undefined)) process.exitCode = 1;
} catch (error) {
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  children.killAll();
  rmSync(tmp, { recursive: true, force: true });
}
