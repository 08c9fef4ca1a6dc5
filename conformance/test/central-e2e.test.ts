/**
 * The Central application end to end, as a device developer meets it: `plugboard up` in a temporary
 * directory (with a model repository), the TemperatureController template imported with the CLI, and
 * an unmodified official-SDK device (DPS with the SAS-IoT-Devices group key from plugboard.json, the
 * sample's model id) that is assigned the template; its component telemetry shows as modeled values,
 * wrong types and unknown names as unmodeled; a writable property set with the CLI reaches it, its
 * acknowledgement shows accepted (and rejected for `ac: 400`); a command with a request returns its
 * response; a creation time is what is displayed while the enqueued time is kept.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import type { Platform } from '@plugboard/server';
import { connectDevice, provisionDevice, sampleModel, startApp, type RunningApp } from './central-fixtures.js';
import { eventually, runCli, withTimeout } from './harness.js';

const { Message } = deviceSdk;
const CONTROLLER_ID = 'dtmi:com:example:TemperatureController;1';
const TEMPLATE_ID = 'dtmi:plugboard:e2eController;1';

let app: RunningApp;
let dataDir: string;
let platform: Platform;
let groupKey: string;
let client: InstanceType<typeof deviceSdk.Client>;

before(async () => {
  app = await startApp('e2e');
  ({ dataDir, platform } = app);
  const group = app.manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
  assert.ok(group?.primaryKey, 'plugboard.json has the SAS-IoT-Devices key');
  groupKey = group.primaryKey;
});
after(async () => {
  await client?.close();
  await app?.dispose();
});

async function cli<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await runCli(...args, '--data-dir', dataDir, '--json')) as T;
}

async function send(body: string, component?: string, creationTime?: string): Promise<void> {
  const message = new Message(body);
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  if (component !== undefined) message.properties.add('$.sub', component);
  if (creationTime !== undefined) message.properties.add('iothub-creation-time-utc', creationTime);
  await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
}

describe('[Central] end to end with plugboard up, the CLI and an official-SDK TemperatureController', () => {
  it('the device is assigned the imported template by the model id it announces', async () => {
    const file = join(dataDir, 'template.json');
    writeFileSync(
      file,
      JSON.stringify({ displayName: 'Controller', capabilityModel: sampleModel('TemperatureController.json') }),
    );
    await cli('device-template', 'create', '--device-template-id', TEMPLATE_ID, '--content', file);
    const registration = await provisionDevice(platform, 'e2e-controller', groupKey, { modelId: CONTROLLER_ID });
    client = await connectDevice(registration, groupKey, CONTROLLER_ID);
    const shown = await cli('device', 'show', '--device-id', 'e2e-controller');
    assert.equal(shown['template'], TEMPLATE_ID);
    assert.equal(shown['status'], 'provisioned');
  });

  it('component telemetry is modeled per component, wrong types and unknown names are unmodeled with reasons, the creation time is displayed', async () => {
    const created = '2026-11-30T12:00:00.000Z';
    await send('{"temperature": 22.25}', 'thermostat1', created);
    await send('{"temperature": "warm"}', 'thermostat2');
    await send('{"workingSet": 10, "fanSpeed": 3}');
    const last = await eventually(async () => {
      const value = await cli(
        'device',
        'telemetry',
        'show',
        '--device-id',
        'e2e-controller',
        '--component-name',
        'thermostat1',
        '--telemetry-name',
        'temperature',
      );
      return value['value'] === 22.25 ? value : undefined;
    });
    assert.equal(last['timestamp'], created);
    assert.notEqual(last['enqueuedTime'], created);
    const raw = await eventually(async () => {
      const response = await platform.central.telemetry.raw('e2e-controller', { top: 100 });
      return response.messages.length >= 3 ? response.messages : undefined;
    });
    const reasons = raw.flatMap((m) => m.unmodeled.map((u) => `${u.name}: ${u.reason}`));
    assert.deepEqual(reasons.sort(), [
      'fanSpeed: the template defines no telemetry fanSpeed',
      'thermostat2.temperature: expected double, got "warm"',
    ]);
  });

  it('a writable property set with the CLI reaches the device; its ack shows accepted, then rejected for ac 400', async () => {
    const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
    let answer = 200;
    twin.on('properties.desired', (patch: Record<string, { targetTemperature?: number } | number>) => {
      const component = patch['thermostat1'];
      if (typeof component !== 'object' || component.targetTemperature === undefined) return;
      twin.properties.reported.update(
        {
          thermostat1: {
            targetTemperature: {
              value: answer === 200 ? component.targetTemperature : 21,
              ac: answer,
              av: patch['$version'],
              ad: 'sample',
            },
          },
        },
        () => undefined,
      );
    });
    const state = async () =>
      (
        await cli<{ $metadata: Record<string, { syncState?: string; desiredValue?: number }> }>(
          'device',
          'twin',
          'show',
          '--device-id',
          'e2e-controller',
          '--component-name',
          'thermostat1',
        )
      ).$metadata['targetTemperature'];
    await cli(
      'device',
      'twin',
      'update',
      '--device-id',
      'e2e-controller',
      '--component-name',
      'thermostat1',
      '--content',
      '{"targetTemperature": 24}',
    );
    await eventually(async () => ((await state())?.syncState === 'accepted' ? true : undefined));
    answer = 400;
    await cli(
      'device',
      'twin',
      'update',
      '--device-id',
      'e2e-controller',
      '--component-name',
      'thermostat1',
      '--content',
      '{"targetTemperature": 90}',
    );
    const rejected = await eventually(async () => {
      const s = await state();
      return s?.syncState === 'rejected' ? s : undefined;
    });
    assert.equal(rejected.desiredValue, 90);
  });

  it('a component command with a request returns the device response', async () => {
    client.onDeviceMethod(
      'thermostat1*getMaxMinReport',
      (request: { payload: unknown }, response: { send(s: number, p: unknown, d: () => void): void }) =>
        response.send(
          200,
          { maxTemp: 30, minTemp: 20, avgTemp: 25, startTime: request.payload, endTime: '2026-11-30T13:00:00.000Z' },
          () => undefined,
        ),
    );
    const result = await cli(
      'device',
      'command',
      'run',
      '--device-id',
      'e2e-controller',
      '--component-name',
      'thermostat1',
      '--command-name',
      'getMaxMinReport',
      '--content',
      '{"request": "2026-11-30T12:00:00.000Z"}',
    );
    assert.equal(result['responseCode'], 200);
    assert.equal((result['response'] as { startTime: string }).startTime, '2026-11-30T12:00:00.000Z');
    assert.equal('responseIssues' in result, false);
  });
});
