/**
 * Commands through the Central application, answered by official-SDK devices: a component command
 * runs as the direct method `thermostat1*getMaxMinReport` with the request checked against the template
 * and the response checked after; an offline (queue-if-offline, `durable`) command reaches a device
 * that connects later as a C2D message with `method-name`; offline devices, timeouts and requests the
 * template does not allow get Central errors; every run is in the command's history. protocol.md §6.5.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type deviceSdk from 'azure-iot-device';
import { connectDevice, modelRepository, provisionDevice, sampleModel } from './central-fixtures.js';
import { centralRequest, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

type DeviceClient = InstanceType<typeof deviceSdk.Client>;
type MethodRequest = { payload: unknown };
type MethodResponse = { send(status: number, payload: unknown, done: (error?: Error) => void): void };

const CONTROLLER_ID = 'dtmi:com:example:TemperatureController;1';
const QUEUED_ID = 'dtmi:plugboard:QueuedLamp;1';
const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';
const GA = 'api-version=2022-07-31';
const REPORT = {
  maxTemp: 30.5,
  minTemp: 18.25,
  avgTemp: 24,
  startTime: '2026-11-30T00:00:00.000Z',
  endTime: '2026-11-30T06:00:00.000Z',
};

let platform: TestPlatform;
let models: string;
let controller: DeviceClient;
const clients: DeviceClient[] = [];

async function put(path: string, body: unknown): Promise<void> {
  const response = await centralRequest(platform, { method: 'PUT', path: `${path}?${GA}`, body });
  assert.equal(response.status, 200, response.text);
}

function run(path: string, body: unknown) {
  return centralRequest(platform, { method: 'POST', path: `${path}?${GA}`, body });
}

before(async () => {
  models = modelRepository();
  platform = await startTestPlatform({ central: { modelRepository: models } });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  await put('/api/deviceTemplates/dtmi:plugboard:controller;1', {
    displayName: 'Temperature controller',
    capabilityModel: sampleModel('TemperatureController.json'),
  });
  await put('/api/deviceTemplates/dtmi:plugboard:queuedLampTemplate;1', {
    displayName: 'Queued lamp',
    capabilityModel: {
      '@context': 'dtmi:dtdl:context;2',
      '@id': QUEUED_ID,
      '@type': 'Interface',
      contents: [
        {
          '@type': ['Command', 'Durable'],
          name: 'setMode',
          durable: true,
          request: { name: 'mode', schema: 'string' },
        },
      ],
    },
  });
  const registration = await provisionDevice(platform, 'cmd-1', GROUP_KEY, { modelId: CONTROLLER_ID });
  controller = await connectDevice(registration, GROUP_KEY, CONTROLLER_ID);
  clients.push(controller);
  controller.onDeviceMethod('thermostat1*getMaxMinReport', (request: MethodRequest, response: MethodResponse) => {
    assert.equal(request.payload, '2026-11-30T00:00:00.000Z');
    response.send(200, REPORT, () => undefined);
  });
  // The model's reboot has no response: answering one is a mismatch the application shows.
  controller.onDeviceMethod('reboot', (_request: MethodRequest, response: MethodResponse) =>
    response.send(200, { unexpected: true }, () => undefined),
  );
  // Never answers.
  controller.onDeviceMethod('thermostat2*getMaxMinReport', () => undefined);
});
after(async () => {
  for (const client of clients) await client.close();
  await platform?.dispose();
  rmSync(models, { recursive: true, force: true });
});

describe('[Central] commands', () => {
  it('a component command with a request returns the device response (201), and is in the history', async () => {
    const path = '/api/devices/cmd-1/components/thermostat1/commands/getMaxMinReport';
    const response = await run(path, { request: '2026-11-30T00:00:00.000Z' });
    assert.equal(response.status, 201, response.text);
    const invocation = response.body as Record<string, unknown>;
    assert.equal(invocation['responseCode'], 200);
    assert.deepEqual(invocation['response'], REPORT);
    assert.equal(invocation['request'], '2026-11-30T00:00:00.000Z');
    assert.equal(invocation['status'], 'completed');
    assert.equal('responseIssues' in invocation, false);
    const history = await centralRequest(platform, { method: 'GET', path: `${path}?${GA}` });
    assert.equal(history.status, 200, history.text);
    assert.equal((history.body as { value: { id: string }[] }).value[0]?.id, invocation['id']);
  });

  it('a response that does not match the command is shown with the reason', async () => {
    const response = await run('/api/devices/cmd-1/commands/reboot', { request: 5 });
    assert.equal(response.status, 201, response.text);
    const invocation = response.body as { response: unknown; responseIssues: string[] };
    assert.deepEqual(invocation.response, { unexpected: true });
    assert.deepEqual(invocation.responseIssues, [
      'reboot.response: the command has no response; expected an empty payload',
    ]);
  });

  it('requests the template does not allow are refused before anything is sent', async () => {
    const cases: [string, unknown, number, RegExp][] = [
      [
        '/components/thermostat1/commands/getMaxMinReport',
        { request: 42 },
        400,
        /getMaxMinReport\.request: expected dateTime/,
      ],
      ['/commands/reboot', { request: 'soon' }, 400, /reboot\.request: expected integer/],
      ['/commands/selfDestruct', {}, 404, /defines no command selfDestruct/],
      ['/components/nothing/commands/reboot', {}, 404, /no component nothing/],
      ['/commands/reboot', { request: 1, priority: 'high' }, 400, /Unknown command field "priority"/],
      ['/commands/reboot', { request: 1, responseTimeout: 2 }, 400, /responseTimeout must be/],
      ['/commands/reboot', [1], 400, /JSON object/],
    ];
    for (const [suffix, body, status, message] of cases) {
      const response = await run(`/api/devices/cmd-1${suffix}`, body);
      assert.equal(response.status, status, `${suffix} ${JSON.stringify(body)}: ${response.text}`);
      assert.match((response.body as { error: { message: string } }).error.message, message);
    }
  });

  it('a device that is not connected, or does not answer in time, gets a Central error recorded in the history', async () => {
    await provisionDevice(platform, 'cmd-offline', GROUP_KEY, { modelId: CONTROLLER_ID });
    const offline = await run('/api/devices/cmd-offline/commands/reboot', { request: 1 });
    assert.equal(offline.status, 404, offline.text);
    assert.equal((offline.body as { error: { code: string } }).error.code, 'DeviceNotConnected');
    const path = '/api/devices/cmd-1/components/thermostat2/commands/getMaxMinReport';
    const late = await run(path, { request: '2026-11-30T00:00:00.000Z', responseTimeout: 5 });
    assert.equal(late.status, 504, late.text);
    assert.equal((late.body as { code: string }).code, 'CENTRAL_COMMAND_TIMEOUT');
    const history = await centralRequest(platform, { method: 'GET', path: `${path}?${GA}` });
    const [last] = (history.body as { value: { status: string; error?: string }[] }).value;
    assert.equal(last?.status, 'failed');
    assert.match(String(last?.error), /timed out|did not/i);
  });

  it('an offline (durable) command is queued as C2D with method-name and reaches the device when it connects', async () => {
    const registration = await provisionDevice(platform, 'lamp-1', GROUP_KEY, { modelId: QUEUED_ID });
    const queued = await run('/api/devices/lamp-1/commands/setMode', { request: 'eco' });
    assert.equal(queued.status, 201, queued.text);
    assert.equal((queued.body as { status: string }).status, 'queued');
    assert.equal((queued.body as { responseCode: number }).responseCode, 202);
    const lamp = await connectDevice(registration, GROUP_KEY, QUEUED_ID);
    clients.push(lamp);
    const message = await withTimeout(
      new Promise<{ data: Buffer; properties: { getValue(key: string): string | undefined } }>((resolve) =>
        lamp.on('message', (m: { data: Buffer; properties: { getValue(key: string): string | undefined } }) => {
          resolve(m);
          lamp.complete(m as never, () => undefined);
        }),
      ),
      15_000,
      'the queued command arriving',
    );
    assert.equal(message.properties.getValue('method-name'), 'setMode');
    assert.equal(message.data.toString(), '"eco"');
  });

  it('a full offline-command queue is a Central conflict with the hub reason, not an internal error', async () => {
    await provisionDevice(platform, 'lamp-full', GROUP_KEY, { modelId: QUEUED_ID });
    for (let i = 0; i < 50; i++) {
      const queued = await run('/api/devices/lamp-full/commands/setMode', { request: `m${i}` });
      assert.equal(queued.status, 201, queued.text);
    }
    const full = await run('/api/devices/lamp-full/commands/setMode', { request: 'one too many' });
    assert.equal(full.status, 409, full.text);
    assert.equal((full.body as { code: string }).code, 'CENTRAL_CONFLICT');
  });
});
