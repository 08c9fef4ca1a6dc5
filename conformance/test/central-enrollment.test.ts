/**
 * The Central application's enrollment groups through its REST API, with the bodies `az iot central
 * enrollment-group create|update|delete` sends (az-central-wire.md): groups are the provisioning
 * service's groups (an official-SDK device provisions with a key derived from a group made here),
 * X.509 groups get their signing certificate from `…/certificates/primary` as base64 of the PEM.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CENTRAL_ROLES, issueCertificate } from '@plugboard/server';
import { provisionDevice } from './central-fixtures.js';
import { centralRequest, startTestPlatform, type TestPlatform } from './harness.js';

const GA = 'api-version=2022-07-31';

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform();
});
after(async () => {
  await platform?.dispose();
});

function call(method: string, path: string, body?: unknown, token?: string) {
  return centralRequest(platform, {
    method,
    path: `${path}?${GA}`,
    ...(body === undefined ? {} : { body }),
    ...(token === undefined ? {} : { token }),
  });
}

type Group = {
  id: string;
  displayName: string;
  enabled: boolean;
  type: string;
  etag: string;
  attestation: {
    type: string;
    symmetricKey?: { primaryKey: string; secondaryKey: string };
    x509?: { signingCertificates: Record<string, { verified: boolean; info?: { sha1Thumbprint: string } }> };
  };
};

describe('[Central] enrollment groups', () => {
  it('enrollment-group create (symmetric key) generates keys devices derive theirs from', async () => {
    const created = await call('PUT', '/api/enrollmentGroups/sensors', {
      displayName: 'Sensors',
      attestation: { type: 'symmetricKey' },
      type: 'iot',
      enabled: true,
    });
    assert.equal(created.status, 200, created.text);
    const group = created.body as Group;
    assert.equal(group.displayName, 'Sensors');
    assert.equal(group.type, 'iot');
    const primaryKey = group.attestation.symmetricKey?.primaryKey;
    assert.ok(primaryKey !== undefined && Buffer.from(primaryKey, 'base64').length >= 32);
    const registration = await provisionDevice(platform, 'sensor-1', primaryKey);
    assert.equal(registration.deviceId, 'sensor-1');
    const list = await call('GET', '/api/enrollmentGroups');
    assert.equal(list.status, 200, list.text);
    const listed = (list.body as { value: Group[]; nextLink?: string }).value;
    assert.deepEqual(
      listed.map((g) => g.id),
      ['SAS-IoT-Devices', 'SAS-IoT-Edge-Devices', 'sensors'],
      'a new application has the two SAS groups IoT Central creates',
    );
    assert.equal(listed.find((g) => g.id === 'SAS-IoT-Edge-Devices')?.type, 'iotEdge');
    assert.equal('nextLink' in (list.body as object), false);
  });

  it('enrollment-group update (changed keys plus "enabled": true) keeps the keys; disabling reaches DPS', async () => {
    const before = (await call('GET', '/api/enrollmentGroups/sensors')).body as Group;
    const renamed = await call('PATCH', '/api/enrollmentGroups/sensors', { displayName: 'All sensors', enabled: true });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal((renamed.body as Group).displayName, 'All sensors');
    assert.deepEqual((renamed.body as Group).attestation, before.attestation);
    const disabled = await call('PATCH', '/api/enrollmentGroups/sensors', { enabled: false });
    assert.equal((disabled.body as Group).enabled, false);
    assert.equal(platform.dps.getEnrollmentGroup('sensors').provisioningStatus, 'disabled');
    const stale = await call('PATCH', '/api/enrollmentGroups/sensors', { enabled: true, etag: before.etag });
    assert.equal(stale.status, 412, stale.text);
  });

  it('an X.509 group gets its signing certificate as base64 of the PEM text, as az sends it', async () => {
    const created = await call('PUT', '/api/enrollmentGroups/x509-devices', {
      displayName: 'X.509 devices',
      attestation: { type: 'x509' },
      type: 'iot',
      enabled: true,
    });
    assert.equal(created.status, 200, created.text);
    assert.deepEqual((created.body as Group).attestation, { type: 'x509', x509: { signingCertificates: {} } });
    const pem = readFileSync(join(String(process.env['PLUGBOARD_TEST_CA_DIR']), 'ca.pem'), 'utf8');
    const uploaded = await call('PUT', '/api/enrollmentGroups/x509-devices/certificates/primary', {
      certificate: Buffer.from(pem).toString('base64'),
    });
    assert.equal(uploaded.status, 200, uploaded.text);
    const entry = uploaded.body as { verified: boolean; info: { sha1Thumbprint: string } };
    assert.equal(entry.verified, true);
    assert.match(entry.info.sha1Thumbprint, /^[0-9A-F]{40}$/);
    const dpsGroup = platform.dps.getEnrollmentGroup('x509-devices');
    assert.equal(dpsGroup.attestation.type, 'x509');
    const shown = (await call('GET', '/api/enrollmentGroups/x509-devices')).body as Group;
    assert.equal(
      shown.attestation.x509?.signingCertificates['primary']?.info?.sha1Thumbprint,
      entry.info.sha1Thumbprint,
    );
    // Proof of possession: a certificate with the code as its CN, signed by the uploaded CA.
    const generated = await call(
      'POST',
      '/api/enrollmentGroups/x509-devices/certificates/primary/generateVerificationCode',
    );
    assert.equal(generated.status, 200, generated.text);
    const code = (generated.body as { verificationCode: string }).verificationCode;
    const caKey = readFileSync(join(String(process.env['PLUGBOARD_TEST_CA_DIR']), 'ca.key.pem'), 'utf8');
    const issuer = { certificatePem: pem, privateKeyPem: caKey };
    const wrongCn = await issueCertificate({ commonName: 'not-the-code', issuer });
    const refused = await call('POST', '/api/enrollmentGroups/x509-devices/certificates/primary/verify', {
      certificate: Buffer.from(wrongCn.certificatePem).toString('base64'),
    });
    assert.equal(refused.status, 400, refused.text);
    assert.match(
      (refused.body as { error: { message: string } }).error.message,
      /subject CN must be the verification code/,
    );
    const selfSigned = await issueCertificate({ commonName: code });
    const unsigned = await call('POST', '/api/enrollmentGroups/x509-devices/certificates/primary/verify', {
      certificate: Buffer.from(selfSigned.certificatePem).toString('base64'),
    });
    assert.equal(unsigned.status, 400, unsigned.text);
    const proof = await issueCertificate({ commonName: code, issuer });
    const verified = await call('POST', '/api/enrollmentGroups/x509-devices/certificates/primary/verify', {
      certificate: Buffer.from(proof.certificatePem).toString('base64'),
    });
    assert.equal(verified.status, 204, verified.text);
    const deleted = await call('DELETE', '/api/enrollmentGroups/x509-devices');
    assert.equal(deleted.status, 204);
    assert.equal((await call('GET', '/api/enrollmentGroups/x509-devices')).status, 404);
  });

  it('bad enrollment group input is refused with the reason; an operator may not manage groups', async () => {
    const cases: [string, string, unknown, number, RegExp][] = [
      ['PUT', '/api/enrollmentGroups/bad', { attestation: { type: 'tpm' } }, 400, /attestation must be/],
      [
        'PUT',
        '/api/enrollmentGroups/bad',
        { attestation: { type: 'symmetricKey' }, type: 'edge' },
        400,
        /type must be/,
      ],
      ['PUT', '/api/enrollmentGroups/bad', { attestation: { type: 'symmetricKey' }, colour: 1 }, 400, /Unknown/],
      ['PATCH', '/api/enrollmentGroups/absent', { enabled: true }, 404, /does not exist/],
      ['PUT', '/api/enrollmentGroups/sensors/certificates/primary', { certificate: 'x' }, 409, /symmetric keys/],
      ['GET', '/api/enrollmentGroups/sensors/certificates/tertiary', undefined, 404, /primary or secondary/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const response = await call(method, path, body);
      assert.equal(response.status, status, `${method} ${path}: ${response.text}`);
      assert.match((response.body as { error: { message: string } }).error.message, message);
    }
    assert.equal((await call('GET', '/api/enrollmentGroups/bad')).status, 404, 'nothing was created');
    const token = await call('PUT', '/api/apiTokens/groups-operator', { roles: [{ role: CENTRAL_ROLES.operator }] });
    const operator = (token.body as { token: string }).token;
    const refused = await call('GET', '/api/enrollmentGroups', undefined, operator);
    assert.equal(refused.status, 403, refused.text);
  });
});
