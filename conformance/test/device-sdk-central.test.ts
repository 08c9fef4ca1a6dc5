/**
 * `@plugboard/device` against the Central application end to end, in place of the official SDK
 * (central-e2e.test.ts does the same with `azure-iot-device`): `plugboard up` in a temporary directory,
 * the TemperatureController template imported with the CLI, and a PnpDevice that registers with the
 * SAS-IoT-Devices group key from plugboard.json. It is assigned the template by its model id; its
 * component telemetry arrives modeled with the creation time it stamped; reported properties carry the
 * component marker; a writable property set with the CLI reaches its handler and shows accepted; a
 * component command returns the handler's response; a payload that does not match the model is refused
 * before it is sent.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Manifest } from '@plugboard/cli';
import { PnpDevice, memoryAssignmentStore, type ConnectionStateChange, type DeviceError } from '@plugboard/device';
import { parse } from '@plugboard/dtdl';
import type { Platform } from '@plugboard/server';
import { DEVICE_INFORMATION, sampleModel, startApp, type RunningApp } from './central-fixtures.js';
import { eventually, runCli } from './harness.js';

const CONTROLLER_ID = 'dtmi:com:example:TemperatureController;1';
const TEMPLATE_ID = 'dtmi:plugboard:sdkController;1';

/** The shape `plugboard model codegen` emits for the TemperatureController sample (the parts used here). */
interface ThermostatCapabilities {
  readonly telemetry: { readonly temperature?: number };
  readonly readOnlyProperties: { readonly maxTempSinceLastReboot?: number };
  readonly writableProperties: { readonly targetTemperature?: number };
  readonly commands: {
    readonly getMaxMinReport: {
      readonly request: string;
      readonly response: { readonly maxTemp?: number; readonly minTemp?: number; readonly startTime?: string };
    };
  };
}
interface TemperatureControllerDevice {
  readonly modelId: typeof CONTROLLER_ID;
  readonly root: {
    readonly telemetry: { readonly workingSet?: number };
    readonly readOnlyProperties: { readonly serialNumber?: string };
    readonly writableProperties: object;
    readonly commands: { readonly reboot: { readonly request: number; readonly response: undefined } };
  };
  readonly components: { readonly thermostat1: ThermostatCapabilities; readonly thermostat2: ThermostatCapabilities };
}

let app: RunningApp;
let dataDir: string;
let platform: Platform;
let manifest: Manifest;
let device: PnpDevice<TemperatureControllerDevice>;
const states: ConnectionStateChange[] = [];
const targets: number[] = [];

before(async () => {
  app = await startApp('sdk-e2e');
  ({ dataDir, platform, manifest } = app);
});
after(async () => {
  await device?.close();
  await app?.dispose();
});

async function cli<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await runCli(...args, '--data-dir', dataDir, '--json')) as T;
}

describe('[Central] end to end with @plugboard/device in place of the official SDK', () => {
  it('the device registers with the group key, is assigned the template by its model id and connects', async () => {
    const file = join(dataDir, 'template.json');
    writeFileSync(
      file,
      JSON.stringify({ displayName: 'Controller', capabilityModel: sampleModel('TemperatureController.json') }),
    );
    await cli('device-template', 'create', '--device-template-id', TEMPLATE_ID, '--content', file);
    const parsed = parse(
      [sampleModel('TemperatureController.json'), sampleModel('Thermostat.json'), DEVICE_INFORMATION].map((m) =>
        JSON.stringify(m),
      ),
    );
    assert.ok(parsed.ok, JSON.stringify(parsed.errors));
    const group = manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
    assert.ok(group?.primaryKey);
    device = new PnpDevice<TemperatureControllerDevice>({
      idScope: manifest.idScope,
      registrationId: 'sdk-controller',
      credentials: { groupKey: group.primaryKey },
      modelId: CONTROLLER_ID,
      model: parsed.model,
      provisioningHost: manifest.dps.host,
      ca: readFileSync(manifest.caCertificate, 'utf8'),
      assignmentStore: memoryAssignmentStore(),
    });
    device.on('connectionState', (change) => states.push(change));
    const thermostat1 = device.component('thermostat1');
    thermostat1.onWritableProperty('targetTemperature', (value) => {
      targets.push(value);
      return { ad: 'applied' };
    });
    thermostat1.onCommand('getMaxMinReport', (since) => ({ maxTemp: 30, minTemp: 20, startTime: since }));
    await device.start();
    assert.deepEqual(
      states.map((s) => s.state),
      ['provisioning', 'connecting', 'connected'],
    );
    const shown = await cli('device', 'show', '--device-id', 'sdk-controller');
    assert.equal(shown['template'], TEMPLATE_ID);
    assert.equal(shown['status'], 'provisioned');
  });

  it('[PnP:telemetry] component telemetry is stored modeled, with the creation time the SDK stamped', async () => {
    const created = new Date('2026-11-30T12:00:00.000Z');
    await device.component('thermostat1').sendTelemetry({ temperature: 22.25 }, { creationTime: created });
    await device.sendTelemetry({ workingSet: 512 });
    const last = await eventually(async () => {
      const value = await cli(
        'device',
        'telemetry',
        'show',
        '--device-id',
        'sdk-controller',
        '--component-name',
        'thermostat1',
        '--telemetry-name',
        'temperature',
      );
      return value['value'] === 22.25 ? value : undefined;
    });
    assert.equal(last['timestamp'], created.toISOString());
    const raw = await eventually(async () => {
      const response = await platform.central.telemetry.raw('sdk-controller', { top: 10 });
      return response.messages.length >= 2 ? response.messages : undefined;
    });
    assert.deepEqual(
      raw.flatMap((m) => m.unmodeled),
      [],
    );
    const root = raw.find((m) => m.component === undefined);
    assert.ok(root?.creationTime, 'the root message carries a creation time by default');
  });

  it('[PnP:payload] telemetry that does not match the model is refused before it is sent', async () => {
    await assert.rejects(
      device.component('thermostat2').sendTelemetry({ temperature: 'warm' as unknown as number }),
      (error: DeviceError) => error.code === 'DEVICE_PAYLOAD_INVALID' && /temperature/.test(error.message),
    );
  });

  it('[PnP:component-properties] reported properties carry the component marker and show in the component', async () => {
    await device.component('thermostat1').reportProperties({ maxTempSinceLastReboot: 31.5 });
    await device.reportProperties({ serialNumber: 'SN-42' });
    const properties = await eventually(async () => {
      const value = await cli(
        'device',
        'twin',
        'show',
        '--device-id',
        'sdk-controller',
        '--component-name',
        'thermostat1',
      );
      return value['maxTempSinceLastReboot'] === 31.5 ? value : undefined;
    });
    assert.equal(properties['maxTempSinceLastReboot'], 31.5);
    const hub = platform.hubs.find((h) => h.hostName === device.client.assignment?.assignedHub);
    const twin = hub?.getTwin({ deviceId: 'sdk-controller' }) as { properties: { reported: Record<string, unknown> } };
    const reported = twin.properties.reported['thermostat1'] as Record<string, unknown>;
    assert.equal(reported['__t'], 'c');
    assert.equal(reported['maxTempSinceLastReboot'], 31.5);
  });

  it('[PnP:writable-ack] a writable property set with the CLI reaches the handler and shows accepted', async () => {
    await cli(
      'device',
      'twin',
      'update',
      '--device-id',
      'sdk-controller',
      '--component-name',
      'thermostat1',
      '--content',
      '{"targetTemperature": 24}',
    );
    const state = await eventually(async () => {
      const shown = await cli<{ $metadata: Record<string, { syncState?: string; ackDescription?: string }> }>(
        'device',
        'twin',
        'show',
        '--device-id',
        'sdk-controller',
        '--component-name',
        'thermostat1',
      );
      const metadata = shown.$metadata['targetTemperature'];
      return metadata?.syncState === 'accepted' ? metadata : undefined;
    });
    assert.equal(state.ackDescription, 'applied');
    assert.deepEqual(targets, [24]);
  });

  it("[PnP:commands] a component command returns the handler's response", async () => {
    const result = await cli(
      'device',
      'command',
      'run',
      '--device-id',
      'sdk-controller',
      '--component-name',
      'thermostat1',
      '--command-name',
      'getMaxMinReport',
      '--content',
      '{"request": "2026-11-30T12:00:00.000Z"}',
    );
    assert.equal(result['responseCode'], 200);
    assert.deepEqual(result['response'], { maxTemp: 30, minTemp: 20, startTime: '2026-11-30T12:00:00.000Z' });
  });
});
