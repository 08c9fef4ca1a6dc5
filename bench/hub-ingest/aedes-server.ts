/**
 * Child process: an Aedes 1.x broker with its default in-memory persistence, accepting every client, over
 * `node:tls` with a certificate of the same kind as Plugboard's (ECDSA P-256 from the same CA code) and the
 * same TLS server options, so the TLS work per connection and per byte is the same. Driven by `run.ts`.
 *
 * Usage (through run.ts): aedes-server.ts --devices N --data-dir DIR --address 127.77.2.2
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { ensureTlsMaterial } from '@plugboard/server';
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
    address: { type: 'string', default: '127.77.2.2' },
  },
});
const count = Number(values.devices);
const dataDir = values['data-dir'];
const address = values.address;
if (!Number.isInteger(count) || count < 1 || dataDir === undefined)
  throw new Error('--devices and --data-dir are required');

const tls = await ensureTlsMaterial({
  directory: join(dataDir, 'tls'),
  hostNames: ['localhost'],
  ipAddresses: ['127.0.0.1', '::1', address],
});
const broker = await Aedes.createBroker();
// Same TLS options as Plugboard's MQTT listener (it asks for an optional client certificate), and Nagle off
// as Plugboard does, so both answer a PUBLISH with an immediate PUBACK segment.
const server = createServer(
  { key: tls.serverKeyPem, cert: tls.serverCertificatePem, requestCert: true, rejectUnauthorized: false },
  (socket: TLSSocket) => {
    socket.setNoDelay(true);
    broker.handle(socket);
  },
);
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, address, () => resolve());
});
const bound = server.address();
if (bound === null || typeof bound === 'string') throw new Error('no TCP address');

// Random keys: Aedes accepts any password, but it gets tokens of the same length as Plugboard's.
const devices = await mintCredentials(address, deviceIds(count), () => randomBytes(32).toString('base64'));

process.on('message', (message: ServerRequest) => {
  if (message.type === 'close') {
    server.close();
    broker.close(() => process.exit(0));
    return;
  }
  toParent({
    type: 'stats',
    id: message.id,
    memory: sampleMemory(),
    cpuMicros: cpuMicros(),
    eventLoopDelayMs: takeEventLoopDelay(),
    connections: broker.connectedClients,
  });
});
process.on('disconnect', () => process.exit(0));
watchEventLoop();

toParent({ type: 'ready', target: { host: address, port: bound.port, caPath: tls.caCertificatePath }, devices });
