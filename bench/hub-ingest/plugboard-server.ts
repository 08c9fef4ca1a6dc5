/**
 * Child process: one Plugboard hub (MQTT, AMQP and HTTPS over TLS, SQLite storage in a temporary data directory) with
 * `--devices` SAS identities registered. Driven by `run.ts` over IPC.
 *
 * Usage (through run.ts): plugboard-server.ts --devices N --data-dir DIR [--loopback-prefix 127.77.1]
 *   [--durability normal|full] [--central]
 *
 * `--central` makes every device an application device assigned a TemperatureController-shaped template
 * (a `thermostat1` component with `temperature`), so its telemetry is judged and last values tracked.
 */
import { parseArgs } from 'node:util';
import { createLogger, startPlatform } from '@plugboard/server';
import { mintCredentials } from './credentials.js';
import {
  cpuMicros,
  deviceIds,
  sampleMemory,
  takeEventLoopDelay,
  toParent,
  watchEventLoop,
  type ServerRequest,
} from './ipc.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string' },
    'data-dir': { type: 'string' },
    'loopback-prefix': { type: 'string', default: '127.77.1' },
    durability: { type: 'string', default: 'normal' },
    central: { type: 'boolean', default: false },
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
  ports: { mqtt: 0, amqp: 0, https: 0 },
  logger: createLogger({ level: 'warn' }),
  durability: values.durability === 'full' ? 'full' : 'normal',
});
const endpoint = platform.endpoints[0];
if (endpoint === undefined) throw new Error('no hub started');
const hub = endpoint.hub;

const memoryBeforeIdentities = sampleMemory();
const ids = deviceIds(count);
for (const deviceId of ids) await hub.createIdentity({ deviceId });
const devices = await mintCredentials(hub.hostName, ids, (deviceId) => {
  const auth = hub.getIdentity({ deviceId }).record.authentication;
  if (auth.type !== 'sas') throw new Error(`${deviceId} is not a SAS identity`);
  return auth.symmetricKey.primaryKey;
});

const TEMPLATE_ID = 'dtmi:plugboard:bench:controllerTemplate;1';
if (values.central === true) {
  await platform.central.templates.put(TEMPLATE_ID, {
    displayName: 'Bench controller',
    capabilityModel: {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:plugboard:bench:Controller;1',
      '@type': 'Interface',
      contents: [
        { '@type': 'Telemetry', name: 'workingSet', schema: 'double' },
        {
          '@type': 'Component',
          name: 'thermostat1',
          schema: {
            '@id': 'dtmi:plugboard:bench:Thermostat;1',
            '@type': 'Interface',
            contents: [
              { '@type': 'Telemetry', name: 'temperature', schema: 'double' },
              { '@type': 'Property', name: 'targetTemperature', schema: 'double', writable: true },
            ],
          },
        },
      ],
    },
  });
  for (const deviceId of ids) await platform.central.devices.put(deviceId, { template: TEMPLATE_ID });
}

process.on('message', (message: ServerRequest) => {
  void (async () => {
    if (message.type === 'close') {
      await platform.close();
      process.exit(0);
    }
    toParent({
      type: 'stats',
      id: message.id,
      memory: sampleMemory(),
      cpuMicros: cpuMicros(),
      eventLoopDelayMs: takeEventLoopDelay(),
      connections: hub.connectionCount,
      storedMessages: await platform.storage.countTelemetry({ hub: hub.name }),
      ...(values.central === true
        ? { projectedMessages: ids.reduce((n, id) => n + platform.central.telemetry.counts(id).messages, 0) }
        : {}),
    });
  })();
});
process.on('disconnect', () => process.exit(0));
watchEventLoop();

toParent({
  type: 'ready',
  target: {
    host: endpoint.address,
    port: endpoint.mqttPort,
    caPath: platform.tls.caCertificatePath,
    hostName: hub.hostName,
    amqpPort: endpoint.amqpPort,
    httpsPort: endpoint.httpsPort,
  },
  devices,
  memoryBeforeIdentities,
  ...(values.central === true
    ? {
        central: {
          address: platform.centralEndpoint.address,
          hostName: platform.centralEndpoint.hostName,
          port: platform.centralEndpoint.httpsPort,
          token: platform.central.adminToken,
        },
      }
    : {}),
});
