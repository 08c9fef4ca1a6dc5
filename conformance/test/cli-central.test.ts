/**
 * The `plugboard` CLI's Central commands against a running application, named and flagged as
 * `az iot central`: device-template, device (create … delete, twin, command, telemetry),
 * enrollment-group and api-token; `--json` output parsed back, `--app-url`/`--token` instead of
 * plugboard.json, and the application's errors with their codes.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type deviceSdk from 'azure-iot-device';
import { deriveDeviceKey } from '@plugboard/protocol';
import { connectDevice, modelRepository, provisionDevice, sampleModel } from './central-fixtures.js';
import { eventually, runCli, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const CONTROLLER_ID = 'dtmi:com:example:TemperatureController;1';
const TEMPLATE_ID = 'dtmi:plugboard:cliController;1';

let platform: TestPlatform;
let models: string;
let client: InstanceType<typeof deviceSdk.Client> | undefined;

before(async () => {
  models = modelRepository();
  platform = await startTestPlatform({ central: { modelRepository: models } });
  writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
});
after(async () => {
  await client?.close();
  await platform?.dispose();
  rmSync(models, { recursive: true, force: true });
});

/** Runs a Central command against the test application and parses its `--json` output. */
async function cli<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await runCli(...args, '--data-dir', platform.dataDir, '--json')) as T;
}

describe('plugboard CLI: the Central application', () => {
  it('device-template create (from a file) / list / show / export', async () => {
    const file = join(platform.dataDir, 'controller-template.json');
    writeFileSync(
      file,
      JSON.stringify({ displayName: 'Controller', capabilityModel: sampleModel('TemperatureController.json') }),
    );
    const created = await cli('device-template', 'create', '--device-template-id', TEMPLATE_ID, '--content', file);
    assert.equal(created['@id'], TEMPLATE_ID);
    const list = await cli<Record<string, unknown>[]>('device-template', 'list');
    assert.deepEqual(
      list.map((t) => t['@id']),
      [TEMPLATE_ID],
    );
    const shown = await cli('device-template', 'show', '--device-template-id', TEMPLATE_ID);
    assert.equal(shown['displayName'], 'Controller');
    const exported = join(platform.dataDir, 'exported.json');
    await runCli(
      'device-template',
      'export',
      '--device-template-id',
      TEMPLATE_ID,
      '--output',
      exported,
      '--data-dir',
      platform.dataDir,
    );
    const back = JSON.parse(readFileSync(exported, 'utf8')) as Record<string, unknown>;
    assert.equal('etag' in back, false);
    assert.deepEqual(back['capabilityModel'], sampleModel('TemperatureController.json'));
  });

  it('device create / show / update / block / unblock / migrate / show-credentials / list / delete', async () => {
    const created = await cli('device', 'create', '--device-id', 'cli-dev-1', '--device-name', 'CLI device');
    assert.equal(created['displayName'], 'CLI device');
    assert.equal('template' in created, false);
    const migrated = await cli('device', 'migrate', '--device-id', 'cli-dev-1', '--template', TEMPLATE_ID);
    assert.equal(migrated['template'], TEMPLATE_ID);
    const renamed = await cli('device', 'update', '--device-id', 'cli-dev-1', '--device-name', 'Renamed');
    assert.equal(renamed['displayName'], 'Renamed');
    assert.equal((await cli('device', 'block', '--device-id', 'cli-dev-1'))['enabled'], false);
    assert.equal((await cli('device', 'unblock', '--device-id', 'cli-dev-1'))['enabled'], true);
    const shown = await cli('device', 'show', '--device-id', 'cli-dev-1');
    assert.equal(shown['status'], 'registered');
    const credentials = await cli<{ idScope: string; symmetricKey: { primaryKey: string } }>(
      'device',
      'show-credentials',
      '--device-id',
      'cli-dev-1',
    );
    assert.equal(credentials.idScope, platform.dps.idScope);
    const list = await cli<{ id: string }[]>('device', 'list');
    assert.ok(list.some((d) => d.id === 'cli-dev-1'));
    const text = await runCli('device', 'list', '--data-dir', platform.dataDir);
    assert.match(text, /cli-dev-1\tRenamed\tdtmi:plugboard:cliController;1\tregistered/);
    await cli('device', 'delete', '--device-id', 'cli-dev-1');
    await assert.rejects(
      runCli('device', 'show', '--device-id', 'cli-dev-1', '--data-dir', platform.dataDir),
      /CLI_REQUEST_FAILED|failed \(404 CENTRAL_NOT_FOUND\)/,
    );
  });

  it('enrollment-group create / list / show / delete; a device provisions with the group key', async () => {
    const created = await cli<{ id: string; attestation: { symmetricKey: { primaryKey: string } } }>(
      'enrollment-group',
      'create',
      '--group-id',
      'cli-group',
      '--display-name',
      'CLI group',
    );
    assert.equal(created.id, 'cli-group');
    const key = created.attestation.symmetricKey.primaryKey;
    const list = await cli<{ id: string }[]>('enrollment-group', 'list');
    assert.ok(list.some((g) => g.id === 'cli-group'));
    assert.equal((await cli('enrollment-group', 'show', '--group-id', 'cli-group'))['displayName'], 'CLI group');
    const registration = await provisionDevice(platform, 'cli-ctl-1', key, { modelId: CONTROLLER_ID });
    client = await connectDevice(registration, key, CONTROLLER_ID);
    assert.equal((await cli('device', 'show', '--device-id', 'cli-ctl-1'))['template'], TEMPLATE_ID);
    const credentials = await cli<{ symmetricKey: { primaryKey: string } }>(
      'device',
      'show-credentials',
      '--device-id',
      'cli-ctl-1',
    );
    // Credentials derive from the application's SAS-IoT-Devices group, whichever group the device used.
    const sas = await cli<{ attestation: { symmetricKey: { primaryKey: string } } }>(
      'enrollment-group',
      'show',
      '--group-id',
      'SAS-IoT-Devices',
    );
    assert.equal(
      credentials.symmetricKey.primaryKey,
      await deriveDeviceKey(sas.attestation.symmetricKey.primaryKey, 'cli-ctl-1'),
    );
    await cli('enrollment-group', 'delete', '--group-id', 'cli-group');
    assert.equal(
      (await cli<{ id: string }[]>('enrollment-group', 'list')).some((g) => g.id === 'cli-group'),
      false,
    );
  });

  it('device twin update/show, command run/history and telemetry show with a connected device', async () => {
    assert.ok(client !== undefined, 'the previous test connected the device');
    const device = client;
    const twin = await withTimeout(device.getTwin(), 10_000, 'getTwin');
    twin.on('properties.desired', (patch: Record<string, { targetTemperature?: number }>) => {
      const value = patch['thermostat1']?.targetTemperature;
      if (value === undefined) return;
      twin.properties.reported.update(
        { thermostat1: { targetTemperature: { value, ac: 200, av: patch['$version'], ad: 'done' } } },
        () => undefined,
      );
    });
    device.onDeviceMethod(
      'reboot',
      (_request: unknown, response: { send(s: number, p: unknown, d: () => void): void }) =>
        response.send(200, null, () => undefined),
    );
    await cli(
      'device',
      'twin',
      'update',
      '--device-id',
      'cli-ctl-1',
      '--component-name',
      'thermostat1',
      '--content',
      '{"targetTemperature": 23}',
    );
    await eventually(async () => {
      const view = await cli<{ $metadata: Record<string, { syncState?: string }> }>(
        'device',
        'twin',
        'show',
        '--device-id',
        'cli-ctl-1',
        '--component-name',
        'thermostat1',
      );
      return view.$metadata['targetTemperature']?.syncState === 'accepted' ? true : undefined;
    });
    const run = await cli(
      'device',
      'command',
      'run',
      '--device-id',
      'cli-ctl-1',
      '--command-name',
      'reboot',
      '--content',
      '{"request": 3}',
    );
    assert.equal(run['responseCode'], 200);
    const history = await cli<{ id: string }[]>(
      'device',
      'command',
      'history',
      '--device-id',
      'cli-ctl-1',
      '--command-name',
      'reboot',
    );
    assert.equal(history[0]?.id, run['id']);
    const { Message } = (await import('azure-iot-device')).default;
    await device.sendEvent(new Message('{"workingSet": 512}'));
    const last = await eventually(async () => {
      const value = await cli(
        'device',
        'telemetry',
        'show',
        '--device-id',
        'cli-ctl-1',
        '--telemetry-name',
        'workingSet',
      );
      return value['value'] === 512 ? value : undefined;
    });
    assert.equal(typeof last['enqueuedTime'], 'string');
    const values = await cli<{ value: number }[]>(
      'device',
      'telemetry',
      'history',
      '--device-id',
      'cli-ctl-1',
      '--telemetry-name',
      'workingSet',
    );
    assert.deepEqual(
      values.map((h) => h.value),
      [512],
    );
    const raw = await runCli('device', 'raw-messages', '--device-id', 'cli-ctl-1', '--data-dir', platform.dataDir);
    assert.match(raw, /\{"workingSet":512\}/);
  });

  it('diagnostics validate-messages, monitor-events and monitor-properties stream what the device does', async () => {
    assert.ok(client !== undefined);
    const device = client;
    const { Message } = (await import('azure-iot-device')).default;
    const stream = (...args: string[]) =>
      runCli(
        'diagnostics',
        ...args,
        '--device-id',
        'cli-ctl-1',
        '--max-messages',
        '1',
        '--timeout',
        '30',
        '--data-dir',
        platform.dataDir,
        '--json',
      );
    /** Repeats `act` until the stream (which may not be subscribed yet) has printed its one event. */
    const until = async (printed: Promise<string>, act: () => Promise<unknown>): Promise<Record<string, unknown>> => {
      let done = false;
      void printed.finally(() => (done = true));
      while (!done) {
        await act();
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      return JSON.parse((await printed).trim().split('\n')[0] ?? '') as Record<string, unknown>;
    };
    // A good message is not printed by validate-messages; the wrong one is, with its reason.
    const invalid = await until(stream('validate-messages'), async () => {
      await device.sendEvent(new Message('{"workingSet": 1}'));
      await device.sendEvent(new Message('{"workingSet": "lots"}'));
    });
    assert.deepEqual(invalid['unmodeled'], [
      { name: 'workingSet', value: 'lots', reason: 'expected double, got "lots"' },
    ]);
    const event = await until(stream('monitor-events'), () => device.sendEvent(new Message('{"workingSet": 7}')));
    assert.equal(event['type'], 'telemetry');
    assert.equal(event['deviceId'], 'cli-ctl-1');
    const twin = await device.getTwin();
    const change = await until(stream('monitor-properties'), async () => {
      await new Promise<void>((resolve) => twin.properties.reported.update({ serialNumber: 'SN-7' }, () => resolve()));
    });
    assert.equal(change['section'], 'reported');
    assert.deepEqual(change['patch'], { serialNumber: 'SN-7' });
    await assert.rejects(
      runCli(
        'diagnostics',
        'monitor-events',
        '--device-id',
        'nobody',
        '--timeout',
        '5',
        '--data-dir',
        platform.dataDir,
      ),
      /404\): Device nobody does not exist/,
    );
  });

  it('api-token create / list / show / delete, and --app-url with --token instead of plugboard.json', async () => {
    const created = await cli<{ id: string; token: string }>(
      'api-token',
      'create',
      '--token-id',
      'cli-op',
      '--role',
      'operator',
    );
    assert.match(created.token, /^SharedAccessSignature sr=/);
    assert.ok((await cli<{ id: string }[]>('api-token', 'list')).some((t) => t.id === 'cli-op'));
    assert.equal((await cli('api-token', 'show', '--token-id', 'cli-op'))['id'], 'cli-op');
    const manifest = platform.manifest();
    const url = `https://${manifest.central.address}:${manifest.central.httpsPort}`;
    const viaUrl = JSON.parse(
      await runCli(
        'device',
        'list',
        '--app-url',
        url,
        '--token',
        created.token,
        '--data-dir',
        platform.dataDir,
        '--json',
      ),
    ) as unknown[];
    assert.ok(Array.isArray(viaUrl));
    await assert.rejects(
      runCli(
        'device-template',
        'create',
        '--device-template-id',
        'dtmi:x:y;1',
        '--content',
        '{}',
        '--app-url',
        url,
        '--token',
        created.token,
        '--data-dir',
        platform.dataDir,
      ),
      /403 CENTRAL_FORBIDDEN/,
      'an operator may not create templates',
    );
    await cli('api-token', 'delete', '--token-id', 'cli-op');
    await assert.rejects(
      runCli('device', 'list', '--app-url', url, '--token', created.token, '--data-dir', platform.dataDir),
      /401 CENTRAL_UNAUTHORIZED/,
      'a deleted token no longer works',
    );
    await assert.rejects(runCli('device', 'list', '--app-url', url, '--data-dir', platform.dataDir), /needs --token/);
  });
});
