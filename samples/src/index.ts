/**
 * `@plugboard/samples`: the two sample devices, as functions `plugboard up --demo` runs in-process and as
 * scripts (`node samples/dist/thermostat.js`).
 */

export {
  SAMPLE_MODELS,
  TemperatureState,
  connectionFromManifest,
  runAsScript,
  runPeriodically,
  sampleModel,
} from './sample-connection.js';
export type { RunningSample, SampleConnection } from './sample-connection.js';
export { THERMOSTAT_MODEL_ID, startThermostat } from './thermostat.js';
export { TEMPERATURE_CONTROLLER_MODEL_ID, startTemperatureController } from './temperature-controller.js';
