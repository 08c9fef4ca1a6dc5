/**
 * Child process: the one load generator. Publishing devices speak MQTT, AMQP or HTTPS as the official
 * SDK's transport does (`*-publisher.ts`); idle devices are bare TLS sockets that send one CONNECT, so
 * 10,000 of them stay cheap here and the server's memory is what gets measured. Driven by `run.ts` over IPC.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connectAmqp } from './amqp-publisher.js';
import { connectHttp } from './http-publisher.js';
import {
  cpuMicros,
  toParent,
  type DeviceCredential,
  type LoadRequest,
  type MessageShape,
  type Target,
  type Transport,
} from './ipc.js';
import { connectMqtt } from './mqtt-publisher.js';
import type { Publisher, PublisherOptions } from './publisher.js';
import { pool } from '../common/children.js';
import { summarize } from '../common/latency.js';

/** About 100 bytes of JSON, different every time (as real telemetry is). */
function payload(deviceId: string, seq: number): string {
  const temperature = (20 + ((seq * 7) % 100) / 10).toFixed(1);
  // A Plug and Play Thermostat component's telemetry, as the TemperatureController sample sends it.
  if (shape === 'pnp') return `{"temperature":${temperature}}`;
  const humidity = (40 + ((seq * 13) % 200) / 10).toFixed(1);
  return `{"deviceId":"${deviceId}","seq":${seq},"temperature":${temperature},"humidity":${humidity},"ts":${Date.now()}}`;
}

// ------------------------------------------------------------------------------------------ publishing

let publishers: Publisher[] = [];
let shape: MessageShape = 'bare';
/** Set when a publishing connection drops: its outstanding acknowledgements would never come. */
let broken: Error | undefined;

const CONNECT: Record<Transport, (options: PublisherOptions) => Promise<Publisher>> = {
  mqtt: connectMqtt,
  amqp: connectAmqp,
  http: connectHttp,
};

/**
 * Every device publishes `perDevice` QoS 1 messages keeping at most `window` unacknowledged; `latencies`
 * (when given) receives each publish→PUBACK time in milliseconds.
 */
function publishAll(perDevice: number, window: number, latencies: Float64Array | undefined): Promise<number> {
  let acked = 0;
  return new Promise((resolve, reject) => {
    let devicesDone = 0;
    const check = setInterval(() => {
      if (broken !== undefined) {
        clearInterval(check);
        reject(broken);
      }
    }, 200);
    for (const p of publishers) {
      let inflight = 0;
      let done = 0;
      let count = 0;
      const pump = (): void => {
        while (inflight < window && count < perDevice) {
          inflight++;
          const started = performance.now();
          p.send(payload(p.deviceId, count++), new Date().toISOString(), (error) => {
            inflight--;
            if (error !== undefined) {
              broken ??= error;
              return;
            }
            if (latencies !== undefined) latencies[acked] = performance.now() - started;
            acked++;
            done++;
            if (done === perDevice) {
              devicesDone++;
              if (devicesDone === publishers.length) {
                clearInterval(check);
                resolve(acked);
              }
            } else pump();
          });
        }
      };
      pump();
    }
  });
}

/**
 * Open loop: `total` messages at `rate` per second overall, round-robin over the devices, whatever the
 * PUBACKs do. Measures latency below saturation, where queueing in the client and server does not dominate.
 */
function publishPaced(total: number, rate: number, latencies: Float64Array): Promise<number> {
  let acked = 0;
  let issued = 0;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const tick = setInterval(() => {
      if (broken !== undefined) {
        clearInterval(tick);
        reject(broken);
        return;
      }
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000));
      while (issued < due) {
        const p = publishers[issued % publishers.length] as Publisher;
        const sentAt = performance.now();
        p.send(payload(p.deviceId, issued++), new Date().toISOString(), (error) => {
          if (error !== undefined) {
            broken ??= error;
            return;
          }
          latencies[acked++] = performance.now() - sentAt;
          if (acked === total) {
            clearInterval(tick);
            resolve(acked);
          }
        });
      }
    }, 2);
  });
}

// ------------------------------------------------------------------------------------------ idle devices

const idleSockets: TLSSocket[] = [];

/** MQTT 3.1.1 CONNECT with user name and password, clean session 0. */
function connectPacket(device: DeviceCredential, keepaliveSeconds: number): Buffer {
  const str = (s: string): Buffer => {
    const bytes = Buffer.from(s, 'utf8');
    const out = Buffer.alloc(2 + bytes.length);
    out.writeUInt16BE(bytes.length, 0);
    bytes.copy(out, 2);
    return out;
  };
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0xc0, keepaliveSeconds >> 8, keepaliveSeconds & 0xff]);
  const body = Buffer.concat([variable, str(device.deviceId), str(device.username), str(device.password)]);
  const length: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x10, ...length]), body]);
}

function openIdle(target: Target, ca: Buffer, device: DeviceCredential, keepaliveSeconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: target.host, port: target.port, ca, rejectUnauthorized: true });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error(`${device.deviceId}: no CONNACK within 120 s`)), 120_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      socket.setNoDelay(true);
      socket.write(connectPacket(device, keepaliveSeconds));
    });
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      socket.off('data', onData);
      if (received[0] !== 0x20 || received[3] !== 0) {
        fail(new Error(`${device.deviceId}: CONNECT refused (${received.subarray(0, 4).toString('hex')})`));
        return;
      }
      clearTimeout(timer);
      socket.off('error', fail);
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      idleSockets.push(socket);
      resolve();
    };
    socket.on('data', onData);
  });
}

// ------------------------------------------------------------------------------------------ requests

async function handle(request: LoadRequest): Promise<void> {
  switch (request.type) {
    case 'connect': {
      const ca = readFileSync(request.target.caPath);
      const started = performance.now();
      const connected: Publisher[] = [];
      broken = undefined;
      shape = request.shape;
      const connect = CONNECT[request.transport ?? 'mqtt'];
      await pool(request.devices, request.concurrency, async (device) => {
        const publisher = await connect({
          target: request.target,
          ca,
          device,
          shape,
          keepaliveSeconds: request.keepaliveSeconds,
          onBroken: (error) => {
            if (publishers.includes(publisher)) broken ??= error;
          },
        });
        connected.push(publisher);
      });
      publishers = connected;
      toParent({ type: 'connected', connections: publishers.length, elapsedMs: performance.now() - started });
      return;
    }
    case 'warmup': {
      const acked = await publishAll(request.messagesPerDevice, request.window, undefined);
      toParent({ type: 'warmed-up', acked });
      return;
    }
    case 'publish': {
      const total = request.messagesPerDevice * publishers.length;
      const latencies = new Float64Array(total);
      const cpuBefore = cpuMicros();
      const started = performance.now();
      const acked = await publishAll(request.messagesPerDevice, request.window, latencies);
      const elapsedMs = performance.now() - started;
      toParent({
        type: 'published',
        messages: acked,
        elapsedMs,
        msgsPerSecond: (acked / elapsedMs) * 1000,
        latencyMs: summarize(latencies.subarray(0, acked)),
        cpuMicros: cpuMicros() - cpuBefore,
      });
      return;
    }
    case 'paced': {
      const latencies = new Float64Array(request.messages);
      const started = performance.now();
      const acked = await publishPaced(request.messages, request.rate, latencies);
      const elapsedMs = performance.now() - started;
      toParent({
        type: 'paced',
        messages: acked,
        elapsedMs,
        msgsPerSecond: (acked / elapsedMs) * 1000,
        latencyMs: summarize(latencies),
      });
      return;
    }
    case 'disconnect': {
      const closing = publishers;
      publishers = [];
      await Promise.all(closing.map((p) => p.close()));
      toParent({ type: 'disconnected' });
      return;
    }
    case 'idle-open': {
      const ca = readFileSync(request.target.caPath);
      const started = performance.now();
      await pool(request.devices, request.concurrency, (device) =>
        openIdle(request.target, ca, device, request.keepaliveSeconds),
      );
      toParent({ type: 'idle-opened', connections: idleSockets.length, elapsedMs: performance.now() - started });
      return;
    }
    case 'idle-close': {
      for (const socket of idleSockets.splice(0)) socket.destroy();
      toParent({ type: 'idle-closed' });
      return;
    }
    case 'exit':
      process.exit(0);
  }
}

process.on('message', (request: LoadRequest) => {
  handle(request).catch((error: unknown) =>
    toParent({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
