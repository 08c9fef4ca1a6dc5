/**
 * `plugboard device check` grades the two samples built on `@plugboard/device` — the Thermostat (no
 * component) and the TemperatureController (multi-component) — with a fully passing scorecard: model id,
 * modeled telemetry with creation times, reported properties, writable-property acknowledgements (also
 * for a change made while offline), commands, reprovisioning on an unreachable hub, an expired token and
 * a disabled device, growing back-off while blocked, on 500 and when throttled, and a manual failover.
 * Every behaviour comes from the SDK's defaults; the samples contain no reconnection code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { memoryAssignmentStore } from '@plugboard/device';
import { startTemperatureController, startThermostat, type RunningSample } from '@plugboard/samples';
import { runDeviceCheck, sampleModel, startApp, type RunningApp } from './central-fixtures.js';

let app: RunningApp;
const running: RunningSample[] = [];

before(async () => {
  app = await startApp('sdk-check', [sampleModel('TemperatureController.json')]);
});
after(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await app?.dispose();
});

describe('[Best practices] the samples on @plugboard/device pass plugboard device check', () => {
  it('the Thermostat and the TemperatureController pass every rule', async () => {
    const group = app.manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
    assert.ok(group?.primaryKey);
    const connection = (registrationId: string) => ({
      idScope: app.manifest.idScope,
      registrationId,
      credentials: { groupKey: String(group.primaryKey) },
      provisioningHost: app.manifest.dps.host,
      ca: readFileSync(app.manifest.caCertificate, 'utf8'),
      assignmentStore: memoryAssignmentStore(),
      intervalMs: 500,
    });
    running.push(
      await startThermostat(connection('sample-thermostat')),
      await startTemperatureController(connection('sample-controller')),
    );
    const reports = await Promise.all([
      runDeviceCheck(app, 'sample-thermostat'),
      runDeviceCheck(app, 'sample-controller'),
    ]);
    for (const results of reports) {
      assert.deepEqual(
        results.filter((r) => r.status !== 'pass').map((r) => `${r.id}: ${r.status} ${r.summary}`),
        [],
      );
      assert.equal(results.length, 14);
    }
  });
});
