/**
 * What both samples share: how they reach an application (ID scope, DPS host, credentials, the CA of a
 * local one), the sample models in `samples/models` (parsed once, for payload checks), and a device's
 * temperature state — a value that drifts towards its target, with the history `getMaxMinReport` reads.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AssignmentStore, DeviceCredentials } from '@plugboard/device';
import { dtmiToPath, parse, type DtdlModel } from '@plugboard/dtdl';

/** Where a sample connects: an IoT Central application (local or Azure). */
export interface SampleConnection {
  idScope: string;
  registrationId: string;
  credentials: DeviceCredentials;
  /** Default `global.azure-devices-provisioning.net`. */
  provisioningHost?: string | undefined;
  /** A local application's CA (PEM). */
  ca?: string | undefined;
  assignmentStore?: AssignmentStore | false | undefined;
  /** Telemetry period (default 5 s). */
  intervalMs?: number | undefined;
  /** Print connection-state changes. */
  log?: boolean | undefined;
}

/** A sample that is running. */
export interface RunningSample {
  readonly deviceId: string;
  /** Stops sending and disconnects. */
  stop(): Promise<void>;
}

/** The sample models' folder (DMR layout: `dtmi/com/example/thermostat-1.json`). */
export const SAMPLE_MODELS = fileURLToPath(new URL('../models/', import.meta.url));

/** The parsed model set of the interfaces `dtmis` (read from {@link SAMPLE_MODELS}). */
export function sampleModel(...dtmis: string[]): DtdlModel {
  const result = parse(dtmis.map((dtmi) => readFileSync(join(SAMPLE_MODELS, dtmiToPath(dtmi)), 'utf8')));
  if (!result.ok || result.model === undefined) {
    throw new Error(`The sample models do not parse: ${result.errors[0]?.message ?? ''}`);
  }
  return result.model;
}

/**
 * A connection from a running local application's `plugboard.json`: its ID scope, DPS host, CA, and
 * the device key of the demo device `deviceId` (else the SAS-IoT-Devices group key).
 */
export function connectionFromManifest(path: string, deviceId: string): SampleConnection {
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as {
    idScope: string;
    dps: { host: string };
    caCertificate: string;
    enrollmentGroups: { id: string; primaryKey?: string }[];
    demoDevices?: { deviceId: string; deviceKey: string }[];
  };
  const demo = manifest.demoDevices?.find((d) => d.deviceId === deviceId);
  const groupKey = manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices')?.primaryKey;
  if (demo === undefined && groupKey === undefined) throw new Error(`${path} has no key for ${deviceId}.`);
  return {
    idScope: manifest.idScope,
    registrationId: deviceId,
    credentials: demo !== undefined ? { symmetricKey: demo.deviceKey } : { groupKey: String(groupKey) },
    provisioningHost: manifest.dps.host,
    ca: readFileSync(manifest.caCertificate, 'utf8'),
  };
}

/** A thermostat's temperature: it drifts towards the target, with noise, and keeps its history. */
export class TemperatureState {
  target = 20;
  current = 20;
  max = 20;
  readonly #history: { at: number; value: number }[] = [];

  /** The next reading (°C): a step towards the target plus a little noise. */
  next(now = Date.now()): number {
    this.current += (this.target - this.current) * 0.2 + (Math.random() - 0.5) * 0.4;
    this.current = Math.round(this.current * 100) / 100;
    this.max = Math.max(this.max, this.current);
    this.#history.push({ at: now, value: this.current });
    if (this.#history.length > 10_000) this.#history.shift();
    return this.current;
  }

  /** The `getMaxMinReport` response for readings since `since` (ISO date-time). */
  report(since: string): { maxTemp: number; minTemp: number; avgTemp: number; startTime: string; endTime: string } {
    const from = Date.parse(since);
    const values = this.#history.filter((h) => Number.isNaN(from) || h.at >= from).map((h) => h.value);
    const readings = values.length > 0 ? values : [this.current];
    const sum = readings.reduce((a, b) => a + b, 0);
    return {
      maxTemp: Math.max(...readings),
      minTemp: Math.min(...readings),
      avgTemp: Math.round((sum / readings.length) * 100) / 100,
      startTime: new Date(Number.isNaN(from) ? (this.#history[0]?.at ?? Date.now()) : from).toISOString(),
      endTime: new Date().toISOString(),
    };
  }
}

/**
 * Runs `tick` now and every `intervalMs` (default 5 s) until the returned sample is stopped, which also
 * closes `device`. A tick that fails (the device closing) is dropped: the next one tries again.
 */
export async function runPeriodically(
  device: { readonly close: () => Promise<void> },
  connection: SampleConnection,
  tick: () => Promise<void>,
): Promise<RunningSample> {
  const timer = setInterval(() => {
    tick().catch(() => undefined);
  }, connection.intervalMs ?? 5000);
  await tick();
  return {
    deviceId: connection.registrationId,
    async stop() {
      clearInterval(timer);
      await device.close();
    },
  };
}

/**
 * A sample's entry point as a script: connects the sample to the application in the `plugboard.json`
 * named on the command line (default `.plugboard/plugboard.json`) until Ctrl+C.
 */
export async function runAsScript(
  start: (connection: SampleConnection) => Promise<RunningSample>,
  deviceId: string,
): Promise<void> {
  const path = process.argv[2] ?? '.plugboard/plugboard.json';
  const running = await start({ ...connectionFromManifest(path, deviceId), log: true });
  console.log(`${running.deviceId} is connected; Ctrl+C stops it.`);
  process.once('SIGINT', () => {
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
