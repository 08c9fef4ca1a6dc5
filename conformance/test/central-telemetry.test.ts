/**
 * Modeled telemetry in the Central application: an official-SDK TemperatureController device (DPS
 * group key, the sample's model id) sends root and component telemetry (`$.sub`, as the Plug and Play
 * sample does); the REST API shows each capability's last value at its displayed time (the creation
 * time when set, the enqueued time kept beside it), the raw view shows wrong types and unknown names as
 * unmodeled with the reason and counts invalid JSON, time-range queries return a capability's values,
 * and everything survives a restart. protocol.md §6.2, §6.6.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { deriveDeviceKey } from '@plugboard/protocol';
import { connectDevice, modelRepository, provisionDevice, sampleModel as sample } from './central-fixtures.js';
import { centralRequest, eventually, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;

const CONTROLLER_ID = 'dtmi:com:example:TemperatureController;1';
const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';
const GA = 'api-version=2022-07-31';
const DEVICE = 'controller-1';

let platform: TestPlatform;
let models: string;
let client: InstanceType<typeof Client>;

async function start(dataDir?: string): Promise<TestPlatform> {
  return startTestPlatform({ central: { modelRepository: models }, ...(dataDir === undefined ? {} : { dataDir }) });
}

before(async () => {
  models = modelRepository();
  platform = await start();
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  const imported = await centralRequest(platform, {
    method: 'PUT',
    path: `/api/deviceTemplates/dtmi:plugboard:controller;1?${GA}`,
    body: { displayName: 'Temperature controller', capabilityModel: sample('TemperatureController.json') },
  });
  assert.equal(imported.status, 200, imported.text);

  const registration = await provisionDevice(platform, DEVICE, GROUP_KEY, { modelId: CONTROLLER_ID });
  client = await connectDevice(registration, GROUP_KEY, CONTROLLER_ID);
});
after(async () => {
  await client?.close();
  await platform?.dispose();
  rmSync(models, { recursive: true, force: true });
});

/** Sends one message as the Plug and Play samples do (JSON, utf-8, `$.sub` for a component). */
async function send(body: string, options: { component?: string; creationTime?: string } = {}): Promise<void> {
  const message = new Message(body);
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  if (options.component !== undefined) message.properties.add('$.sub', options.component);
  if (options.creationTime !== undefined) message.properties.add('iothub-creation-time-utc', options.creationTime);
  await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
}

/** Waits until the projection has applied every stored message. */
async function settled(on: TestPlatform = platform): Promise<void> {
  const stored = await on.storage.queryTelemetry({ deviceId: DEVICE, limit: 10_000 });
  await withTimeout(on.central.telemetry.caughtUp(stored.at(-1)?.sequenceNumber ?? 0), 10_000, 'projection');
}

async function get(path: string, on: TestPlatform = platform) {
  const response = await centralRequest(on, { method: 'GET', path });
  return { ...response, json: response.body as Record<string, unknown> };
}

describe('[Central] modeled telemetry', () => {
  it('component and root telemetry show as last values; the creation time is displayed, the enqueued time kept', async () => {
    const created = '2026-11-30T08:00:00.000Z';
    await send('{"temperature":21.5}', { component: 'thermostat1', creationTime: created });
    await send('{"workingSet":1024}');
    await settled();
    const temperature = await get(`/api/devices/${DEVICE}/components/thermostat1/telemetry/temperature?${GA}`);
    assert.equal(temperature.status, 200, temperature.text);
    assert.equal(temperature.json['value'], 21.5);
    assert.equal(temperature.json['timestamp'], created);
    assert.equal(temperature.json['creationTime'], created);
    assert.ok(Date.parse(String(temperature.json['enqueuedTime'])) > Date.parse(created), 'enqueued now, not then');
    const workingSet = await get(`/api/devices/${DEVICE}/telemetry/workingSet?${GA}`);
    assert.equal(workingSet.json['value'], 1024);
    assert.equal(
      workingSet.json['timestamp'],
      workingSet.json['enqueuedTime'],
      'no creation time: enqueued time shown',
    );
    const other = await get(`/api/devices/${DEVICE}/components/thermostat2/telemetry/temperature?${GA}`);
    assert.deepEqual(other.json, {}, 'a modeled capability with no value yet');
  });

  it('a wrong type and an unknown name are unmodeled with reasons; invalid JSON is counted and kept', async () => {
    await send('{"temperature":"hot"}', { component: 'thermostat2' });
    await send('{"workingSet":2048,"colour":"red"}');
    await send('not json at all');
    await settled();
    const raw = await get(`/plugboard/devices/${DEVICE}/rawMessages?top=1000`);
    assert.equal(raw.status, 200, raw.text);
    const messages = raw.json['value'] as {
      component?: string;
      modeled: Record<string, unknown>;
      unmodeled: { name: string; value: unknown; reason: string }[];
      invalid?: string;
      enqueuedTime: string;
      timestamp: string;
    }[];
    const hot = messages.find((m) => m.component === 'thermostat2');
    assert.deepEqual(hot?.unmodeled, [
      { name: 'thermostat2.temperature', value: 'hot', reason: 'expected double, got "hot"' },
    ]);
    assert.deepEqual(hot?.modeled, {});
    const colour = messages.find((m) => 'colour' in m.modeled || m.unmodeled.some((u) => u.name === 'colour'));
    assert.deepEqual(colour?.modeled, { workingSet: 2048 });
    assert.deepEqual(colour?.unmodeled, [
      { name: 'colour', value: 'red', reason: 'the template defines no telemetry colour' },
    ]);
    const invalid = messages.find((m) => m.invalid !== undefined);
    assert.match(String(invalid?.invalid), /^not JSON/);
    assert.deepEqual(raw.json['counts'], { messages: 5, withUnmodeled: 2, invalid: 1 });
    // The wrong value did not replace thermostat2's (absent) last value; the right one replaced workingSet.
    assert.deepEqual((await get(`/api/devices/${DEVICE}/components/thermostat2/telemetry/temperature?${GA}`)).json, {});
    assert.equal((await get(`/api/devices/${DEVICE}/telemetry/workingSet?${GA}`)).json['value'], 2048);
  });

  it("a time-range query returns a capability's values at their displayed times, oldest first", async () => {
    for (const [i, at] of [
      '2026-11-30T09:00:00.000Z',
      '2026-11-30T10:00:00.000Z',
      '2026-11-30T11:00:00.000Z',
    ].entries()) {
      await send(JSON.stringify({ temperature: 30 + i }), { component: 'thermostat1', creationTime: at });
    }
    await settled();
    const all = await get(`/plugboard/devices/${DEVICE}/telemetry/temperature?component=thermostat1`);
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(
      (all.json['value'] as { value: number }[]).map((v) => v.value),
      [21.5, 30, 31, 32],
    );
    const window = await get(
      `/plugboard/devices/${DEVICE}/telemetry/temperature?component=thermostat1&from=2026-11-30T09:30:00Z&to=2026-11-30T11:00:00Z`,
    );
    assert.deepEqual(
      (window.json['value'] as { value: number; timestamp: string }[]).map((v) => [v.value, v.timestamp]),
      [
        [31, '2026-11-30T10:00:00.000Z'],
        [32, '2026-11-30T11:00:00.000Z'],
      ],
    );
    const paged = await get(`/plugboard/devices/${DEVICE}/telemetry/temperature?component=thermostat1&top=2`);
    assert.equal((paged.json['value'] as unknown[]).length, 2);
    const next = paged.json['next'];
    assert.equal(typeof next, 'number');
    const rawWindow = await get(
      `/plugboard/devices/${DEVICE}/rawMessages?from=2026-11-30T09:30:00Z&to=2026-11-30T10:30:00Z`,
    );
    assert.deepEqual(
      (rawWindow.json['value'] as { modeled: Record<string, number> }[]).map((m) => m.modeled),
      [{ temperature: 31 }],
      'raw messages by displayed time',
    );
    const rest = await get(
      `/plugboard/devices/${DEVICE}/telemetry/temperature?component=thermostat1&after=${String(next)}`,
    );
    assert.deepEqual(
      (rest.json['value'] as { value: number }[]).map((v) => v.value),
      [31, 32],
    );
    // The same values as columns: times in ms, creation times null where the device set none.
    const values = all.json['value'] as {
      value: number;
      timestamp: string;
      enqueuedTime: string;
      creationTime?: string;
    }[];
    const series = await get(`/plugboard/devices/${DEVICE}/telemetry/temperature/series?component=thermostat1`);
    assert.equal(series.status, 200, series.text);
    assert.deepEqual(series.json, {
      time: values.map((v) => Date.parse(v.timestamp)),
      value: values.map((v) => v.value),
      enqueuedTime: values.map((v) => Date.parse(v.enqueuedTime)),
      creationTime: values.map((v) => (v.creationTime === undefined ? null : Date.parse(v.creationTime))),
    });
    const seriesPage = await get(
      `/plugboard/devices/${DEVICE}/telemetry/temperature/series?component=thermostat1&top=2`,
    );
    assert.deepEqual(seriesPage.json['value'], [21.5, 30]);
    assert.equal(seriesPage.json['next'], next, 'the columns page as the objects do');
    const seriesWindow = await get(
      `/plugboard/devices/${DEVICE}/telemetry/temperature/series?component=thermostat1&from=2026-11-30T09:30:00Z&to=2026-11-30T11:00:00Z`,
    );
    assert.deepEqual(seriesWindow.json['value'], [31, 32]);
  });

  it('telemetry routes refuse what the template does not define, absent devices and bad queries', async () => {
    const cases: [string, number, RegExp][] = [
      [`/api/devices/${DEVICE}/telemetry/colour?${GA}`, 404, /defines no telemetry colour/],
      [`/api/devices/${DEVICE}/components/nothing/telemetry/temperature?${GA}`, 404, /in component nothing/],
      [`/api/devices/${DEVICE}/telemetry/serialNumber?${GA}`, 404, /defines no telemetry serialNumber/],
      [`/api/devices/absent-device/telemetry/workingSet?${GA}`, 404, /absent-device does not exist/],
      [`/api/devices/${DEVICE}/telemetry/workingSet`, 400, /api-version/],
      [`/plugboard/devices/${DEVICE}/telemetry/temperature?component=thermostat1&top=0`, 400, /top must be/],
      [`/plugboard/devices/${DEVICE}/telemetry/temperature?component=thermostat1&from=yesterday`, 400, /ISO 8601/],
      [`/plugboard/devices/${DEVICE}/telemetry/colour/series`, 404, /defines no telemetry colour/],
      [`/plugboard/devices/${DEVICE}/telemetry/temperature/series?component=thermostat1&top=0`, 400, /top must be/],
      [`/plugboard/devices/${DEVICE}/rawMessages?after=-1`, 400, /after must be/],
    ];
    for (const [path, status, message] of cases) {
      const response = await get(path);
      assert.equal(response.status, status, `${path}: ${response.text}`);
      assert.match((response.json['error'] as { message: string }).message, message, path);
    }
  });

  it('after a restart the last values and the raw view are the same, and new messages apply on top', async () => {
    const before = (await get(`/api/devices/${DEVICE}/components/thermostat1/telemetry/temperature?${GA}`)).json;
    const rawBefore = (await get(`/plugboard/devices/${DEVICE}/rawMessages?top=1000`)).json;
    await client.close();
    const dataDir = platform.dataDir;
    await platform.close();
    platform = await start(dataDir);
    assert.deepEqual(
      (await get(`/api/devices/${DEVICE}/components/thermostat1/telemetry/temperature?${GA}`)).json,
      before,
    );
    assert.deepEqual((await get(`/plugboard/devices/${DEVICE}/rawMessages?top=1000`)).json, rawBefore);
    const registration = platform.dps.getRegistration(DEVICE);
    const hub = platform.hubs.find((h) => h.name === registration.hub)!;
    client = Client.fromConnectionString(
      `HostName=${hub.hostName};DeviceId=${DEVICE};SharedAccessKey=${await deriveDeviceKey(GROUP_KEY, DEVICE)}`,
      Mqtt,
    );
    await withTimeout(client.open(), 15_000, 'open after restart');
    await send('{"temperature":40}', { component: 'thermostat1' });
    await eventually(async () => {
      const now = await get(`/api/devices/${DEVICE}/components/thermostat1/telemetry/temperature?${GA}`);
      return now.json['value'] === 40 ? true : undefined;
    });
  });
});
