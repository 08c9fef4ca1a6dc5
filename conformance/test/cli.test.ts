/**
 * The `plugboard` CLI against a running platform: device keys (as `az iot central device
 * compute-device-key`), enrollment groups, individual enrollments and registrations.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { buildProgram } from '@plugboard/cli';
import { deriveDeviceKey } from '@plugboard/protocol';
import { dpsToken, startTestPlatform, type TestPlatform } from './harness.js';

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
});
after(async () => {
  await platform?.dispose();
});

async function run(...args: string[]): Promise<string> {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const program = buildProgram(out);
  program.exitOverride();
  program.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  await program.parseAsync(['node', 'plugboard', ...args]);
  return text;
}

describe('plugboard CLI', () => {
  it('[§2.6] device compute-device-key matches the documented vector', async () => {
    const out = await run(
      'device',
      'compute-device-key',
      '--primary-key',
      'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=',
      '--device-id',
      'dev1',
    );
    assert.equal(out.trim(), 'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU=');
    const json = JSON.parse(
      await run(
        'device',
        'compute-device-key',
        '--primary-key',
        'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=',
        '--device-id',
        'dev1',
        '--json',
      ),
    ) as { primaryKey: string };
    assert.equal(json.primaryKey, 'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU=');
    await assert.rejects(
      run('device', 'compute-device-key', '--primary-key', 'not base64!', '--device-id', 'x'),
      /base64/,
    );
  });

  it('dps enrollment-group create/list/show/delete and registration show work against the running DPS', async () => {
    const key = 'Y2xpZ3JvdXBrZXljbGlncm91cGtleTEyMzQ1Njc4OTA=';
    const created = JSON.parse(
      await run(
        'dps',
        'enrollment-group',
        'create',
        '--group-id',
        'cli-group',
        '--primary-key',
        key,
        '--secondary-key',
        key,
        '--data-dir',
        platform.dataDir,
        '--json',
      ),
    ) as { enrollmentGroupId: string };
    assert.equal(created.enrollmentGroupId, 'cli-group');
    assert.match(
      await run('dps', 'enrollment-group', 'list', '--data-dir', platform.dataDir),
      /cli-group\tsymmetricKey\tenabled\thashed/,
    );
    const shown = JSON.parse(
      await run('dps', 'enrollment-group', 'show', '--group-id', 'cli-group', '--data-dir', platform.dataDir),
    ) as {
      attestation: { symmetricKey: { primaryKey: string } };
    };
    assert.equal(shown.attestation.symmetricKey.primaryKey, key);

    const deviceKey = await deriveDeviceKey(key, 'cli-device');
    await platform.dps.register({
      idScope: platform.dps.idScope,
      registrationId: 'cli-device',
      credentials: { token: await dpsToken(platform.dps.idScope, 'cli-device', deviceKey) },
      body: {},
    });
    const registration = await run(
      'dps',
      'registration',
      '--registration-id',
      'cli-device',
      '--data-dir',
      platform.dataDir,
    );
    assert.match(registration, /^cli-device\tassigned\tinitialAssignment\t127\./);

    await run('dps', 'enrollment-group', 'delete', '--group-id', 'cli-group', '--data-dir', platform.dataDir);
    await assert.rejects(
      run('dps', 'enrollment-group', 'show', '--group-id', 'cli-group', '--data-dir', platform.dataDir),
      /404/,
    );
  });

  it('dps enrollment create/list/delete; a missing platform gives CLI_NOT_RUNNING', async () => {
    await run('dps', 'enrollment', 'create', '--registration-id', 'cli-individual', '--data-dir', platform.dataDir);
    assert.match(
      await run('dps', 'enrollment', 'list', '--data-dir', platform.dataDir),
      /cli-individual\tsymmetricKey\tenabled/,
    );
    await run('dps', 'enrollment', 'delete', '--registration-id', 'cli-individual', '--data-dir', platform.dataDir);
    assert.equal((await run('dps', 'enrollment', 'list', '--data-dir', platform.dataDir)).trim(), '');
    await assert.rejects(
      run('dps', 'enrollment', 'list', '--data-dir', join(platform.dataDir, 'nowhere')),
      (err: Error & { code?: string }) => err.code === 'CLI_NOT_RUNNING',
    );
  });
});

describe('plugboard up', () => {
  it('[DESIGN: up contract] writes plugboard.json with idScope, dps.host, hubs, the default enrollment group and the CA; a device provisions with it', async () => {
    const { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { up } = await import('@plugboard/cli');
    const { randomLoopbackPrefix } = await import('./harness.js');
    const dataDir = mkdtempSync(join(tmpdir(), 'plugboard-up-'));
    mkdirSync(join(dataDir, 'tls'));
    const caDir = process.env['PLUGBOARD_TEST_CA_DIR'] ?? '';
    copyFileSync(join(caDir, 'ca.pem'), join(dataDir, 'tls', 'ca.pem'));
    copyFileSync(join(caDir, 'ca.key.pem'), join(dataDir, 'tls', 'ca.key.pem'));
    let printed = '';
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        printed += chunk.toString();
        done();
      },
    });
    const { platform: running, manifest } = await up(
      {
        dataDir,
        hubs: 2,
        demo: true,
        mqttPort: 8883,
        httpsPort: 443,
        loopbackPrefix: randomLoopbackPrefix(),
        logLevel: 'silent',
        durability: 'normal',
        dpsQuotas: 'off',
        json: false,
      },
      out,
    );
    try {
      const onDisk = JSON.parse(readFileSync(join(dataDir, 'plugboard.json'), 'utf8')) as typeof manifest;
      assert.deepEqual(onDisk, manifest);
      assert.match(manifest.idScope, /^0ne[0-9A-F]{8}$/);
      assert.equal(manifest.dps.host, running.dps.hostName);
      assert.equal(manifest.hubs.length, 2);
      for (const hub of manifest.hubs)
        assert.match(hub.serviceConnectionString, /^HostName=[^;]+;SharedAccessKeyName=iothubowner;SharedAccessKey=/);
      const group = manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices');
      assert.ok(group?.primaryKey, 'the default symmetric-key enrollment group exists');
      assert.equal(manifest.caCertificate, join(dataDir, 'tls', 'ca.pem'));
      assert.match(printed, /NODE_EXTRA_CA_CERTS=/);
      assert.match(printed, new RegExp(manifest.idScope));
      const demo = manifest.demoDevices?.[0];
      assert.ok(demo);
      await running.dps.register({
        idScope: manifest.idScope,
        registrationId: demo.registrationId,
        credentials: { token: await dpsToken(manifest.idScope, demo.registrationId, demo.deviceKey) },
        body: { payload: { modelId: demo.modelId } },
      });
      assert.equal(running.dps.getRegistration(demo.registrationId).modelId, demo.modelId);
    } finally {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
