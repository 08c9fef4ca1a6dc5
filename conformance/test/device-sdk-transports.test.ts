/**
 * `@plugboard/device` over every transport it offers and with every attestation, against the platform:
 * DPS over MQTT, MQTT/WebSockets and HTTPS; the hub over MQTT/TLS and MQTT/WebSockets; a group-derived
 * key, an individual enrollment's key, an X.509 device certificate signed by an enrolled CA and a
 * self-signed one enrolled by thumbprint. Each device registers with its model id, connects, and its
 * telemetry is stored with the model id and the creation time.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  PnpDevice,
  memoryAssignmentStore,
  type DeviceCredentials,
  type HubTransport,
  type ProvisioningTransport,
} from '@plugboard/device';
import { issueCertificate } from '@plugboard/server';
import { eventually, startTestPlatform, type TestPlatform } from './harness.js';

const GROUP_KEY = 'dHJhbnNwb3J0Z3JvdXBrZXl0cmFuc3BvcnRncm91cDE=';
const INDIVIDUAL_KEY = 'aW5kaXZpZHVhbGtleWluZGl2aWR1YWxrZXkxMjM0NTY=';
const MODEL_ID = 'dtmi:com:example:Thermostat;1';

let platform: TestPlatform;
const devices: PnpDevice[] = [];

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
});
after(async () => {
  await Promise.all(devices.map((d) => d.close()));
  await platform?.dispose();
});

async function connectsAndSends(
  registrationId: string,
  credentials: DeviceCredentials,
  provisioningTransport: ProvisioningTransport,
  transport: HubTransport,
): Promise<void> {
  const device = new PnpDevice({
    idScope: platform.dps.idScope,
    registrationId,
    credentials,
    modelId: MODEL_ID,
    provisioningHost: platform.dps.hostName,
    provisioningTransport,
    transport,
    ca: readFileSync(String(process.env['NODE_EXTRA_CA_CERTS']), 'utf8'),
    assignmentStore: memoryAssignmentStore(),
  });
  devices.push(device);
  await device.start();
  assert.equal(platform.dps.getRegistration(registrationId).modelId, MODEL_ID);
  const sentAt = new Date();
  await device.sendTelemetry({ temperature: 21.5 }, { creationTime: sentAt });
  const hub = platform.hubs.find((h) => h.hostName === device.client.assignment?.assignedHub);
  assert.ok(hub, 'assigned to one of the hubs');
  const [record] = await eventually(async () => {
    const records = await hub.queryTelemetry({ deviceId: registrationId });
    return records.length > 0 ? records : undefined;
  });
  assert.equal(record?.systemProperties['dt-dataschema'], MODEL_ID, 'the model id announced to the hub');
  assert.equal(record?.creationTime, sentAt.toISOString());
}

describe('@plugboard/device over each transport and attestation', () => {
  const cases: [ProvisioningTransport, HubTransport][] = [
    ['mqtt', 'mqtt'],
    ['mqttWs', 'mqttWs'],
    ['https', 'mqtt'],
  ];
  for (const [dps, hub] of cases) {
    it(`[DPS ${dps}, hub ${hub}] a group-derived key registers, connects and sends`, async () => {
      await connectsAndSends(`sdk-${dps}-${hub}`, { groupKey: GROUP_KEY }, dps, hub);
    });
  }

  it('[DPS mqtt] an individual enrollment with its own key', async () => {
    await platform.dps.putIndividualEnrollment('sdk-individual', {
      attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: INDIVIDUAL_KEY, secondaryKey: INDIVIDUAL_KEY } },
    });
    await connectsAndSends('sdk-individual', { symmetricKey: INDIVIDUAL_KEY }, 'mqtt', 'mqtt');
  });

  it('[X.509] a device certificate signed by an enrolled CA (CN = registration id), over MQTT and HTTPS', async () => {
    const ca = await issueCertificate({ commonName: 'SDK Fleet CA', isCa: true, validDays: 30 });
    await platform.dps.putEnrollmentGroup('sdk-x509', {
      attestation: { type: 'x509', x509: { caCertificates: { primary: ca.certificatePem } } },
    });
    for (const dps of ['mqtt', 'https'] as const) {
      const registrationId = `sdk-x509-${dps}`;
      const leaf = await issueCertificate({
        commonName: registrationId,
        issuer: { certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem },
        extendedKeyUsage: 'clientAuth',
      });
      await connectsAndSends(
        registrationId,
        { x509: { cert: `${leaf.certificatePem}${ca.certificatePem}`, key: leaf.privateKeyPem } },
        dps,
        'mqtt',
      );
    }
  });

  it('[X.509] a self-signed certificate enrolled by thumbprint', async () => {
    const leaf = await issueCertificate({ commonName: 'sdk-x509-self', extendedKeyUsage: 'clientAuth' });
    await platform.dps.putIndividualEnrollment('sdk-x509-self', {
      attestation: { type: 'x509', x509: { clientCertificates: { primaryThumbprint: leaf.thumbprintSha1 } } },
    });
    await connectsAndSends(
      'sdk-x509-self',
      { x509: { cert: leaf.certificatePem, key: leaf.privateKeyPem } },
      'mqtt',
      'mqttWs',
    );
  });

  it("[DPS] a wrong key fails start() with DPS's 401, without retrying forever", async () => {
    const device = new PnpDevice({
      idScope: platform.dps.idScope,
      registrationId: 'sdk-wrong-key',
      credentials: { symmetricKey: INDIVIDUAL_KEY },
      modelId: MODEL_ID,
      provisioningHost: platform.dps.hostName,
      ca: readFileSync(String(process.env['NODE_EXTRA_CA_CERTS']), 'utf8'),
      assignmentStore: memoryAssignmentStore(),
    });
    devices.push(device);
    await assert.rejects(device.start(), (error: { code?: string; status?: number }) => {
      assert.equal(error.code, 'DEVICE_PROVISIONING_FAILED');
      assert.equal(error.status, 401);
      return true;
    });
    assert.equal(device.client.state, 'closed');
  });
});
