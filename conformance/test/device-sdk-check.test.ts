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
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { memoryAssignmentStore } from '@plugboard/device';
import { startTemperatureController, startThermostat, type RunningSample } from '@plugboard/samples';
import { sampleModel, startApp, type RunningApp } from './central-fixtures.js';
import { runCli } from './harness.js';

const LIMITS = [
  '--telemetry-seconds',
  '4',
  '--response-seconds',
  '6',
  '--recovery-seconds',
  '30',
  '--fault-seconds',
  '4',
];

interface Report {
  results: { id: string; status: string; summary: string }[];
}

let app: RunningApp;
const running: RunningSample[] = [];

before(async () => {
  app = await startApp('sdk-check', [sampleModel('TemperatureController.json')]);
});
after(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await app?.dispose();
});

async function check(deviceId: string): Promise<Report> {
  const file = join(app.dataDir, `check-${deviceId}.json`);
  try {
    await runCli(
      'device',
      'check',
      '--device-id',
      deviceId,
      ...LIMITS,
      '--output-json',
      file,
      '--data-dir',
      app.dataDir,
    );
  } catch (error) {
    assert.match((error as Error).message, /checks failed/);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Report;
}

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
    const reports = await Promise.all([check('sample-thermostat'), check('sample-controller')]);
    for (const report of reports) {
      assert.deepEqual(
        report.results.filter((r) => r.status !== 'pass').map((r) => `${r.id}: ${r.status} ${r.summary}`),
        [],
      );
      assert.equal(report.results.length, 14);
    }
  });
});
