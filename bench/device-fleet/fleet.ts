/**
 * Child process: a fleet of simulated devices of ONE SDK kind in this one process, so its heap holds
 * nothing but that SDK's clients. Driven by `run.ts` over IPC: `connect` (a warm-up device, the
 * baseline memory sample, then every device, `concurrency` connects at a time), `measure` (memory after
 * forced GC, CPU over an idle window, CPU over a window in which each device sends telemetry), `close`.
 *
 * Usage (through run.ts): fleet.ts --kind plugboard|official
 *
 * Each device keeps the same four subscriptions with either SDK (C2D, methods, twin responses, desired
 * properties), fetched its twin once and has a command handler:
 * - `plugboard`: a `PnpDevice` of `@plugboard/device` over MQTT/TLS, announcing the model id, its
 *   assignment pre-loaded into a `memoryAssignmentStore()` (no DPS), `credentials: { symmetricKey }`, the
 *   platform CA as `ca` (or, with `--plugboard-ca env`, trusted through NODE_EXTRA_CA_CERTS); one writable-property handler (so the twin is fetched on connect), one command
 *   handler, a C2D listener.
 * - `official`: `Client.fromConnectionString(…, Mqtt)` of `azure-iot-device` + `azure-iot-device-mqtt`,
 *   `setOptions({ modelId, ca, keepalive })`, `open()`, a C2D listener, `onDeviceMethod`, `getTwin()` and a
 *   desired-properties listener, as the official Plug and Play samples do.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import {
  MODEL_ID,
  SDK_KINDS,
  cpuMicros,
  sampleMemory,
  toParent,
  type DeviceKey,
  type FleetPlan,
  type FleetRequest,
  type MeasureResult,
  type SdkKind,
} from './ipc.js';

const { values } = parseArgs({ options: { kind: { type: 'string' } } });
const kind = values.kind as SdkKind;
if (!(SDK_KINDS as readonly string[]).includes(kind)) throw new Error(`--kind is one of ${SDK_KINDS.join(', ')}`);

/** What the fleet hears from a device besides its own promises. */
interface DeviceEvents {
  /** The SDK retries by itself (plugboard: backing off before the next attempt). */
  onRetry(reason: string): void;
  /** A device that was connected lost its connection. */
  onDrop(): void;
}

/** One simulated device, whichever SDK. */
interface SimulatedDevice {
  /** Settles once the device is connected, subscribed and has its twin (or failed for good). */
  readonly ready: Promise<void>;
  /** One telemetry message with the SDK's Plug and Play message shape; resolves when acknowledged. */
  send(temperature: number): Promise<void>;
  close(): Promise<void>;
}

type CreateDevice = (key: DeviceKey, events: DeviceEvents) => SimulatedDevice;

/** The hub is given; the ID scope only keys the assignment store. */
const ID_SCOPE = '0ne00F1EE70';

/** The answer to the Thermostat's `getMaxMinReport` command. */
const REPORT = { maxTemp: 22, minTemp: 18, avgTemp: 20, startTime: '', endTime: '' };

async function plugboardDevices(plan: FleetPlan): Promise<CreateDevice> {
  const { PnpDevice, memoryAssignmentStore } = await import('@plugboard/device');
  const store = memoryAssignmentStore();
  const { target } = plan;
  return (key, events) => {
    const device = new PnpDevice({
      idScope: ID_SCOPE,
      registrationId: key.deviceId,
      credentials: { symmetricKey: key.symmetricKey },
      modelId: MODEL_ID,
      ...(plan.plugboardCa === 'option' ? { ca: target.ca } : {}),
      ports: { mqtt: target.mqttPort },
      keepaliveSeconds: plan.keepaliveSeconds,
      assignmentStore: store,
      // Never used while the cached assignment holds; keeps a reprovisioning attempt on loopback.
      provisioningHost: target.hostName,
    });
    device.onWritableProperty('targetTemperature', () => undefined);
    device.onCommand('getMaxMinReport', () => REPORT);
    device.onC2dMessage(() => undefined);
    let connected = false;
    device.on('connectionState', ({ state, reason }) => {
      if (state === 'connected') connected = true;
      else if (state === 'backingOff') {
        if (connected) events.onDrop();
        connected = false;
        events.onRetry(reason);
      }
    });
    const ready = store
      .save(ID_SCOPE, key.deviceId, {
        assignedHub: target.hostName,
        deviceId: key.deviceId,
        registrationId: key.deviceId,
      })
      .then(() => device.start());
    return {
      ready,
      send: (temperature) => device.sendTelemetry({ temperature }),
      close: () => device.close(),
    };
  };
}

async function officialDevices(plan: FleetPlan): Promise<CreateDevice> {
  const { Client, Message } = (await import('azure-iot-device')).default;
  const { Mqtt } = (await import('azure-iot-device-mqtt')).default;
  const { target } = plan;
  return (key, events) => {
    const client = Client.fromConnectionString(
      `HostName=${target.hostName};DeviceId=${key.deviceId};SharedAccessKey=${key.symmetricKey}`,
      Mqtt,
    );
    let connected = false;
    client.on('error', () => undefined);
    client.on('disconnect', () => {
      if (connected) events.onDrop();
      connected = false;
    });
    const ready = (async () => {
      await client.setOptions({ modelId: MODEL_ID, ca: target.ca, keepalive: plan.keepaliveSeconds });
      await client.open();
      client.on('message', (message) => client.complete(message, () => undefined));
      client.onDeviceMethod('getMaxMinReport', (_request, response) => response.send(200, REPORT, () => undefined));
      const twin = await client.getTwin();
      twin.on('properties.desired', () => undefined);
      connected = true;
    })();
    return {
      ready,
      async send(temperature) {
        // As the official Plug and Play samples build a telemetry message.
        const message = new Message(JSON.stringify({ temperature }));
        message.contentType = 'application/json';
        message.contentEncoding = 'utf-8';
        message.properties.add('iothub-creation-time-utc', new Date().toISOString());
        await client.sendEvent(message);
      },
      async close() {
        connected = false;
        await client.close();
      },
    };
  };
}

// ------------------------------------------------------------------------------------------ phases

let devices: SimulatedDevice[] = [];
let snapshotPrefix: string | undefined;
let measuring = false;
let drops = 0;

const events: DeviceEvents = {
  onRetry: () => undefined,
  onDrop: () => {
    if (measuring) drops += 1;
  },
};

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function connect(plan: FleetPlan): Promise<void> {
  const create = kind === 'plugboard' ? await plugboardDevices(plan) : await officialDevices(plan);
  // The warm-up device loads and compiles every code path (connect, twin, send) before the baseline.
  const warmup = create(plan.warmup, events);
  await warmup.ready;
  await warmup.send(20);
  await sleep(500);
  const baseline = sampleMemory();
  snapshotPrefix = plan.heapSnapshotPrefix;
  if (snapshotPrefix !== undefined) writeHeapSnapshot(`${snapshotPrefix}-baseline.heapsnapshot`);

  let retries = 0;
  const errorSamples = new Set<string>();
  const fleetEvents: DeviceEvents = {
    onRetry(reason) {
      retries += 1;
      if (errorSamples.size < 5) errorSamples.add(`retry: ${reason}`);
    },
    onDrop: events.onDrop,
  };
  let connectTimer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    connectTimer = setTimeout(() => resolve('expired'), plan.connectTimeoutMs);
  });
  let timedOut = false;
  let next = 0;
  let failed = 0;
  const abandoned: SimulatedDevice[] = [];
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (!timedOut && next < plan.devices.length) {
      const key = plan.devices[next++] as DeviceKey;
      const device = create(key, fleetEvents);
      const outcome = await Promise.race([
        device.ready.then(
          () => 'connected' as const,
          (error: unknown) => {
            failed += 1;
            if (errorSamples.size < 5) errorSamples.add(`${key.deviceId}: ${message(error)}`);
            return 'failed' as const;
          },
        ),
        expired,
      ]);
      if (outcome === 'connected') {
        devices.push(device);
        if (devices.length % 1000 === 0) toParent({ type: 'progress', connected: devices.length, failed });
      } else if (outcome === 'expired') {
        timedOut = true;
        abandoned.push(device);
      } else {
        abandoned.push(device);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.concurrency, plan.devices.length) }, worker));
  const elapsedMs = performance.now() - started;
  clearTimeout(connectTimer);
  // Devices still trying when the deadline passed are stopped, so they cost nothing in the windows.
  await Promise.all(abandoned.map((d) => d.close().catch(() => undefined)));
  toParent({
    type: 'connected',
    requested: plan.devices.length,
    connected: devices.length,
    failed,
    retries,
    timedOut,
    elapsedMs,
    errorSamples: [...errorSamples],
    baseline,
  });
}

async function measure(settleSeconds: number, idleSeconds: number, messages: number): Promise<void> {
  await sleep(settleSeconds * 1000);
  const connectedMemory = sampleMemory();
  if (snapshotPrefix !== undefined) writeHeapSnapshot(`${snapshotPrefix}-connected.heapsnapshot`);
  measuring = true;
  drops = 0;

  let cpu = cpuMicros();
  let t = performance.now();
  await sleep(idleSeconds * 1000);
  const idle = { seconds: (performance.now() - t) / 1000, cpuMicros: cpuMicros() - cpu };

  const result: MeasureResult = { type: 'measured', connectedMemory, idle, drops: 0, maxRss: 0 };
  if (messages > 0 && devices.length > 0) {
    // Sends spread evenly over the first half of a window as long as the idle one; the window is over
    // once it has passed and every send has settled.
    cpu = cpuMicros();
    t = performance.now();
    const total = devices.length * messages;
    const spreadMs = (idleSeconds * 1000) / 2;
    let acked = 0;
    let failed = 0;
    const sends: Promise<void>[] = [];
    for (let m = 0; m < messages; m++) {
      devices.forEach((device, i) => {
        const at = ((m * devices.length + i) / total) * spreadMs;
        sends.push(
          sleep(at).then(() =>
            device.send(20 + (i % 100) / 10).then(
              () => void (acked += 1),
              () => void (failed += 1),
            ),
          ),
        );
      });
    }
    await Promise.all([Promise.all(sends), sleep(idleSeconds * 1000)]);
    // The settled promises are no device's state.
    sends.length = 0;
    result.send = { seconds: (performance.now() - t) / 1000, cpuMicros: cpuMicros() - cpu, sent: total, acked, failed };
    result.afterSendMemory = sampleMemory();
  }
  measuring = false;
  result.drops = drops;
  result.maxRss = process.resourceUsage().maxRSS * 1024;
  toParent(result);
}

async function close(): Promise<void> {
  const started = performance.now();
  const all = devices;
  devices = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < all.length) await (all[next++] as SimulatedDevice).close().catch(() => undefined);
  };
  await Promise.race([Promise.all(Array.from({ length: 500 }, worker)), sleep(60_000)]);
  toParent({ type: 'closed', elapsedMs: performance.now() - started });
}

function run(request: FleetRequest): Promise<void> {
  switch (request.type) {
    case 'connect':
      return connect(request.plan);
    case 'measure':
      return measure(request.settleSeconds, request.idleSeconds, request.messages);
    case 'close':
      return close();
    case 'exit':
      process.exit(0);
  }
}

process.on('message', (request: FleetRequest) => {
  run(request).catch((error: unknown) => toParent({ type: 'failed', message: message(error) }));
});
process.on('disconnect', () => process.exit(0));
