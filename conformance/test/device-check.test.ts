/**
 * `plugboard device check` against official-SDK devices: a well-behaved Thermostat written as the
 * high-availability samples write one gets a passing scorecard on every rule (faults and a manual
 * failover included), and each deliberately wrong device gets the rule it breaks named as failed, with
 * the evidence — no model id, telemetry of the wrong type, a writable property never acknowledged or
 * acknowledged with the wrong `av`, a command left unanswered, a tight reconnect loop on 500, a device
 * that never goes back to DPS after "device disabled". The JSON and JUnit reports are checked too.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckedDevice, type DeviceFlaws } from './check-devices.js';
import { sampleModel } from './central-fixtures.js';
import { centralRequest, runCli, startTestPlatform, type TestPlatform } from './harness.js';

const GROUP_KEY = 'Y2hlY2tncm91cGtleWNoZWNrZ3JvdXBrZXkxMjM0NTY=';
const GA = 'api-version=2022-07-31';
const LIMITS = [
  '--telemetry-seconds',
  '3',
  '--response-seconds',
  '6',
  '--recovery-seconds',
  '30',
  '--fault-seconds',
  '4',
];

interface Report {
  passed: number;
  failed: number;
  results: { id: string; status: string; summary: string; evidence: Record<string, unknown> }[];
}

let platform: TestPlatform;
const devices: CheckedDevice[] = [];

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  const imported = await centralRequest(platform, {
    method: 'PUT',
    path: `/api/deviceTemplates/dtmi:plugboard:checkedThermostat;1?${GA}`,
    body: { displayName: 'Thermostat', capabilityModel: sampleModel('Thermostat.json') },
  });
  assert.equal(imported.status, 200, imported.text);
});
after(async () => {
  for (const device of devices) await device.stop();
  await platform?.dispose();
});

async function startDevice(id: string, flaws: DeviceFlaws = {}): Promise<CheckedDevice> {
  const device = new CheckedDevice(platform, id, GROUP_KEY, flaws);
  devices.push(device);
  await device.start();
  return device;
}

/** Runs the check; answers the JSON report whether it passed or not. */
async function check(id: string, ...args: string[]): Promise<Report> {
  const file = join(platform.dataDir, `check-${id}.json`);
  try {
    await runCli(
      'device',
      'check',
      '--device-id',
      id,
      ...LIMITS,
      ...args,
      '--output-json',
      file,
      '--data-dir',
      platform.dataDir,
      '--json',
    );
  } catch (error) {
    assert.match((error as Error).message, /checks failed/);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as Report;
}

function verdict(report: Report, id: string): Report['results'][number] {
  const found = report.results.find((r) => r.id === id);
  assert.ok(found, `the report has ${id}`);
  return found;
}

describe('plugboard device check', () => {
  it('a well-behaved device written as the high-availability samples passes every rule', async () => {
    await startDevice('checked-good');
    const junitFile = join(platform.dataDir, 'check-good.xml');
    const report = await check('checked-good', '--junit', junitFile);
    const failed = report.results.filter((r) => r.status === 'fail');
    assert.deepEqual(
      failed.map((r) => `${r.id}: ${r.summary}`),
      [],
    );
    assert.equal(report.results.filter((r) => r.status === 'pass').length, report.results.length);
    assert.equal(report.results.length, 14);
    const xml = readFileSync(junitFile, 'utf8');
    assert.match(xml, /<testsuite name="device checked-good" tests="14" failures="0"/);
    assert.equal((xml.match(/<testcase /g) ?? []).length, 14);
  });

  it('names each broken rule, with evidence', async () => {
    const cases: [string, DeviceFlaws, string, string, RegExp][] = [
      ['checked-no-model', { noModelId: true }, 'model-id', 'model-id', /no model id/],
      [
        'checked-wrong-type',
        { wrongTelemetryType: true },
        'telemetry-modeled',
        'telemetry-modeled',
        /expected double, got "warm"/,
      ],
      ['checked-no-ack', { ack: 'never' }, 'writable-ack', 'writable-ack', /never acknowledged/],
      [
        'checked-wrong-av',
        { ack: 'wrongVersion' },
        'writable-ack',
        'writable-ack',
        /av \d+, the desired version is \d+/,
      ],
      ['checked-no-command', { noCommandHandler: true }, 'commands', 'commands', /getMaxMinReport/],
      [
        'checked-tight-loop',
        { reconnect: 'tightLoop' },
        'backoff-on-internal-error',
        'backoff-on-internal-error',
        /tight loop/,
      ],
      [
        'checked-same-hub',
        { reconnect: 'sameHub' },
        'reprovision-on-device-disabled',
        'reprovision-on-device-disabled',
        /never went back to DPS/,
      ],
    ];
    for (const [id, flaws, checks, rule, why] of cases) {
      await startDevice(id, flaws);
      const report = await check(id, '--checks', checks);
      const result = verdict(report, rule);
      assert.equal(result.status, 'fail', `${id}: ${result.summary}`);
      assert.match(result.summary, why, id);
      assert.ok(Object.keys(result.evidence).length > 0, `${id}: the verdict has evidence`);
    }
  });

  it('refuses unknown check names, and prints a scorecard', async () => {
    await assert.rejects(
      runCli('device', 'check', '--device-id', 'checked-good', '--checks', 'nope', '--data-dir', platform.dataDir),
      /No check named nope/,
    );
    const text = await runCli(
      'device',
      'check',
      '--device-id',
      'checked-good',
      '--checks',
      'model-id,creation-time',
      ...LIMITS,
      '--data-dir',
      platform.dataDir,
    );
    assert.match(text, /PASS {2}model-id/);
    assert.match(text, /2 passed, 0 failed, 0 skipped/);
  });
});
