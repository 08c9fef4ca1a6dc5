/**
 * Wire fidelity of `@plugboard/device`: the same Plug and Play operations done once with the official
 * Node SDKs (azure-iot-device + -mqtt, azure-iot-provisioning-device + -mqtt/-http,
 * azure-iot-security-symmetric-key) and once with our SDK, against capture servers (capture-server.ts)
 * that answer like the hub and DPS and record every packet and request. For each operation the test
 * compares what the two SDKs put on the wire — CONNECT (protocol level, clean session, keep-alive, client
 * id, user-name grammar, SAS `sr`), the SUBSCRIBE filters and QoS, telemetry topics and property bags,
 * twin GET and reported PATCH topics and bodies, the writable-property acknowledgement, the method
 * response, and DPS registration over MQTT and HTTPS — so code written with our SDK behaves on the wire
 * as code written with the official one, and works against real Azure IoT Central (protocol.md §1, §3, §6).
 * Where the two differ in a way the service cannot notice (DeviceClientType, ClientVersion, `__t` in a
 * component acknowledgement, UNSUBSCRIBE before leaving DPS), the test says so instead of failing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningHttp from 'azure-iot-provisioning-device-http';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetricKeySecurity from 'azure-iot-security-symmetric-key';
import type { IPublishPacket, ISubscribePacket, Packet } from 'mqtt-packet';
import { PnpDevice, memoryAssignmentStore, registerOverHttps, registerOverMqtt } from '@plugboard/device';
import type { Assignment, RegistrationRequest } from '@plugboard/device';
import {
  createSharedAccessSignature,
  decodeD2cProperties,
  decodePropertyBag,
  parseDpsMqttUsername,
  parseMqttUsername,
  parseSharedAccessSignature,
} from '@plugboard/protocol';
import {
  HttpsCaptureServer,
  MqttCaptureServer,
  captureTls,
  isPublishTo,
  type CaptureTls,
  type CapturedMqtt,
  type CapturedRequest,
  type MqttScript,
  type ScriptedAnswer,
} from './capture-server.js';
import { isPacket, randomLoopbackPrefix, withTimeout } from './harness.js';

const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;
const { ProvisioningDeviceClient } = provisioningSdk;
const { Mqtt: ProvisioningMqtt } = provisioningMqtt;
const { Http: ProvisioningHttp } = provisioningHttp;
const { SymmetricKeySecurityClient } = symmetricKeySecurity;

const PREFIX = randomLoopbackPrefix();
/** The hub's and DPS's capture addresses: the official SDKs dial 8883 (MQTT) and 443 (HTTPS) on them. */
const HUB = `${PREFIX}.9`;
const DPS = `${PREFIX}.10`;
const ID_SCOPE = '0ne00ABCDEF';
const DEVICE_ID = 'dev1';
const DEVICE_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
const MODEL_ID = 'dtmi:com:example:TemperatureController;2';
/** The creation time both SDKs stamp (ours writes `Date#toISOString()`). */
const CREATED = '2021-04-21T11:30:16.000Z';
const OPERATION_ID = '4.a.b';
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

const TWIN = { desired: { targetTemperature: 22, $version: 3 }, reported: { $version: 1 } };
const DESIRED_PATCH = { thermostat1: { __t: 'c', targetTemperature: 25 }, $version: 4 };
const REPORTED = { thermostat1: { __t: 'c', maxTempSinceLastReboot: 3 } };
const METHOD_REQUEST = '2021-01-01T00:00:00Z';
const ASSIGNED = {
  operationId: OPERATION_ID,
  status: 'assigned',
  registrationState: {
    registrationId: DEVICE_ID,
    createdDateTimeUtc: '2024-05-01T10:00:00.1234567Z',
    assignedHub: HUB,
    deviceId: DEVICE_ID,
    status: 'assigned',
    substatus: 'initialAssignment',
    lastUpdatedDateTimeUtc: '2024-05-01T10:00:01.2345678Z',
    etag: 'IjA4MDUwMTJiLTAwMDAtMDcwMC0wMDAwLTYyODJhOWVjMDAwMCI=',
  },
};

const TWIN_GET = /^\$iothub\/twin\/GET\/\?/;
const TWIN_PATCH = /^\$iothub\/twin\/PATCH\/properties\/reported\/\?/;
const METHOD_RESPONSE = /^\$iothub\/methods\/res\//;
const TELEMETRY = /^devices\/[^/]+\/messages\/events\//;
const DPS_REGISTER = /^\$dps\/registrations\/PUT\/iotdps-register\/\?/;
const DPS_POLL = /^\$dps\/registrations\/GET\/iotdps-get-operationstatus\/\?/;

let tls: CaptureTls;
let hub: MqttCaptureServer;
let dps: MqttCaptureServer;
let dpsHttps: HttpsCaptureServer;
/** Everything still open, closed in `after` (newest first). */
const cleanups: (() => Promise<unknown>)[] = [];

/** The `$rid` (and other fields) of a topic's query, lenient so the script answers whatever the SDK sends. */
function topicQuery(topic: string): URLSearchParams {
  const at = topic.indexOf('/?');
  return new URLSearchParams(at < 0 ? '' : topic.slice(at + 2));
}

/** The hub: twin GET → the document, reported PATCH → 204 with the next `$version`. */
const hubScript: MqttScript = (connection, packet) => {
  if (packet.cmd !== 'publish') return;
  const rid = topicQuery(packet.topic).get('$rid');
  if (TWIN_GET.test(packet.topic)) connection.publish(`$iothub/twin/res/200/?$rid=${rid}`, JSON.stringify(TWIN));
  if (TWIN_PATCH.test(packet.topic)) {
    const version = 1 + connection.packets.filter(isPublishTo(TWIN_PATCH)).length;
    connection.publish(`$iothub/twin/res/204/?$rid=${rid}&$version=${version}`, '');
  }
};

/** DPS over MQTT: register → 202 assigning with `retry-after=1`, operation status → 200 assigned. */
const dpsScript: MqttScript = (connection, packet) => {
  if (packet.cmd !== 'publish') return;
  const rid = topicQuery(packet.topic).get('$rid');
  if (DPS_REGISTER.test(packet.topic)) {
    connection.publish(
      `$dps/registrations/res/202/?$rid=${rid}&retry-after=1`,
      JSON.stringify({ operationId: OPERATION_ID, status: 'assigning' }),
    );
  }
  if (DPS_POLL.test(packet.topic))
    connection.publish(`$dps/registrations/res/200/?$rid=${rid}`, JSON.stringify(ASSIGNED));
};

/** DPS over HTTPS: PUT register → 202 assigning with `retry-after: 1`, GET operation → 200 assigned. */
function dpsHttpsScript(request: CapturedRequest): ScriptedAnswer {
  const json = { 'content-type': 'application/json; charset=utf-8' };
  if (request.method === 'PUT') {
    return {
      status: 202,
      headers: { ...json, 'retry-after': '1' },
      body: JSON.stringify({ operationId: OPERATION_ID, status: 'assigning' }),
    };
  }
  return { status: 200, headers: json, body: JSON.stringify(ASSIGNED) };
}

before(async () => {
  tls = await captureTls([HUB, DPS]);
  hub = await MqttCaptureServer.listen({ host: HUB, port: 8883, tls, script: hubScript });
  cleanups.push(() => hub.close());
  dps = await MqttCaptureServer.listen({ host: DPS, port: 8883, tls, script: dpsScript });
  cleanups.push(() => dps.close());
  dpsHttps = await HttpsCaptureServer.listen({ host: DPS, port: 443, tls, script: dpsHttpsScript });
  cleanups.push(() => dpsHttps.close());
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

// ---- helpers over a captured connection ----

function publishes(connection: CapturedMqtt, topic: RegExp): IPublishPacket[] {
  return connection.packets.filter(isPublishTo(topic));
}

function onlyPublish(connection: CapturedMqtt, topic: RegExp, who: string): IPublishPacket {
  const found = publishes(connection, topic);
  assert.equal(found.length, 1, `${who}: one PUBLISH to ${String(topic)}`);
  return found[0] as IPublishPacket;
}

/** The filters of each SUBSCRIBE packet, in order. */
function subscribeFilters(connection: CapturedMqtt): { topic: string; qos: number }[][] {
  return connection.packets
    .filter((p): p is ISubscribePacket => p.cmd === 'subscribe')
    .map((p) => p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos })));
}

function subscribedTo(filter: string): (p: Packet) => p is ISubscribePacket {
  return (p: Packet): p is ISubscribePacket => p.cmd === 'subscribe' && p.subscriptions.some((s) => s.topic === filter);
}

function json(packet: IPublishPacket): unknown {
  return JSON.parse(Buffer.from(packet.payload).toString('utf8'));
}

function text(packet: IPublishPacket): string {
  return Buffer.from(packet.payload).toString('utf8');
}

/** The CONNECT fields every client sets the same way. */
function connectShape(connection: CapturedMqtt): Record<string, unknown> {
  const { protocolId, protocolVersion, clean, keepalive, clientId, will } = connection.connect;
  return { protocolId, protocolVersion, clean, keepalive, clientId, will };
}

function password(connection: CapturedMqtt): string {
  const value = connection.connect.password;
  assert.ok(value !== undefined, 'the CONNECT carries a password');
  return Buffer.from(value).toString('utf8');
}

/** Re-signs `token`'s `sr` and `se` with the device key: equal signatures mean the same string-to-sign. */
async function assertSignedWithDeviceKey(token: string, resource: string, encodeResource: boolean): Promise<void> {
  const sas = parseSharedAccessSignature(token);
  const expected = parseSharedAccessSignature(
    await createSharedAccessSignature({
      resource,
      key: DEVICE_KEY,
      expiry: sas.expiry,
      ...(sas.keyName === undefined ? {} : { keyName: sas.keyName }),
      encodeResource,
    }),
  );
  assert.equal(sas.signature, expected.signature, `${token} is signed over its sr and se with the device key`);
}

/** The field names of a SAS token, in order (Node writes `sr, sig, [skn,] se`). */
function sasFields(token: string): string[] {
  return token
    .slice('SharedAccessSignature '.length)
    .split('&')
    .map((field) => field.slice(0, field.indexOf('=')));
}

/** Keys of a decoded property bag, in order. */
function bagKeys(topic: string): string[] {
  return decodePropertyBag(topic.replace(TELEMETRY, '')).map(([key]) => key);
}

/**
 * What the cloud does after the device set up its twin: a desired patch for `thermostat1` (once the
 * desired filter is subscribed), then a component command (once methods are subscribed); resolves once
 * the device answered each.
 */
async function driveDesiredAndMethod(connection: CapturedMqtt): Promise<void> {
  await connection.waitFor(subscribedTo('$iothub/twin/PATCH/properties/desired/#'), 'the desired-properties SUBSCRIBE');
  const beforeAck = connection.packets.length;
  connection.publish('$iothub/twin/PATCH/properties/desired/?$version=4', JSON.stringify(DESIRED_PATCH));
  await connection.waitFor(isPublishTo(TWIN_PATCH), 'the writable-property acknowledgement', beforeAck);
  await connection.waitFor(subscribedTo('$iothub/methods/POST/#'), 'the methods SUBSCRIBE');
  const beforeResponse = connection.packets.length;
  connection.publish('$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=1', JSON.stringify(METHOD_REQUEST));
  await connection.waitFor(isPublishTo(METHOD_RESPONSE), 'the method response', beforeResponse);
}

/** The official SDK, as the Node Plug and Play temperature-controller sample uses it. */
async function officialDevice(): Promise<CapturedMqtt> {
  const client = Client.fromConnectionString(
    `HostName=${HUB};DeviceId=${DEVICE_ID};SharedAccessKey=${DEVICE_KEY}`,
    Mqtt,
  );
  cleanups.push(() => client.close());
  await client.setOptions({ modelId: MODEL_ID });
  // C2D (IoT Central's offline commands): our device always listens, so the official one does too.
  client.on('message', () => undefined);
  await withTimeout(client.open(), 15_000, 'official open');
  const connection = await hub.connection(0, 'the official SDK to connect');
  client.onDeviceMethod('thermostat1*getMaxMinReport', (request, response) => {
    response.send(200, { maxTemp: 30, minTemp: 20, startTime: request.payload as unknown }, () => undefined);
  });
  const twin = await withTimeout(client.getTwin(), 15_000, 'official getTwin');
  // The sample's desiredPropertyPatchListener: one ack per component property, without `__t`.
  twin.on('properties.desired', (delta: Record<string, unknown>) => {
    const component = delta['thermostat1'];
    if (typeof component !== 'object' || component === null) return;
    const acks: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(component)) {
      if (name === '__t' || name === '$version') continue;
      acks[name] = { value, ac: 200, ad: 'completed', av: delta['$version'] };
    }
    twin.properties.reported.update({ thermostat1: acks }, () => undefined);
  });
  const message = new Message(JSON.stringify({ temperature: 21.5 }));
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  message.properties.add('$.sub', 'thermostat1');
  message.properties.add('iothub-creation-time-utc', CREATED);
  await withTimeout(client.sendEvent(message), 15_000, 'official sendEvent');
  await withTimeout(
    new Promise<void>((resolve, reject) =>
      twin.properties.reported.update(structuredClone(REPORTED), (error?: Error) =>
        error ? reject(error) : resolve(),
      ),
    ),
    15_000,
    'official reported update',
  );
  await driveDesiredAndMethod(connection);
  await client.close();
  await connection.waitFor(isPacket('disconnect'), 'the official DISCONNECT');
  return connection;
}

/** Our SDK doing the same: PnpDevice with component `thermostat1`. */
async function ourDevice(): Promise<CapturedMqtt> {
  const store = memoryAssignmentStore();
  await store.save(ID_SCOPE, DEVICE_ID, { assignedHub: HUB, deviceId: DEVICE_ID, registrationId: DEVICE_ID });
  const device = new PnpDevice({
    idScope: ID_SCOPE,
    registrationId: DEVICE_ID,
    credentials: { symmetricKey: DEVICE_KEY },
    modelId: MODEL_ID,
    ca: tls.ca,
    assignmentStore: store,
  });
  cleanups.push(() => device.close());
  const thermostat1 = device.component('thermostat1');
  thermostat1.onWritableProperty('targetTemperature', () => undefined);
  thermostat1.onCommand('getMaxMinReport', (since) => ({ maxTemp: 30, minTemp: 20, startTime: since }));
  await withTimeout(device.start(), 15_000, 'our start');
  const connection = await hub.connection(1, 'our SDK to connect');
  await thermostat1.sendTelemetry({ temperature: 21.5 }, { creationTime: new Date(CREATED) });
  await thermostat1.reportProperties({ maxTempSinceLastReboot: 3 });
  await driveDesiredAndMethod(connection);
  await device.close();
  await connection.waitFor(isPacket('disconnect'), 'our DISCONNECT');
  return connection;
}

describe('[Wire] the hub connection: @plugboard/device and azure-iot-device put the same packets on the wire', () => {
  let official: CapturedMqtt;
  let ours: CapturedMqtt;
  const both = (): [string, CapturedMqtt][] => [
    ['official', official],
    ['ours', ours],
  ];

  before(async () => {
    // One after the other on the same address, so host names, client ids and SAS resources are equal.
    official = await officialDevice();
    ours = await ourDevice();
  });

  it('[Wire: CONNECT] MQTT 3.1.1, clean=false, keep-alive 180, client id = device id, no will (protocol.md §1.1)', () => {
    assert.deepEqual(connectShape(official), {
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: false,
      keepalive: 180,
      clientId: DEVICE_ID,
      will: undefined,
    });
    assert.deepEqual(connectShape(ours), connectShape(official));
  });

  it('[Wire: CONNECT] the user name has the same grammar: host, device, api-version, raw model-id, key order', () => {
    const [theirs, mine] = [
      parseMqttUsername(official.connect.username ?? ''),
      parseMqttUsername(ours.connect.username ?? ''),
    ];
    const shape = (u: typeof theirs): Record<string, unknown> => ({
      hostName: u.hostName,
      deviceId: u.deviceId,
      moduleId: u.moduleId,
      apiVersion: u.apiVersion,
      modelId: u.modelId,
      keys: Object.keys(u.query),
    });
    assert.deepEqual(shape(theirs), {
      hostName: HUB,
      deviceId: DEVICE_ID,
      moduleId: undefined,
      apiVersion: '2021-04-12',
      modelId: MODEL_ID,
      keys: ['api-version', 'model-id', 'DeviceClientType'],
    });
    assert.deepEqual(shape(mine), shape(theirs));
    // DeviceClientType names the product (azure-iot-device/1.18.4 … vs plugboard-device/0.1.0 …): present in both.
    assert.match(theirs.deviceClientType ?? '', /^azure-iot-device\//);
    assert.match(mine.deviceClientType ?? '', /^plugboard-device\//);
    // Everything before DeviceClientType is byte-identical: `/?`, the model id raw (not percent-encoded).
    const prefix = (username: string | undefined): string =>
      (username ?? '').slice(0, (username ?? '').indexOf('&DeviceClientType='));
    assert.equal(prefix(ours.connect.username), prefix(official.connect.username));
    assert.equal(prefix(official.connect.username), `${HUB}/${DEVICE_ID}/?api-version=2021-04-12&model-id=${MODEL_ID}`);
  });

  it('[Wire: CONNECT] the password is a device SAS with the same encoded sr, no skn, a one-hour expiry', async () => {
    const [theirs, mine] = [parseSharedAccessSignature(password(official)), parseSharedAccessSignature(password(ours))];
    assert.equal(theirs.resource, encodeURIComponent(`${HUB}/devices/${DEVICE_ID}`));
    assert.equal(mine.resource, theirs.resource);
    assert.equal(theirs.keyName, undefined);
    assert.equal(mine.keyName, undefined);
    const now = Math.floor(Date.now() / 1000);
    for (const [who, sas] of [
      ['official', theirs],
      ['ours', mine],
    ] as const) {
      assert.ok(sas.expiry > now + 3600 - 120 && sas.expiry <= now + 3600, `${who}: se is about an hour from connect`);
    }
    for (const [, connection] of both())
      await assertSignedWithDeviceKey(password(connection), `${HUB}/devices/${DEVICE_ID}`, true);
    assert.deepEqual(sasFields(password(official)), ['sr', 'sig', 'se']);
    assert.deepEqual(sasFields(password(ours)), sasFields(password(official)));
  });

  it('[Wire: SUBSCRIBE] the same filters at the same QoS, one per SUBSCRIBE, in the same order (protocol.md §1.4)', () => {
    const expected = [
      [{ topic: `devices/${DEVICE_ID}/messages/devicebound/#`, qos: 1 }],
      [{ topic: '$iothub/methods/POST/#', qos: 0 }],
      [{ topic: '$iothub/twin/res/#', qos: 0 }],
      [{ topic: '$iothub/twin/PATCH/properties/desired/#', qos: 0 }],
    ];
    assert.deepEqual(subscribeFilters(official), expected);
    // The official SDK subscribes lazily (methods on onDeviceMethod, twin/res before the first GET, desired
    // when a listener is added, after the GET); ours subscribes all four right after CONNACK, before the GET
    // — so it cannot miss a desired patch sent in between. Same set, same order, same QoS.
    assert.deepEqual(subscribeFilters(ours), subscribeFilters(official));
  });

  it('[Wire: PUBLISH telemetry] same topic, QoS 1, property bag (content type, encoding, $.sub, creation time) and body', () => {
    const theirs = onlyPublish(official, TELEMETRY, 'official');
    const mine = onlyPublish(ours, TELEMETRY, 'ours');
    for (const packet of [theirs, mine]) {
      assert.ok(packet.topic.startsWith(`devices/${DEVICE_ID}/messages/events/`), packet.topic);
      assert.equal(packet.qos, 1);
      assert.equal(packet.retain, false);
    }
    const decoded = (packet: IPublishPacket): ReturnType<typeof decodeD2cProperties> =>
      decodeD2cProperties(packet.topic.replace(TELEMETRY, ''));
    assert.deepEqual(decoded(theirs), {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      component: 'thermostat1',
      creationTimeUtc: CREATED,
      application: { 'iothub-creation-time-utc': CREATED },
    });
    assert.deepEqual(decoded(mine), decoded(theirs));
    // The same keys in the same order ($.ct, $.ce, then $.sub and the creation time), encoded the same way:
    // with the same creation time the two topics are byte-identical.
    assert.deepEqual(bagKeys(theirs.topic), ['$.ct', '$.ce', '$.sub', 'iothub-creation-time-utc']);
    assert.deepEqual(bagKeys(mine.topic), bagKeys(theirs.topic));
    assert.equal(mine.topic, theirs.topic);
    assert.deepEqual(json(mine), json(theirs));
    assert.deepEqual(json(theirs), { temperature: 21.5 });
  });

  it('[Wire: twin GET] $iothub/twin/GET/?$rid={uuid} at QoS 0 with the body " " (protocol.md §1.7)', () => {
    for (const [who, connection] of both()) {
      const get = onlyPublish(connection, TWIN_GET, who);
      assert.match(get.topic, new RegExp(`^\\$iothub/twin/GET/\\?\\$rid=${UUID}$`), who);
      assert.equal(get.qos, 0, who);
      assert.equal(text(get), ' ', who);
    }
  });

  it('[Wire: twin PATCH] reported properties on $iothub/twin/PATCH/properties/reported/?$rid={uuid}, QoS 0, same JSON', () => {
    const rids = new Set<string>();
    for (const [who, connection] of both()) {
      const [patch] = publishes(connection, TWIN_PATCH);
      assert.ok(patch, `${who}: a reported PATCH`);
      assert.match(patch.topic, new RegExp(`^\\$iothub/twin/PATCH/properties/reported/\\?\\$rid=${UUID}$`), who);
      assert.equal(patch.qos, 0, who);
      assert.deepEqual(json(patch), REPORTED, who);
      rids.add(topicQuery(patch.topic).get('$rid') ?? '');
    }
    assert.equal(rids.size, 2, 'every request has its own $rid');
  });

  it('[PnP:writable-ack] the acknowledgement is {value, ac, av = desired $version, ad} inside the component (protocol.md §6.4)', () => {
    const ack = (connection: CapturedMqtt, who: string): Record<string, unknown> => {
      const patches = publishes(connection, TWIN_PATCH);
      assert.equal(patches.length, 2, `${who}: the reported PATCH, then one acknowledgement`);
      const body = json(patches[1] as IPublishPacket) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body), ['thermostat1'], who);
      return body['thermostat1'] as Record<string, unknown>;
    };
    const theirs = ack(official, 'official');
    const mine = ack(ours, 'ours');
    assert.deepEqual(theirs, { targetTemperature: { value: 25, ac: 200, av: 4, ad: 'completed' } });
    // The one difference: ours marks the component (`__t: "c"`, as the PnP convention's ack example does);
    // the official Node sample leaves the marker out of acks. IoT Central accepts both.
    const { __t: marker, ...rest } = mine;
    assert.equal(marker, 'c');
    assert.deepEqual(rest, theirs);
  });

  it('[Wire: method response] $iothub/methods/res/200/?$rid=1 at QoS 0 with the JSON payload (protocol.md §1.8)', () => {
    const theirs = onlyPublish(official, METHOD_RESPONSE, 'official');
    const mine = onlyPublish(ours, METHOD_RESPONSE, 'ours');
    assert.equal(theirs.topic, '$iothub/methods/res/200/?$rid=1');
    assert.equal(mine.topic, theirs.topic);
    assert.equal(mine.qos, theirs.qos);
    assert.equal(theirs.qos, 0);
    assert.deepEqual(json(theirs), { maxTemp: 30, minTemp: 20, startTime: METHOD_REQUEST });
    assert.deepEqual(json(mine), json(theirs));
  });

  it('[Wire: DISCONNECT] closing sends DISCONNECT, and nothing else was published', () => {
    for (const [who, connection] of both()) {
      assert.equal(connection.packets.at(-1)?.cmd, 'disconnect', who);
      const other = connection.packets.filter(
        (p) => p.cmd === 'publish' && ![TELEMETRY, TWIN_GET, TWIN_PATCH, METHOD_RESPONSE].some((t) => t.test(p.topic)),
      );
      assert.deepEqual(other, [], `${who}: no other PUBLISH`);
    }
  });
});

/** Both SDKs' DPS transcripts and what they resolved with. */
interface DpsRun {
  connection: CapturedMqtt;
  assignment: { assignedHub: string; deviceId: string };
}

function registrationRequest(): RegistrationRequest {
  return {
    provisioningHost: DPS,
    idScope: ID_SCOPE,
    registrationId: DEVICE_ID,
    credentials: { kind: 'sas', deviceKey: DEVICE_KEY },
    payload: { modelId: MODEL_ID },
    ca: tls.ca,
    clientVersion: 'plugboard-device/0.1.0',
  };
}

function officialProvisioning(transport: 'mqtt' | 'http'): ReturnType<typeof ProvisioningDeviceClient.create> {
  const client = ProvisioningDeviceClient.create(
    DPS,
    ID_SCOPE,
    transport === 'mqtt' ? new ProvisioningMqtt() : new ProvisioningHttp(),
    // Two copies of azure-iot-common make the SDK's own types disagree; the object is what it expects.
    new SymmetricKeySecurityClient(DEVICE_ID, DEVICE_KEY) as never,
  );
  client.setProvisioningPayload({ modelId: MODEL_ID } as never);
  return client;
}

describe('[Wire] DPS over MQTT: registerOverMqtt and azure-iot-provisioning-device-mqtt send the same requests', () => {
  let official: DpsRun;
  let ours: DpsRun;

  before(async () => {
    const result = (await withTimeout(
      officialProvisioning('mqtt').register() as Promise<unknown>,
      20_000,
      'official register',
    )) as Assignment;
    let connection = await dps.connection(0, 'the official DPS client to connect');
    await connection.waitFor(isPacket('disconnect'), 'the official DPS DISCONNECT');
    official = { connection, assignment: { assignedHub: result.assignedHub, deviceId: result.deviceId } };
    const assignment = await withTimeout(registerOverMqtt(registrationRequest(), false), 20_000, 'our register');
    connection = await dps.connection(1, 'our DPS client to connect');
    await connection.waitFor(isPacket('disconnect'), 'our DPS DISCONNECT');
    ours = { connection, assignment: { assignedHub: assignment.assignedHub, deviceId: assignment.deviceId } };
  });

  it('[Wire: DPS CONNECT] MQTT 3.1.1, clean=true, keep-alive 180, client id = registration id (protocol.md §3.2)', () => {
    assert.deepEqual(connectShape(official.connection), {
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 180,
      clientId: DEVICE_ID,
      will: undefined,
    });
    assert.deepEqual(connectShape(ours.connection), connectShape(official.connection));
  });

  it('[Wire: DPS CONNECT] the user name {idScope}/registrations/{id}/api-version=2019-03-31&ClientVersion=… (no "?")', () => {
    const username = (run: DpsRun): string => run.connection.connect.username ?? '';
    const [theirs, mine] = [parseDpsMqttUsername(username(official)), parseDpsMqttUsername(username(ours))];
    const shape = (u: typeof theirs): Record<string, unknown> => ({
      idScope: u.idScope,
      registrationId: u.registrationId,
      apiVersion: u.apiVersion,
      keys: Object.keys(u.query),
    });
    assert.deepEqual(shape(theirs), {
      idScope: ID_SCOPE,
      registrationId: DEVICE_ID,
      apiVersion: '2019-03-31',
      keys: ['api-version', 'ClientVersion'],
    });
    assert.deepEqual(shape(mine), shape(theirs));
    // ClientVersion names the product: present in both.
    assert.match(theirs.clientVersion ?? '', /^azure-iot-provisioning-device\//);
    assert.equal(mine.clientVersion, 'plugboard-device/0.1.0');
    const prefix = (value: string): string => value.slice(0, value.indexOf('&ClientVersion='));
    assert.equal(prefix(username(ours)), prefix(username(official)));
    assert.equal(prefix(username(official)), `${ID_SCOPE}/registrations/${DEVICE_ID}/api-version=2019-03-31`);
  });

  it('[Wire: DPS CONNECT] the password is a registration SAS: sr raw ({idScope}/registrations/{id}), skn=registration', async () => {
    for (const [who, run] of [
      ['official', official],
      ['ours', ours],
    ] as const) {
      const sas = parseSharedAccessSignature(password(run.connection));
      assert.equal(sas.resource, `${ID_SCOPE}/registrations/${DEVICE_ID}`, who);
      assert.equal(sas.keyName, 'registration', who);
      await assertSignedWithDeviceKey(password(run.connection), `${ID_SCOPE}/registrations/${DEVICE_ID}`, false);
      assert.deepEqual(sasFields(password(run.connection)), ['sr', 'sig', 'skn', 'se'], who);
    }
  });

  it('[Wire: DPS SUBSCRIBE] one SUBSCRIBE $dps/registrations/res/# at QoS 1', () => {
    assert.deepEqual(subscribeFilters(official.connection), [[{ topic: '$dps/registrations/res/#', qos: 1 }]]);
    assert.deepEqual(subscribeFilters(ours.connection), subscribeFilters(official.connection));
  });

  it('[Wire: DPS register] $dps/registrations/PUT/iotdps-register/?$rid={uuid} at QoS 1 with {registrationId, payload}', () => {
    for (const [who, run] of [
      ['official', official],
      ['ours', ours],
    ] as const) {
      const register = onlyPublish(run.connection, DPS_REGISTER, who);
      assert.match(register.topic, new RegExp(`^\\$dps/registrations/PUT/iotdps-register/\\?\\$rid=${UUID}$`), who);
      assert.equal(register.qos, 1, who);
      assert.deepEqual(json(register), { registrationId: DEVICE_ID, payload: { modelId: MODEL_ID } }, who);
    }
  });

  it('[Wire: DPS poll] after retry-after, iotdps-get-operationstatus/?$rid={uuid}&operationId={id} at QoS 1, body " "', () => {
    const rids = new Set<string>();
    for (const [who, run] of [
      ['official', official],
      ['ours', ours],
    ] as const) {
      const poll = onlyPublish(run.connection, DPS_POLL, who);
      assert.match(
        poll.topic,
        new RegExp(
          `^\\$dps/registrations/GET/iotdps-get-operationstatus/\\?\\$rid=${UUID}&operationId=${OPERATION_ID.replaceAll('.', '\\.')}$`,
        ),
        who,
      );
      assert.equal(poll.qos, 1, who);
      assert.equal(text(poll), ' ', who);
      rids.add(topicQuery(poll.topic).get('$rid') ?? '');
      rids.add(topicQuery(onlyPublish(run.connection, DPS_REGISTER, who).topic).get('$rid') ?? '');
    }
    assert.equal(rids.size, 4, 'every request has its own $rid');
  });

  it('[Wire: DPS end] both resolve with the assigned hub and leave with DISCONNECT', () => {
    assert.deepEqual(official.assignment, { assignedHub: HUB, deviceId: DEVICE_ID });
    assert.deepEqual(ours.assignment, official.assignment);
    const kinds = (run: DpsRun): string[] => run.connection.packets.map((p) => p.cmd);
    // The official client also UNSUBSCRIBEs before DISCONNECT; ours just disconnects. DPS sessions are clean
    // (clean=true, never persisted), so the subscription ends with the connection either way.
    assert.deepEqual(kinds(official), ['connect', 'subscribe', 'publish', 'publish', 'unsubscribe', 'disconnect']);
    assert.deepEqual(
      kinds(ours),
      kinds(official).filter((k) => k !== 'unsubscribe'),
    );
  });
});

describe('[Wire] DPS over HTTPS: registerOverHttps and azure-iot-provisioning-device-http send the same requests', () => {
  let official: CapturedRequest[];
  let ours: CapturedRequest[];
  let officialResult: Assignment;
  let ourResult: Assignment;

  before(async () => {
    officialResult = (await withTimeout(
      officialProvisioning('http').register() as Promise<unknown>,
      20_000,
      'official register over HTTPS',
    )) as Assignment;
    official = await dpsHttps.waitForRequests(2, 'the official PUT and GET');
    ourResult = await withTimeout(registerOverHttps(registrationRequest()), 20_000, 'our register over HTTPS');
    ours = (await dpsHttps.waitForRequests(4, 'our PUT and GET')).slice(2);
  });

  it('[Wire: DPS HTTPS register] PUT /{idScope}/registrations/{id}/register?api-version=2019-03-31 with a JSON body', () => {
    const [theirs, mine] = [official[0], ours[0]];
    assert.ok(theirs && mine);
    assert.equal(theirs.method, 'PUT');
    assert.equal(theirs.url, `/${ID_SCOPE}/registrations/${DEVICE_ID}/register?api-version=2019-03-31`);
    assert.equal(mine.method, theirs.method);
    assert.equal(mine.url, theirs.url);
    assert.equal(theirs.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(mine.headers['content-type'], theirs.headers['content-type']);
    assert.equal(mine.headers['accept'], theirs.headers['accept']);
    assert.equal(mine.headers['host'], theirs.headers['host']);
    assert.deepEqual(JSON.parse(theirs.body), { registrationId: DEVICE_ID, payload: { modelId: MODEL_ID } });
    assert.deepEqual(JSON.parse(mine.body), JSON.parse(theirs.body));
    // User-Agent names the product: present in both. The official client also sends a `request-id` (a
    // UUID per request, for tracing); ours does not — DPS requires none.
    assert.match(String(theirs.headers['user-agent']), /^azure-iot-provisioning-device\//);
    assert.equal(mine.headers['user-agent'], 'plugboard-device/0.1.0');
  });

  it('[Wire: DPS HTTPS authorization] a registration SAS: sr raw, skn=registration, signed with the device key', async () => {
    for (const [who, request] of [
      ['official', official[0]],
      ['ours', ours[0]],
    ] as const) {
      const token = String(request?.headers['authorization']);
      const sas = parseSharedAccessSignature(token);
      assert.equal(sas.resource, `${ID_SCOPE}/registrations/${DEVICE_ID}`, who);
      assert.equal(sas.keyName, 'registration', who);
      await assertSignedWithDeviceKey(token, `${ID_SCOPE}/registrations/${DEVICE_ID}`, false);
      assert.deepEqual(sasFields(token), ['sr', 'sig', 'skn', 'se'], who);
    }
  });

  it('[Wire: DPS HTTPS poll] after retry-after, GET /{idScope}/registrations/{id}/operations/{operationId}?api-version=…', () => {
    const [theirs, mine] = [official[1], ours[1]];
    assert.ok(theirs && mine);
    assert.equal(theirs.method, 'GET');
    assert.equal(
      theirs.url,
      `/${ID_SCOPE}/registrations/${DEVICE_ID}/operations/${OPERATION_ID}?api-version=2019-03-31`,
    );
    assert.equal(mine.method, theirs.method);
    assert.equal(mine.url, theirs.url);
    // Both authorise the poll with a registration SAS. The official client sends this GET with a body `{}`
    // and a JSON content type; ours sends no body — a GET body means nothing to DPS.
    for (const request of [theirs, mine]) {
      const sas = parseSharedAccessSignature(String(request.headers['authorization']));
      assert.equal(sas.resource, `${ID_SCOPE}/registrations/${DEVICE_ID}`);
      assert.equal(sas.keyName, 'registration');
    }
    assert.equal(officialResult.assignedHub, HUB);
    assert.equal(ourResult.assignedHub, officialResult.assignedHub);
    assert.equal(ourResult.deviceId, officialResult.deviceId);
  });
});
