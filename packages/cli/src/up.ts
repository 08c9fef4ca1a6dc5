import { writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createLogger, startPlatform, type Platform } from '@plugboard/server';

/** Options of `plugboard up`. */
export interface UpOptions {
  dataDir: string;
  hubs: number;
  demo: boolean;
  mqttPort: number;
  httpsPort: number;
  loopbackPrefix: string;
  logLevel: string;
  durability: 'normal' | 'full';
  json: boolean;
}

/** Demo devices created by `--demo` in the first hub. */
export const DEMO_DEVICES = ['thermostat-1', 'temperature-controller-1'] as const;

/** What `plugboard.json` holds (the contract in DESIGN.md; DPS and Central fields come with them). */
export interface Manifest {
  hubs: { name: string; hostName: string; serviceConnectionString: string; mqttPort: number; httpsPort: number }[];
  caCertificate: string;
  dataDir: string;
  demoDevices?: { deviceId: string; hub: string; connectionString: string }[];
}

/**
 * Starts the platform and writes `DIR/plugboard.json`; resolves with the running platform.
 *
 * @example
 * const { platform } = await up({ dataDir: '.plugboard', hubs: 2, demo: true, ... });
 */
export async function up(
  options: UpOptions,
  out: NodeJS.WritableStream,
): Promise<{ platform: Platform; manifest: Manifest }> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const platform = await startPlatform({
    dataDir,
    hubs: options.hubs,
    loopbackPrefix: options.loopbackPrefix,
    ports: { mqtt: options.mqttPort, https: options.httpsPort },
    durability: options.durability,
    logger: createLogger({ level: options.logLevel }),
  });
  const base = platform.manifest();
  const manifest: Manifest = {
    hubs: base.hubs.map((h) => ({
      name: h.name,
      hostName: h.hostName,
      serviceConnectionString: h.serviceConnectionString,
      mqttPort: h.mqttPort,
      httpsPort: h.httpsPort,
    })),
    caCertificate: base.caCertificate,
    dataDir,
  };
  if (options.demo) {
    const hub = platform.hubs[0];
    if (hub !== undefined) {
      manifest.demoDevices = [];
      for (const deviceId of DEMO_DEVICES) {
        if (!hub.has({ deviceId })) await hub.createIdentity({ deviceId });
        manifest.demoDevices.push({
          deviceId,
          hub: hub.name,
          connectionString: hub.deviceConnectionString({ deviceId }),
        });
      }
    }
  }
  const path = join(dataDir, 'plugboard.json');
  writeFileSync(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  if (options.json) {
    out.write(`${JSON.stringify(manifest)}\n`);
  } else {
    const lines = [
      'Plugboard is running.',
      '',
      ...manifest.hubs.map(
        (h) =>
          `  ${h.name}  ${h.hostName}  mqtts:${h.mqttPort}  https/wss:${h.httpsPort}\n    ${h.serviceConnectionString}`,
      ),
      '',
      `CA certificate: ${manifest.caCertificate}`,
      '  Trust it in Node:   export NODE_EXTRA_CA_CERTS=' + manifest.caCertificate,
      "  or per client:      client.setOptions({ ca: fs.readFileSync('" + manifest.caCertificate + "', 'utf8') })",
      ...(manifest.demoDevices ?? []).flatMap((d) => [
        '',
        `Demo device ${d.deviceId} (${d.hub}):`,
        `  ${d.connectionString}`,
      ]),
      '',
      `Manifest: ${path}`,
      'Stop with Ctrl+C.',
      '',
    ];
    out.write(lines.join('\n'));
  }
  return { platform, manifest };
}
