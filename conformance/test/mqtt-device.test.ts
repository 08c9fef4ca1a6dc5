/**
 * The official azure-iot-device + azure-iot-device-mqtt packages (Mqtt and MqttWs transports, SAS and
 * X.509) against a Plugboard hub, with azure-iothub as the service side. protocol.md §1, §2, §9.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import serviceSdk from 'azure-iothub';
import { issueCertificate } from '@plugboard/server';
import {
  assertStoredAsSent,
  eventually,
  hubRequest,
  startTestPlatform,
  withTimeout,
  type TestPlatform,
} from './harness.js';

const { Client, Message } = deviceSdk;
const { Mqtt, MqttWs } = mqttTransport;
const { Client: ServiceClient, Registry } = serviceSdk;

type Transport = typeof Mqtt | typeof MqttWs;
type DeviceClient = InstanceType<typeof Client>;

let platform: TestPlatform;

before(async () => {
  platform = await startTestPlatform();
});
after(async () => {
  await platform?.dispose();
});

function hub() {
  const h = platform.hubs[0];
  assert.ok(h);
  return h;
}

async function sasClient(deviceId: string, transport: Transport): Promise<DeviceClient> {
  if (!hub().has({ deviceId })) await hub().createIdentity({ deviceId });
  return Client.fromConnectionString(hub().deviceConnectionString({ deviceId }), transport);
}

async function x509Client(deviceId: string, transport: Transport): Promise<DeviceClient> {
  const cert = await issueCertificate({ commonName: deviceId, extendedKeyUsage: 'clientAuth' });
  await hub().createIdentity({
    deviceId,
    authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: cert.thumbprintSha1 } },
  });
  const client = Client.fromConnectionString(`HostName=${hub().hostName};DeviceId=${deviceId};x509=true`, transport);
  await client.setOptions({ cert: cert.certificatePem, key: cert.privateKeyPem });
  return client;
}

const variants: { name: string; transport: Transport; auth: 'sas' | 'x509' }[] = [
  { name: 'Mqtt + SAS', transport: Mqtt, auth: 'sas' },
  { name: 'MqttWs + SAS', transport: MqttWs, auth: 'sas' },
  { name: 'Mqtt + X.509', transport: Mqtt, auth: 'x509' },
  { name: 'MqttWs + X.509', transport: MqttWs, auth: 'x509' },
];

for (const variant of variants) {
  describe(`official device SDK, ${variant.name}`, () => {
    const deviceId = `dev-${variant.transport === Mqtt ? 'tls' : 'ws'}-${variant.auth}`;
    let client: DeviceClient;

    before(async () => {
      client =
        variant.auth === 'sas'
          ? await sasClient(deviceId, variant.transport)
          : await x509Client(deviceId, variant.transport);
      await client.setOptions({ modelId: 'dtmi:com:example:Thermostat;1' });
      await withTimeout(client.open(), 15_000, 'open');
    });
    after(async () => {
      await client?.close();
    });

    it('[§1.5] sendEvent stores properties, content type/encoding, $.sub, enqueued and creation time', async () => {
      const message = new Message(JSON.stringify({ temperature: 21.5 }));
      message.messageId = 'mid-1';
      message.correlationId = 'cid/1';
      message.contentType = 'application/json';
      message.contentEncoding = 'utf-8';
      message.properties.add('my prop', 'a&b=c');
      message.properties.add('$.sub', 'thermostat1');
      message.properties.add('iothub-creation-time-utc', '2021-04-21T11:30:16Z');
      const before = Date.now();
      await withTimeout(client.sendEvent(message), 10_000, 'sendEvent');
      const [record] = await hub().queryTelemetry({ deviceId });
      assertStoredAsSent(record, deviceId, before);
      assert.equal(record?.properties['my prop'], 'a&b=c');
      assert.equal(record?.systemProperties['dt-dataschema'], 'dtmi:com:example:Thermostat;1');
    });

    it('[§1.7] getTwin, reported patch and desired patch delivery', async () => {
      const twin = await withTimeout(client.getTwin(), 10_000, 'getTwin');
      assert.equal(twin.properties.desired.$version, 1);
      await new Promise<void>((resolve, reject) =>
        twin.properties.reported.update({ serialNumber: 'abc', nested: { a: 1 } }, (err?: Error) =>
          err ? reject(err) : resolve(),
        ),
      );
      const registry = Registry.fromConnectionString(hub().serviceConnectionString());
      const serviceTwin = (await registry.getTwin(deviceId)).responseBody;
      assert.equal(serviceTwin.properties.reported['serialNumber'], 'abc');
      assert.equal(serviceTwin.properties.reported.$version, 2);
      assert.equal(serviceTwin.modelId, 'dtmi:com:example:Thermostat;1');

      const desired = new Promise<Record<string, unknown>>((resolve) =>
        twin.on('properties.desired', (delta: Record<string, unknown>) => {
          if (delta['targetTemperature'] !== undefined) resolve(delta);
        }),
      );
      // Give the SDK a moment to subscribe to desired patches before the service writes.
      await eventually(() => (hub().isConnected({ deviceId }) ? true : undefined));
      await eventually(async () => {
        const t = (await registry.getTwin(deviceId)).responseBody;
        return t ? true : undefined;
      });
      await new Promise((r) => setTimeout(r, 200));
      await registry.updateTwin(deviceId, { properties: { desired: { targetTemperature: 25 } } }, '*');
      const delta = await withTimeout(desired, 10_000, 'desired patch');
      assert.equal(delta['targetTemperature'], 25);
      assert.equal(delta['$version'], 2);
    });

    it('[§1.6] a C2D message sent while the device is offline is delivered after it reconnects', async () => {
      type Received = { data: Buffer; messageId: string; properties: { getValue(key: string): unknown } };
      const received: Received[] = [];
      client.on('message', (m: Received) => received.push(m));
      await eventually(
        () =>
          hub()
            .getSession(deviceId)
            ?.some((s) => s.topic.includes('devicebound'))
            ? true
            : undefined,
        10_000,
        'the C2D subscription',
      );
      await client.close();
      await eventually(() => (hub().isConnected({ deviceId }) ? undefined : true), 10_000, 'the disconnect');
      const sent = await hubRequest(platform, hub(), {
        method: 'POST',
        path: `/plugboard/devices/${deviceId}/messages/deviceBound`,
        body: Buffer.from(`offline ${variant.name}`),
        headers: { 'content-type': 'application/octet-stream', 'iothub-messageid': 'c2d-1', 'iothub-app-k': 'v' },
      });
      assert.equal(sent.status, 201, sent.text);
      await withTimeout(client.open(), 15_000, 'reopen');
      const message = await eventually(() => received[0], 10_000, 'the C2D message');
      assert.equal(message.data.toString(), `offline ${variant.name}`);
      assert.equal(message.messageId, 'c2d-1');
      assert.equal(message.properties.getValue('k'), 'v');
      await eventually(() => (hub().c2dQueueLength({ deviceId }) === 0 ? true : undefined), 10_000, 'completion');
    });

    it('[§1.8] a direct method invoked through azure-iothub reaches the handler and returns its status', async () => {
      client.onDeviceMethod('reboot', (request, response) => {
        void response.send(201, { echoed: request.payload, name: request.methodName });
      });
      const service = ServiceClient.fromConnectionString(hub().serviceConnectionString());
      const result = await eventually(
        async () => {
          try {
            return await service.invokeDeviceMethod(deviceId, {
              methodName: 'reboot',
              payload: { delay: 5 },
              responseTimeoutInSeconds: 10,
            });
          } catch {
            return undefined;
          }
        },
        10_000,
        'method invocation',
      );
      assert.equal(result.result.status, 201);
      assert.deepEqual(result.result.payload, { echoed: { delay: 5 }, name: 'reboot' });
    });
  });
}
