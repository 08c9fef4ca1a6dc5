/**
 * `plugboard up --demo`'s live devices: the two samples (Thermostat and TemperatureController, on
 * `@plugboard/device`) run in-process against the application just started, with the demo devices' keys
 * from plugboard.json, so a newcomer sees telemetry, properties and commands at once. Their DPS
 * assignments are cached in the data directory, as a real device would keep them.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileAssignmentStore } from '@plugboard/device';
import {
  TEMPERATURE_CONTROLLER_MODEL_ID,
  THERMOSTAT_MODEL_ID,
  startTemperatureController,
  startThermostat,
  type RunningSample,
  type SampleConnection,
} from '@plugboard/samples';
import type { Manifest } from './up.js';

const SAMPLES: Readonly<Record<string, (connection: SampleConnection) => Promise<RunningSample>>> = {
  [THERMOSTAT_MODEL_ID]: startThermostat,
  [TEMPERATURE_CONTROLLER_MODEL_ID]: startTemperatureController,
};

/** The running demo devices; `stop()` disconnects them all. */
export interface DemoFleet {
  readonly devices: readonly RunningSample[];
  stop(): Promise<void>;
}

/**
 * Starts a sample for each demo device of the manifest whose model is a sample's; a device that cannot
 * start is reported through `onError` and skipped (the platform keeps running).
 *
 * @example
 * ```ts
 * const fleet = await startDemoDevices(manifest, dataDir, (id, error) => logger.warn({ err: error }, id));
 * await fleet.stop();
 * ```
 */
export async function startDemoDevices(
  manifest: Manifest,
  dataDir: string,
  onError: (deviceId: string, error: unknown) => void,
): Promise<DemoFleet> {
  const ca = readFileSync(manifest.caCertificate, 'utf8');
  const assignmentStore = fileAssignmentStore(join(dataDir, 'demo-assignments.json'));
  const started = await Promise.all(
    (manifest.demoDevices ?? []).map(async (demo) => {
      const start = SAMPLES[demo.modelId];
      if (start === undefined) return undefined;
      try {
        return await start({
          idScope: manifest.idScope,
          registrationId: demo.registrationId,
          credentials: { symmetricKey: demo.deviceKey },
          provisioningHost: manifest.dps.host,
          ca,
          assignmentStore,
        });
      } catch (error) {
        onError(demo.deviceId, error);
        return undefined;
      }
    }),
  );
  const devices = started.filter((d): d is RunningSample => d !== undefined);
  return {
    devices,
    async stop() {
      await Promise.all(devices.map((d) => d.stop()));
    },
  };
}
