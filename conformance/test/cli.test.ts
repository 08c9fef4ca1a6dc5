/**
 * The `plugboard` CLI against a running platform: device keys (as `az iot central device
 * compute-device-key`), enrollment groups, individual enrollments and registrations.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { deriveDeviceKey } from '@plugboard/protocol';
import { dpsToken, runCli, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  writeFileSync(join(platform.dataDir, 'plugboard.json'), JSON.stringify(platform.manifest()));
});
after(async () => {
  await platform?.dispose();
});

const run = runCli;

describe('plugboard CLI', () => {
  it('up --limit takes name=ms for a known limit and refuses anything else', async () => {
    for (const bad of ['bogus=1', 'tlsHandshakeMs', 'tlsHandshakeMs=-5', 'tlsHandshakeMs=0']) {
      await assert.rejects(run('up', '--limit', bad), /expected name=milliseconds/, bad);
    }
  });

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

describe('the plugboard command', () => {
  it('[newcomer] the bin npm links runs the CLI (`npx plugboard --help` right after npm ci)', async () => {
    const { spawnSync } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const root = new URL('../../', import.meta.url).pathname;
    assert.ok(existsSync(join(root, 'node_modules/.bin/plugboard')), 'npm linked node_modules/.bin/plugboard');
    const help = spawnSync(process.execPath, [join(root, 'node_modules/.bin/plugboard'), '--help'], {
      encoding: 'utf8',
    });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: plugboard /);
    assert.match(help.stdout, /\bup\b/);
  });
});

describe('plugboard dps with certificates', () => {
  it('[az: --certificate-path] enrollment and enrollment-group create take a PEM or DER certificate file', async () => {
    const { writeFileSync: write } = await import('node:fs');
    const { issueCertificate } = await import('@plugboard/server');
    const device = await issueCertificate({ commonName: 'cli-cert-device' });
    const ca = await issueCertificate({ commonName: 'CLI CA', isCa: true });
    const pemPath = join(platform.dataDir, 'device.pem');
    const derPath = join(platform.dataDir, 'ca.der');
    write(pemPath, device.certificatePem);
    const der = Buffer.from(ca.certificatePem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''), 'base64');
    write(derPath, der);
    await run(
      'dps',
      'enrollment',
      'create',
      '--registration-id',
      'cli-cert-device',
      '--certificate-path',
      pemPath,
      '--data-dir',
      platform.dataDir,
    );
    const enrollment = platform.dps.getIndividualEnrollment('cli-cert-device');
    assert.equal(
      enrollment.attestation.type === 'x509' ? enrollment.attestation.x509.clientCertificates?.primaryThumbprint : '',
      device.thumbprintSha1,
    );
    await run(
      'dps',
      'enrollment-group',
      'create',
      '--group-id',
      'cli-cert-group',
      '--certificate-path',
      derPath,
      '--data-dir',
      platform.dataDir,
    );
    const group = platform.dps.getEnrollmentGroup('cli-cert-group');
    assert.equal(
      group.attestation.type === 'x509' ? group.attestation.x509.caCertificates?.primary : '',
      ca.certificatePem.trim() + '\n',
    );
    await assert.rejects(
      run(
        'dps',
        'enrollment',
        'create',
        '--registration-id',
        'x',
        '--certificate-path',
        join(platform.dataDir, 'missing.pem'),
        '--data-dir',
        platform.dataDir,
      ),
      (err: Error & { code?: string }) => err.code === 'CLI_INVALID_ARGUMENT',
    );
    write(pemPath, 'garbage');
    await assert.rejects(
      run(
        'dps',
        'enrollment',
        'create',
        '--registration-id',
        'cli-bad-cert',
        '--certificate-path',
        pemPath,
        '--data-dir',
        platform.dataDir,
      ),
      /DPS_INVALID_CERTIFICATE|not an X\.509 certificate/,
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
        limit: { tlsHandshakeMs: 300 },
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
      assert.equal(running.central.devices.get(demo.deviceId).provisioned, false, 'the demo device exists, registered');
      await running.dps.register({
        idScope: manifest.idScope,
        registrationId: demo.registrationId,
        credentials: { token: await dpsToken(manifest.idScope, demo.registrationId, demo.deviceKey) },
        body: { payload: { modelId: demo.modelId } },
      });
      assert.equal(running.dps.getRegistration(demo.registrationId).modelId, demo.modelId);
      assert.equal(running.central.devices.get(demo.deviceId).provisioned, true);
      // The printed `az iot central` arguments reach the Central app as the CLI builds its URL
      // (`https://{app-id}.{central-dns-suffix}/…`, az-central-wire.md), with the manifest's token.
      const az = /--app-id (\S+) --central-dns-suffix (\S+) --token/.exec(printed);
      assert.ok(az, `the summary prints az iot central arguments:\n${printed}`);
      const url = new URL(`https://${az[1]}.${az[2]}/api/deviceTemplates?api-version=2022-06-30-preview`);
      const { request } = await import('node:https');
      const listed = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          url,
          { headers: { authorization: manifest.api.token }, ca: readFileSync(manifest.caCertificate, 'utf8') },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (c: string) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(listed.status, 200, listed.text);
      // The demo device's template was made from the samples' models when it provisioned.
      assert.deepEqual(
        (JSON.parse(listed.text) as { value: { '@id': string }[] }).value.map((t) => t['@id']),
        [demo.modelId],
      );
      assert.equal(manifest.api.baseUrl, `https://${manifest.central.hostName}`);
      // --limit reached the listeners: a connection that never starts TLS is cut at 0.3 s, not 30 s.
      const { connect } = await import('node:net');
      const idle = connect({ host: manifest.dps.address, port: manifest.dps.mqttPort });
      idle.on('error', () => undefined);
      await withTimeout(new Promise((resolve) => idle.once('close', resolve)), 5_000, 'idle TCP connection closed');
      // A hub added while running is in plugboard.json at once, the demo devices kept.
      await running.central.hubs.add({});
      const rewritten = JSON.parse(readFileSync(join(dataDir, 'plugboard.json'), 'utf8')) as typeof manifest;
      assert.deepEqual(
        rewritten.hubs.map((h) => h.name),
        ['hub-1', 'hub-2', 'hub-3'],
      );
      assert.deepEqual(rewritten.demoDevices, manifest.demoDevices);
    } finally {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('plugboard model', () => {
  const samples = new URL('../../../shared/corpora/dtdl-spec/v2/samples/', import.meta.url).pathname;

  it('[issue 4: CLI] model validate accepts the Thermostat sample and reports an invalid model with code and line', async () => {
    const { mkdtempSync, rmSync, writeFileSync: write } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    process.exitCode = undefined;
    const ok = await run('model', 'validate', join(samples, 'Thermostat.json'));
    assert.match(ok, /1 file\(s\): 0 error\(s\)/);
    assert.equal(process.exitCode, undefined);

    const dir = mkdtempSync(join(tmpdir(), 'plugboard-model-'));
    try {
      const bad = join(dir, 'bad.json');
      write(
        bad,
        '{\n  "@context": "dtmi:dtdl:context;2",\n  "@id": "dtmi:com:example:Bad;1",\n  "@type": "Interface",\n  "contents": [{ "@type": "Telemetry", "name": "t" }]\n}\n',
      );
      const report = await run('model', 'validate', bad);
      assert.match(report, /bad\.json:\d+:\d+: error dtmi:dtdl:parsingError:\w+: /);
      assert.equal(process.exitCode, 1);
      const json = JSON.parse(await run('model', 'validate', bad, '--json')) as {
        ok: boolean;
        errors: { code: string }[];
      };
      assert.equal(json.ok, false);
      assert.ok(json.errors.length > 0);
    } finally {
      process.exitCode = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('[issue 4: CLI] model resolve follows component schemas in a repository; codegen writes TypeScript', async () => {
    const { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync: write } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'plugboard-dmr-'));
    try {
      mkdirSync(join(dir, 'dtmi', 'com', 'example'), { recursive: true });
      write(join(dir, 'dtmi', 'com', 'example', 'thermostat-1.json'), readFileSync(join(samples, 'Thermostat.json')));
      const controller = {
        '@context': 'dtmi:dtdl:context;2',
        '@id': 'dtmi:com:example:Controller;1',
        '@type': 'Interface',
        contents: [{ '@type': 'Component', name: 'thermostat1', schema: 'dtmi:com:example:Thermostat;1' }],
      };
      write(join(dir, 'dtmi', 'com', 'example', 'controller-1.json'), JSON.stringify(controller));
      const resolved = JSON.parse(
        await run('model', 'resolve', 'dtmi:com:example:Controller;1', '--repo', dir, '--json'),
      ) as { ok: boolean; interfaces: string[] };
      assert.equal(resolved.ok, true);
      assert.deepEqual([...resolved.interfaces].sort(), [
        'dtmi:com:example:Controller;1',
        'dtmi:com:example:Thermostat;1',
      ]);

      const outFile = join(dir, 'out', 'controller.ts');
      await run(
        'model',
        'codegen',
        join(dir, 'dtmi', 'com', 'example', 'controller-1.json'),
        '--repo',
        dir,
        '--out',
        outFile,
      );
      const code = readFileSync(outFile, 'utf8');
      assert.match(code, /export /);
      assert.match(code, /targetTemperature/);
      await assert.rejects(
        run('model', 'resolve', 'not-a-dtmi', '--repo', dir),
        (e: Error & { code?: string }) => e.code === 'CLI_INVALID_ARGUMENT',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
