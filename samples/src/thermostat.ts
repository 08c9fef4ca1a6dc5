/**
 * The Thermostat sample (`dtmi:com:example:Thermostat;1`, no component) on `@plugboard/device`: it
 * registers with DPS announcing its model, sends its temperature every few seconds (stamped with its
 * creation time), accepts a target temperature (reporting 20 °C as its initial value), reports its
 * maximum since start, and answers `getMaxMinReport`. Reconnection, reprovisioning, acknowledgements and
 * the offline queue are the SDK's defaults: nothing here handles them.
 *
 * Run against a local application: `node samples/dist/thermostat.js [.plugboard/plugboard.json]`.
 */

import { PnpDevice } from '@plugboard/device';
import {
  TemperatureState,
  runAsScript,
  runPeriodically,
  sampleModel,
  type RunningSample,
  type SampleConnection,
} from './sample-connection.js';
import type { ThermostatDevice } from './thermostat.generated.js';

export const THERMOSTAT_MODEL_ID = 'dtmi:com:example:Thermostat;1';

/**
 * Starts a Thermostat; resolves once it is connected.
 *
 * @example
 * ```ts
 * const thermostat = await startThermostat({ idScope, registrationId: 'thermostat-1', credentials: { groupKey } });
 * await thermostat.stop();
 * ```
 */
export async function startThermostat(connection: SampleConnection): Promise<RunningSample> {
  const device = new PnpDevice<ThermostatDevice>({
    ...connection,
    modelId: THERMOSTAT_MODEL_ID,
    model: sampleModel(THERMOSTAT_MODEL_ID),
  });
  const temperature = new TemperatureState();

  device.onWritableProperty(
    'targetTemperature',
    (target) => {
      temperature.target = target;
      return { ad: `Target set to ${target} °C` };
    },
    { initial: temperature.target },
  );
  device.onCommand('getMaxMinReport', (since) => temperature.report(since));
  device.on('connectionState', ({ state, reason, delayMs }) => {
    if (connection.log === true)
      console.log(
        `[${connection.registrationId}] ${state}: ${reason}${delayMs === undefined ? '' : ` (${delayMs} ms)`}`,
      );
  });

  await device.start();
  let reportedMax = Number.NEGATIVE_INFINITY;
  const tick = async (): Promise<void> => {
    await device.sendTelemetry({ temperature: temperature.next() });
    if (temperature.max > reportedMax) {
      reportedMax = temperature.max;
      await device.reportProperties({ maxTempSinceLastReboot: reportedMax });
    }
  };
  return runPeriodically(device, connection, tick);
}

// Run as a script: connect to the application described by plugboard.json until Ctrl+C.
if (import.meta.url === `file://${process.argv[1] ?? ''}`) await runAsScript(startThermostat, 'thermostat-1');
