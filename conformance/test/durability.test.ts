/**
 * Durability of acknowledged telemetry across a crash: `plugboard up` runs as a child process, several
 * devices publish QoS 1 telemetry as fast as a window allows, and the server is killed (SIGKILL) or stopped
 * (SIGTERM) mid-burst. After a restart on the same data directory, every message the server PUBACKed must be
 * in storage, read back through the service REST API, and every modeled value of those messages is in the
 * Central application's views (its projection reads on from its checkpoint). protocol.md §1.5 ("reply PUBACK as soon as the
 * message is accepted"), [MQTT-4.3.2-2] (a PUBACK transfers ownership of the message to the receiver).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import type { Packet } from 'mqtt-packet';
import serviceSdk from 'azure-iothub';
import { createSharedAccessSignature, parseConnectionString } from '@plugboard/protocol';
import rhea, { type Delivery } from 'rhea';
import { RawAmqp, RawMqtt, mqttUsername, randomLoopbackPrefix, withTimeout } from './harness.js';

const { Registry } = serviceSdk;

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const DEVICES = 8;
const WINDOW = 20;
const ACKS_BEFORE_STOP = 2000;

/** The part of `plugboard up --json`'s manifest line this test uses. */
interface ManifestHub {
  name: string;
  hostName: string;
  mqttPort: number;
  httpsPort: number;
  serviceConnectionString: string;
}
interface Manifest {
  hubs: ManifestHub[];
  caCertificate: string;
  dataDir: string;
  api: { baseUrl: string; token: string };
  central: { hostName: string; address: string; httpsPort: number };
}

const TEMPLATE_ID = 'dtmi:plugboard:durableThermometer;1';
const TEMPLATE = {
  displayName: 'Durable thermometer',
  capabilityModel: {
    '@context': 'dtmi:dtdl:context;2',
    '@id': 'dtmi:plugboard:DurableThermometer;1',
    '@type': 'Interface',
    contents: [{ '@type': 'Telemetry', name: 'temperature', schema: 'double' }],
  },
};

interface ServerProcess {
  child: ChildProcess;
  manifest: Manifest;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

const children = new Set<ChildProcess>();
const dataDirs: string[] = [];

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await withTimeout(exited, 10_000, 'killing a leftover server');
    }
  }
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh data directory holding the run's test CA (as harness.startTestPlatform prepares one). */
function newDataDir(): string {
  const caDir = process.env['PLUGBOARD_TEST_CA_DIR'];
  if (caDir === undefined || process.env['NODE_EXTRA_CA_CERTS'] === undefined) {
    throw new Error('Run tests through `npm test` (scripts/run-tests.mjs): it creates the CA the SDKs trust.');
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'plugboard-durability-'));
  dataDirs.push(dataDir);
  const tlsDir = join(dataDir, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  copyFileSync(join(caDir, 'ca.pem'), join(tlsDir, 'ca.pem'));
  copyFileSync(join(caDir, 'ca.key.pem'), join(tlsDir, 'ca.key.pem'));
  return dataDir;
}

/** Runs `plugboard up --json` as a child process and resolves with its manifest once it is ready. */
async function startServer(dataDir: string, loopbackPrefix: string): Promise<ServerProcess> {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT'];
  const child = spawn(
    process.execPath,
    [
      '--conditions=plugboard-source',
      '--import',
      'tsx',
      'packages/cli/src/main.ts',
      'up',
      '--data-dir',
      dataDir,
      '--hubs',
      '1',
      '--loopback-prefix',
      loopbackPrefix,
      '--json',
      '--log-level',
      'warn',
    ],
    { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let output = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const manifest = await withTimeout(
    new Promise<Manifest>((resolve, reject) => {
      lines.on('line', (line) => {
        output += `${line}\n`;
        try {
          const value = JSON.parse(line) as Partial<Manifest>;
          if (Array.isArray(value.hubs)) resolve(value as Manifest);
        } catch {
          // Not JSON: a log line.
        }
      });
      void exited.then(({ code, signal }) =>
        reject(new Error(`plugboard up exited (${code ?? signal}) before printing its manifest:\n${output}`)),
      );
    }),
    30_000,
    'plugboard up printing its manifest',
  );
  return { child, manifest, exited, output: () => output };
}

function onlyHub(manifest: Manifest): ManifestHub {
  const hub = manifest.hubs[0];
  assert.ok(hub, 'the manifest lists a hub');
  return hub;
}

/** A GET on the hub's service REST API with a token of the connection string's policy. */
async function serviceGet(hub: ManifestHub, ca: string, path: string): Promise<{ status: number; body: unknown }> {
  const cs = parseConnectionString(hub.serviceConnectionString);
  const keyName = cs['SharedAccessKeyName'];
  const key = cs['SharedAccessKey'];
  assert.ok(keyName !== undefined && key !== undefined, 'a policy connection string');
  const authorization = await createSharedAccessSignature({
    resource: hub.hostName,
    key,
    keyName,
    expiry: Math.floor(Date.now() / 1000) + 3600,
    encodeResource: false,
  });
  return sendJson({
    host: hub.hostName,
    port: hub.httpsPort,
    method: 'GET',
    path,
    headers: { authorization, host: hub.hostName },
    ca,
  });
}

/** One HTTPS request; the answer's body parsed as JSON when it is JSON. */
function sendJson(options: RequestOptions, payload?: Buffer): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A Central REST call with the manifest's admin token, on the application's address. */
async function central(
  manifest: Manifest,
  ca: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return sendJson(
    {
      host: manifest.central.address,
      servername: manifest.central.hostName,
      port: manifest.central.httpsPort,
      method,
      path,
      headers: {
        authorization: manifest.api.token,
        host: manifest.central.hostName,
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ca,
    },
    payload,
  );
}

/** Every modeled `temperature` value of a device in the Central application, page by page. */
async function modeledValues(manifest: Manifest, ca: string, deviceId: string): Promise<number> {
  let count = 0;
  let after = 0;
  for (;;) {
    const response = await central(
      manifest,
      ca,
      'GET',
      `/plugboard/devices/${deviceId}/telemetry/temperature?top=1000&after=${after}`,
    );
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const page = response.body as { value: unknown[]; next?: number };
    count += page.value.length;
    if (page.next === undefined) return count;
    after = page.next;
  }
}

/** Every stored `messageId` of a device, read page by page from `GET /plugboard/telemetry`. */
async function storedMessageIds(hub: ManifestHub, ca: string, deviceId: string): Promise<string[]> {
  const ids: string[] = [];
  let after = 0;
  for (;;) {
    const response = await serviceGet(
      hub,
      ca,
      `/plugboard/telemetry?deviceId=${encodeURIComponent(deviceId)}&limit=10000&after=${after}`,
    );
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const page = (response.body as { value: { sequenceNumber: number; deviceId: string; messageId: string }[] }).value;
    if (page.length === 0) return ids;
    for (const record of page) {
      assert.equal(record.deviceId, deviceId);
      assert.ok(record.sequenceNumber > after, 'pages advance by sequence number');
      ids.push(record.messageId);
      after = record.sequenceNumber;
    }
  }
}

type Puback = Extract<Packet, { cmd: 'puback' }>;
const isPuback = (p: Packet): p is Puback => p.cmd === 'puback';

interface DeviceTally {
  deviceId: string;
  /** Messages published (`$.mid` 0 .. sent-1). */
  sent: number;
  /** `$.mid`s the server PUBACKed. */
  acked: number[];
}

/**
 * Publishes QoS 1 telemetry with up to {@link WINDOW} unacknowledged messages until the connection closes,
 * recording which `$.mid`s were PUBACKed.
 */
async function publishUntilClosed(
  connection: RawMqtt,
  deviceId: string,
  onAck: (inflight: number) => void,
): Promise<DeviceTally> {
  const inflight = new Map<number, number>();
  const acked: number[] = [];
  let sent = 0;
  const payload = Buffer.from(JSON.stringify({ temperature: 21.5, padding: 'x'.repeat(64) }));
  for (;;) {
    while (!connection.closed && inflight.size < WINDOW) {
      const mid = sent++;
      const messageId = (mid % 65535) + 1;
      inflight.set(messageId, mid);
      connection.send({
        cmd: 'publish',
        topic: `devices/${deviceId}/messages/events/%24.mid=${mid}`,
        qos: 1,
        messageId,
        payload,
        retain: false,
        dup: false,
      });
    }
    let puback: Puback;
    try {
      puback = await connection.next(isPuback, 20_000);
    } catch {
      // The server went away (or stopped answering): the burst is over for this device.
      connection.end();
      return { deviceId, sent, acked };
    }
    const mid = inflight.get(puback.messageId ?? -1);
    assert.ok(mid !== undefined, `PUBACK ${puback.messageId} answers a message in flight`);
    inflight.delete(puback.messageId ?? -1);
    acked.push(mid);
    onAck(inflight.size);
  }
}

/**
 * The AMQP form of {@link publishUntilClosed}: a device puts its token on `$cbs`, then sends telemetry on
 * its events link with up to {@link WINDOW} unsettled deliveries until the connection ends, recording
 * which message ids the server accepted.
 */
async function publishAmqpUntilClosed(
  hostName: string,
  ca: string,
  deviceId: string,
  password: string,
  onAck: (inflight: number) => void,
): Promise<DeviceTally> {
  const amqp = RawAmqp.connect(hostName, ca);
  assert.equal(
    await amqp.putToken(`${hostName}/devices/${deviceId}`, password, 10_000),
    '200',
    `${deviceId} puts its token`,
  );
  const sender = amqp.connection.open_sender({ target: { address: `/devices/${deviceId}/messages/events` } });
  const payload = Buffer.from(JSON.stringify({ temperature: 21.5, padding: 'x'.repeat(64) }));
  const acked: number[] = [];
  const mids = new Map<Delivery, number>();
  let sent = 0;
  return new Promise<DeviceTally>((resolve) => {
    const pump = (): void => {
      while (!amqp.closed && mids.size < WINDOW && sender.sendable()) {
        const mid = sent++;
        mids.set(sender.send({ message_id: String(mid), body: rhea.message.data_section(payload) }), mid);
      }
    };
    sender.on('accepted', (context) => {
      const delivery = context.delivery;
      const mid = delivery === undefined ? undefined : mids.get(delivery);
      if (delivery === undefined || mid === undefined) return;
      mids.delete(delivery);
      acked.push(mid);
      onAck(mids.size);
      pump();
    });
    sender.on('sendable', pump);
    const done = (): void => resolve({ deviceId, sent, acked });
    amqp.connection.on('disconnected', done);
    amqp.connection.on('connection_close', done);
    pump();
  });
}

interface BurstResult {
  tallies: DeviceTally[];
  /** PUBACKs counted when the signal was sent. */
  ackedAtSignal: number;
  /** Messages published but not yet PUBACKed when the signal was sent. */
  inflightAtSignal: number;
  serviceConnectionString: string;
}

/**
 * Starts a server, registers {@link DEVICES} devices through azure-iothub, runs the burst and sends
 * `signal` to the server once {@link ACKS_BEFORE_STOP} PUBACKs have arrived.
 */
async function burstAndStop(
  dataDir: string,
  loopbackPrefix: string,
  signal: NodeJS.Signals,
  transport: 'mqtt' | 'amqp' = 'mqtt',
): Promise<BurstResult & { exit: { code: number | null; signal: NodeJS.Signals | null }; server: ServerProcess }> {
  const server = await startServer(dataDir, loopbackPrefix);
  const hub = onlyHub(server.manifest);
  const ca = readFileSync(server.manifest.caCertificate, 'utf8');
  const registry = Registry.fromConnectionString(hub.serviceConnectionString);
  const deviceIds = Array.from({ length: DEVICES }, (_, i) => `durable-${i + 1}`);
  // The devices are application devices with a template: their messages are judged while they arrive.
  const imported = await central(
    server.manifest,
    ca,
    'PUT',
    `/api/deviceTemplates/${TEMPLATE_ID}?api-version=2022-07-31`,
    TEMPLATE,
  );
  assert.equal(imported.status, 200, JSON.stringify(imported.body));
  for (const deviceId of deviceIds) {
    const created = await central(server.manifest, ca, 'PUT', `/api/devices/${deviceId}?api-version=2022-07-31`, {
      template: TEMPLATE_ID,
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
  }
  const devicesWithPasswords = await Promise.all(
    deviceIds.map(async (deviceId) => {
      const { responseBody: device } = await registry.create({ deviceId });
      const key = device.authentication?.symmetricKey?.primaryKey;
      assert.ok(key, 'the hub generated a key');
      const password = await createSharedAccessSignature({
        resource: `${hub.hostName}/devices/${deviceId}`,
        key,
        expiry: Math.floor(Date.now() / 1000) + 3600,
      });
      return { deviceId, password };
    }),
  );
  const connections =
    transport === 'amqp'
      ? []
      : await Promise.all(
          devicesWithPasswords.map(async ({ deviceId, password }) => {
            const connection = await RawMqtt.connect({ host: hub.hostName, port: hub.mqttPort, ca });
            const connack = await connection.handshake({
              clientId: deviceId,
              username: mqttUsername(hub.hostName, deviceId),
              password,
              clean: true,
            });
            assert.equal(connack.returnCode, 0, `${deviceId} connects`);
            return { deviceId, connection };
          }),
        );

  let total = 0;
  let signalled = false;
  let ackedAtSignal = 0;
  let inflightAtSignal = 0;
  const inflightByDevice = new Map<string, number>();
  const onAck = (deviceId: string) => (inflight: number) => {
    inflightByDevice.set(deviceId, inflight);
    total += 1;
    if (!signalled && total >= ACKS_BEFORE_STOP) {
      signalled = true;
      ackedAtSignal = total;
      inflightAtSignal = [...inflightByDevice.values()].reduce((a, b) => a + b, 0);
      server.child.kill(signal);
    }
  };
  const tallies = await Promise.all(
    transport === 'amqp'
      ? devicesWithPasswords.map(({ deviceId, password }) =>
          publishAmqpUntilClosed(hub.hostName, ca, deviceId, password, onAck(deviceId)),
        )
      : connections.map(({ deviceId, connection }) => publishUntilClosed(connection, deviceId, onAck(deviceId))),
  );
  assert.ok(signalled, `the burst reached ${ACKS_BEFORE_STOP} PUBACKs before the connections ended`);
  const exit = await withTimeout(server.exited, 20_000, `the server exiting after ${signal}`);
  return {
    tallies,
    ackedAtSignal,
    inflightAtSignal,
    serviceConnectionString: hub.serviceConnectionString,
    exit,
    server,
  };
}

/** Restarts on `dataDir` and checks that storage holds every PUBACKed message (and nothing unsent). */
async function verifyAfterRestart(
  t: { diagnostic(message: string): void },
  dataDir: string,
  loopbackPrefix: string,
  burst: BurstResult,
): Promise<void> {
  const server = await startServer(dataDir, loopbackPrefix);
  try {
    const hub = onlyHub(server.manifest);
    assert.equal(
      hub.serviceConnectionString,
      burst.serviceConnectionString,
      'the hub policy keys persist across restarts',
    );
    const ca = readFileSync(server.manifest.caCertificate, 'utf8');
    let totalAcked = 0;
    let totalStored = 0;
    let totalSent = 0;
    for (const tally of burst.tallies) {
      const stored = await storedMessageIds(hub, ca, tally.deviceId);
      const storedSet = new Set(stored);
      assert.equal(storedSet.size, stored.length, `${tally.deviceId}: no message is stored twice`);
      const lost = tally.acked.filter((mid) => !storedSet.has(String(mid)));
      assert.deepEqual(
        lost.slice(0, 20),
        [],
        `${tally.deviceId}: ${lost.length} of ${tally.acked.length} PUBACKed messages are missing from storage`,
      );
      const unknown = stored.filter((mid) => !(Number(mid) >= 0 && Number(mid) < tally.sent));
      assert.deepEqual(unknown, [], `${tally.deviceId}: storage holds only messages that were sent`);
      t.diagnostic(`${tally.deviceId}: sent ${tally.sent}, PUBACKed ${tally.acked.length}, stored ${stored.length}`);
      totalAcked += tally.acked.length;
      totalStored += stored.length;
      totalSent += tally.sent;
    }
    t.diagnostic(
      `total: sent ${totalSent}, PUBACKed ${totalAcked} (${burst.ackedAtSignal} when signalled, ` +
        `${burst.inflightAtSignal} in flight), stored ${totalStored}`,
    );
    assert.ok(totalStored >= totalAcked);

    // The Central application judged every stored message once: its counts equal the store's (a replay
    // after the crash neither missed nor repeated one), and each message's value is queryable.
    for (const tally of burst.tallies) {
      const stored = (await storedMessageIds(hub, ca, tally.deviceId)).length;
      const counted = await withTimeout(
        (async () => {
          for (;;) {
            const raw = await central(
              server.manifest,
              ca,
              'GET',
              `/plugboard/devices/${tally.deviceId}/rawMessages?top=1`,
            );
            const counts = (raw.body as { counts: { messages: number } }).counts;
            if (counts.messages >= stored) return counts.messages;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        })(),
        20_000,
        `${tally.deviceId}: the Central projection catching up`,
      );
      assert.equal(counted, stored, `${tally.deviceId}: every stored message is counted once`);
      assert.equal(
        await modeledValues(server.manifest, ca, tally.deviceId),
        stored,
        `${tally.deviceId}: modeled values`,
      );
    }

    // The restarted server serves the same registry: a device reconnects with its key and publishes.
    const registry = Registry.fromConnectionString(hub.serviceConnectionString);
    const deviceId = burst.tallies[0]?.deviceId ?? 'durable-1';
    const { responseBody: device } = await registry.get(deviceId);
    const key = device.authentication?.symmetricKey?.primaryKey;
    assert.ok(key);
    const connection = await RawMqtt.connect({ host: hub.hostName, port: hub.mqttPort, ca });
    try {
      const connack = await connection.handshake({
        clientId: deviceId,
        username: mqttUsername(hub.hostName, deviceId),
        password: await createSharedAccessSignature({
          resource: `${hub.hostName}/devices/${deviceId}`,
          key,
          expiry: Math.floor(Date.now() / 1000) + 3600,
        }),
        clean: true,
      });
      assert.equal(connack.returnCode, 0);
      connection.send({
        cmd: 'publish',
        topic: `devices/${deviceId}/messages/events/%24.mid=after-restart`,
        qos: 1,
        messageId: 1,
        payload: Buffer.from('{}'),
        retain: false,
        dup: false,
      });
      const puback = await connection.next(isPuback);
      assert.equal(puback.messageId, 1);
    } finally {
      connection.end();
    }
    const ids = await storedMessageIds(hub, ca, deviceId);
    assert.equal(ids.at(-1), 'after-restart');
  } finally {
    server.child.kill('SIGKILL');
    await withTimeout(server.exited, 10_000, 'stopping the restarted server');
  }
}

describe('[§1.5][MQTT-4.3.2-2] durability of PUBACKed telemetry (plugboard up as a child process)', () => {
  it('kill -9 during a QoS 1 burst from several devices: after restart every PUBACKed message is stored', async (t) => {
    const dataDir = newDataDir();
    const prefix = randomLoopbackPrefix();
    const burst = await burstAndStop(dataDir, prefix, 'SIGKILL');
    assert.equal(burst.exit.signal, 'SIGKILL');
    assert.ok(burst.inflightAtSignal > 0, 'publishing was still going on when the server was killed');
    await verifyAfterRestart(t, dataDir, prefix, burst);
  });

  it('kill -9 during AMQP telemetry: after restart every accepted (settled) message is stored', async (t) => {
    const dataDir = newDataDir();
    const prefix = randomLoopbackPrefix();
    const burst = await burstAndStop(dataDir, prefix, 'SIGKILL', 'amqp');
    assert.equal(burst.exit.signal, 'SIGKILL');
    assert.ok(burst.inflightAtSignal > 0, 'sending was still going on when the server was killed');
    await verifyAfterRestart(t, dataDir, prefix, burst);
  });

  it('SIGTERM during a QoS 1 burst: the server exits 0 and every PUBACKed message is stored', async (t) => {
    const dataDir = newDataDir();
    const prefix = randomLoopbackPrefix();
    const burst = await burstAndStop(dataDir, prefix, 'SIGTERM');
    assert.deepEqual(
      burst.exit,
      { code: 0, signal: null },
      `a graceful stop exits 0; server output:\n${burst.server.output()}`,
    );
    assert.ok(burst.inflightAtSignal > 0, 'publishing was still going on when the server was stopped');
    await verifyAfterRestart(t, dataDir, prefix, burst);
  });
});
