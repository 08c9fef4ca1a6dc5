/**
 * The samples' generated types are what `plugboard model codegen` makes of the samples' models today:
 * a change to the models or to the code generator shows up here until the files are generated again
 * (`npx plugboard model codegen samples/models/dtmi/com/example/thermostat-1.json --out samples/src/thermostat.generated.ts`,
 * `npx plugboard model codegen samples/models --out samples/src/temperature-controller.generated.ts`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { generateTypeScript } from '@plugboard/dtdl';
import { THERMOSTAT_MODEL_ID, TEMPERATURE_CONTROLLER_MODEL_ID, sampleModel } from '../src/index.js';

const SRC = new URL('../src/', import.meta.url);

it('[DTDL:codegen] thermostat.generated.ts is up to date with the Thermostat model', () => {
  const expected = generateTypeScript(sampleModel(THERMOSTAT_MODEL_ID));
  assert.equal(readFileSync(new URL('thermostat.generated.ts', SRC), 'utf8'), expected);
});

it('[DTDL:codegen] temperature-controller.generated.ts is up to date with the TemperatureController model set', () => {
  const expected = generateTypeScript(
    sampleModel(
      TEMPERATURE_CONTROLLER_MODEL_ID,
      'dtmi:com:example:Thermostat;1',
      'dtmi:azure:DeviceManagement:DeviceInformation;1',
    ),
  );
  assert.equal(readFileSync(new URL('temperature-controller.generated.ts', SRC), 'utf8'), expected);
});
