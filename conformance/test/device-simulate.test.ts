/**
 * The fleet simulator: `plugboard device simulate --template DTMI --count N` registers N devices through
 * DPS with the application's group key, they are assigned the template and send telemetry whose values
 * are modeled and plausible (a temperature in °C near 20, not random doubles); the summary counts what
 * was acknowledged. A simulated device also gets a fully passing `plugboard device check` scorecard:
 * it acknowledges writable properties, answers commands in their response schema and reconnects as the
 * SDK does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { SimulatedFleet } from '@plugboard/device';
import { parse } from '@plugboard/dtdl';
import { runDeviceCheck, sampleModel, startApp, type RunningApp } from './central-fixtures.js';
import { centralRequest, eventually, runCli } from './harness.js';

const THERMOSTAT_ID = 'dtmi:com:example:Thermostat;1';

let app: RunningApp;
let fleet: SimulatedFleet | undefined;

before(async () => {
  app = await startApp('simulate');
  const imported = await centralRequest(app.platform, {
    method: 'PUT',
    path: `/api/deviceTemplates/${THERMOSTAT_ID}?api-version=2022-07-31`,
    body: { displayName: 'Thermostat', capabilityModel: sampleModel('Thermostat.json') },
  });
  assert.equal(imported.status, 200, imported.text);
});
after(async () => {
  await fleet?.stop();
  await app?.dispose();
});

describe('plugboard device simulate', () => {
  it('[Simulator] N devices of a template register, are assigned it and send plausible, modeled telemetry', async () => {
    const printed = await runCli(
      'device',
      'simulate',
      '--template',
      THERMOSTAT_ID,
      '--count',
      '3',
      '--interval',
      '0.2',
      '--ramp-rate',
      '50',
      '--duration',
      '4',
      '--id-prefix',
      'cli-sim',
      '--data-dir',
      app.dataDir,
      '--json',
    );
    const summary = JSON.parse(printed) as { provisioned: number; messages: number; errors: number; modelId: string };
    assert.equal(summary.modelId, THERMOSTAT_ID);
    assert.equal(summary.provisioned, 3);
    assert.equal(summary.errors, 0);
    assert.ok(summary.messages >= 3, `${summary.messages} messages`);
    for (const id of ['cli-sim-1', 'cli-sim-2', 'cli-sim-3']) {
      assert.equal(app.platform.central.devices.get(id).template, THERMOSTAT_ID);
    }
    const stored = await app.platform.central.telemetry.raw('cli-sim-1', { top: 100 });
    assert.ok(stored.messages.length >= 1);
    for (const message of stored.messages) {
      assert.deepEqual(message.unmodeled, []);
      const temperature = Number(message.modeled['temperature']);
      assert.ok(temperature > 10 && temperature < 30, `a temperature in °C near 20: ${temperature}`);
    }
  });

  it('[Simulator] a simulated device passes plugboard device check', async () => {
    const parsed = parse([JSON.stringify(sampleModel('Thermostat.json'))]);
    assert.ok(parsed.model);
    const group = app.manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
    fleet = new SimulatedFleet({
      model: parsed.model,
      modelId: THERMOSTAT_ID,
      count: 2,
      intervalMs: 500,
      rampPerSecond: 50,
      idPrefix: 'checked-sim',
      connection: {
        idScope: app.manifest.idScope,
        credentials: { groupKey: String(group?.primaryKey) },
        provisioningHost: app.manifest.dps.host,
        ca: readFileSync(app.manifest.caCertificate, 'utf8'),
      },
    });
    await fleet.start();
    await eventually(async () => (fleet?.stats().connected === 2 ? true : undefined));
    const results = await runDeviceCheck(app, 'checked-sim-1');
    assert.deepEqual(
      results.filter((r) => r.status !== 'pass').map((r) => `${r.id}: ${r.summary}`),
      [],
    );
    assert.equal(results.length, 14);
  });
});
