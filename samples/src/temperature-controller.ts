/**
 * The TemperatureController sample (`dtmi:com:example:TemperatureController;1`, multi-component) on
 * `@plugboard/device`: two thermostat components (`thermostat1`, `thermostat2`), each with its own
 * temperature, target and `getMaxMinReport`; the root's working-set telemetry, serial number and
 * `reboot` command; and the `deviceInformation` component's properties. Component telemetry goes out one
 * message per component with `$.sub`, component properties with `__t: "c"`, component commands arrive as
 * `thermostat1*getMaxMinReport` — all done by the SDK.
 *
 * Run against a local application: `node samples/dist/temperature-controller.js [.plugboard/plugboard.json]`.
 */

import { arch, cpus, freemem, platform, totalmem } from 'node:os';
import { PnpDevice } from '@plugboard/device';
import {
  TemperatureState,
  runAsScript,
  runPeriodically,
  sampleModel,
  type RunningSample,
  type SampleConnection,
} from './sample-connection.js';
import type { TemperatureControllerDevice } from './temperature-controller.generated.js';

export const TEMPERATURE_CONTROLLER_MODEL_ID = 'dtmi:com:example:TemperatureController;1';
const THERMOSTATS = ['thermostat1', 'thermostat2'] as const;

/**
 * Starts a TemperatureController; resolves once it is connected.
 *
 * @example
 * ```ts
 * const controller = await startTemperatureController({ idScope, registrationId: 'temperature-controller-1', credentials: { groupKey } });
 * ```
 */
export async function startTemperatureController(connection: SampleConnection): Promise<RunningSample> {
  const device = new PnpDevice<TemperatureControllerDevice>({
    ...connection,
    modelId: TEMPERATURE_CONTROLLER_MODEL_ID,
    model: sampleModel(
      TEMPERATURE_CONTROLLER_MODEL_ID,
      'dtmi:com:example:Thermostat;1',
      'dtmi:azure:DeviceManagement:DeviceInformation;1',
    ),
  });
  const states = new Map(THERMOSTATS.map((name) => [name, new TemperatureState()]));

  for (const [name, temperature] of states) {
    const thermostat = device.component(name);
    thermostat.onWritableProperty(
      'targetTemperature',
      (target) => {
        temperature.target = target;
        return { ad: `Target set to ${target} °C` };
      },
      { initial: temperature.target },
    );
    thermostat.onCommand('getMaxMinReport', (since) => temperature.report(since));
  }
  device.onCommand('reboot', (delay) => {
    // A sample does not reboot its host: it starts its readings over after `delay` seconds.
    setTimeout(() => {
      for (const temperature of states.values()) temperature.max = temperature.current;
    }, delay * 1000).unref();
    return undefined;
  });
  device.on('connectionState', ({ state, reason }) => {
    if (connection.log === true) console.log(`[${connection.registrationId}] ${state}: ${reason}`);
  });

  await device.start();
  await device.reportProperties({ serialNumber: `SN-${connection.registrationId}` });
  await device.component('deviceInformation').reportProperties({
    manufacturer: 'Plugboard',
    model: 'Sample Temperature Controller',
    swVersion: '0.1.0',
    osName: platform(),
    processorArchitecture: arch(),
    processorManufacturer: cpus()[0]?.model ?? 'unknown',
    totalStorage: 0,
    totalMemory: Math.round(totalmem() / 1024),
  });

  const tick = async (): Promise<void> => {
    for (const [name, temperature] of states) {
      await device.component(name).sendTelemetry({ temperature: temperature.next() });
    }
    await device.sendTelemetry({ workingSet: Math.round((totalmem() - freemem()) / 1024) });
  };
  return runPeriodically(device, connection, tick);
}

// Run as a script: connect to the application described by plugboard.json until Ctrl+C.
if (import.meta.url === `file://${process.argv[1] ?? ''}`)
  await runAsScript(startTemperatureController, 'temperature-controller-1');
