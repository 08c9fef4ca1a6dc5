/**
 * Test harness: starts a platform on loopback addresses of its own (so test files can run in parallel on
 * the real ports the official SDKs hard-code: 8883 and 443), trusting the run's CA through
 * NODE_EXTRA_CA_CERTS (set by scripts/run-tests.mjs).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Writable } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import deviceSdk from 'azure-iot-device';
import rhea, { type Connection as AmqpConnection } from 'rhea';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { createSharedAccessSignature } from '@plugboard/protocol';
import { buildProgram } from '@plugboard/cli';
import assert from 'node:assert/strict';
import {
  createLogger,
  issueCertificate,
  startPlatform,
  type Hub,
  type Platform,
  type PlatformOptions,
  type TelemetryRecord,
} from '@plugboard/server';

/** A random 127.x.y prefix so parallel test files never share an address. */
export function randomLoopbackPrefix(): string {
  const a = 1 + Math.floor(Math.random() * 254);
  const b = 1 + Math.floor(Math.random() * 254);
  return `127.${a}.${b}`;
}

export interface TestPlatform extends Platform {
  dataDir: string;
  /** Stops the platform and removes its data directory. */
  dispose(): Promise<void>;
}

/** Starts a platform for a test; `options.dataDir` reuses a directory (restart tests). */
export async function startTestPlatform(options: Partial<PlatformOptions> = {}): Promise<TestPlatform> {
  const caDir = process.env['PLUGBOARD_TEST_CA_DIR'];
  if (caDir === undefined || process.env['NODE_EXTRA_CA_CERTS'] === undefined) {
    throw new Error('Run tests through `npm test` (scripts/run-tests.mjs): it creates the CA the SDKs trust.');
  }
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'plugboard-test-'));
  const tlsDir = join(dataDir, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  copyFileSync(join(caDir, 'ca.pem'), join(tlsDir, 'ca.pem'));
  copyFileSync(join(caDir, 'ca.key.pem'), join(tlsDir, 'ca.key.pem'));
  const platform = await startPlatform({
    hubs: 1,
    loopbackPrefix: randomLoopbackPrefix(),
    logger: createLogger({ level: process.env['PLUGBOARD_TEST_LOG'] ?? 'silent' }),
    ...options,
    dataDir,
  });
  return Object.assign(platform, {
    dataDir,
    async dispose() {
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** A transport class of the official device SDK (`Mqtt`, `MqttWs`, `Amqp`, `Http`, …). */
export type DeviceTransport = Parameters<typeof deviceSdk.Client.fromConnectionString>[1];

/** An official-SDK device client with SAS for `deviceId` (created on `hub` when absent) over `transport`. */
export async function sasDeviceClient(
  hub: Hub,
  deviceId: string,
  transport: DeviceTransport,
): Promise<InstanceType<typeof deviceSdk.Client>> {
  if (!hub.has({ deviceId })) await hub.createIdentity({ deviceId });
  return deviceSdk.Client.fromConnectionString(hub.deviceConnectionString({ deviceId }), transport);
}

/**
 * An official-SDK device client with a new self-signed X.509 identity on `hub`, for any transport: it
 * opens, sends one message `x509`, checks it was stored with the certificate auth method, and closes.
 * The certificate is set without waiting for `setOptions`: the Http transport never calls back from it
 * (the official X.509 samples do not wait either); every transport applies it before returning.
 */
export async function assertX509DeviceSends(hub: Hub, deviceId: string, transport: DeviceTransport): Promise<void> {
  const cert = await issueCertificate({ commonName: deviceId, extendedKeyUsage: 'clientAuth' });
  await hub.createIdentity({
    deviceId,
    authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: cert.thumbprintSha1 } },
  });
  const client = deviceSdk.Client.fromConnectionString(
    `HostName=${hub.hostName};DeviceId=${deviceId};x509=true`,
    transport,
  );
  void client.setOptions({ cert: cert.certificatePem, key: cert.privateKeyPem });
  await withTimeout(client.open(), 15_000, 'open');
  await withTimeout(client.sendEvent(new deviceSdk.Message('x509')), 10_000, 'sendEvent');
  const [record] = await hub.queryTelemetry({ deviceId });
  assert.equal(Buffer.from(record?.body ?? []).toString(), 'x509');
  assert.equal(
    record?.systemProperties['iothub-connection-auth-method'],
    '{"scope":"device","type":"x509Certificate","issuer":"iothub"}',
  );
  await client.close();
}

/**
 * Checks that the message every device test sends — body `{"temperature":21.5}`, message id `mid-1`,
 * correlation id `cid/1`, JSON in UTF-8, component `thermostat1`, created `2021-04-21T11:30:16Z` — was
 * stored as sent, with the hub's system properties and an enqueued time stamped after `sentAt`: the same
 * record whatever the transport.
 */
export function assertStoredAsSent(record: TelemetryRecord | undefined, deviceId: string, sentAt: number): void {
  assert.ok(record, 'the message is stored before it is acknowledged');
  assert.equal(Buffer.from(record.body).toString(), '{"temperature":21.5}');
  assert.equal(record.messageId, 'mid-1');
  assert.equal(record.correlationId, 'cid/1');
  assert.equal(record.contentType, 'application/json');
  assert.equal(record.contentEncoding, 'utf-8');
  assert.equal(record.component, 'thermostat1');
  assert.equal(record.creationTime, '2021-04-21T11:30:16Z');
  assert.equal(record.systemProperties['dt-subject'], 'thermostat1');
  assert.equal(record.systemProperties['iothub-connection-device-id'], deviceId);
  const enqueued = Date.parse(record.enqueuedTime);
  assert.ok(enqueued >= sentAt - 5 && enqueued <= Date.now(), 'enqueued time is stamped by the hub');
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Wraps a callback-style SDK call (the Azure SDKs accept callbacks or return promises). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The hub of a single-hub test platform. */
export function onlyHub(platform: Platform): Hub {
  const hub = platform.hubs[0];
  if (hub === undefined) throw new Error('platform has no hub');
  return hub;
}

/** Options for {@link rawMqtt}. */
export interface RawMqttOptions {
  host: string;
  port?: number;
  ca: string;
  cert?: string;
  key?: string;
}

/**
 * A bare MQTT 3.1.1 client over TLS (mqtt-packet + node:tls) for tests that need exact packets: CONNACK
 * codes, forbidden topics, malformed input.
 */
export class RawMqtt {
  readonly socket: TLSSocket;
  readonly packets: Packet[] = [];
  closed = false;
  readonly #waiters = new Set<() => void>();

  private constructor(socket: TLSSocket) {
    this.socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      this.packets.push(p);
      this.#wake();
    });
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Opens the TLS connection. */
  static connect(options: RawMqttOptions): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: options.host,
        port: options.port ?? 8883,
        ca: options.ca,
        ...(options.cert === undefined ? {} : { cert: options.cert }),
        ...(options.key === undefined ? {} : { key: options.key }),
      });
      socket.once('secureConnect', () => resolve(new RawMqtt(socket)));
      socket.once('error', reject);
    });
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet));
  }

  /** Waits for the first received packet matching `match` (consumes it). */
  async next<T extends Packet>(match: (p: Packet) => p is T, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.packets.findIndex(match);
      if (index >= 0) return this.packets.splice(index, 1)[0] as T;
      if (this.closed) throw new Error('connection closed before the packet arrived');
      if (Date.now() > deadline) throw new Error('timed out waiting for a packet');
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, deadline - Date.now()));
        this.#waiters.add(done);
      });
    }
  }

  /** Resolves once the server has closed the connection (rejects after `timeoutMs`). */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    await eventually(() => (this.closed ? true : undefined), timeoutMs, 'the server to close the connection');
  }

  /** Sends CONNECT and returns the CONNACK. */
  async handshake(connect: {
    clientId: string;
    username: string;
    password?: string;
    clean?: boolean;
    keepalive?: number;
    protocolVersion?: 3 | 4;
  }): Promise<Extract<Packet, { cmd: 'connack' }>> {
    this.send({
      cmd: 'connect',
      protocolId: connect.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: connect.protocolVersion ?? 4,
      clean: connect.clean ?? false,
      keepalive: connect.keepalive ?? 60,
      clientId: connect.clientId,
      username: connect.username,
      ...(connect.password === undefined ? {} : { password: Buffer.from(connect.password) }),
    });
    return this.next((p): p is Extract<Packet, { cmd: 'connack' }> => p.cmd === 'connack');
  }

  end(): void {
    this.socket.destroy();
  }
}

/** An IoT Hub MQTT user name for an identity. */
export function mqttUsername(hostName: string, deviceId: string, moduleId?: string): string {
  return `${hostName}/${deviceId}${moduleId === undefined ? '' : `/${moduleId}`}/?api-version=2021-04-12`;
}

/** A device SAS token (as the Node device SDK builds it). */
export async function deviceToken(
  hub: Hub,
  deviceId: string,
  options: { expiry?: number; key?: string } = {},
): Promise<string> {
  const auth = hub.getIdentity({ deviceId }).record.authentication;
  const key = options.key ?? (auth.type === 'sas' ? auth.symmetricKey.primaryKey : '');
  return createSharedAccessSignature({
    resource: `${hub.hostName}/devices/${deviceId}`,
    key,
    expiry: options.expiry ?? Math.floor(Date.now() / 1000) + 3600,
  });
}

/** A service-policy SAS token for the hub's REST API. */
export async function serviceToken(hub: Hub, keyName = 'iothubowner'): Promise<string> {
  const policy = hub.policies.find((p) => p.keyName === keyName);
  if (policy === undefined) throw new Error(`no policy ${keyName}`);
  return createSharedAccessSignature({
    resource: hub.hostName,
    key: policy.primaryKey,
    keyName,
    expiry: Math.floor(Date.now() / 1000) + 3600,
    encodeResource: false,
  });
}

/** An HTTPS request to a hub's REST API; resolves with status, headers and parsed JSON body. */
export function hubRequest(
  platform: Platform,
  hub: Hub,
  request: {
    method: string;
    path: string;
    body?: unknown;
    headers?: Record<string, string>;
    authorization?: string | null;
  },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: unknown; text: string }> {
  const endpoint = platform.endpoints.find((e) => e.hub === hub);
  if (endpoint === undefined) throw new Error('hub has no endpoint');
  return (async () => {
    const headers: Record<string, string> = { ...request.headers };
    if (request.authorization !== null) headers['authorization'] = request.authorization ?? (await serviceToken(hub));
    const payload = requestBody(request.body);
    return httpsJson(
      platform,
      endpoint.address,
      endpoint.httpsPort,
      hub.hostName,
      request.method,
      request.path,
      headers,
      payload,
    );
  })();
}

/** An HTTPS request to one of the platform's listeners; resolves with status, headers and the parsed body. */
function httpsJson(
  platform: Platform,
  address: string,
  port: number,
  host: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  payload: Buffer | undefined,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: unknown; text: string }> {
  if (payload !== undefined) {
    headers['content-type'] ??= 'application/json; charset=utf-8';
    // Node sends GET and DELETE bodies without chunked framing: say how long they are.
    headers['content-length'] ??= String(payload.length);
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: address, port, method, path, headers: { ...headers, host }, ca: platform.tls.caCertificatePem },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            body = text;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Where a {@link RawMqtt} client reaches a hub of a test platform (its loopback address, the run's CA). */
export function rawMqttOptions(platform: Platform, hub: Hub): RawMqttOptions {
  const endpoint = platform.endpoints.find((e) => e.hub === hub);
  if (endpoint === undefined) throw new Error('hub has no endpoint');
  return { host: endpoint.address, port: endpoint.mqttPort, ca: platform.tls.caCertificatePem };
}

/** A type guard for {@link RawMqtt.next}: `await client.next(isPacket('suback'))`. */
export function isPacket<C extends Packet['cmd']>(cmd: C): (p: Packet) => p is Extract<Packet, { cmd: C }> {
  return (p: Packet): p is Extract<Packet, { cmd: C }> => p.cmd === cmd;
}

/**
 * A SAS token signed with a hub policy's key, for authorisation tests: `resource` defaults to the hub host
 * name (as azure-iothub signs), `key` to the policy's primary key (pass another to forge), `expiry` to an
 * hour from now (pass a past one to test expiry).
 */
export async function policyToken(
  hub: Hub,
  keyName: string,
  options: { resource?: string; key?: string; expiry?: number; encodeResource?: boolean } = {},
): Promise<string> {
  const key = options.key ?? hub.policies.find((p) => p.keyName === keyName)?.primaryKey;
  if (key === undefined) throw new Error(`no policy ${keyName}; pass options.key to sign for it`);
  return createSharedAccessSignature({
    resource: options.resource ?? hub.hostName,
    key,
    keyName,
    expiry: options.expiry ?? Math.floor(Date.now() / 1000) + 3600,
    encodeResource: options.encodeResource ?? false,
  });
}

/** An HTTPS request to the platform's DPS (device or service API). */
export function dpsRequest(
  platform: Platform,
  request: {
    method: string;
    path: string;
    body?: unknown;
    rawBody?: Buffer;
    headers?: Record<string, string>;
    token?: string;
  },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: unknown; text: string }> {
  const endpoint = platform.dpsEndpoint;
  const headers: Record<string, string> = { ...request.headers };
  if (request.token !== undefined) headers['authorization'] = request.token;
  const payload =
    request.rawBody ?? (request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body)));
  return httpsJson(
    platform,
    endpoint.address,
    endpoint.httpsPort,
    platform.dps.hostName,
    request.method,
    request.path,
    headers,
    payload,
  );
}

/** A DPS device SAS token (`skn=registration`, raw `/` in `sr` as the Node DPS SDK sends it). */
export function dpsToken(idScope: string, registrationId: string, key: string, expiry?: number): Promise<string> {
  return createSharedAccessSignature({
    resource: `${idScope}/registrations/${registrationId}`,
    key,
    keyName: 'registration',
    expiry: expiry ?? Math.floor(Date.now() / 1000) + 3600,
    encodeResource: false,
  });
}

/** A DPS service-API token (`provisioningserviceowner`), as the DPS service SDKs sign it. */
export function dpsServiceToken(platform: Platform): Promise<string> {
  const policy = platform.dps.servicePolicy;
  return createSharedAccessSignature({
    resource: platform.dps.hostName,
    key: policy.primaryKey,
    keyName: policy.keyName,
    expiry: Math.floor(Date.now() / 1000) + 3600,
    encodeResource: false,
  });
}

/**
 * A raw MQTT connection to the platform's DPS, CONNECTed as `registrationId` with `password` (a DPS SAS
 * token) and subscribed to `$dps/registrations/res/#` at `qos`. Throws if the CONNACK is not 0.
 */
export async function dpsRawMqtt(
  platform: Platform,
  registrationId: string,
  password: string,
  qos: 0 | 1 = 0,
): Promise<RawMqtt> {
  const raw = await RawMqtt.connect({
    host: platform.dpsEndpoint.address,
    port: platform.dpsEndpoint.mqttPort,
    ca: platform.tls.caCertificatePem,
  });
  const connack = await raw.handshake({
    clientId: registrationId,
    username: `${platform.dps.idScope}/registrations/${registrationId}/api-version=2019-03-31`,
    password,
    clean: true,
  });
  if (connack.returnCode !== 0) {
    raw.end();
    throw new Error(`DPS CONNACK ${connack.returnCode}`);
  }
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$dps/registrations/res/#', qos }] });
  await raw.next(isPacket('suback'));
  return raw;
}

/**
 * A logger that keeps its JSON lines in memory (`lines`, in order), for tests that read the platform's
 * logs: pass `logger` to {@link startTestPlatform}.
 */
export function capturingLogger(level: string): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(line);
      done();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}

/**
 * An HTTPS request to the platform's Central REST API (its own address, `Host` = the app host name), as
 * `az iot central` sends them: the token verbatim in `Authorization` (default: the admin token), the
 * path as given (raw `:` and `;` in template ids).
 */
export function centralRequest(
  platform: Platform,
  request: { method: string; path: string; body?: unknown; token?: string | null; headers?: Record<string, string> },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: unknown; text: string }> {
  const endpoint = platform.centralEndpoint;
  const headers: Record<string, string> = { ...request.headers };
  if (request.token !== null) headers['authorization'] = request.token ?? platform.central.adminToken;
  const payload = requestBody(request.body);
  return httpsJson(
    platform,
    endpoint.address,
    endpoint.httpsPort,
    endpoint.hostName,
    request.method,
    request.path,
    headers,
    payload,
  );
}

/** A request body as sent: a Buffer verbatim, anything else as JSON, `undefined` as no body. */
function requestBody(body: unknown): Buffer | undefined {
  if (body === undefined) return undefined;
  return Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
}

/**
 * Runs the `plugboard` CLI in-process with `args` and resolves with what it printed; a failing command
 * rejects (errors throw instead of exiting the process).
 */
export async function runCli(...args: string[]): Promise<string> {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const program = buildProgram(out);
  // Subcommands were made before these calls, so each gets them itself.
  const quiet = (command: typeof program): void => {
    command.exitOverride();
    command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
    for (const sub of command.commands) quiet(sub);
  };
  quiet(program);
  await program.parseAsync(['node', 'plugboard', ...args]);
  return text;
}

/**
 * A raw AMQP connection to a hub's 5671 (TLS, the run's CA), for wire-level tests: what the official
 * SDKs never send. `putToken` answers the CBS `status-code`, `'no answer'` when the hub closes the
 * connection without one, or `'silence'` when nothing comes within `waitMs`.
 */
export class RawAmqp {
  readonly connection: AmqpConnection;
  closed = false;

  private constructor(connection: AmqpConnection) {
    this.connection = connection;
    connection.on('disconnected', () => (this.closed = true));
    connection.on('connection_close', () => (this.closed = true));
  }

  static open(hub: Hub, platform: Platform): RawAmqp {
    return RawAmqp.connect(hub.hostName, platform.tls.caCertificatePem);
  }

  /** Connects to `hostName`:5671 trusting `ca` (PEM). */
  static connect(hostName: string, ca: string): RawAmqp {
    const container = rhea.create_container();
    const connection = container.connect({
      host: hostName,
      port: 5671,
      transport: 'tls',
      hostname: hostName,
      reconnect: false,
      ca,
    } as unknown as Parameters<typeof container.connect>[0]);
    return new RawAmqp(connection);
  }

  /** Puts `token` for `audience` (a resource such as `{host}/devices/{id}`) on `$cbs`. */
  putToken(audience: string, token: string, waitMs = 1500): Promise<string> {
    return new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('silence'), waitMs);
      const done = (answer: string): void => {
        clearTimeout(timer);
        resolve(answer);
      };
      this.connection.on('disconnected', () => done('no answer'));
      this.connection.on('connection_close', () => done('no answer'));
      const replies = this.connection.open_receiver({ source: { address: '$cbs' } });
      replies.on('message', (context) => {
        done(String(context.message?.application_properties?.['status-code']));
      });
      const requests = this.connection.open_sender({ target: { address: '$cbs' } });
      requests.once('sendable', () => {
        requests.send({
          message_id: `put-${Math.random()}`,
          reply_to: 'cbs',
          to: '$cbs',
          application_properties: {
            operation: 'put-token',
            type: 'servicebus.windows.net:sastoken',
            name: encodeURIComponent(audience),
          },
          body: token,
        });
      });
    });
  }

  close(): void {
    this.connection.close();
  }
}
