/**
 * The Azure SDK for Embedded C (azure-sdk-for-c 1.5.0, under the FreeRTOS and Azure RTOS middleware and
 * the Espressif and Arduino libraries) as Plugboard sees it on the wire: its exact MQTT user name
 * (`api-version=2020-09-30&DeviceClientType=c%2F1.5.0&model-id=…`), its C2D filter
 * `devices/+/messages/devicebound/#` (`AZ_IOT_HUB_CLIENT_C2D_SUBSCRIBE_TOPIC`), its property bags
 * (`$` not encoded, only `/ % # &` percent-encoded), twin and method topics with its `$rid` values.
 * A raw MQTT client stands in for the C SDK, which cannot run under Node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Packet } from 'mqtt-packet';
import { deriveDeviceKey } from '@plugboard/protocol';
import type { Hub } from '@plugboard/server';
import {
  RawMqtt,
  deviceToken,
  dpsToken,
  hubRequest,
  isPacket,
  onlyHub,
  rawMqttOptions,
  startTestPlatform,
  type TestPlatform,
} from './harness.js';

const MODEL_ID = 'dtmi:com:example:Thermostat;1';
const GROUP_KEY = 'bWN1ZmxlZXRrZXltY3VmbGVldGtleW1jdWZsZWV0a2U=';

let platform: TestPlatform;
let hub: Hub;

before(async () => {
  platform = await startTestPlatform();
  hub = onlyHub(platform);
  for (const deviceId of ['mcu-1', 'mcu-2', 'mcu-edge']) await hub.createIdentity({ deviceId });
  await hub.createIdentity({ deviceId: 'mcu-edge', moduleId: 'sensor' });
  await platform.dps.putEnrollmentGroup('mcu-fleet', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
});
after(async () => {
  await platform?.dispose();
});

/** The user name `az_iot_hub_client_get_user_name` builds for 1.5.0 with a model id. */
function embeddedUsername(deviceId: string, moduleId?: string): string {
  const identity = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`;
  return `${hub.hostName}/${identity}/?api-version=2020-09-30&DeviceClientType=c%2F1.5.0&model-id=${encodeURIComponent(MODEL_ID)}`;
}

async function connectEmbedded(deviceId: string, moduleId?: string): Promise<RawMqtt> {
  const client = await RawMqtt.connect(rawMqttOptions(platform, hub));
  const auth = hub.getIdentity(moduleId === undefined ? { deviceId } : { deviceId, moduleId }).record.authentication;
  const password =
    moduleId === undefined
      ? await deviceToken(hub, deviceId)
      : await (
          await import('@plugboard/protocol')
        ).createSharedAccessSignature({
          resource: `${hub.hostName}/devices/${deviceId}/modules/${moduleId}`,
          key: auth.type === 'sas' ? auth.symmetricKey.primaryKey : '',
          expiry: Math.floor(Date.now() / 1000) + 3600,
        });
  const connack = await client.handshake({
    clientId: moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`,
    username: embeddedUsername(deviceId, moduleId),
    password,
    clean: false,
    keepalive: 240,
  });
  assert.equal(connack.returnCode, 0, 'CONNACK accepted');
  return client;
}

async function subscribe(client: RawMqtt, topic: string, messageId: number): Promise<number[]> {
  client.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos: 1 }] });
  const suback = await client.next(
    (p): p is Extract<Packet, { cmd: 'suback' }> => p.cmd === 'suback' && p.messageId === messageId,
  );
  return suback.granted as number[];
}

/** Every packet sent before this returns has been processed by the server (PINGREQ is answered in order). */
async function barrier(client: RawMqtt): Promise<void> {
  client.send({ cmd: 'pingreq' });
  await client.next(isPacket('pingresp'));
}

function sendC2d(deviceId: string, body: string) {
  return hubRequest(platform, hub, {
    method: 'POST',
    path: `/plugboard/devices/${deviceId}/messages/deviceBound`,
    body: Buffer.from(body),
    headers: { 'content-type': 'application/octet-stream', 'iothub-messageid': `${deviceId}-${body}` },
  });
}

describe('[Embedded C] the SDK for microcontrollers against Plugboard', () => {
  it("[AZ_IOT_HUB_CLIENT_C2D_SUBSCRIBE_TOPIC] devices/+/messages/devicebound/# is granted QoS 1 and delivers only this device's C2D", async () => {
    const client = await connectEmbedded('mcu-1');
    try {
      assert.deepEqual(await subscribe(client, 'devices/+/messages/devicebound/#', 1), [1]);
      assert.equal((await sendC2d('mcu-2', 'not-for-you')).status, 201);
      assert.equal((await sendC2d('mcu-1', 'hello-mcu')).status, 201);
      const delivery = await client.next(isPacket('publish'));
      assert.match(delivery.topic, /^devices\/mcu-1\/messages\/devicebound\//);
      assert.equal(Buffer.from(delivery.payload).toString(), 'hello-mcu');
      assert.equal(delivery.qos, 1);
      client.send({ cmd: 'puback', messageId: delivery.messageId ?? 0 });
      await barrier(client);
      assert.equal(
        client.packets.filter((p) => p.cmd === 'publish').length,
        0,
        "the other device's message never arrived here",
      );
      assert.equal(hub.c2dQueueLength({ deviceId: 'mcu-2' }), 1, 'it waits in its own queue');
      assert.equal(hub.c2dQueueLength({ deviceId: 'mcu-1' }), 0, 'the PUBACK completed ours');
    } finally {
      client.end();
    }
  });

  it('[MQTT-3.1.2-4] the + subscription survives in the persistent session and delivers what was queued offline', async () => {
    assert.equal((await sendC2d('mcu-1', 'while-offline')).status, 201);
    const client = await connectEmbedded('mcu-1');
    try {
      const delivery = await client.next(isPacket('publish'));
      assert.equal(Buffer.from(delivery.payload).toString(), 'while-offline');
      client.send({ cmd: 'puback', messageId: delivery.messageId ?? 0 });
      await barrier(client);
    } finally {
      client.end();
    }
  });

  it('other wildcard and foreign filters are still refused with 0x80; a module may not use the + C2D filter', async () => {
    const client = await connectEmbedded('mcu-1');
    let id = 10;
    try {
      for (const filter of [
        'devices/+/messages/events/#',
        'devices/#',
        '#',
        '+/+/messages/devicebound/#',
        'devices/mcu-2/messages/devicebound/#',
        'devices/+/messages/devicebound/+',
        'devices/+/modules/+/inputs/#',
        '$iothub/methods/#',
        '$iothub/twin/#',
      ]) {
        assert.deepEqual(await subscribe(client, filter, ++id), [0x80], filter);
      }
      assert.equal(client.closed, false);
    } finally {
      client.end();
    }
    const module = await connectEmbedded('mcu-edge', 'sensor');
    try {
      assert.deepEqual(await subscribe(module, 'devices/+/messages/devicebound/#', 1), [0x80]);
    } finally {
      module.end();
    }
  });

  it('telemetry with the C SDK property bag ($ unencoded), twin GET/PATCH and a method response with its $rid values', async () => {
    const client = await connectEmbedded('mcu-2');
    try {
      assert.deepEqual(await subscribe(client, '$iothub/twin/res/#', 1), [1]);
      assert.deepEqual(await subscribe(client, '$iothub/methods/POST/#', 2), [1]);
      client.send({
        cmd: 'publish',
        topic:
          'devices/mcu-2/messages/events/$.ct=application%2Fjson&$.ce=utf-8&$.sub=thermostat1&iothub-creation-time-utc=2026-12-01T10:00:00Z',
        payload: Buffer.from('{"temperature":21.5}'),
        qos: 1,
        messageId: 7,
        retain: false,
        dup: false,
      });
      assert.equal((await client.next(isPacket('puback'))).messageId, 7);
      const [stored] = await hub.queryTelemetry({ deviceId: 'mcu-2' });
      assert.equal(stored?.contentType, 'application/json');
      assert.equal(stored?.contentEncoding, 'utf-8');
      assert.equal(stored?.component, 'thermostat1');
      assert.equal(stored?.creationTime, '2026-12-01T10:00:00Z');
      assert.equal(stored?.systemProperties['dt-dataschema'], MODEL_ID, 'the model id of the user name');

      client.send({
        cmd: 'publish',
        topic: '$iothub/twin/GET/?$rid=get_twin',
        payload: Buffer.alloc(0),
        qos: 0,
        retain: false,
        dup: false,
      });
      const twin = await client.next(isPacket('publish'));
      assert.equal(twin.topic, '$iothub/twin/res/200/?$rid=get_twin');
      client.send({
        cmd: 'publish',
        topic: '$iothub/twin/PATCH/properties/reported/?$rid=reported_prop',
        payload: Buffer.from('{"thermostat1":{"__t":"c","maxTempSinceLastReboot":21.5}}'),
        qos: 0,
        retain: false,
        dup: false,
      });
      const patched = await client.next(isPacket('publish'));
      assert.match(patched.topic, /^\$iothub\/twin\/res\/204\/\?\$rid=reported_prop&\$version=\d+$/);

      const call = hubRequest(platform, hub, {
        method: 'POST',
        path: '/twins/mcu-2/methods',
        body: {
          methodName: 'thermostat1*getMaxMinReport',
          payload: '2026-12-01T00:00:00Z',
          responseTimeoutInSeconds: 10,
        },
      });
      const request = await client.next(isPacket('publish'));
      const rid = /\?\$rid=(.+)$/.exec(request.topic)?.[1] ?? '';
      assert.match(request.topic, /^\$iothub\/methods\/POST\/thermostat1\*getMaxMinReport\/\?\$rid=/);
      client.send({
        cmd: 'publish',
        topic: `$iothub/methods/res/200/?$rid=${rid}`,
        payload: Buffer.from('{"maxTemp":21.5}'),
        qos: 0,
        retain: false,
        dup: false,
      });
      const answer = await call;
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.body, { status: 200, payload: { maxTemp: 21.5 } });
    } finally {
      client.end();
    }
  });

  it('[az_iot_provisioning_client] DPS over MQTT as the C SDK does it: its user name, $rid=1 on every request, then the assigned hub', async () => {
    const registrationId = 'mcu-provisioned';
    const key = await deriveDeviceKey(GROUP_KEY, registrationId);
    const client = await RawMqtt.connect({
      host: platform.dpsEndpoint.address,
      port: platform.dpsEndpoint.mqttPort,
      ca: platform.tls.caCertificatePem,
    });
    let assigned: { assignedHub: string; deviceId: string } | undefined;
    try {
      const connack = await client.handshake({
        clientId: registrationId,
        // az_iot_provisioning_client_get_user_name with a user agent.
        username: `${platform.dps.idScope}/registrations/${registrationId}/api-version=2019-03-31&ClientVersion=DeviceClientType%3Dc%252F1.5.0`,
        password: await dpsToken(platform.dps.idScope, registrationId, key),
        clean: true,
      });
      assert.equal(connack.returnCode, 0);
      assert.deepEqual(await subscribe(client, '$dps/registrations/res/#', 1), [1]);
      client.send({
        cmd: 'publish',
        topic: '$dps/registrations/PUT/iotdps-register/?$rid=1',
        payload: Buffer.from(JSON.stringify({ registrationId, payload: { modelId: MODEL_ID } })),
        qos: 1,
        messageId: 2,
        retain: false,
        dup: false,
      });
      let response = await client.next(isPacket('publish'));
      assert.match(response.topic, /^\$dps\/registrations\/res\/202\/\?\$rid=1&retry-after=\d+$/);
      const { operationId } = JSON.parse(Buffer.from(response.payload).toString()) as { operationId: string };
      for (let poll = 0; poll < 5; poll++) {
        client.send({
          cmd: 'publish',
          topic: `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1&operationId=${operationId}`,
          payload: Buffer.alloc(0),
          qos: 1,
          messageId: 3 + poll,
          retain: false,
          dup: false,
        });
        response = await client.next(isPacket('publish'));
        if (response.topic.startsWith('$dps/registrations/res/200/')) break;
      }
      assert.match(response.topic, /^\$dps\/registrations\/res\/200\/\?\$rid=1/);
      const status = JSON.parse(Buffer.from(response.payload).toString()) as {
        status: string;
        registrationState: { assignedHub: string; deviceId: string };
      };
      assert.equal(status.status, 'assigned');
      assigned = status.registrationState;
    } finally {
      client.end();
    }
    assert.equal(assigned?.assignedHub, hub.hostName);
    assert.equal(platform.dps.getRegistration(registrationId).modelId, MODEL_ID);
    const device = await connectEmbedded(assigned?.deviceId ?? '');
    device.end();
  });
});
