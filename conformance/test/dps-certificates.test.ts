/**
 * X.509 enrollments created the way the portal, `az iot dps enrollment create --certificate-path` and
 * the DPS REST API create them — by uploading the certificate, PEM or base64 DER — rather than by
 * thumbprint: individual enrollments (`x509.clientCertificates.primary.certificate`) and enrollment
 * groups (`x509.signingCertificates.primary.certificate`). The official provisioning SDK then registers
 * a device holding that certificate over MQTT and HTTPS. Bad certificates get a coded 400 and change
 * nothing. Issue: "Microcontroller devices: the Azure SDK for Embedded C against Plugboard".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningHttp from 'azure-iot-provisioning-device-http';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import x509Security from 'azure-iot-security-x509';
import { issueCertificate, type IssuedCertificate } from '@plugboard/server';
import { dpsRequest, dpsServiceToken, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { ProvisioningDeviceClient } = provisioningSdk;
const { Http: ProvisioningHttp } = provisioningHttp;
const { Mqtt: ProvisioningMqtt } = provisioningMqtt;
const { X509Security } = x509Security;

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
});
after(async () => {
  await platform?.dispose();
});

function base64Der(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

async function put(path: string, body: unknown) {
  return dpsRequest(platform, {
    method: 'PUT',
    path: `${path}?api-version=2021-10-01`,
    body,
    token: await dpsServiceToken(platform),
  });
}

async function get(path: string) {
  return dpsRequest(platform, {
    method: 'GET',
    path: `${path}?api-version=2021-10-01`,
    token: await dpsServiceToken(platform),
  });
}

async function registerWith(transport: 'mqtt' | 'http', registrationId: string, device: IssuedCertificate) {
  const client = ProvisioningDeviceClient.create(
    platform.dps.hostName,
    platform.dps.idScope,
    transport === 'mqtt' ? new ProvisioningMqtt() : new ProvisioningHttp(),
    new X509Security(registrationId, { cert: device.certificatePem, key: device.privateKeyPem }) as never,
  );
  return (await withTimeout(client.register() as Promise<unknown>, 20_000, `register over ${transport}`)) as {
    assignedHub: string;
    deviceId: string;
  };
}

interface InfoBlock {
  info: { subjectName: string; sha1Thumbprint: string; sha256Thumbprint: string; notAfterUtc: string };
}

describe('[DPS: x509] enrollments created with an uploaded certificate', () => {
  for (const form of ['PEM', 'base64 DER'] as const) {
    it(`an individual enrollment with its device certificate as ${form}: the SDK registers over MQTT and HTTPS; GET shows the info`, async () => {
      const registrationId = `cert-device-${form === 'PEM' ? 'pem' : 'der'}`;
      const device = await issueCertificate({
        commonName: registrationId,
        extendedKeyUsage: 'clientAuth',
        keyAlgorithm: 'rsa',
      });
      const certificate = form === 'PEM' ? device.certificatePem : base64Der(device.certificatePem);
      const created = await put(`/enrollments/${registrationId}`, {
        registrationId,
        attestation: { type: 'x509', x509: { clientCertificates: { primary: { certificate } } } },
      });
      assert.equal(created.status, 200, created.text);
      const shown = await get(`/enrollments/${registrationId}`);
      const primary = (shown.body as { attestation: { x509: { clientCertificates: { primary: InfoBlock } } } })
        .attestation.x509.clientCertificates.primary;
      assert.equal(primary.info.sha1Thumbprint, device.thumbprintSha1);
      assert.equal(primary.info.sha256Thumbprint, device.thumbprintSha256);
      assert.match(primary.info.subjectName, new RegExp(`CN=${registrationId}`));
      assert.ok(Date.parse(primary.info.notAfterUtc) > Date.now());
      assert.doesNotMatch(shown.text, /BEGIN CERTIFICATE/, 'the uploaded PEM is not echoed');
      for (const transport of ['mqtt', 'http'] as const) {
        const result = await registerWith(transport, registrationId, device);
        assert.equal(result.deviceId, registrationId);
        assert.ok(platform.hubs.some((h) => h.hostName === result.assignedHub));
      }
      assert.equal(platform.dps.getRegistration(registrationId).attestationType, 'x509');
    });
  }

  for (const form of ['PEM', 'base64 DER'] as const) {
    it(`an enrollment group with its signing certificate as ${form}: a device it signed registers over MQTT and HTTPS`, async () => {
      const group = `cert-group-${form === 'PEM' ? 'pem' : 'der'}`;
      const ca = await issueCertificate({ commonName: `Fleet CA ${form}`, isCa: true, validDays: 30 });
      const certificate = form === 'PEM' ? ca.certificatePem : base64Der(ca.certificatePem);
      const created = await put(`/enrollmentGroups/${group}`, {
        enrollmentGroupId: group,
        attestation: { type: 'x509', x509: { signingCertificates: { primary: { certificate } } } },
      });
      assert.equal(created.status, 200, created.text);
      const info = (created.body as { attestation: { x509: { signingCertificates: { primary: InfoBlock } } } })
        .attestation.x509.signingCertificates.primary.info;
      assert.equal(info.sha1Thumbprint, ca.thumbprintSha1);
      for (const transport of ['mqtt', 'http'] as const) {
        const registrationId = `${group}-${transport}`;
        const device = await issueCertificate({
          commonName: registrationId,
          issuer: { certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem },
          extendedKeyUsage: 'clientAuth',
          keyAlgorithm: 'rsa',
        });
        const result = await registerWith(transport, registrationId, device);
        assert.equal(result.deviceId, registrationId);
      }
    });
  }

  it('unreadable, expired, empty and non-CA signing certificates get 400 DPS_INVALID_CERTIFICATE; caReferences 400; nothing is stored', async () => {
    const leaf = await issueCertificate({ commonName: 'not-a-ca' });
    const expired = await issueCertificate({
      commonName: 'expired',
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      validDays: 2,
    });
    const cases: { path: string; x509: unknown; code: string; reason: RegExp }[] = [
      {
        path: '/enrollments/bad-1',
        x509: { clientCertificates: { primary: { certificate: 'not a certificate' } } },
        code: 'DPS_INVALID_CERTIFICATE',
        reason: /not an X\.509 certificate/,
      },
      {
        path: '/enrollments/bad-2',
        x509: { clientCertificates: { primary: { certificate: base64Der(expired.certificatePem) } } },
        code: 'DPS_INVALID_CERTIFICATE',
        reason: /expired/,
      },
      {
        path: '/enrollments/bad-3',
        x509: { clientCertificates: { primary: { certificate: '' } } },
        code: 'DPS_INVALID_CERTIFICATE',
        reason: /empty/,
      },
      {
        path: '/enrollments/bad-4',
        x509: { clientCertificates: { primary: { certificate: Buffer.from('hello').toString('base64') } } },
        code: 'DPS_INVALID_CERTIFICATE',
        reason: /not an X\.509/,
      },
      {
        path: '/enrollmentGroups/bad-5',
        x509: { signingCertificates: { primary: { certificate: leaf.certificatePem } } },
        code: 'DPS_INVALID_CERTIFICATE',
        reason: /not a CA certificate/,
      },
      {
        path: '/enrollmentGroups/bad-6',
        x509: { signingCertificates: { primary: { certificate: expired.certificatePem } } },
        code: 'DPS_INVALID_CERTIFICATE',
        reason: /expired/,
      },
      {
        path: '/enrollmentGroups/bad-7',
        x509: { caReferences: { primary: 'my-ca' } },
        code: 'DPS_BAD_REQUEST',
        reason: /caReferences/,
      },
    ];
    for (const c of cases) {
      const response = await put(c.path, { attestation: { type: 'x509', x509: c.x509 } });
      assert.equal(response.status, 400, `${c.path}: ${response.text}`);
      const body = response.body as { code: string; errorCode: number; message: string };
      assert.equal(body.code, c.code, c.path);
      assert.equal(body.errorCode, 400004);
      assert.match(body.message, c.reason, c.path);
      assert.equal((await get(c.path)).status, 404, `${c.path} was not stored`);
    }
  });
});
