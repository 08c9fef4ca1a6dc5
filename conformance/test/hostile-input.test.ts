/**
 * The standing hostile-input suite: every REST route of the hub, DPS and Central listeners and every MQTT topic a
 * device may publish or subscribe to gets random, truncated, oversized and deeply nested bodies and
 * packets (fast-check, time-boxed, seed printed; replay with PLUGBOARD_FUZZ_SEED=<seed>). For each it
 * asserts a documented status and code (never a 5xx), that nothing changed, that the server is up and
 * that another device still works.
 *
 * The route and topic lists come from the platform itself (the routes each listener registered, the
 * topic kinds `@plugboard/protocol` defines): a route or topic added without a case here fails the
 * coverage tests.
 *
 * Every hostile request carries credentials that authenticate, and a precondition that makes even a
 * well-formed request fail harmlessly (a stale `If-Match`, a device that is offline or absent, a DPS
 * token signed with the wrong key, a Central operator token where a builder or admin is needed), so
 * "nothing changed" holds whatever the generator produced.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import fc from 'fast-check';
import type { Packet } from 'mqtt-packet';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import {
  DEVICE_PUBLISH_TOPIC_KINDS,
  DEVICE_SUBSCRIPTION_KINDS,
  DPS_PUBLISH_TOPIC_KINDS,
  deriveDeviceKey,
} from '@plugboard/protocol';
import {
  CENTRAL_ERRORS,
  CENTRAL_ROLES,
  DPS_ERRORS,
  HUB_ERRORS,
  type CentralErrorCode,
  type DpsErrorCode,
  type Hub,
  type HubErrorCode,
} from '@plugboard/server';
import {
  RawMqtt,
  centralRequest,
  deviceToken,
  dpsRawMqtt,
  dpsRequest,
  dpsServiceToken,
  dpsToken,
  hubRequest,
  isPacket,
  mqttUsername,
  onlyHub,
  rawMqttOptions,
  startTestPlatform,
  withTimeout,
  type TestPlatform,
} from './harness.js';
import { checkProperty } from './fuzz.js';

const { Client, Message } = deviceSdk;
const { Mqtt } = mqttTransport;

const RUNS = 12;
const TIME_BOX_MS = 1200;

const WRONG_KEY = Buffer.alloc(32, 7).toString('base64');
const GROUP = 'hostile-group';
const GROUP_KEY = 'aG9zdGlsZWdyb3Vwa2V5aG9zdGlsZWdyb3Vwa2V5MTI=';

let platform: TestPlatform;
let hub: Hub;
let bystander: InstanceType<typeof Client>;
let bystanderDisconnects = 0;
let witness: RawMqtt;
/** A Central token that reads but may not build or administer. */
let operatorToken: string;
/** A device token for `target` signed with a wrong key: the device HTTPS routes refuse it (401). */
let wrongDeviceToken: string;

before(async () => {
  platform = await startTestPlatform();
  hub = onlyHub(platform);
  for (const deviceId of ['target', 'bystander', 'witness', 'mqtt-hostile', 'twin-hostile']) {
    await hub.createIdentity({ deviceId });
  }
  await hub.createIdentity({ deviceId: 'target', moduleId: 'm1' });
  await platform.dps.putEnrollmentGroup(GROUP, {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  await platform.dps.putIndividualEnrollment('target-enrollment', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: GROUP_KEY } },
  });
  await platform.dps.register({
    idScope: platform.dps.idScope,
    registrationId: 'registered',
    credentials: {
      token: await dpsToken(platform.dps.idScope, 'registered', await deriveDeviceKey(GROUP_KEY, 'registered')),
    },
    body: { registrationId: 'registered' },
  });
  wrongDeviceToken = await deviceToken(hub, 'target', { key: WRONG_KEY });
  operatorToken = (await platform.central.tokens.create('hostile-operator', [{ role: CENTRAL_ROLES.operator }])).token;
  bystander = Client.fromConnectionString(hub.deviceConnectionString({ deviceId: 'bystander' }), Mqtt);
  bystander.on('disconnect', () => bystanderDisconnects++);
  await withTimeout(bystander.open(), 15_000, 'bystander open');
  witness = await RawMqtt.connect(rawMqttOptions(platform, hub));
  const connack = await witness.handshake({
    clientId: 'witness',
    username: mqttUsername(hub.hostName, 'witness'),
    password: await deviceToken(hub, 'witness'),
    clean: true,
    keepalive: 0,
  });
  assert.equal(connack.returnCode, 0);
});

after(async () => {
  witness?.end();
  await bystander?.close().catch(() => undefined);
  await platform?.dispose();
});

/** Everything a hostile request must not change: registry records, twins, queues, DPS documents. */
function snapshot(): string {
  const identities = [...hub.listIdentities(), ...hub.listIdentities({ modulesOf: 'target' })].map((s) => ({
    record: s.record,
    twin: s.twin,
    c2d: hub.c2dQueueLength(s.record),
  }));
  return JSON.stringify({
    identities,
    groups: platform.dps.listEnrollmentGroups(),
    individuals: platform.dps.listIndividualEnrollments(),
    registrations: platform.dps.listRegistrations(),
    templates: platform.central.templates.list().templates.map((t) => platform.central.templates.view(t)),
    tokens: platform.central.tokens.list(),
    devices: platform.central.devices.list().devices,
  });
}

async function alive(): Promise<void> {
  assert.equal(witness.closed, false, 'the witness connection is untouched');
  witness.send({ cmd: 'pingreq' });
  await witness.next(isPacket('pingresp'));
}

function check<T>(t: TestContext, arbitrary: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>) {
  return checkProperty(t, arbitrary, predicate, { runs: RUNS, timeBoxMs: TIME_BOX_MS });
}

// ---------------------------------------------------------------- REST routes

type Listener = 'hub' | 'dps' | 'central';

/** How a route is driven: a concrete path and, for routes that take one, a valid body to cut up. */
interface RouteCase {
  path: string;
  /** A body the route accepts (truncations of it are never valid). */
  valid?: unknown;
  /** Headers that make a well-formed request fail harmlessly (a stale If-Match). */
  headers?: Record<string, string>;
  /** DPS device routes authenticate with a device token (signed with a wrong key here); Central routes
   *  that change things, with a token whose role may not (403). */
  deviceToken?: string;
  /** Bytes above which the body is refused unread (413). */
  bodyLimit: number;
  /** The body is opaque bytes (a device message), never read as JSON: a malformed JSON body is no error. */
  opaqueBody?: boolean;
}

const STALE = { 'if-match': '"c3RhbGU="' };
const MB = 1024 * 1024;

function hubCases(): Record<string, RouteCase> {
  const device = { deviceId: 'target', status: 'enabled' };
  const twin = { properties: { desired: { x: 1 } } };
  const method = { methodName: 'reboot', payload: { delay: 1 }, responseTimeoutInSeconds: 5 };
  return {
    'PUT /devices/:deviceId': { path: '/devices/target', valid: device, headers: STALE, bodyLimit: MB },
    'PUT /devices/:deviceId/modules/:moduleId': {
      path: '/devices/target/modules/m1',
      valid: { ...device, moduleId: 'm1' },
      headers: STALE,
      bodyLimit: MB,
    },
    'GET /devices/:deviceId': { path: '/devices/target', bodyLimit: MB },
    'GET /devices/:deviceId/modules/:moduleId': { path: '/devices/target/modules/m1', bodyLimit: MB },
    'GET /devices': { path: '/devices', bodyLimit: MB },
    'GET /devices/': { path: '/devices/', bodyLimit: MB },
    'GET /devices/:deviceId/modules': { path: '/devices/target/modules', bodyLimit: MB },
    'DELETE /devices/:deviceId': { path: '/devices/target', headers: STALE, bodyLimit: MB },
    'DELETE /devices/:deviceId/modules/:moduleId': {
      path: '/devices/target/modules/m1',
      headers: STALE,
      bodyLimit: MB,
    },
    'GET /twins/:deviceId': { path: '/twins/target', bodyLimit: MB },
    'GET /twins/:deviceId/modules/:moduleId': { path: '/twins/target/modules/m1', bodyLimit: MB },
    'PATCH /twins/:deviceId': { path: '/twins/target', valid: twin, headers: STALE, bodyLimit: MB },
    'PATCH /twins/:deviceId/modules/:moduleId': {
      path: '/twins/target/modules/m1',
      valid: twin,
      headers: STALE,
      bodyLimit: MB,
    },
    'PUT /twins/:deviceId': { path: '/twins/target', valid: twin, headers: STALE, bodyLimit: MB },
    'PUT /twins/:deviceId/modules/:moduleId': {
      path: '/twins/target/modules/m1',
      valid: twin,
      headers: STALE,
      bodyLimit: MB,
    },
    // `target` is offline: a well-formed call is 404103 and changes nothing.
    'POST /twins/:deviceId/methods': { path: '/twins/target/methods', valid: method, bodyLimit: MB },
    'POST /twins/:deviceId/modules/:moduleId/methods': {
      path: '/twins/target/modules/m1/methods',
      valid: method,
      bodyLimit: MB,
    },
    // Any bytes are a C2D payload: the device is absent, so a well-formed send is 404.
    'POST /plugboard/devices/:deviceId/messages/deviceBound': {
      path: '/plugboard/devices/absent/messages/deviceBound',
      valid: { command: 'on' },
      bodyLimit: 64 * 1024,
    },
    'GET /plugboard/telemetry': { path: '/plugboard/telemetry?deviceId=target', bodyLimit: MB },
    // The device HTTPS API (a wrong-key device token: 401 after the body is read as bytes).
    'POST /devices/:deviceId/messages/events': {
      path: '/devices/target/messages/events?api-version=2021-04-12',
      valid: { temperature: 21 },
      deviceToken: wrongDeviceToken,
      bodyLimit: 256 * 1024,
      opaqueBody: true,
    },
    'GET /devices/:deviceId/messages/devicebound': {
      path: '/devices/target/messages/devicebound?api-version=2021-04-12',
      deviceToken: wrongDeviceToken,
      bodyLimit: 256 * 1024,
    },
    'DELETE /devices/:deviceId/messages/devicebound/:lockToken': {
      path: '/devices/target/messages/devicebound/absent-lock?api-version=2021-04-12&reject',
      deviceToken: wrongDeviceToken,
      bodyLimit: 256 * 1024,
      opaqueBody: true,
    },
    'POST /devices/:deviceId/messages/devicebound/:lockToken/abandon': {
      path: '/devices/target/messages/devicebound/absent-lock/abandon?api-version=2021-04-12',
      deviceToken: wrongDeviceToken,
      bodyLimit: 256 * 1024,
      opaqueBody: true,
    },
    'GET /plugboard/feedback': { path: '/plugboard/feedback', bodyLimit: MB },
  };
}

async function dpsCases(): Promise<Record<string, RouteCase>> {
  const scope = platform.dps.idScope;
  const wrong = await dpsToken(scope, 'newcomer', WRONG_KEY);
  const group = { attestation: { type: 'symmetricKey' }, allocationPolicy: 'hashed' };
  return {
    'PUT /:idScope/registrations/:registrationId/register': {
      path: `/${scope}/registrations/newcomer/register?api-version=2019-03-31`,
      valid: { registrationId: 'newcomer', payload: { modelId: 'dtmi:com:example:Thermostat;1' } },
      deviceToken: wrong,
      bodyLimit: 16 * 1024,
    },
    'GET /:idScope/registrations/:registrationId/operations/:operationId': {
      path: `/${scope}/registrations/newcomer/operations/4.abc.def?api-version=2019-03-31`,
      deviceToken: wrong,
      bodyLimit: 16 * 1024,
    },
    'POST /:idScope/registrations/:registrationId': {
      path: `/${scope}/registrations/newcomer?api-version=2019-03-31`,
      valid: { registrationId: 'newcomer' },
      deviceToken: wrong,
      bodyLimit: 16 * 1024,
    },
    'PUT /enrollmentGroups/:id': { path: `/enrollmentGroups/${GROUP}`, valid: group, headers: STALE, bodyLimit: MB },
    'GET /enrollmentGroups/:id': { path: `/enrollmentGroups/${GROUP}`, bodyLimit: MB },
    'GET /enrollmentGroups': { path: '/enrollmentGroups', bodyLimit: MB },
    'DELETE /enrollmentGroups/:id': { path: `/enrollmentGroups/${GROUP}`, headers: STALE, bodyLimit: MB },
    'PUT /enrollments/:id': {
      path: '/enrollments/target-enrollment',
      valid: { registrationId: 'target-enrollment', ...group },
      headers: STALE,
      bodyLimit: MB,
    },
    'GET /enrollments/:id': { path: '/enrollments/target-enrollment', bodyLimit: MB },
    'GET /enrollments': { path: '/enrollments', bodyLimit: MB },
    'DELETE /enrollments/:id': { path: '/enrollments/target-enrollment', headers: STALE, bodyLimit: MB },
    'GET /registrations/:id': { path: '/registrations/registered', bodyLimit: MB },
    // Deleting a registration has no etag: the target is one that does not exist.
    'DELETE /registrations/:id': { path: '/registrations/never-registered', bodyLimit: MB },
  };
}

function centralCases(): Record<string, RouteCase> {
  const PV = 'api-version=2022-06-30-preview';
  const GA = 'api-version=2022-07-31';
  const template = {
    '@type': ['ModelDefinition', 'DeviceModel'],
    displayName: 'Hostile',
    capabilityModel: {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:plugboard:hostile;1',
      '@type': 'Interface',
      contents: [{ '@type': 'Telemetry', name: 'temperature', schema: 'double' }],
    },
  };
  // No template or token exists under these ids; changes are made with an operator token (403).
  const absent = '/api/deviceTemplates/dtmi:plugboard:absentTemplate;1';
  return {
    'GET /api/deviceTemplates': { path: `/api/deviceTemplates?${PV}`, bodyLimit: MB },
    'GET /api/deviceTemplates/:templateId': { path: `${absent}?${PV}`, bodyLimit: MB },
    'PUT /api/deviceTemplates/:templateId': {
      path: `${absent}?${PV}`,
      valid: template,
      headers: STALE,
      bodyLimit: MB,
    },
    'PATCH /api/deviceTemplates/:templateId': {
      path: `${absent}?${PV}`,
      valid: { displayName: 'Renamed' },
      bodyLimit: MB,
    },
    'DELETE /api/deviceTemplates/:templateId': { path: `${absent}?${PV}`, bodyLimit: MB },
    // Operators may manage devices: changes target an absent device (404), or a stale etag (412).
    'GET /api/devices': { path: `/api/devices?${GA}`, bodyLimit: MB },
    'GET /api/devices/:deviceId': { path: `/api/devices/absent-device?${GA}`, bodyLimit: MB },
    'PUT /api/devices/:deviceId': {
      path: `/api/devices/absent-device?${GA}`,
      valid: { displayName: 'Hostile', enabled: true },
      headers: STALE,
      bodyLimit: MB,
    },
    'PATCH /api/devices/:deviceId': {
      path: `/api/devices/absent-device?${GA}`,
      valid: { displayName: 'Renamed' },
      bodyLimit: MB,
    },
    'DELETE /api/devices/:deviceId': { path: `/api/devices/absent-device?${GA}`, bodyLimit: MB },
    'GET /api/devices/:deviceId/credentials': {
      path: `/api/devices/absent-device/credentials?${GA}`,
      bodyLimit: MB,
    },
    'GET /api/devices/:deviceId/telemetry/:telemetryName': {
      path: `/api/devices/absent-device/telemetry/temperature?${GA}`,
      bodyLimit: MB,
    },
    'GET /api/devices/:deviceId/components/:componentName/telemetry/:telemetryName': {
      path: `/api/devices/absent-device/components/thermostat1/telemetry/temperature?${GA}`,
      bodyLimit: MB,
    },
    'GET /api/devices/:deviceId/modules/:moduleName/telemetry/:telemetryName': {
      path: `/api/devices/absent-device/modules/filter/telemetry/temperature?${GA}`,
      bodyLimit: MB,
    },
    'GET /api/devices/:deviceId/modules/:moduleName/components/:componentName/telemetry/:telemetryName': {
      path: `/api/devices/absent-device/modules/filter/components/sensor/telemetry/humidity?${GA}`,
      bodyLimit: MB,
    },
    'GET /plugboard/devices/:deviceId/telemetry/:telemetryName': {
      path: '/plugboard/devices/absent-device/telemetry/temperature?component=thermostat1',
      bodyLimit: MB,
    },
    'GET /plugboard/devices/:deviceId/telemetry/:telemetryName/series': {
      path: '/plugboard/devices/absent-device/telemetry/temperature/series?component=thermostat1',
      bodyLimit: MB,
    },
    'GET /plugboard/devices/:deviceId/rawMessages': {
      path: '/plugboard/devices/absent-device/rawMessages',
      bodyLimit: MB,
    },
    ...(Object.fromEntries(
      [
        '/api/devices/:deviceId/properties',
        '/api/devices/:deviceId/components/:componentName/properties',
        '/api/devices/:deviceId/modules/:moduleName/properties',
        '/api/devices/:deviceId/modules/:moduleName/components/:componentName/properties',
      ].flatMap((route) => {
        const path = `${route
          .replace(':deviceId', 'absent-device')
          .replace(':moduleName', 'filter')
          .replace(':componentName', 'thermostat1')}?${GA}`;
        const valid = { targetTemperature: 21 };
        return [
          [`GET ${route}`, { path, bodyLimit: MB }],
          [`PATCH ${route}`, { path, valid, bodyLimit: MB }],
          [`PUT ${route}`, { path, valid, bodyLimit: MB }],
        ];
      }),
    ) as Record<string, RouteCase>),
    ...(Object.fromEntries(
      [
        '/api/devices/:deviceId/commands/:commandName',
        '/api/devices/:deviceId/components/:componentName/commands/:commandName',
        '/api/devices/:deviceId/modules/:moduleName/commands/:commandName',
        '/api/devices/:deviceId/modules/:moduleName/components/:componentName/commands/:commandName',
      ].flatMap((route) => {
        const path = `${route
          .replace(':deviceId', 'absent-device')
          .replace(':moduleName', 'filter')
          .replace(':componentName', 'thermostat1')
          .replace(':commandName', 'getMaxMinReport')}?${GA}`;
        return [
          [`GET ${route}`, { path, bodyLimit: MB }],
          [`POST ${route}`, { path, valid: { request: '2026-01-01T00:00:00Z' }, bodyLimit: MB }],
        ];
      }),
    ) as Record<string, RouteCase>),
    // Enrollment groups need an admin: changes are made with an operator token (403).
    'GET /api/enrollmentGroups': { path: `/api/enrollmentGroups?${GA}`, bodyLimit: MB },
    'GET /api/enrollmentGroups/:groupId': { path: `/api/enrollmentGroups/absent-group?${GA}`, bodyLimit: MB },
    'PUT /api/enrollmentGroups/:groupId': {
      path: `/api/enrollmentGroups/hostile-group?${GA}`,
      valid: { attestation: { type: 'symmetricKey' }, type: 'iot', enabled: true },
      deviceToken: operatorToken,
      bodyLimit: MB,
    },
    'PATCH /api/enrollmentGroups/:groupId': {
      path: `/api/enrollmentGroups/${GROUP}?${GA}`,
      valid: { displayName: 'Renamed' },
      deviceToken: operatorToken,
      bodyLimit: MB,
    },
    'DELETE /api/enrollmentGroups/:groupId': {
      path: `/api/enrollmentGroups/${GROUP}?${GA}`,
      deviceToken: operatorToken,
      bodyLimit: MB,
    },
    'GET /api/enrollmentGroups/:groupId/certificates/:entry': {
      path: `/api/enrollmentGroups/${GROUP}/certificates/primary?${GA}`,
      bodyLimit: MB,
    },
    'PUT /api/enrollmentGroups/:groupId/certificates/:entry': {
      path: `/api/enrollmentGroups/${GROUP}/certificates/primary?${GA}`,
      valid: { certificate: 'AAAA' },
      deviceToken: operatorToken,
      bodyLimit: MB,
    },
    'POST /api/enrollmentGroups/:groupId/certificates/:entry/generateVerificationCode': {
      path: `/api/enrollmentGroups/${GROUP}/certificates/primary/generateVerificationCode?${GA}`,
      deviceToken: operatorToken,
      bodyLimit: MB,
    },
    'POST /api/enrollmentGroups/:groupId/certificates/:entry/verify': {
      path: `/api/enrollmentGroups/${GROUP}/certificates/primary/verify?${GA}`,
      valid: { certificate: 'AAAA' },
      deviceToken: operatorToken,
      bodyLimit: MB,
    },
    'DELETE /api/enrollmentGroups/:groupId/certificates/:entry': {
      path: `/api/enrollmentGroups/${GROUP}/certificates/primary?${GA}`,
      deviceToken: operatorToken,
      bodyLimit: MB,
    },
    'GET /api/devices/:deviceId/attestation': { path: `/api/devices/absent-device/attestation?${GA}`, bodyLimit: MB },
    'PUT /api/devices/:deviceId/attestation': {
      path: `/api/devices/absent-device/attestation?${GA}`,
      valid: { type: 'symmetricKey' },
      bodyLimit: MB,
    },
    'PATCH /api/devices/:deviceId/attestation': {
      path: `/api/devices/absent-device/attestation?${GA}`,
      valid: { type: 'symmetricKey' },
      bodyLimit: MB,
    },
    'DELETE /api/devices/:deviceId/attestation': {
      path: `/api/devices/absent-device/attestation?${GA}`,
      bodyLimit: MB,
    },
    'GET /api/devices/:deviceId/components': { path: `/api/devices/absent-device/components?${GA}`, bodyLimit: MB },
    'GET /plugboard/devices/:deviceId/timeline': { path: '/plugboard/devices/absent-device/timeline', bodyLimit: MB },
    'GET /plugboard/faults': { path: '/plugboard/faults', bodyLimit: MB },
    'POST /plugboard/faults': {
      path: '/plugboard/faults',
      valid: { condition: 'tokenExpired', deviceId: 'absent-device', attempts: 1 },
      bodyLimit: MB,
    },
    'DELETE /plugboard/faults': { path: '/plugboard/faults', bodyLimit: MB },
    'GET /plugboard/faults/:faultId': { path: '/plugboard/faults/absent-fault', bodyLimit: MB },
    'DELETE /plugboard/faults/:faultId': { path: '/plugboard/faults/absent-fault', bodyLimit: MB },
    'GET /plugboard/hubs': { path: '/plugboard/hubs', bodyLimit: MB },
    'GET /plugboard/application': { path: '/plugboard/application', bodyLimit: MB },
    'GET /plugboard/me': { path: '/plugboard/me', bodyLimit: MB },
    // A name in use: the well-formed request is refused (409) without opening a hub.
    'POST /plugboard/hubs': { path: '/plugboard/hubs', valid: { name: 'hub-1' }, bodyLimit: MB },
    'GET /plugboard/hubs/:hubName': { path: '/plugboard/hubs/absent-hub', bodyLimit: MB },
    'DELETE /plugboard/hubs/:hubName': { path: '/plugboard/hubs/absent-hub?drainSeconds=0', bodyLimit: MB },
    'POST /system/iothub/devices/:deviceId/manual-failover': {
      path: '/system/iothub/devices/absent-device/manual-failover',
      valid: { ttl: 5 },
      bodyLimit: MB,
    },
    'POST /system/iothubs/generateEventSasTokens': { path: '/system/iothubs/generateEventSasTokens', bodyLimit: MB },
    'GET /system/iothub/devices/:deviceId/get-twin': {
      path: '/system/iothub/devices/absent-device/get-twin?extendedInfo=true',
      bodyLimit: MB,
    },
    'POST /system/iothub/devices/:deviceId/manual-failback': {
      path: '/system/iothub/devices/absent-device/manual-failback',
      bodyLimit: MB,
    },
    'GET /api/devices/:deviceId/modules': { path: `/api/devices/absent-device/modules?${GA}`, bodyLimit: MB },
    'GET /api/devices/:deviceId/modules/:moduleName/components': {
      path: `/api/devices/absent-device/modules/filter/components?${GA}`,
      bodyLimit: MB,
    },
    'GET /plugboard/devices': { path: '/plugboard/devices?top=5&status=provisioned', bodyLimit: MB },
    'GET /plugboard/devices/:deviceId': { path: '/plugboard/devices/absent-device', bodyLimit: MB },
    // A stream: an absent device is refused before it starts.
    'GET /plugboard/events': { path: '/plugboard/events?deviceId=absent-device', bodyLimit: MB },
    'GET /api/apiTokens': { path: `/api/apiTokens?${GA}`, bodyLimit: MB },
    'GET /api/apiTokens/:tokenId': { path: `/api/apiTokens/absent?${GA}`, bodyLimit: MB },
    'PUT /api/apiTokens/:tokenId': {
      path: `/api/apiTokens/hostile-new?${GA}`,
      valid: { roles: [{ role: CENTRAL_ROLES.admin }] },
      deviceToken: operatorToken,
      bodyLimit: MB,
    },
    'DELETE /api/apiTokens/:tokenId': {
      path: `/api/apiTokens/hostile-operator?${GA}`,
      deviceToken: operatorToken,
      bodyLimit: MB,
    },
  };
}

interface Sent {
  status: number;
  body: unknown;
  text: string;
}

async function send(
  listener: Listener,
  method: string,
  routeCase: RouteCase,
  body: Buffer | undefined,
  contentType = 'application/json',
  pathSuffix = '',
): Promise<Sent> {
  const headers: Record<string, string> = { ...routeCase.headers };
  if (body !== undefined) headers['content-type'] = contentType;
  const path = insertSuffix(routeCase.path, pathSuffix);
  if (listener === 'hub') {
    return hubRequest(platform, hub, {
      method,
      path,
      headers,
      ...(body === undefined ? {} : { body }),
      ...(routeCase.deviceToken === undefined ? {} : { authorization: routeCase.deviceToken }),
    });
  }
  if (listener === 'central') {
    return centralRequest(platform, {
      method,
      path,
      headers,
      ...(body === undefined ? {} : { body }),
      ...(routeCase.deviceToken === undefined ? {} : { token: routeCase.deviceToken }),
    });
  }
  return dpsRequest(platform, {
    method,
    path,
    headers,
    ...(body === undefined ? {} : { rawBody: body }),
    token: routeCase.deviceToken ?? (await dpsServiceToken(platform)),
  });
}

/** Appends `suffix` to the last path segment (before any query). */
function insertSuffix(path: string, suffix: string): string {
  if (suffix === '') return path;
  const [base = '', query] = path.split('?');
  return `${base}${suffix}${query === undefined ? '' : `?${query}`}`;
}

/** A documented refusal: a code from the listener's table whose status is the response's; or a success. */
function assertDocumented(listener: Listener, method: string, route: string, sent: Sent, what: string): void {
  const where = `${method} ${route} (${what}): ${sent.status} ${sent.text.slice(0, 300)}`;
  assert.ok(sent.status < 500, `never a 5xx: ${where}`);
  if (sent.status < 400) return;
  const code = (sent.body as { code?: unknown } | undefined)?.code;
  if (listener === 'hub') {
    const entry = HUB_ERRORS[code as HubErrorCode] as { status: number } | undefined;
    assert.ok(entry !== undefined, `a documented hub code: ${where}`);
    assert.equal(entry.status, sent.status, `status matches the code: ${where}`);
  } else if (listener === 'central') {
    const entry = CENTRAL_ERRORS[code as CentralErrorCode] as { status: number; name: string } | undefined;
    assert.ok(entry !== undefined, `a documented Central code: ${where}`);
    assert.equal(entry.status, sent.status, `status matches the code: ${where}`);
    const error = (sent.body as { error?: { code?: unknown } }).error;
    assert.equal(error?.code, entry.name, `Central's error.code beside ours: ${where}`);
  } else {
    const entry = DPS_ERRORS[code as DpsErrorCode] as { status: number } | undefined;
    assert.ok(entry !== undefined, `a documented DPS code: ${where}`);
    assert.equal(entry.status, sent.status, `status matches the code: ${where}`);
  }
}

const BODYLESS = new Set(['GET']);

/** The hostile inputs for one route, as (description, body, content type, path suffix, expected status). */
const hostileArbitrary = (routeCase: RouteCase) => {
  const validText = JSON.stringify(routeCase.valid ?? { a: 1 });
  return fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 512 }).map((bytes) => ({
      what: 'random bytes',
      body: Buffer.from(bytes),
      contentType: 'application/json',
      suffix: '',
    })),
    fc.integer({ min: 1, max: validText.length - 1 }).map((cut) => ({
      what: `valid body cut at ${cut}`,
      body: Buffer.from(validText.slice(0, cut)),
      contentType: 'application/json; charset=utf-8',
      suffix: '',
    })),
    fc.integer({ min: 65, max: 100_000 }).map((depth) => ({
      what: `${depth} levels of nesting`,
      body: Buffer.from(`${'{"a":['.repeat(depth)}1${']}'.repeat(depth)}`),
      contentType: 'application/json',
      suffix: '',
    })),
    fc.string({ unit: 'binary', maxLength: 40 }).map((garbage) => ({
      what: `path garbage ${JSON.stringify(garbage)}`,
      body: undefined,
      contentType: 'application/json',
      suffix: encodeURIComponent(garbage),
    })),
    fc.uint8Array({ minLength: 1, maxLength: 256 }).map((bytes) => ({
      what: 'random bytes as octet-stream',
      body: Buffer.from(bytes),
      contentType: 'application/octet-stream',
      suffix: '',
    })),
  );
};

async function exerciseRoutes(t: TestContext, listener: Listener, cases: Record<string, RouteCase>): Promise<void> {
  for (const [key, routeCase] of Object.entries(cases)) {
    const [method = '', route = ''] = key.split(' ');
    await t.test(key, async (t) => {
      const before = snapshot();
      await check(t, hostileArbitrary(routeCase), async (input) => {
        const sent = await send(listener, method, routeCase, input.body, input.contentType, input.suffix);
        assertDocumented(listener, method, route, sent, input.what);
        if (
          input.body !== undefined &&
          !BODYLESS.has(method) &&
          routeCase.opaqueBody !== true &&
          input.contentType.startsWith('application/json') &&
          input.what !== 'random bytes'
        ) {
          // The body is judged before any precondition: a truncated or too deep body is 400 (413 when it is
          // also over the route's size limit), always.
          const expected = input.body.length > routeCase.bodyLimit ? 413 : 400;
          assert.equal(sent.status, expected, `${key}: a malformed JSON body is refused (${input.what})`);
        }
        assert.equal(snapshot(), before, `${key}: nothing changed (${input.what})`);
      });
      // One body just over the route's limit: 413 unread (routes that read bodies).
      if (!BODYLESS.has(method)) {
        const big = await send(listener, method, routeCase, Buffer.alloc(routeCase.bodyLimit + 1, 0x20));
        assertDocumented(listener, method, route, big, 'oversized');
        assert.equal(big.status, 413, `${key}: a body over ${routeCase.bodyLimit} bytes is 413`);
      }
      // No credentials: 401.
      const anonymous =
        listener === 'hub'
          ? await hubRequest(platform, hub, { method, path: routeCase.path, authorization: null })
          : listener === 'central'
            ? await centralRequest(platform, { method, path: routeCase.path, token: null })
            : await dpsRequest(platform, { method, path: routeCase.path });
      assertDocumented(listener, method, route, anonymous, 'no credentials');
      assert.equal(anonymous.status, 401, `${key}: no credentials is 401`);
      assert.equal(snapshot(), before, `${key}: nothing changed`);
      await alive();
    });
  }
}

describe('hostile input on every REST route', () => {
  it('[coverage] every hub, DPS and Central route has a case (a new route without one fails here)', async () => {
    const served = (routes: readonly { method: string; url: string }[]): string[] =>
      routes.map((r) => `${r.method} ${r.url}`).sort();
    const endpoint = platform.endpoints[0];
    assert.ok(endpoint !== undefined);
    assert.deepEqual(served(endpoint.routes), Object.keys(hubCases()).sort());
    assert.deepEqual(served(platform.dpsEndpoint.routes), Object.keys(await dpsCases()).sort());
    assert.deepEqual(served(platform.centralEndpoint.routes), Object.keys(centralCases()).sort());
  });

  it('[fuzz] hub routes: documented 4xx for malformed, truncated, deep, oversized and anonymous requests', async (t) => {
    await exerciseRoutes(t, 'hub', hubCases());
  });

  it('[fuzz] DPS routes: the same on the device and service APIs', async (t) => {
    await exerciseRoutes(t, 'dps', await dpsCases());
  });

  it('[fuzz] Central routes: the same, in the Central error format', async (t) => {
    await exerciseRoutes(t, 'central', centralCases());
  });
});

// ---------------------------------------------------------------- MQTT topics

type PublishPacket = Extract<Packet, { cmd: 'publish' }>;

function publish(topic: string, payload: Buffer, qos: 0 | 1 = 0, messageId = 1): PublishPacket {
  return { cmd: 'publish', topic, payload, qos, ...(qos === 1 ? { messageId } : {}), retain: false, dup: false };
}

async function hostileDevice(deviceId: string): Promise<RawMqtt> {
  const client = await RawMqtt.connect(rawMqttOptions(platform, hub));
  const connack = await client.handshake({
    clientId: deviceId,
    username: mqttUsername(hub.hostName, deviceId),
    password: await deviceToken(hub, deviceId),
    clean: true,
  });
  assert.equal(connack.returnCode, 0);
  return client;
}

const hostilePayload = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((b) => ({ what: 'random bytes', payload: Buffer.from(b) })),
  fc
    .integer({ min: 1, max: 29 })
    .map((cut) => ({ what: `cut at ${cut}`, payload: Buffer.from('{"firmware":"1.2.3","ok":true}'.slice(0, cut)) })),
  fc.integer({ min: 11, max: 100_000 }).map((depth) => ({
    what: `${depth} levels`,
    payload: Buffer.from(`{"a":${'['.repeat(depth)}1${']'.repeat(depth)}}`),
  })),
);

const ridArbitrary = fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).map(encodeURIComponent);

/** One case per topic kind a device publishes to; each returns after its fuzzing. */
const TOPIC_CASES: Record<(typeof DEVICE_PUBLISH_TOPIC_KINDS)[number], (t: TestContext) => Promise<void>> = {
  async telemetry(t) {
    // Any payload is telemetry: a PUBACKed message must be stored, and a malformed property bag or an
    // oversized payload closes the connection without storing anything.
    const deviceId = 'mqtt-hostile';
    await check(
      t,
      fc.record({ bag: fc.string({ unit: 'binary', maxLength: 60 }), big: fc.boolean() }),
      async ({ bag, big }) => {
        const before = (await hub.queryTelemetry({ deviceId, limit: 10_000 })).length;
        const client = await hostileDevice(deviceId);
        try {
          const payload = big ? Buffer.alloc(256 * 1024 + 1, 0x61) : Buffer.from('{"t":1}');
          client.send(publish(`devices/${deviceId}/messages/events/${bag}`, payload, 1, 9));
          client.send({ cmd: 'pingreq' });
          const outcome = await Promise.race([
            client.next(isPacket('puback'), 10_000).then(
              () => 'acked' as const,
              () => 'closed' as const,
            ),
            client.waitClosed(10_000).then(() => 'closed' as const),
          ]);
          const after = (await hub.queryTelemetry({ deviceId, limit: 10_000 })).length;
          if (big) assert.equal(outcome, 'closed', 'over 256 KB closes the connection');
          assert.equal(after - before, outcome === 'acked' ? 1 : 0, `bag ${JSON.stringify(bag)}: ${outcome}`);
        } finally {
          client.end();
        }
        await alive();
      },
    );
  },
  async twinGet(t) {
    const client = await hostileDevice('twin-hostile');
    try {
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$iothub/twin/res/#', qos: 0 }] });
      await client.next(isPacket('suback'));
      const before = snapshot();
      await check(t, fc.tuple(ridArbitrary, hostilePayload), async ([rid, { payload }]) => {
        client.send(publish(`$iothub/twin/GET/?$rid=${rid}`, payload));
        const response = await client.next(isPacket('publish'));
        assert.match(response.topic, /^\$iothub\/twin\/res\/200\//);
        assert.equal(snapshot(), before);
      });
    } finally {
      client.end();
    }
    await alive();
  },
  async twinPatchReported(t) {
    const client = await hostileDevice('twin-hostile');
    try {
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$iothub/twin/res/#', qos: 0 }] });
      await client.next(isPacket('suback'));
      let n = 0;
      await check(t, hostilePayload, async ({ what, payload }) => {
        const rid = `h${++n}`;
        const before = snapshot();
        client.send(publish(`$iothub/twin/PATCH/properties/reported/?$rid=${rid}`, payload));
        const response = await client.next(
          (p): p is PublishPacket => p.cmd === 'publish' && new RegExp(`[?&]\\$rid=${rid}(&|$)`).test(p.topic),
        );
        const status = Number(/^\$iothub\/twin\/res\/(\d+)\//.exec(response.topic)?.[1]);
        if (status === 204) {
          // Random bytes can spell a valid patch ({} or {"a":1}): accepted, and that is right.
          const parsed: unknown = JSON.parse(payload.toString('utf8'));
          assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), what);
          return;
        }
        assert.ok(status === 400 || status === 413, `${what}: ${response.topic}`);
        const body = JSON.parse(Buffer.from(response.payload).toString('utf8')) as { errorCode: number };
        assert.equal(Math.floor(body.errorCode / 1000), status, `${what}: errorCode ${body.errorCode}`);
        assert.equal(snapshot(), before, `${what}: nothing stored`);
      });
      assert.equal(client.closed, false, 'refused patches leave the connection open');
    } finally {
      client.end();
    }
    await alive();
  },
  async methodResponse(t) {
    // Responses to calls that were never made are ignored, whatever they hold.
    const client = await hostileDevice('mqtt-hostile');
    try {
      const before = snapshot();
      await check(
        t,
        fc.tuple(fc.integer({ min: -1000, max: 1000 }), ridArbitrary, hostilePayload),
        async ([status, rid, { payload }]) => {
          client.send(publish(`$iothub/methods/res/${status}/?$rid=${rid}`, payload));
          client.send({ cmd: 'pingreq' });
          await client.next(isPacket('pingresp'));
          assert.equal(snapshot(), before);
        },
      );
    } finally {
      client.end();
    }
    await alive();
  },
};

const DPS_TOPIC_CASES: Record<(typeof DPS_PUBLISH_TOPIC_KINDS)[number], (t: TestContext) => Promise<void>> = {
  async register(t) {
    const raw = await dpsRawMqtt(platform, 'newcomer', await dpsToken(platform.dps.idScope, 'newcomer', WRONG_KEY));
    try {
      let n = 0;
      const before = snapshot();
      await check(
        t,
        fc.oneof(
          hostilePayload,
          fc.constant({ what: 'over 16 KB', payload: Buffer.alloc(16 * 1024 + 1, 0x20) }),
          fc.constant({ what: 'well formed, wrong key', payload: Buffer.from('{"registrationId":"newcomer"}') }),
        ),
        async ({ what, payload }) => {
          const rid = `r${++n}`;
          raw.send(publish(`$dps/registrations/PUT/iotdps-register/?$rid=${rid}`, payload));
          const response = await raw.next(
            (p): p is PublishPacket => p.cmd === 'publish' && p.topic.endsWith(`$rid=${rid}`),
          );
          const status = Number(/^\$dps\/registrations\/res\/(\d+)\//.exec(response.topic)?.[1]);
          assert.ok([400, 401, 413].includes(status), `${what}: ${response.topic}`);
          assert.equal(snapshot(), before, `${what}: nothing changed`);
        },
      );
    } finally {
      raw.end();
    }
    await alive();
  },
  async operationStatus(t) {
    const raw = await dpsRawMqtt(platform, 'newcomer', await dpsToken(platform.dps.idScope, 'newcomer', WRONG_KEY));
    try {
      let n = 0;
      await check(t, fc.tuple(ridArbitrary, hostilePayload), async ([operationId, { payload }]) => {
        const rid = `s${++n}`;
        raw.send(
          publish(`$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${operationId}`, payload),
        );
        const response = await raw.next(
          (p): p is PublishPacket => p.cmd === 'publish' && p.topic.endsWith(`$rid=${rid}`),
        );
        assert.match(response.topic, /^\$dps\/registrations\/res\/(401|404)\//);
      });
    } finally {
      raw.end();
    }
    await alive();
  },
};

/** A filter of each subscription kind, for `mqtt-hostile` (a device, not a module). */
const SUBSCRIPTION_FILTERS: Record<(typeof DEVICE_SUBSCRIPTION_KINDS)[number], { filter: string; granted: boolean }> = {
  c2d: { filter: 'devices/mqtt-hostile/messages/devicebound/#', granted: true },
  moduleInputs: { filter: 'devices/mqtt-hostile/modules/m1/inputs/#', granted: false },
  methods: { filter: '$iothub/methods/POST/#', granted: true },
  twinResponses: { filter: '$iothub/twin/res/#', granted: true },
  desiredPatches: { filter: '$iothub/twin/PATCH/properties/desired/#', granted: true },
};

describe('hostile input on every MQTT topic', () => {
  it('[coverage] every publish topic kind and subscription kind has a case', () => {
    assert.deepEqual(Object.keys(TOPIC_CASES).sort(), [...DEVICE_PUBLISH_TOPIC_KINDS].sort());
    assert.deepEqual(Object.keys(DPS_TOPIC_CASES).sort(), [...DPS_PUBLISH_TOPIC_KINDS].sort());
    assert.deepEqual(Object.keys(SUBSCRIPTION_FILTERS).sort(), [...DEVICE_SUBSCRIPTION_KINDS].sort());
  });

  for (const [kind, run] of Object.entries(TOPIC_CASES)) {
    it(`[fuzz] hub topic ${kind}`, (t) => run(t));
  }
  for (const [kind, run] of Object.entries(DPS_TOPIC_CASES)) {
    it(`[fuzz] DPS topic ${kind}`, (t) => run(t));
  }

  it('[fuzz] random SUBSCRIBE filters: 0x80 unless the filter is one the device may use; the connection stays', async (t) => {
    const client = await hostileDevice('mqtt-hostile');
    try {
      let messageId = 1;
      const known = Object.values(SUBSCRIPTION_FILTERS);
      for (const { filter, granted } of known) {
        client.send({ cmd: 'subscribe', messageId: ++messageId, subscriptions: [{ topic: filter, qos: 1 }] });
        const suback = await client.next(isPacket('suback'));
        assert.deepEqual(suback.granted, [granted ? 1 : 0x80], filter);
      }
      await check(
        t,
        fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }).filter((f) => !f.includes('\u0000')),
        async (filter) => {
          client.send({ cmd: 'subscribe', messageId: ++messageId, subscriptions: [{ topic: filter, qos: 1 }] });
          const suback = await Promise.race([
            client.next(isPacket('suback')),
            client.waitClosed().then(() => undefined),
          ]);
          if (suback === undefined) return; // a filter MQTT forbids ([MQTT-4.7.1]) closes the connection
          const allowed = known.some((k) => k.granted && k.filter === filter);
          if (!allowed) assert.deepEqual(suback.granted, [0x80], JSON.stringify(filter));
        },
      );
    } finally {
      client.end();
    }
    await alive();
  });
});

describe('after all of it', () => {
  it('[isolation] the official-SDK device never lost its connection and still sends telemetry', async () => {
    assert.equal(bystanderDisconnects, 0);
    const message = new Message(JSON.stringify({ stillHere: true }));
    message.messageId = 'after-hostile';
    await withTimeout(bystander.sendEvent(message), 10_000, 'sendEvent');
    const stored = await hub.queryTelemetry({ deviceId: 'bystander' });
    assert.equal(stored.at(-1)?.messageId, 'after-hostile');
    await alive();
  });
});
