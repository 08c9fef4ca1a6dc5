/**
 * `bench/hub-core`: the server CPU per telemetry message of the hub's own path — MQTT session, hub core,
 * SQLite storage with group commit — without TLS, sockets or MQTT framing, which the end-to-end
 * `bench/hub-ingest` shares with every broker and which make its figures move with the machine. Decoded
 * PUBLISH packets go straight into `MqttSession`s of 500 connected devices, bare and shaped as the
 * official SDKs send them (`$.ct`, `$.ce`, `iothub-creation-time-utc`), alternating; each phase ends when
 * every message is PUBACKed, i.e. durable.
 *
 * Usage (builds first; measures the built packages):
 *   npm run bench:hub-core -- [--baseline DIR] [--rounds 6] [--devices 500] [--messages-per-device 40]
 *
 * `--baseline DIR`: the same measurement of Plugboard as built in DIR (a checkout of an earlier revision
 * with its own `npm ci` and `npx tsc -b`), each build in its own process, alternating: the ratio is the
 * change's cost or saving on the same machine at the same time.
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type * as Protocol from '@plugboard/protocol';
import type * as Server from '@plugboard/server';
import { median } from '../common/latency.js';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '6' },
    devices: { type: 'string', default: '500' },
    'messages-per-device': { type: 'string', default: '40' },
    child: { type: 'string' },
  },
});

type Shape = 'bare' | 'sdk';
interface ChildResult {
  shape: Shape;
  cpuMicrosPerMessage: number;
}

/** The measuring child: loads the server package at `dist`, connects the devices, runs the phases. */
async function child(dist: string): Promise<void> {
  const server = (await import(pathToFileURL(join(dist, 'packages/server/dist/index.js')).href)) as typeof Server;
  const protocol = (await import(pathToFileURL(join(dist, 'packages/protocol/dist/index.js')).href)) as typeof Protocol;
  const devices = Number(values.devices);
  const perDevice = Number(values['messages-per-device']);
  const rounds = Number(values.rounds);
  const dir = mkdtempSync(join(tmpdir(), 'plugboard-hub-core-'));
  const storage = server.SqliteStorage.open({ path: join(dir, 'plugboard.db') });
  const logger = server.createLogger({ level: 'silent' });
  const HOST = 'hub.bench';
  const hub = await server.Hub.open({ name: 'hub-1', hostName: HOST, storage, logger });
  let acked = 0;
  const sessions: { session: InstanceType<typeof server.MqttSession>; deviceId: string; base: string }[] = [];
  for (let d = 0; d < devices; d++) {
    const deviceId = `dev-${String(d).padStart(5, '0')}`;
    await hub.createIdentity({ deviceId });
    const auth = hub.getIdentity({ deviceId }).record.authentication;
    const password = await protocol.createSharedAccessSignature({
      resource: `${HOST}/devices/${deviceId}`,
      key: auth.type === 'sas' ? auth.symmetricKey.primaryKey : '',
      expiry: Math.floor(Date.now() / 1000) + 3600,
    });
    let connected: () => void = () => undefined;
    const ready = new Promise<void>((r) => (connected = r));
    const session = new server.MqttSession({
      resolveHub: (h) => (h === HOST ? hub : undefined),
      logger,
      sink: {
        transport: 'mqtt',
        clientCertificates: undefined,
        send(p) {
          if (p.cmd === 'connack') connected();
          else if (p.cmd === 'puback') acked++;
        },
        close() {},
      },
    });
    session.handlePacket({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
      clientId: deviceId,
      username: `${HOST}/${deviceId}/?api-version=2021-04-12`,
      password: Buffer.from(password),
    });
    await ready;
    sessions.push({ session, deviceId, base: `devices/${deviceId}/messages/events/` });
  }
  const body = (id: string, seq: number): Buffer =>
    Buffer.from(
      `{"deviceId":"${id}","seq":${seq},"temperature":${(20 + (seq % 100) / 10).toFixed(1)},"humidity":45.2,"ts":${Date.now()}}`,
    );
  let messageId = 0;
  const phase = async (shape: Shape, count: number): Promise<number> => {
    const target = acked + count * sessions.length;
    const cpu = process.cpuUsage();
    for (let i = 0; i < count; i++) {
      for (const s of sessions) {
        const topic =
          shape === 'bare'
            ? s.base
            : `${s.base}%24.ct=application%2Fjson&%24.ce=utf-8&iothub-creation-time-utc=${encodeURIComponent(new Date().toISOString())}`;
        messageId = messageId === 65535 ? 1 : messageId + 1;
        s.session.handlePacket({
          cmd: 'publish',
          topic,
          payload: body(s.deviceId, i),
          qos: 1,
          messageId,
          retain: false,
          dup: false,
        });
      }
      // A window of four messages per device, as the end-to-end benchmark's clients keep.
      if (i % 4 === 3) await new Promise((r) => setImmediate(r));
    }
    while (acked < target) await new Promise((r) => setImmediate(r));
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / (count * sessions.length);
  };
  await phase('bare', 10);
  await phase('sdk', 10);
  for (let r = 0; r < rounds; r++) {
    for (const shape of r % 2 === 0 ? (['bare', 'sdk'] as const) : (['sdk', 'bare'] as const)) {
      const result: ChildResult = { shape, cpuMicrosPerMessage: await phase(shape, perDevice) };
      process.send?.(result);
    }
  }
  hub.close();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}

function runChild(dist: string): Promise<ChildResult[]> {
  return new Promise((resolvePromise, reject) => {
    const results: ChildResult[] = [];
    const forwarded = [
      '--rounds',
      values.rounds,
      '--devices',
      values.devices,
      '--messages-per-device',
      values['messages-per-device'],
    ];
    const p = fork(fileURLToPath(import.meta.url), ['--child', dist, ...forwarded], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    p.on('message', (m: ChildResult) => results.push(m));
    p.on('exit', (code) => (code === 0 ? resolvePromise(results) : reject(new Error(`child ${dist} exited ${code}`))));
  });
}

function revision(dir: string): string {
  try {
    return execFileSync('git', ['-C', dir, 'describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

if (values.child !== undefined) {
  await child(values.child);
} else {
  const here = resolve(fileURLToPath(new URL('../..', import.meta.url)));
  const builds = [{ name: 'plugboard', dir: here }];
  if (values.baseline !== undefined) builds.push({ name: 'baseline', dir: resolve(values.baseline) });
  const all = new Map<string, ChildResult[]>(builds.map((b) => [b.name, []]));
  // Two passes, alternating the builds, so neither always runs on the cooler machine.
  for (const pass of [0, 1]) {
    for (const build of pass === 0 ? builds : [...builds].reverse()) {
      process.stderr.write(`[hub-core] ${build.name} (${revision(build.dir)}), pass ${pass + 1}\n`);
      all.get(build.name)?.push(...(await runChild(build.dir)));
    }
  }
  const lines = [
    `Machine: ${cpus()[0]?.model.trim() ?? 'unknown'} x ${cpus().length}, Node ${process.version}; ${values.devices} devices, ` +
      `${values['messages-per-device']} messages per device per phase, ${values.rounds} rounds x 2 passes`,
    '',
    '| build | revision | bare µs/msg | SDK-shaped µs/msg | SDK − bare |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  const summary: Record<string, { bare: number; sdk: number }> = {};
  for (const build of builds) {
    const results = all.get(build.name) ?? [];
    const bare = median(results.filter((r) => r.shape === 'bare').map((r) => r.cpuMicrosPerMessage));
    const sdk = median(results.filter((r) => r.shape === 'sdk').map((r) => r.cpuMicrosPerMessage));
    summary[build.name] = { bare, sdk };
    lines.push(
      `| ${build.name} | ${revision(build.dir)} | ${bare.toFixed(1)} | ${sdk.toFixed(1)} | ${(sdk - bare).toFixed(1)} |`,
    );
  }
  const base = summary['baseline'];
  const now = summary['plugboard'];
  if (base !== undefined && now !== undefined) {
    lines.push('');
    lines.push(
      `plugboard / baseline CPU per message: bare ${(now.bare / base.bare).toFixed(2)}, SDK-shaped ${(now.sdk / base.sdk).toFixed(2)}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
