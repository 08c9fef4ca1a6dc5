/**
 * IoT Edge modules in the Central application: an edge device template written as IoT Central writes
 * one (no `@context`, an `EdgeModule` relationship whose target holds the module's capability model
 * inline) is imported and exported unchanged; a device assigned it lists the template's modules; an
 * official-SDK `ModuleClient` connected as that module has its telemetry judged against the module's
 * capability model, its module twin shown and set as the module's properties, and its direct methods
 * run as the module's commands, through the `…/modules/{m}/…` routes `az iot central` calls
 * (az-central-wire.md).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import serviceSdk from 'azure-iothub';
import { provisionDevice } from './central-fixtures.js';
import { centralRequest, eventually, runCli, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { Message, ModuleClient } = deviceSdk;
const { Mqtt } = mqttTransport;
const { Registry } = serviceSdk;

const TEMPLATE_ID = 'dtmi:plugboard:edgeGatewayTemplate;1';
const GATEWAY_ID = 'dtmi:plugboard:edgeGateway;1';
const FILTER_ID = 'dtmi:plugboard:filterModule;1';
const GROUP_KEY = 'ZWRnZWdyb3Vwa2V5ZWRnZWdyb3Vwa2V5MTIzNDU2Nzg=';
const GA = 'api-version=2022-07-31';
const DEVICE = 'edge-gw-1';
const MODULE = 'filter';

/** An edge template in the form IoT Central exports: the module's capability model inline in the target. */
const EDGE_TEMPLATE = {
  '@type': ['ModelDefinition', 'DeviceModel', 'EdgeModel'],
  displayName: 'Edge gateway',
  capabilityModel: {
    '@id': GATEWAY_ID,
    '@type': 'Interface',
    displayName: 'Edge gateway',
    contents: [
      { '@type': 'Telemetry', name: 'uptime', schema: 'long' },
      {
        '@type': ['Relationship', 'EdgeModule'],
        name: MODULE,
        displayName: 'Filter module',
        maxMultiplicity: 1,
        target: [
          {
            '@id': FILTER_ID,
            '@type': 'Interface',
            displayName: 'Filter module',
            extends: [
              {
                '@id': 'dtmi:plugboard:filterModuleInterface;1',
                '@type': 'Interface',
                contents: [
                  { '@type': 'Telemetry', name: 'temperature', schema: 'double' },
                  { '@type': 'Property', name: 'threshold', schema: 'double', writable: true },
                  { '@type': 'Property', name: 'status', schema: 'string' },
                  {
                    '@type': 'Command',
                    name: 'reset',
                    request: { name: 'level', schema: 'integer' },
                    response: { name: 'result', schema: 'string' },
                  },
                ],
              },
            ],
            contents: [
              {
                '@type': 'Component',
                name: 'sensor',
                schema: {
                  '@id': 'dtmi:plugboard:filterSensor;1',
                  '@type': 'Interface',
                  contents: [{ '@type': 'Telemetry', name: 'humidity', schema: 'double' }],
                },
              },
            ],
          },
        ],
      },
      { '@type': ['Property', 'Cloud'], name: 'site', schema: 'string' },
    ],
  },
};

let platform: TestPlatform;
let module: InstanceType<typeof ModuleClient>;

async function get(path: string): Promise<Record<string, unknown>> {
  const response = await centralRequest(platform, {
    method: 'GET',
    path: `${path}${path.includes('?') ? '&' : '?'}${GA}`,
  });
  assert.equal(response.status, 200, `${path}: ${response.text}`);
  return response.body as Record<string, unknown>;
}

before(async () => {
  platform = await startTestPlatform();
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
});
after(async () => {
  await module?.close();
  await platform?.dispose();
});

describe('[Central] IoT Edge modules', () => {
  it('an edge template with the module model inline in its target is imported and exported unchanged', async () => {
    const imported = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/deviceTemplates/${TEMPLATE_ID}?${GA}`,
      body: EDGE_TEMPLATE,
    });
    assert.equal(imported.status, 200, imported.text);
    const shown = await get(`/api/deviceTemplates/${TEMPLATE_ID}`);
    const { etag, '@id': id, ...body } = shown;
    assert.equal(id, TEMPLATE_ID);
    assert.equal(typeof etag, 'string');
    assert.deepEqual(body, EDGE_TEMPLATE);
  });

  it('a module target that is not an interface, or names an interface the template lacks, is refused (422)', async () => {
    for (const target of [[{ '@type': 'Interface' }], ['dtmi:plugboard:missing;1'], 42]) {
      const bad = structuredClone(EDGE_TEMPLATE) as unknown as {
        capabilityModel: { '@id': string; contents: { target?: unknown }[] };
      };
      bad.capabilityModel['@id'] = 'dtmi:plugboard:badGateway;1';
      bad.capabilityModel.contents[1]!.target = target;
      const response = await centralRequest(platform, {
        method: 'PUT',
        path: `/api/deviceTemplates/dtmi:plugboard:badTemplate;1?${GA}`,
        body: bad,
      });
      assert.equal(response.status, 422, `${JSON.stringify(target)}: ${response.text}`);
      const { message } = (response.body as { error: { message: string } }).error;
      assert.match(message, /module filter|edge module "filter"/);
    }
    assert.equal(
      (
        await centralRequest(platform, {
          method: 'GET',
          path: `/api/deviceTemplates/dtmi:plugboard:badTemplate;1?${GA}`,
        })
      ).status,
      404,
    );
  });

  it('a device assigned the template lists its modules and each module’s components', async () => {
    const registration = await provisionDevice(platform, DEVICE, GROUP_KEY, { modelId: GATEWAY_ID });
    assert.equal((await get(`/api/devices/${DEVICE}`))['template'], TEMPLATE_ID);
    assert.deepEqual((await get(`/api/devices/${DEVICE}/modules`))['value'], [
      { '@type': ['Relationship', 'EdgeModule'], name: MODULE, displayName: 'Filter module' },
    ]);
    assert.deepEqual((await get(`/api/devices/${DEVICE}/modules/${MODULE}/components`))['value'], [
      { '@type': 'Component', name: 'sensor' },
    ]);
    const unknown = await centralRequest(platform, {
      method: 'GET',
      path: `/api/devices/${DEVICE}/modules/nope/components?${GA}`,
    });
    assert.equal(unknown.status, 404);

    // The module's identity, as the IoT Edge runtime creates it on the device's hub.
    const hub = platform.hubs.find((h) => h.hostName === registration.assignedHub)!;
    const registry = Registry.fromConnectionString(hub.serviceConnectionString());
    await registry.addModule({ deviceId: DEVICE, moduleId: MODULE });
    module = ModuleClient.fromConnectionString(
      hub.deviceConnectionString({ deviceId: DEVICE, moduleId: MODULE }),
      Mqtt,
    );
    await withTimeout(module.open(), 15_000, 'module open');
  });

  it('module telemetry is modeled against the module’s capability model, per component', async () => {
    const send = (body: unknown, component?: string): Promise<unknown> => {
      const message = new Message(JSON.stringify(body));
      message.contentType = 'application/json';
      message.contentEncoding = 'utf-8';
      if (component !== undefined) message.properties.add('$.sub', component);
      return withTimeout(module.sendEvent(message), 10_000, 'sendEvent');
    };
    await send({ temperature: 21.5, uptime: 7 });
    await send({ humidity: 40 }, 'sensor');
    const last = await eventually(
      async () => {
        const value = await get(`/api/devices/${DEVICE}/modules/${MODULE}/components/sensor/telemetry/humidity`);
        return value['value'] === undefined ? undefined : value;
      },
      10_000,
      'the module component telemetry',
    );
    assert.equal(last['value'], 40);
    assert.equal((await get(`/api/devices/${DEVICE}/modules/${MODULE}/telemetry/temperature`))['value'], 21.5);
    // The module's value is not the device's: the device's own telemetry has another name space.
    const deviceLevel = await centralRequest(platform, {
      method: 'GET',
      path: `/api/devices/${DEVICE}/telemetry/temperature?${GA}`,
    });
    assert.equal(deviceLevel.status, 404);
    assert.deepEqual(await get(`/api/devices/${DEVICE}/telemetry/uptime`), {});

    const raw = await get(`/plugboard/devices/${DEVICE}/rawMessages`);
    const messages = raw['value'] as {
      module?: string;
      component?: string;
      modeled: unknown;
      unmodeled: { name: string; reason: string }[];
    }[];
    const first = messages.find((m) => m.module === MODULE && m.component === undefined)!;
    assert.deepEqual(first.modeled, { temperature: 21.5 });
    assert.deepEqual(
      first.unmodeled.map((u) => [u.name, u.reason]),
      [['uptime', 'the template defines no telemetry uptime of module filter']],
    );
    const history = await get(`/plugboard/devices/${DEVICE}/telemetry/temperature?module=${MODULE}`);
    assert.deepEqual(
      (history['value'] as { value: unknown }[]).map((v) => v.value),
      [21.5],
    );
  });

  it('the module twin shows as the module’s properties; a writable one set through REST reaches the module', async () => {
    const twin = await withTimeout(module.getTwin(), 10_000, 'getTwin');
    const desired = new Promise<Record<string, unknown>>((resolve) =>
      twin.on('properties.desired', (patch: Record<string, unknown>) => {
        if (patch['threshold'] !== undefined) resolve(patch);
      }),
    );
    await new Promise<void>((resolve, reject) =>
      twin.properties.reported.update({ status: 'filtering' }, (error?: Error) => (error ? reject(error) : resolve())),
    );
    const view = await eventually(
      async () => {
        const v = await get(`/api/devices/${DEVICE}/modules/${MODULE}/properties`);
        return v['status'] === undefined ? undefined : v;
      },
      10_000,
      'the reported module property',
    );
    assert.equal(view['status'], 'filtering');
    assert.equal((await get(`/api/devices/${DEVICE}/properties`))['status'], undefined);

    const updated = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/${DEVICE}/modules/${MODULE}/properties?${GA}`,
      body: { threshold: 30.5 },
    });
    assert.equal(updated.status, 200, updated.text);
    assert.equal((await withTimeout(desired, 10_000, 'desired patch'))['threshold'], 30.5);
    const meta = ((updated.body as Record<string, unknown>)['$metadata'] as Record<string, Record<string, unknown>>)[
      'threshold'
    ];
    assert.equal(meta?.['desiredValue'], 30.5);

    const refused = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/${DEVICE}/modules/${MODULE}/properties?${GA}`,
      body: { threshold: 'high' },
    });
    assert.equal(refused.status, 400, refused.text);
    const missing = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/${DEVICE}/modules/other/properties?${GA}`,
      body: { threshold: 1 },
    });
    assert.equal(missing.status, 404, missing.text);
  });

  it('a module command runs as a direct method on the module and is in the module command’s history', async () => {
    module.onMethod('reset', (request, response) => {
      void response?.send(200, `reset to ${String(request?.payload)}`);
    });
    const path = `/api/devices/${DEVICE}/modules/${MODULE}/commands/reset?${GA}`;
    const run = await eventually(
      async () => {
        const r = await centralRequest(platform, { method: 'POST', path, body: { request: 3 } });
        return r.status === 201 ? r : undefined;
      },
      10_000,
      'the module command',
    );
    const invocation = run.body as Record<string, unknown>;
    assert.equal(invocation['responseCode'], 200);
    assert.equal(invocation['response'], 'reset to 3');
    const history = await get(`/api/devices/${DEVICE}/modules/${MODULE}/commands/reset`);
    assert.equal((history['value'] as { id: string }[])[0]?.id, invocation['id']);
    // The device itself has no reset command.
    const deviceLevel = await centralRequest(platform, {
      method: 'POST',
      path: `/api/devices/${DEVICE}/commands/reset?${GA}`,
      body: { request: 3 },
    });
    assert.equal(deviceLevel.status, 404);
    const badRequest = await centralRequest(platform, { method: 'POST', path, body: { request: 'three' } });
    assert.equal(badRequest.status, 400);
  });

  it('the CLI reaches the module with --module-name, as az iot central does', async () => {
    writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
    const cli = async (...args: string[]): Promise<Record<string, unknown>> =>
      JSON.parse(await runCli(...args, '--data-dir', platform.dataDir, '--json')) as Record<string, unknown>;
    const base = ['--device-id', DEVICE, '--module-name', MODULE];
    assert.equal((await cli('device', 'twin', 'show', ...base))['status'], 'filtering');
    const last = await cli('device', 'telemetry', 'show', ...base, '--telemetry-name', 'temperature');
    assert.equal(last['value'], 21.5);
    const run = await cli('device', 'command', 'run', ...base, '--command-name', 'reset', '--content', '{"request":9}');
    assert.equal(run['response'], 'reset to 9');
  });
});
