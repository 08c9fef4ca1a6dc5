/**
 * The official provisioning SDK (azure-iot-provisioning-device with the -mqtt, -http and -amqp transports,
 * azure-iot-security-symmetric-key and azure-iot-security-x509) registers with Plugboard's DPS, then the
 * official device SDK connects to the assigned hub with the same credentials (over AMQP after an AMQP
 * registration, MQTT otherwise). protocol.md §3.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import amqpTransport from 'azure-iot-device-amqp';
import mqttTransport from 'azure-iot-device-mqtt';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningAmqp from 'azure-iot-provisioning-device-amqp';
import provisioningHttp from 'azure-iot-provisioning-device-http';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetricKeySecurity from 'azure-iot-security-symmetric-key';
import x509Security from 'azure-iot-security-x509';
import { deriveDeviceKey } from '@plugboard/protocol';
import { issueCertificate, type Hub } from '@plugboard/server';
import { startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;
const { Amqp } = amqpTransport;
const { Amqp: ProvisioningAmqp, AmqpWs: ProvisioningAmqpWs } = provisioningAmqp;
const { ProvisioningDeviceClient } = provisioningSdk;
const { Http: ProvisioningHttp } = provisioningHttp;
const { Mqtt: ProvisioningMqtt, MqttWs: ProvisioningMqttWs } = provisioningMqtt;
const { SymmetricKeySecurityClient } = symmetricKeySecurity;
const { X509Security } = x509Security;

type RegistrationResult = { assignedHub: string; deviceId: string; status?: string; substatus?: string };

let platform: TestPlatform;
const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';
const SECONDARY = 'c2Vjb25kYXJ5a2V5c2Vjb25kYXJ5a2V5MTIzNDU2Nzg=';
const MODEL_ID = 'dtmi:com:example:Thermostat;1';

before(async () => {
  platform = await startTestPlatform({ hubs: 2 });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: SECONDARY } },
  });
});
after(async () => {
  await platform?.dispose();
});

function hubByHost(hostName: string): Hub {
  const hub = platform.hubs.find((h) => h.hostName === hostName);
  assert.ok(hub, `assignedHub ${hostName} is one of the platform's hubs`);
  return hub;
}

type Transport = 'mqtt' | 'mqtt-ws' | 'http' | 'amqp' | 'amqp-ws';

function provisioningTransport(kind: Transport) {
  switch (kind) {
    case 'mqtt':
      return new ProvisioningMqtt();
    case 'mqtt-ws':
      return new ProvisioningMqttWs();
    case 'http':
      return new ProvisioningHttp();
    case 'amqp':
      return new ProvisioningAmqp();
    case 'amqp-ws':
      return new ProvisioningAmqpWs();
  }
}

async function register(
  kind: Transport,
  security: InstanceType<typeof SymmetricKeySecurityClient> | InstanceType<typeof X509Security>,
  payload: unknown,
): Promise<RegistrationResult> {
  const client = ProvisioningDeviceClient.create(
    platform.dps.hostName,
    platform.dps.idScope,
    provisioningTransport(kind),
    // Two copies of azure-iot-common make the SDK's own types disagree; the object is what it expects.
    security as never,
  );
  client.setProvisioningPayload(payload as never);
  return (await withTimeout(client.register() as Promise<unknown>, 20_000, 'register')) as RegistrationResult;
}

/**
 * Connects to the assigned hub with the official device SDK (over AMQP after an AMQP registration, else
 * MQTT), sends one message, and checks it is stored.
 */
async function sendTelemetry(
  kind: Transport,
  result: RegistrationResult,
  credentials: { key: string } | { cert: string; privateKey: string },
): Promise<void> {
  const hub = hubByHost(result.assignedHub);
  const transport = kind.startsWith('amqp') ? Amqp : Mqtt;
  const client =
    'key' in credentials
      ? Client.fromConnectionString(
          `HostName=${result.assignedHub};DeviceId=${result.deviceId};SharedAccessKey=${credentials.key}`,
          transport,
        )
      : Client.fromConnectionString(`HostName=${result.assignedHub};DeviceId=${result.deviceId};x509=true`, transport);
  if (!('key' in credentials)) await client.setOptions({ cert: credentials.cert, key: credentials.privateKey });
  await client.setOptions({ modelId: MODEL_ID });
  await withTimeout(client.open(), 15_000, 'open on the assigned hub');
  try {
    await withTimeout(client.sendEvent(new Message('{"temperature":20}')), 10_000, 'sendEvent');
    const [stored] = await hub.queryTelemetry({ deviceId: result.deviceId });
    assert.ok(stored, 'the telemetry is stored in the assigned hub');
    assert.equal(Buffer.from(stored.body).toString(), '{"temperature":20}');
  } finally {
    await client.close();
  }
}

for (const kind of ['mqtt', 'mqtt-ws', 'http', 'amqp', 'amqp-ws'] as const) {
  describe(`official provisioning SDK over ${kind}`, () => {
    it(`[§3][§2.6] symmetric-key enrollment group: derived key registers with {modelId}; the device then sends telemetry`, async () => {
      const registrationId = `sym-group-${kind}`;
      const deviceKey = await deriveDeviceKey(GROUP_KEY, registrationId);
      const result = await register(kind, new SymmetricKeySecurityClient(registrationId, deviceKey), {
        modelId: MODEL_ID,
      });
      assert.equal(result.deviceId, registrationId);
      const record = platform.dps.getRegistration(registrationId);
      assert.equal(record.modelId, MODEL_ID);
      assert.equal(record.substatus, 'initialAssignment');
      assert.deepEqual(record.enrollment, { kind: 'group', enrollmentGroupId: 'SAS-IoT-Devices' });
      await sendTelemetry(kind, result, { key: deviceKey });
    });

    it(`[§3][§7.3] individual symmetric-key enrollment (legacy iotcModelId payload)`, async () => {
      const registrationId = `sym-individual-${kind}`;
      const key = 'aW5kaXZpZHVhbGtleWluZGl2aWR1YWxrZXkxMjM0NTY=';
      await platform.dps.putIndividualEnrollment(registrationId, {
        attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: key, secondaryKey: SECONDARY } },
      });
      const result = await register(kind, new SymmetricKeySecurityClient(registrationId, key), {
        iotcModelId: MODEL_ID,
      });
      assert.equal(platform.dps.getRegistration(registrationId).modelId, MODEL_ID);
      assert.deepEqual(platform.dps.getRegistration(registrationId).enrollment, { kind: 'individual' });
      await sendTelemetry(kind, result, { key });
    });

    it(`[§3] X.509 enrollment group: a device certificate signed by the enrolled CA (CN = registration id)`, async () => {
      const registrationId = `x509-group-${kind}`;
      const ca = await issueCertificate({ commonName: `Fleet CA ${kind}`, isCa: true, validDays: 30 });
      await platform.dps.putEnrollmentGroup(`x509-${kind}`, {
        attestation: { type: 'x509', x509: { caCertificates: { primary: ca.certificatePem } } },
      });
      const device = await issueCertificate({
        commonName: registrationId,
        issuer: { certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem },
        extendedKeyUsage: 'clientAuth',
        keyAlgorithm: 'rsa',
      });
      const result = await register(
        kind,
        new X509Security(registrationId, { cert: device.certificatePem, key: device.privateKeyPem }),
        { modelId: MODEL_ID },
      );
      assert.equal(result.deviceId, registrationId);
      await sendTelemetry(kind, result, { cert: device.certificatePem, privateKey: device.privateKeyPem });
    });

    it(`[§3] individual X.509 enrollment: a self-signed device certificate by thumbprint`, async () => {
      const registrationId = `x509-individual-${kind}`;
      const device = await issueCertificate({ commonName: registrationId, extendedKeyUsage: 'clientAuth' });
      await platform.dps.putIndividualEnrollment(registrationId, {
        attestation: { type: 'x509', x509: { clientCertificates: { primaryThumbprint: device.thumbprintSha1 } } },
      });
      const result = await register(
        kind,
        new X509Security(registrationId, { cert: device.certificatePem, key: device.privateKeyPem }),
        { modelId: MODEL_ID },
      );
      await sendTelemetry(kind, result, { cert: device.certificatePem, privateKey: device.privateKeyPem });
    });
  });
}
