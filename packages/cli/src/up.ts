import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deriveDeviceKey } from '@plugboard/protocol';
import { SAMPLE_MODELS } from '@plugboard/samples';
import { UI_ROOT } from '@plugboard/ui';
import {
  DEFAULT_ENROLLMENT_GROUP,
  DPS_QUOTA_PROFILES,
  createLogger,
  prettyLogDestination,
  startPlatform,
  type ListenerLimits,
  type Platform,
  type PlatformManifest,
} from '@plugboard/server';

/** Options of `plugboard up`. */
export interface UpOptions {
  dataDir: string;
  hubs: number;
  demo: boolean;
  mqttPort: number;
  /** AMQP over TLS (default 5671). */
  amqpPort?: number;
  httpsPort: number;
  loopbackPrefix: string;
  logLevel: string;
  /** `pretty` lines or `json` (default). */
  logFormat?: 'pretty' | 'json';
  durability: 'normal' | 'full';
  dpsQuotas: 'off' | 'iotCentral' | 'dps';
  /** Listener time limits given with `--limit name=ms`. */
  limit?: Partial<ListenerLimits>;
  /** A DTDL model repository folder: templates are made from it for model ids devices announce (with `demo`, default the samples' models). */
  modelRepository?: string;
  /** `false`: devices registering for the first time wait for approval. Default true. */
  autoApprove?: boolean;
  json: boolean;
}

/** Demo devices `--demo` provisions through the default enrollment group. */
export const DEMO_DEVICES = [
  { deviceId: 'thermostat-1', modelId: 'dtmi:com:example:Thermostat;1' },
  { deviceId: 'temperature-controller-1', modelId: 'dtmi:com:example:TemperatureController;1' },
] as const;

/** What `plugboard.json` holds (the contract in DESIGN.md; the Central app's fields come with it). */
export interface Manifest extends PlatformManifest {
  demoDevices?: { deviceId: string; modelId: string; registrationId: string; deviceKey: string }[];
}

/** The manifest's path in a data directory. */
export function manifestPath(dataDir: string): string {
  return join(resolve(dataDir), 'plugboard.json');
}

/**
 * Starts the platform (a new application gets its SAS enrollment groups), writes `DIR/plugboard.json`
 * and prints a summary; resolves with the running platform.
 *
 * @example
 * const { platform } = await up({ dataDir: '.plugboard', hubs: 2, demo: true, ... }, process.stdout);
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
    ports: { mqtt: options.mqttPort, amqp: options.amqpPort ?? 5671, https: options.httpsPort },
    durability: options.durability,
    dps: { quotas: DPS_QUOTA_PROFILES[options.dpsQuotas] },
    logger: createLogger({
      level: options.logLevel,
      ...(options.logFormat === 'pretty' ? { destination: prettyLogDestination(process.stdout) } : {}),
    }),
    ...(options.limit === undefined ? {} : { limits: options.limit }),
    central: {
      // The demo devices' models come with the samples: their templates are made from them.
      ...(options.modelRepository === undefined
        ? options.demo
          ? { modelRepository: SAMPLE_MODELS }
          : {}
        : { modelRepository: options.modelRepository }),
      ...(options.autoApprove === undefined ? {} : { autoApprove: options.autoApprove }),
    },
    ui: { root: UI_ROOT },
  });
  try {
    const manifest: Manifest = platform.manifest();
    if (options.demo) {
      const group = platform.dps.getEnrollmentGroup(DEFAULT_ENROLLMENT_GROUP);
      if (group.attestation.type === 'symmetricKey') {
        manifest.demoDevices = [];
        for (const demo of DEMO_DEVICES) {
          // The demo devices exist in the application (registered) before they first provision.
          if (platform.central.devices.find(demo.deviceId) === undefined) {
            await platform.central.devices.put(demo.deviceId, { displayName: demo.deviceId });
          }
          manifest.demoDevices.push({
            deviceId: demo.deviceId,
            modelId: demo.modelId,
            registrationId: demo.deviceId,
            deviceKey: await deriveDeviceKey(group.attestation.symmetricKey.primaryKey, demo.deviceId),
          });
        }
      }
    }
    const path = manifestPath(dataDir);
    writeManifest(path, manifest);
    // Hubs added or removed while running: plugboard.json follows, keeping the demo devices.
    platform.onManifestChange(() => {
      const current: Manifest = platform.manifest();
      if (manifest.demoDevices !== undefined) current.demoDevices = manifest.demoDevices;
      writeManifest(path, current);
    });
    out.write(options.json ? `${JSON.stringify(manifest)}\n` : summary(manifest, path));
    return { platform, manifest };
  } catch (error) {
    await platform.close();
    throw error;
  }
}

/** Writes `plugboard.json` atomically (owner-only: it holds keys). */
function writeManifest(path: string, manifest: Manifest): void {
  writeFileSync(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/**
 * The Central app's lines: its URL, and the `az iot central` arguments that reach it without a hosts
 * entry (the CLI builds `https://{app-id}.{suffix}`, so `127.0.0` + `254` is the app's address).
 */
function centralLines(manifest: Manifest): string[] {
  const { hostName, address, httpsPort } = manifest.central;
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  const dot = address.lastIndexOf('.');
  const lines = [
    `  Central    ${manifest.api.baseUrl}  (REST API on ${address}${port}; admin API token in plugboard.json)`,
  ];
  if (manifest.ui !== undefined) {
    // The link signs the browser in with the admin token (the fragment never leaves the browser).
    lines.push(`  Web UI     ${manifest.ui.url}#token=${encodeURIComponent(manifest.api.token)}`);
  }
  if (dot > 0 && !address.includes(':')) {
    lines.push(
      `             az iot central ... --app-id ${address.slice(0, dot)} --central-dns-suffix ${address.slice(dot + 1)}${port} --token <api.token>`,
      `             (or map ${hostName} to ${address} in /etc/hosts and use --app-id ${manifest.central.appId})`,
    );
  }
  return lines;
}

function summary(manifest: Manifest, path: string): string {
  const group = manifest.enrollmentGroups.find((g) => g.id === DEFAULT_ENROLLMENT_GROUP);
  const lines = [
    'Plugboard is running.',
    '',
    `  ID scope   ${manifest.idScope}`,
    `  DPS        ${manifest.dps.host}  (provisioningHost; mqtts:${manifest.dps.mqttPort}  amqps:${manifest.dps.amqpPort}  https/wss:${manifest.dps.httpsPort})`,
    ...manifest.hubs.map(
      (h) =>
        `  ${h.name.padEnd(10)} ${h.hostName}  (mqtts:${h.mqttPort}  amqps:${h.amqpPort}  https/wss:${h.httpsPort})`,
    ),
    ...centralLines(manifest),
    '',
    ...(group?.primaryKey === undefined
      ? []
      : [
          `Enrollment group ${group.id} (symmetric key):`,
          `  primary key  ${group.primaryKey}`,
          '  device key = plugboard device compute-device-key --primary-key <key> --device-id <id>',
          '',
        ]),
    `CA certificate: ${manifest.caCertificate}`,
    `  Trust it in Node:   export NODE_EXTRA_CA_CERTS=${manifest.caCertificate}`,
    `  or per device client: client.setOptions({ ca: fs.readFileSync('${manifest.caCertificate}', 'utf8') })`,
    ...(manifest.demoDevices ?? []).flatMap((d) => [
      '',
      `Demo device ${d.deviceId} (${d.modelId}):`,
      `  registration id ${d.registrationId}, device key ${d.deviceKey}`,
    ]),
    '',
    `Service connection strings and keys: ${path}`,
    'Stop with Ctrl+C.',
    '',
  ];
  return lines.join('\n');
}
