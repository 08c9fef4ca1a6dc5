/**
 * Child process: the one load generator. Each simulated device runs the DPS device flow of the Node
 * provisioning SDK (protocol.md §3.2, §3.3): register → `202 assigning` (retry-after 1) → one
 * operation-status poll → `200 assigned`. It does NOT wait retry-after between the two, as a real SDK
 * would: the benchmark measures how many registrations the server can complete, not how long a device waits.
 *
 * HTTPS: one keep-alive agent (64 sockets) shared by all devices, as a gateway or test rig would.
 * MQTT: one TLS connection per device, as real devices do (CONNECT clean=1 → SUBSCRIBE → PUBLISH register
 * → PUBLISH status → DISCONNECT), with bare `mqtt-packet` + `node:tls` so the load generator stays cheap.
 *
 * Driven by `run.ts` over IPC: `prepare` derives keys and mints tokens (untimed), `run` does the batch.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import {
  DPS_RESPONSE_FILTER,
  createSharedAccessSignature,
  deriveDeviceKey,
  dpsOperationStatusTopic,
  dpsRegisterTopic,
  parseDpsResponseTopic,
} from '@plugboard/protocol';
import { registrationIds, sampleProcess, toParent, type DpsTarget, type LoadRequest, type Transport } from './ipc.js';
import { pool } from '../common/children.js';
import { summarize } from '../common/latency.js';

const API_VERSION = '2019-03-31';
const CLIENT_VERSION = 'azure-iot-provisioning-device/1.9.1';
/** The Node provisioning SDK mints a one-hour token per `register()`. */
const TOKEN_LIFETIME_SECONDS = 3600;
/** Status polls allowed per device before it counts as an error (one is expected). */
const MAX_POLLS = 5;

interface Device {
  registrationId: string;
  token: string;
}

/** What a registration ends with: the hub host name DPS assigned. */
interface Assigned {
  assignedHub: string;
  polls: number;
}

/** A `RegistrationOperationStatus` body as far as this flow reads it. */
interface OperationStatusBody {
  operationId?: string;
  status?: string;
  registrationState?: { assignedHub?: string; status?: string };
}

function statusBody(text: string): OperationStatusBody {
  const body = JSON.parse(text) as unknown;
  if (typeof body !== 'object' || body === null) throw new Error(`unexpected body ${text.slice(0, 200)}`);
  return body as OperationStatusBody;
}

/** `assigned` with a hub, or `undefined` to poll again (`assigning`); anything else throws. */
function assignedOf(body: OperationStatusBody, polls: number): Assigned | undefined {
  if (body.status === 'assigning') return undefined;
  if (body.status !== 'assigned' || typeof body.registrationState?.assignedHub !== 'string') {
    throw new Error(`unexpected operation status ${JSON.stringify(body).slice(0, 200)}`);
  }
  return { assignedHub: body.registrationState.assignedHub, polls };
}

function operationIdOf(body: OperationStatusBody): string {
  if (body.status !== 'assigning' || typeof body.operationId !== 'string') {
    throw new Error(`unexpected register answer ${JSON.stringify(body).slice(0, 200)}`);
  }
  return body.operationId;
}

// ------------------------------------------------------------------------------------------ HTTPS

interface HttpsReply {
  status: number;
  text: string;
}

function httpsCall(
  target: DpsTarget,
  agent: Agent,
  options: { method: string; path: string; token: string; body?: string; timeoutMs: number },
): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: options.token,
      'request-id': randomUUID(),
      'user-agent': CLIENT_VERSION,
    };
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['content-length'] = String(Buffer.byteLength(options.body));
    }
    const req = httpsRequest(
      { host: target.address, port: target.httpsPort, method: options.method, path: options.path, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`${options.method} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

async function registerHttps(target: DpsTarget, agent: Agent, device: Device, timeoutMs: number): Promise<Assigned> {
  const base = `/${target.idScope}/registrations/${device.registrationId}`;
  const registered = await httpsCall(target, agent, {
    method: 'PUT',
    path: `${base}/register?api-version=${API_VERSION}`,
    token: device.token,
    body: JSON.stringify({ registrationId: device.registrationId }),
    timeoutMs,
  });
  if (registered.status !== 202)
    throw new Error(`register: HTTP ${registered.status} ${registered.text.slice(0, 200)}`);
  const operationId = operationIdOf(statusBody(registered.text));
  for (let polls = 1; polls <= MAX_POLLS; polls++) {
    // No retry-after sleep here: see the file comment.
    const polled = await httpsCall(target, agent, {
      method: 'GET',
      path: `${base}/operations/${encodeURIComponent(operationId)}?api-version=${API_VERSION}`,
      token: device.token,
      timeoutMs,
    });
    if (polled.status !== 200 && polled.status !== 202) {
      throw new Error(`operation status: HTTP ${polled.status} ${polled.text.slice(0, 200)}`);
    }
    const assigned = assignedOf(statusBody(polled.text), polls);
    if (assigned !== undefined) return assigned;
  }
  throw new Error(`still assigning after ${MAX_POLLS} polls`);
}

// ------------------------------------------------------------------------------------------ MQTT

/** One device's MQTT 3.1.1 connection over TLS: packets in a queue, awaited one at a time. */
class MqttLink {
  readonly #socket: TLSSocket;
  readonly #packets: Packet[] = [];
  #closed: Error | undefined;
  #wake: (() => void) | undefined;

  private constructor(socket: TLSSocket) {
    this.#socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => {
      this.#packets.push(p);
      this.#wake?.();
    });
    parser.on('error', (error: Error) => this.#fail(error));
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('connection closed by the server')));
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    this.#wake?.();
  }

  static open(target: DpsTarget, secureContext: SecureContext, timeoutMs: number): Promise<MqttLink> {
    return new Promise((resolve, reject) => {
      // Still a full handshake per device (no session resumption), as real devices do.
      const socket = tlsConnect({ host: target.address, port: target.mqttPort, secureContext });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('TLS connect timed out'));
      }, timeoutMs);
      const onError = (error: Error): void => {
        clearTimeout(timer);
        reject(error);
      };
      socket.once('error', onError);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new MqttLink(socket));
      });
    });
  }

  send(packet: Packet): void {
    this.#socket.write(mqttPacket.generate(packet));
  }

  /** The first queued packet matching `match` (taken out of the queue). */
  async next<T extends Packet>(match: (p: Packet) => p is T, deadline: number): Promise<T> {
    for (;;) {
      const index = this.#packets.findIndex(match);
      if (index >= 0) return this.#packets.splice(index, 1)[0] as T;
      if (this.#closed !== undefined) throw this.#closed;
      const wait = deadline - performance.now();
      if (wait <= 0) throw new Error('timed out waiting for the server');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  /** DISCONNECT and close; resolves when the socket is gone. */
  end(): Promise<void> {
    return new Promise((resolve) => {
      this.#socket.once('close', () => resolve());
      if (this.#socket.destroyed) resolve();
      else this.#socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
    });
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

type Publish = Extract<Packet, { cmd: 'publish' }>;
const isConnack = (p: Packet): p is Extract<Packet, { cmd: 'connack' }> => p.cmd === 'connack';
const isSuback = (p: Packet): p is Extract<Packet, { cmd: 'suback' }> => p.cmd === 'suback';
const responseTo =
  (rid: string) =>
  (p: Packet): p is Publish =>
    p.cmd === 'publish' && parseDpsResponseTopic(p.topic)?.rid === rid;

/** Sockets still closing after their device finished; awaited after the timed batch. */
const closing: Promise<void>[] = [];

async function registerMqtt(
  target: DpsTarget,
  secureContext: SecureContext,
  device: Device,
  timeoutMs: number,
): Promise<Assigned> {
  const deadline = performance.now() + timeoutMs;
  const link = await MqttLink.open(target, secureContext, timeoutMs);
  try {
    const id = device.registrationId;
    link.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 180,
      clientId: id,
      username: `${target.idScope}/registrations/${id}/api-version=${API_VERSION}&ClientVersion=${encodeURIComponent(CLIENT_VERSION)}`,
      password: Buffer.from(device.token),
    });
    const connack = await link.next(isConnack, deadline);
    if (connack.returnCode !== 0) throw new Error(`CONNACK ${connack.returnCode}`);
    link.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: DPS_RESPONSE_FILTER, qos: 1 }] });
    const suback = await link.next(isSuback, deadline);
    if (suback.granted[0] !== 1) throw new Error(`SUBACK ${JSON.stringify(suback.granted)}`);

    // Response publishes are QoS 1: acknowledge them as MQTT.js does.
    const request = async (rid: string, topic: string, payload: string, messageId: number): Promise<Publish> => {
      link.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId, retain: false, dup: false });
      const response = await link.next(responseTo(rid), deadline);
      if (response.qos === 1 && response.messageId !== undefined) {
        link.send({ cmd: 'puback', messageId: response.messageId });
      }
      return response;
    };
    const registered = await request('1', dpsRegisterTopic('1'), JSON.stringify({ registrationId: id }), 2);
    const registerStatus = parseDpsResponseTopic(registered.topic)?.status;
    const registeredText = registered.payload.toString();
    if (registerStatus !== 202) throw new Error(`register: res/${registerStatus} ${registeredText.slice(0, 200)}`);
    const operationId = operationIdOf(statusBody(registeredText));
    for (let polls = 1; polls <= MAX_POLLS; polls++) {
      // No retry-after sleep here: see the file comment.
      const rid = String(1 + polls);
      const polled = await request(rid, dpsOperationStatusTopic(rid, operationId), ' ', 2 + polls);
      const status = parseDpsResponseTopic(polled.topic)?.status;
      const text = polled.payload.toString();
      if (status !== 200 && status !== 202) throw new Error(`operation status: res/${status} ${text.slice(0, 200)}`);
      const assigned = assignedOf(statusBody(text), polls);
      if (assigned !== undefined) {
        closing.push(link.end());
        return assigned;
      }
    }
    throw new Error(`still assigning after ${MAX_POLLS} polls`);
  } catch (error) {
    link.destroy();
    throw error;
  }
}

// ------------------------------------------------------------------------------------------ batch

let prepared: { target: DpsTarget; transport: Transport; devices: Device[] } | undefined;

async function prepare(target: DpsTarget, transport: Transport, count: number): Promise<void> {
  const started = performance.now();
  const expiry = Math.floor(Date.now() / 1000) + TOKEN_LIFETIME_SECONDS;
  const devices: Device[] = [];
  for (const registrationId of registrationIds(transport, count)) {
    const key = await deriveDeviceKey(target.groupKey, registrationId);
    const token = await createSharedAccessSignature({
      resource: `${target.idScope}/registrations/${registrationId}`,
      key,
      keyName: 'registration',
      expiry,
      encodeResource: false,
    });
    devices.push({ registrationId, token });
  }
  prepared = { target, transport, devices };
  toParent({ type: 'prepared', devices: devices.length, elapsedMs: performance.now() - started });
}

async function run(concurrency: number, requestTimeoutMs: number): Promise<void> {
  if (prepared === undefined) throw new Error('run before prepare');
  const { target, transport, devices } = prepared;
  const agent = transport === 'https' ? new Agent({ keepAlive: true, maxSockets: 64, ca: target.caPem }) : undefined;
  // One parsed CA for the load generator: parsing the PEM per connection would cost it more than the TLS
  // handshake itself, and a real device pays that once, not per registration.
  const secureContext = createSecureContext({ ca: target.caPem });
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  let assigned = 0;
  const loadBefore = sampleProcess();
  const started = performance.now();
  await pool(devices, concurrency, async (device) => {
    const t0 = performance.now();
    try {
      await (agent === undefined
        ? registerMqtt(target, secureContext, device, requestTimeoutMs)
        : registerHttps(target, agent, device, requestTimeoutMs));
      latencies.push(performance.now() - t0);
      assigned += 1;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      errors.set(message, (errors.get(message) ?? 0) + 1);
    }
  });
  const elapsedMs = performance.now() - started;
  const load = sampleProcess();
  agent?.destroy();
  // Sockets still closing get 10 s; this is after the timed batch.
  await Promise.race([Promise.all(closing.splice(0)), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  let errorCount = 0;
  for (const n of errors.values()) errorCount += n;
  toParent({
    type: 'ran',
    transport,
    devices: devices.length,
    assigned,
    errors: errorCount,
    errorSamples: [...errors].slice(0, 10).map(([m, n]) => `${n} x ${m}`),
    elapsedMs,
    latencyMs: summarize(latencies),
    load,
    loadBefore,
  });
}

/** `count` TLS handshakes with the MQTT listener, `concurrency` at a time; each socket is ended once secure. */
async function handshakes(target: DpsTarget, count: number, concurrency: number): Promise<void> {
  const secureContext = createSecureContext({ ca: target.caPem });
  let errors = 0;
  const loadBefore = sampleProcess();
  const started = performance.now();
  await pool(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    () =>
      new Promise<void>((resolve) => {
        const socket = tlsConnect({ host: target.address, port: target.mqttPort, secureContext }, () => socket.end());
        socket.on('error', () => {
          errors += 1;
        });
        socket.on('close', () => resolve());
      }),
  );
  const elapsedMs = performance.now() - started;
  toParent({ type: 'handshaken', count, errors, elapsedMs, load: sampleProcess(), loadBefore });
}

process.on('message', (message: LoadRequest) => {
  const fail = (error: unknown): void =>
    toParent({ type: 'failed', message: `load: ${error instanceof Error ? error.message : String(error)}` });
  switch (message.type) {
    case 'prepare':
      prepare(message.target, message.transport, message.devices).catch(fail);
      break;
    case 'run':
      run(message.concurrency, message.requestTimeoutMs).catch(fail);
      break;
    case 'handshakes':
      handshakes(message.target, message.count, message.concurrency).catch(fail);
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
