/**
 * Fixtures of the Central tests: the DTDL v2 sample models, a model repository folder in the DMR
 * layout (`dtmi/com/example/thermostat-1.json`) holding what they reference, and an official-SDK
 * device that provisions through DPS with a group-derived key and connects to its hub.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetricKeySecurity from 'azure-iot-security-symmetric-key';
import { up, type Manifest } from '@plugboard/cli';
import { dtmiToPath } from '@plugboard/dtdl';
import { deriveDeviceKey } from '@plugboard/protocol';
import type { Platform } from '@plugboard/server';
import { randomLoopbackPrefix, runCli, withTimeout } from './harness.js';

const { Client } = deviceSdk;
const { Mqtt } = mqttTransport;
const { ProvisioningDeviceClient } = provisioningSdk;
const { Mqtt: ProvisioningMqtt } = provisioningMqtt;
const { SymmetricKeySecurityClient } = symmetricKeySecurity;

const SAMPLES = new URL('../../../shared/corpora/dtdl-spec/v2/samples/', import.meta.url).pathname;

/** A DTDL v2 sample model (`Thermostat.json`, `TemperatureController.json`) as parsed JSON. */
export function sampleModel(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(SAMPLES, name), 'utf8')) as Record<string, unknown>;
}

/** The Device Information interface the TemperatureController sample references (a minimal one). */
export const DEVICE_INFORMATION = {
  '@context': 'dtmi:dtdl:context;2',
  '@id': 'dtmi:azure:DeviceManagement:DeviceInformation;1',
  '@type': 'Interface',
  displayName: 'Device Information',
  contents: [{ '@type': 'Property', name: 'manufacturer', schema: 'string' }],
};

/**
 * A temporary model repository folder with the Thermostat sample, Device Information and `extra`
 * models, each at its DMR path. The caller removes it.
 */
export function modelRepository(extra: readonly Record<string, unknown>[] = []): string {
  const root = mkdtempSync(join(tmpdir(), 'plugboard-models-'));
  for (const model of [sampleModel('Thermostat.json'), DEVICE_INFORMATION, ...extra]) {
    const path = join(root, dtmiToPath(String(model['@id'])));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(model));
  }
  return root;
}

/** What the provisioning SDK resolves with. */
export interface Registration {
  assignedHub: string;
  deviceId: string;
}

/** Registers with the official provisioning SDK over MQTT with a key derived from `groupKey`. */
export async function provisionDevice(
  platform: Platform,
  deviceId: string,
  groupKey: string,
  payload?: unknown,
): Promise<Registration> {
  const client = ProvisioningDeviceClient.create(
    platform.dps.hostName,
    platform.dps.idScope,
    new ProvisioningMqtt(),
    // Two copies of azure-iot-common make the SDK's own types disagree; the object is what it expects.
    new SymmetricKeySecurityClient(deviceId, await deriveDeviceKey(groupKey, deviceId)) as never,
  );
  if (payload !== undefined) client.setProvisioningPayload(payload as never);
  return (await withTimeout(client.register() as Promise<unknown>, 20_000, 'register')) as Registration;
}

/** Opens an official-SDK MQTT client on the assigned hub (announcing `modelId` when given). */
export async function connectDevice(
  registration: Registration,
  groupKey: string,
  modelId?: string,
): Promise<InstanceType<typeof Client>> {
  const key = await deriveDeviceKey(groupKey, registration.deviceId);
  const client = Client.fromConnectionString(
    `HostName=${registration.assignedHub};DeviceId=${registration.deviceId};SharedAccessKey=${key}`,
    Mqtt,
  );
  if (modelId !== undefined) await client.setOptions({ modelId });
  await withTimeout(client.open(), 15_000, 'open');
  return client;
}

/** A running `plugboard up` in a temporary directory (the run's CA), with a model repository. */
export interface RunningApp {
  dataDir: string;
  models: string;
  platform: Platform;
  manifest: Manifest;
  /** Stops the platform and removes its directories. */
  dispose(): Promise<void>;
}

/** Starts `plugboard up` (2 hubs, no demo) on its own loopback prefix, as a newcomer runs it; `extraModels` join the model repository. */
export async function startApp(
  name: string,
  extraModels: readonly Record<string, unknown>[] = [],
): Promise<RunningApp> {
  const dataDir = mkdtempSync(join(tmpdir(), `plugboard-${name}-`));
  const caDir = String(process.env['PLUGBOARD_TEST_CA_DIR']);
  mkdirSync(join(dataDir, 'tls'), { recursive: true });
  copyFileSync(join(caDir, 'ca.pem'), join(dataDir, 'tls', 'ca.pem'));
  copyFileSync(join(caDir, 'ca.key.pem'), join(dataDir, 'tls', 'ca.key.pem'));
  const models = modelRepository(extraModels);
  const { platform, manifest } = await up(
    {
      dataDir,
      hubs: 2,
      demo: false,
      mqttPort: 8883,
      httpsPort: 443,
      loopbackPrefix: randomLoopbackPrefix(),
      logLevel: 'silent',
      durability: 'normal',
      dpsQuotas: 'off',
      modelRepository: models,
      json: false,
    },
    new Writable({ write: (_chunk, _enc, done) => done() }),
  );
  return {
    dataDir,
    models,
    platform,
    manifest,
    async dispose() {
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(models, { recursive: true, force: true });
    },
  };
}

/** One verdict of a `plugboard device check` run. */
export interface CheckVerdict {
  id: string;
  status: string;
  summary: string;
}

/**
 * Runs `plugboard device check` on a device of `app` with short limits (a run takes about 25 s) and
 * answers the verdicts, whether the check passed or not.
 */
export async function runDeviceCheck(app: RunningApp, deviceId: string): Promise<CheckVerdict[]> {
  const file = join(app.dataDir, `check-${deviceId}.json`);
  const limits = [
    '--telemetry-seconds',
    '4',
    '--response-seconds',
    '6',
    '--recovery-seconds',
    '30',
    '--fault-seconds',
    '4',
  ];
  try {
    await runCli(
      'device',
      'check',
      '--device-id',
      deviceId,
      ...limits,
      '--output-json',
      file,
      '--data-dir',
      app.dataDir,
    );
  } catch (error) {
    if (!/checks failed/.test((error as Error).message)) throw error;
  }
  return (JSON.parse(readFileSync(file, 'utf8')) as { results: CheckVerdict[] }).results;
}
