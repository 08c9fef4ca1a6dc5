/**
 * Child process: a Plugboard platform (DPS at `{prefix}.1`, two hubs, SQLite in a temporary data directory)
 * with one symmetric-key enrollment group, `bench`. Driven by `run.ts` over IPC: reports where DPS listens
 * and the group key, answers `stats` (CPU, event loop) and `verify` (what DPS and the hubs hold), and
 * profiles itself between `profile-start` and `profile-stop`.
 *
 * Usage (through run.ts): server.ts --data-dir DIR [--loopback-prefix 127.78.1] [--mqtt-port 28883]
 *   [--https-port 28443]
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { createLogger, startPlatform } from '@plugboard/server';
import { sampleProcess, toParent, type ServerRequest } from './ipc.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    'loopback-prefix': { type: 'string', default: '127.78.1' },
    'mqtt-port': { type: 'string', default: '28883' },
    'https-port': { type: 'string', default: '28443' },
  },
});
const dataDir = values['data-dir'];
if (dataDir === undefined) throw new Error('--data-dir is required');

try {
  const platform = await startPlatform({
    dataDir,
    hubs: 2,
    loopbackPrefix: values['loopback-prefix'],
    ports: { mqtt: Number(values['mqtt-port']), https: Number(values['https-port']) },
    dps: { retryAfterSeconds: 1 },
    logger: createLogger({ level: 'warn' }),
  });
  const primaryKey = randomBytes(32).toString('base64');
  await platform.dps.putEnrollmentGroup('bench', {
    attestation: {
      type: 'symmetricKey',
      symmetricKey: { primaryKey, secondaryKey: randomBytes(32).toString('base64') },
    },
  });

  // The V8 profiler, attached only around the timed batches (`--cpu-prof`), so start-up is not in it.
  let inspector: Session | undefined;

  process.on('message', (message: ServerRequest) => {
    void (async () => {
      switch (message.type) {
        case 'close':
          await platform.close();
          process.exit(0);
          break;
        case 'profile-start':
          inspector = new Session();
          inspector.connect();
          await inspector.post('Profiler.enable');
          await inspector.post('Profiler.setSamplingInterval', { interval: 500 });
          await inspector.post('Profiler.start');
          toParent({ type: 'profiling' });
          break;
        case 'profile-stop': {
          const { profile } = (await inspector?.post('Profiler.stop')) ?? {};
          inspector?.disconnect();
          inspector = undefined;
          if (profile !== undefined) writeFileSync(message.path, JSON.stringify(profile));
          toParent({ type: 'profiling', path: message.path });
          break;
        }
        case 'stats':
          toParent({ type: 'stats', ...sampleProcess(), rss: process.memoryUsage().rss });
          break;
        case 'verify': {
          const records = platform.dps.listRegistrations();
          const hubs: Record<string, { registrations: Record<string, number>; identities: number }> = {};
          for (const hub of platform.hubs)
            hubs[hub.name] = { registrations: {}, identities: hub.listIdentities().length };
          for (const record of records) {
            const entry = (hubs[record.hub] ??= { registrations: {}, identities: 0 });
            const prefix = record.registrationId.split('-')[0] ?? '';
            entry.registrations[prefix] = (entry.registrations[prefix] ?? 0) + 1;
          }
          toParent({
            type: 'verdict',
            registrations: records.length,
            assigned: records.filter((r) => r.status === 'assigned').length,
            hubs,
            dpsStats: { ...platform.dps.stats },
          });
          break;
        }
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));

  const endpoint = platform.dpsEndpoint;
  toParent({
    type: 'ready',
    target: {
      idScope: platform.dps.idScope,
      address: endpoint.address,
      hostName: platform.dps.hostName,
      mqttPort: endpoint.mqttPort,
      httpsPort: endpoint.httpsPort,
      caPem: platform.tls.caCertificatePem,
      groupKey: primaryKey,
    },
  });
} catch (error) {
  toParent({ type: 'failed', message: `server: ${error instanceof Error ? error.message : String(error)}` });
  process.exit(1);
}
