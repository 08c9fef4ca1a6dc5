/**
 * Child process: the Plugboard platform (one hub, MQTT over TLS, SQLite in a temporary data directory)
 * with `--devices` SAS identities registered for each SDK kind, plus one warm-up identity per kind.
 * Driven by `run.ts` over IPC.
 *
 * Usage (through run.ts): server.ts --devices N --data-dir DIR [--loopback-prefix 127.79.1]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLogger, startPlatform } from '@plugboard/server';
import {
  SDK_KINDS,
  cpuMicros,
  deviceIdsOf,
  sampleMemory,
  toParent,
  type DeviceKey,
  type SdkKind,
  type ServerRequest,
} from './ipc.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string' },
    'data-dir': { type: 'string' },
    'loopback-prefix': { type: 'string', default: '127.79.1' },
  },
});
const count = Number(values.devices);
const dataDir = values['data-dir'];
if (!Number.isInteger(count) || count < 1 || dataDir === undefined)
  throw new Error('--devices and --data-dir are required');

const platform = await startPlatform({
  dataDir,
  hubs: 1,
  loopbackPrefix: values['loopback-prefix'],
  // The standard ports on the fleet's own loopback address: the official SDK always connects to 8883.
  // Devices of the fleet that is stopped drop thousands of connections at once: not worth a log line each.
  logger: createLogger({ level: 'error' }),
});
const endpoint = platform.endpoints[0];
if (endpoint === undefined) throw new Error('no hub started');
const hub = endpoint.hub;

// As bench/hub-ingest does: one identity at a time through the hub's registry, then read each key back.
const started = performance.now();
const devices = {} as Record<SdkKind, DeviceKey[]>;
for (const kind of SDK_KINDS) {
  devices[kind] = [];
  for (const deviceId of deviceIdsOf(kind, count)) {
    await hub.createIdentity({ deviceId });
    const auth = hub.getIdentity({ deviceId }).record.authentication;
    if (auth.type !== 'sas') throw new Error(`${deviceId} is not a SAS identity`);
    devices[kind].push({ deviceId, symmetricKey: auth.symmetricKey.primaryKey });
  }
}
const identitySeconds = (performance.now() - started) / 1000;

process.on('message', (message: ServerRequest) => {
  if (message.type === 'close') {
    void platform.close().finally(() => process.exit(0));
    return;
  }
  toParent({ type: 'stats', connections: hub.connectionCount, cpuMicros: cpuMicros(), memory: sampleMemory() });
});
process.on('disconnect', () => process.exit(0));

toParent({
  type: 'ready',
  target: { hostName: hub.hostName, mqttPort: endpoint.mqttPort, ca: platform.tls.caCertificatePem },
  devices,
  identitySeconds,
});
