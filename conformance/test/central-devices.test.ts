/**
 * The Central application's devices: official-SDK devices provisioning through DPS are admitted,
 * marked provisioned and assigned the template of the model id they announce; the REST routes of
 * `az iot central device list|show|create|update|delete|show-credentials` in the shapes the CLI sends
 * and reads (../shared/reference/az-central-wire.md); blocking, approval and migration (protocol.md §7.4).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import provisioningSdk from 'azure-iot-provisioning-device';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetricKeySecurity from 'azure-iot-security-symmetric-key';
import { deriveDeviceKey } from '@plugboard/protocol';
import { CENTRAL_ROLES } from '@plugboard/server';
import { connectDevice, modelRepository, provisionDevice, sampleModel, type Registration } from './central-fixtures.js';
import { centralRequest, eventually, startTestPlatform, withTimeout, type TestPlatform } from './harness.js';

const { ProvisioningDeviceClient } = provisioningSdk;
const { Mqtt: ProvisioningMqtt } = provisioningMqtt;
const { SymmetricKeySecurityClient } = symmetricKeySecurity;
const THERMOSTAT = sampleModel('Thermostat.json');
const THERMOSTAT_ID = 'dtmi:com:example:Thermostat;1';
const TEMPLATE_ID = 'dtmi:plugboard:thermostatTemplate;1';
const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';
const SECONDARY = 'c2Vjb25kYXJ5a2V5c2Vjb25kYXJ5a2V5MTIzNDU2Nzg=';
const GA = 'api-version=2022-07-31';
const PV = 'api-version=2022-06-30-preview';

let platform: TestPlatform;
let models: string;

before(async () => {
  // A model repository folder holding a model no template has.
  models = modelRepository([
    sampleModel('TemperatureController.json'),
    {
      '@context': 'dtmi:dtdl:context;2',
      '@id': 'dtmi:com:example:Humidity;1',
      '@type': 'Interface',
      displayName: 'Humidity sensor',
      contents: [{ '@type': 'Telemetry', name: 'humidity', schema: 'double' }],
    },
  ]);
  platform = await startTestPlatform({ hubs: 2, central: { modelRepository: models } });
  await platform.dps.putEnrollmentGroup('SAS-IoT-Devices', {
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: GROUP_KEY, secondaryKey: SECONDARY } },
  });
  const created = await centralRequest(platform, {
    method: 'PUT',
    path: `/api/deviceTemplates/${TEMPLATE_ID}?${PV}`,
    body: { '@type': ['ModelDefinition', 'DeviceModel'], displayName: 'Thermostat', capabilityModel: THERMOSTAT },
  });
  assert.equal(created.status, 200, created.text);
});
after(async () => {
  await platform?.dispose();
  rmSync(models, { recursive: true, force: true });
});

function provision(deviceId: string, payload?: unknown): Promise<Registration> {
  return provisionDevice(platform, deviceId, GROUP_KEY, payload);
}

/** The refusal the provisioning SDK reports (its error carries DPS's body in `result`). */
async function provisionRefusal(deviceId: string): Promise<{ errorCode?: number; message?: string }> {
  try {
    await provision(deviceId);
  } catch (error) {
    const e = error as { result?: { errorCode?: number; message?: string }; message?: string };
    return e.result ?? { message: e.message ?? String(error) };
  }
  assert.fail(`${deviceId} was provisioned`);
}

function connect(registration: Registration, modelId?: string) {
  return connectDevice(registration, GROUP_KEY, modelId);
}

async function device(id: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await centralRequest(platform, { method: 'GET', path: `/api/devices/${id}?${GA}` });
  return { status: response.status, body: response.body as Record<string, unknown> };
}

function errorOf(response: { body: unknown }): { code: string; message: string } {
  return (response.body as { error: { code: string; message: string } }).error;
}

describe('[Central] devices provisioned through DPS', () => {
  it('an official-SDK device announcing a template model is admitted, provisioned and assigned that template', async () => {
    const registration = await provision('thermo-1', { modelId: THERMOSTAT_ID });
    const shown = await device('thermo-1');
    assert.equal(shown.status, 200);
    assert.deepEqual(
      { ...shown.body, etag: undefined },
      {
        id: 'thermo-1',
        etag: undefined,
        displayName: 'thermo-1',
        enabled: true,
        provisioned: true,
        simulated: false,
        organizations: [],
        template: TEMPLATE_ID,
      },
    );
    assert.equal(typeof shown.body['etag'], 'string');
    const client = await connect(registration, THERMOSTAT_ID);
    const details = async () =>
      (await centralRequest(platform, { method: 'GET', path: '/plugboard/devices/thermo-1' })).body as Record<
        string,
        unknown
      >;
    const online = await eventually(async () => {
      const d = await details();
      return d['connected'] === true ? d : undefined;
    });
    assert.equal(online['status'], 'provisioned');
    assert.equal(online['modelId'], THERMOSTAT_ID);
    assert.equal(online['hub'], platform.dps.getRegistration('thermo-1').hub);
    assert.equal(typeof online['lastActivityTime'], 'string');
    await client.close();
    await eventually(async () => ((await details())['connected'] === false ? true : undefined));
  });

  it('an unknown model leaves the device unassigned until it is migrated to a template', async () => {
    await provision('unknown-model-1', { modelId: 'dtmi:com:example:Nothing;1' });
    const shown = await device('unknown-model-1');
    assert.equal(shown.body['provisioned'], true);
    assert.equal('template' in shown.body, false, 'no template field while unassigned');
    const migrated = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/unknown-model-1?${GA}`,
      body: { template: TEMPLATE_ID },
    });
    assert.equal(migrated.status, 200, migrated.text);
    assert.equal((migrated.body as { template: string }).template, TEMPLATE_ID);
  });

  it('a model found in the model repository folder becomes a template the device is assigned', async () => {
    await provision('humid-1', { modelId: 'dtmi:com:example:Humidity;1' });
    const shown = await device('humid-1');
    assert.equal(shown.body['template'], 'dtmi:com:example:Humidity;1');
    const template = await centralRequest(platform, {
      method: 'GET',
      path: `/api/deviceTemplates/dtmi:com:example:Humidity;1?${PV}`,
    });
    assert.equal(template.status, 200, template.text);
    assert.equal((template.body as { displayName: string }).displayName, 'Humidity sensor');
  });

  it('a template made from the repository has its components inline, as Central makes them', async () => {
    await provision('auto-ctl-1', { modelId: 'dtmi:com:example:TemperatureController;1' });
    assert.equal((await device('auto-ctl-1')).body['template'], 'dtmi:com:example:TemperatureController;1');
    const template = await centralRequest(platform, {
      method: 'GET',
      path: `/api/deviceTemplates/dtmi:com:example:TemperatureController;1?${PV}`,
    });
    assert.equal(template.status, 200, template.text);
    const contents = (template.body as { capabilityModel: { contents: Record<string, unknown>[] } }).capabilityModel
      .contents;
    // az's parse check: every item has @type; a component's schema has contents (the first use of an
    // interface; a second component of the same interface refers to it by id).
    assert.ok(contents.every((c) => c['@type'] !== undefined));
    const thermostat1 = contents.find((c) => c['name'] === 'thermostat1');
    assert.ok(Array.isArray((thermostat1?.['schema'] as { contents?: unknown })?.contents));
    const information = contents.find((c) => c['name'] === 'deviceInformation');
    assert.ok(Array.isArray((information?.['schema'] as { contents?: unknown })?.contents));
  });

  it('a device that announces its model only in the MQTT user name is assigned on connect', async () => {
    const registration = await provision('late-model-1');
    assert.equal('template' in (await device('late-model-1')).body, false);
    const client = await connect(registration, THERMOSTAT_ID);
    try {
      await eventually(async () =>
        (await device('late-model-1')).body['template'] === TEMPLATE_ID ? true : undefined,
      );
    } finally {
      await client.close();
    }
  });

  it('blocking drops the connection, refuses the hub and DPS (400209); unblocking lets it back', async () => {
    const registration = await provision('block-1', { modelId: THERMOSTAT_ID });
    const client = await connect(registration);
    const hub = platform.hubs.find((h) => h.hostName === registration.assignedHub)!;
    assert.equal(hub.isConnected({ deviceId: 'block-1' }), true);
    const current = await device('block-1');
    // As `az iot central device update --enable false` sends it: the whole device, read-only fields included.
    const blocked = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/block-1?${GA}`,
      body: { ...current.body, enabled: false },
    });
    assert.equal(blocked.status, 200, blocked.text);
    assert.equal((blocked.body as { enabled: boolean }).enabled, false);
    await eventually(() => (hub.isConnected({ deviceId: 'block-1' }) ? undefined : true));
    await client.close();
    await assert.rejects(connect(registration), 'the hub refuses a blocked device');
    const refusal = await provisionRefusal('block-1');
    assert.equal(refusal.errorCode, 400209, JSON.stringify(refusal));
    assert.match(String(refusal.message), /blocked/);

    const unblocked = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/block-1?${GA}`,
      body: { enabled: true },
    });
    assert.equal(unblocked.status, 200, unblocked.text);
    const again = await connect(registration);
    await again.close();
    assert.equal((await provision('block-1')).deviceId, 'block-1');
  });

  it('with auto-approve off a new device waits for approval (400209) until approved', async () => {
    platform.central.devices.settings.autoApprove = false;
    try {
      const refusal = await provisionRefusal('approve-1');
      assert.equal(refusal.errorCode, 400209, JSON.stringify(refusal));
      assert.match(String(refusal.message), /waiting for approval/);
      const waiting = await device('approve-1');
      assert.equal(waiting.body['enabled'], false);
      assert.equal(waiting.body['provisioned'], false);
      const details = await centralRequest(platform, { method: 'GET', path: '/plugboard/devices/approve-1' });
      assert.equal((details.body as { status: string }).status, 'waitingForApproval');
      // A device an operator created blocked is blocked, not waiting for approval.
      await centralRequest(platform, {
        method: 'PUT',
        path: `/api/devices/made-blocked?${GA}`,
        body: { enabled: false },
      });
      const madeBlocked = await centralRequest(platform, { method: 'GET', path: '/plugboard/devices/made-blocked' });
      assert.equal((madeBlocked.body as { status: string }).status, 'blocked');
      assert.match(String((await provisionRefusal('made-blocked')).message), /blocked/);
      const approved = await centralRequest(platform, {
        method: 'PATCH',
        path: `/api/devices/approve-1?${GA}`,
        body: { enabled: true },
      });
      assert.equal(approved.status, 200, approved.text);
      assert.equal((await provision('approve-1')).deviceId, 'approve-1');
      assert.equal((await device('approve-1')).body['provisioned'], true);
    } finally {
      platform.central.devices.settings.autoApprove = true;
    }
  });
});

describe('[Central] device routes', () => {
  it('device create (PUT as az sends it) then show; the credentials provision the device', async () => {
    const created = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/devices/made-1?${GA}`,
      body: { displayName: 'Made one', enabled: true, simulated: false, template: TEMPLATE_ID },
    });
    assert.equal(created.status, 200, created.text);
    const body = created.body as Record<string, unknown>;
    assert.equal(body['provisioned'], false);
    assert.equal(body['template'], TEMPLATE_ID);
    assert.equal(body['displayName'], 'Made one');
    const credentials = await centralRequest(platform, {
      method: 'GET',
      path: `/api/devices/made-1/credentials?${GA}`,
    });
    assert.equal(credentials.status, 200, credentials.text);
    const { idScope, symmetricKey } = credentials.body as {
      idScope: string;
      symmetricKey: { primaryKey: string; secondaryKey: string };
    };
    assert.equal(idScope, platform.dps.idScope);
    assert.equal(symmetricKey.primaryKey, await deriveDeviceKey(GROUP_KEY, 'made-1'));
    assert.equal(symmetricKey.secondaryKey, await deriveDeviceKey(SECONDARY, 'made-1'));
    await provision('made-1');
    const shown = await device('made-1');
    assert.equal(shown.body['provisioned'], true);
    assert.equal(shown.body['template'], TEMPLATE_ID, 'a template set at creation is kept');
    assert.equal(shown.body['displayName'], 'Made one');
  });

  it('a device attestation of its own (individual enrollment) provisions it; deleting it returns the device to the groups', async () => {
    const own = { primaryKey: 'b3duLWtleS1vd24ta2V5LW93bi1rZXktMTIzNDU2Nzg=', secondaryKey: SECONDARY };
    await centralRequest(platform, { method: 'PUT', path: `/api/devices/att-1?${GA}`, body: {} });
    const none = await centralRequest(platform, { method: 'GET', path: `/api/devices/att-1/attestation?${GA}` });
    assert.equal(none.status, 404, none.text);
    const put = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/devices/att-1/attestation?${GA}`,
      body: { type: 'symmetricKey', symmetricKey: own },
    });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.body, { type: 'symmetricKey', symmetricKey: own });
    const credentials = await centralRequest(platform, { method: 'GET', path: `/api/devices/att-1/credentials?${GA}` });
    assert.deepEqual((credentials.body as { symmetricKey: unknown }).symmetricKey, own);
    // The official SDK provisions with the device's own key (not one derived from a group).
    const client = ProvisioningDeviceClient.create(
      platform.dps.hostName,
      platform.dps.idScope,
      new ProvisioningMqtt(),
      new SymmetricKeySecurityClient('att-1', own.primaryKey) as never,
    );
    await withTimeout(client.register() as Promise<unknown>, 20_000, 'register with the own key');
    assert.equal((await device('att-1')).body['provisioned'], true);
    const patched = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/att-1/attestation?${GA}`,
      body: { symmetricKey: { primaryKey: SECONDARY, secondaryKey: own.primaryKey } },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((patched.body as { symmetricKey: { primaryKey: string } }).symmetricKey.primaryKey, SECONDARY);
    const bad = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/devices/att-1/attestation?${GA}`,
      body: { type: 'tpm' },
    });
    assert.equal(bad.status, 400, bad.text);
    const deleted = await centralRequest(platform, { method: 'DELETE', path: `/api/devices/att-1/attestation?${GA}` });
    assert.equal(deleted.status, 204);
    assert.equal(
      (await centralRequest(platform, { method: 'GET', path: `/api/devices/att-1/attestation?${GA}` })).status,
      404,
    );
    const derived = await centralRequest(platform, { method: 'GET', path: `/api/devices/att-1/credentials?${GA}` });
    assert.equal(
      (derived.body as { symmetricKey: { primaryKey: string } }).symmetricKey.primaryKey,
      await deriveDeviceKey(GROUP_KEY, 'att-1'),
    );
  });

  it('device update sends the whole current device back: read-only fields are ignored, the etag is checked', async () => {
    await centralRequest(platform, { method: 'PUT', path: `/api/devices/upd-1?${GA}`, body: { displayName: 'upd-1' } });
    const current = (await device('upd-1')).body;
    const updated = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/upd-1?${GA}`,
      body: { ...current, displayName: 'Renamed', provisioned: true },
    });
    assert.equal(updated.status, 200, updated.text);
    const after = updated.body as Record<string, unknown>;
    assert.equal(after['displayName'], 'Renamed');
    assert.equal(after['provisioned'], false, 'provisioned is read-only');
    assert.notEqual(after['etag'], current['etag']);
    const stale = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/devices/upd-1?${GA}`,
      body: { ...current, displayName: 'Lost update' },
    });
    assert.equal(stale.status, 412, stale.text);
    assert.equal(errorOf(stale).code, 'PreconditionFailed');
    assert.equal((await device('upd-1')).body['displayName'], 'Renamed');
  });

  it('device list pages with $top and nextLink; the last page has no nextLink', async () => {
    for (const id of ['page-a', 'page-b', 'page-c']) {
      await centralRequest(platform, { method: 'PUT', path: `/api/devices/${id}?${GA}`, body: {} });
    }
    const seen: string[] = [];
    let path: string | undefined = `/api/devices?${PV}&$top=2`;
    for (let pages = 0; path !== undefined; pages++) {
      assert.ok(pages < 100, 'the pages end');
      const response = await centralRequest(platform, { method: 'GET', path });
      assert.equal(response.status, 200, response.text);
      const page = response.body as { value: { id: string }[]; nextLink?: string };
      seen.push(...page.value.map((d) => d.id));
      // az follows nextLink verbatim.
      path = page.nextLink === undefined ? undefined : new URL(page.nextLink).pathname + new URL(page.nextLink).search;
    }
    for (const id of ['page-a', 'page-b', 'page-c']) assert.ok(seen.includes(id), `${id} is listed`);
    // `device list --edge-only` adds a form-encoded $filter; the CLI then keeps devices whose template is
    // an edge model, so every device is listed for it to judge.
    const edgeOnly = await centralRequest(platform, {
      method: 'GET',
      path: `/api/devices?${PV}&%24filter=type+eq+%27GatewayDevice%27+or+type+eq+%27EdgeDevice%27&$top=100`,
    });
    assert.equal(edgeOnly.status, 200, edgeOnly.text);
    assert.ok((edgeOnly.body as { value: { id: string }[] }).value.some((d) => d.id === 'page-a'));
    assert.equal(new Set(seen).size, seen.length, 'no device is listed twice');
  });

  it('the details list (what the web UI shows) searches, filters by status and template, and pages with next', async () => {
    for (const id of ['ui-list-1', 'ui-list-2', 'ui-list-3']) {
      await centralRequest(platform, {
        method: 'PUT',
        path: `/api/devices/${id}?${GA}`,
        body: { displayName: `Kitchen ${id}` },
      });
    }
    await centralRequest(platform, { method: 'PATCH', path: `/api/devices/ui-list-2?${GA}`, body: { enabled: false } });
    const list = async (
      query: string,
    ): Promise<{ value: { id: string; status: string; connected: boolean }[]; next?: string }> => {
      const response = await centralRequest(platform, { method: 'GET', path: `/plugboard/devices?${query}` });
      assert.equal(response.status, 200, response.text);
      return response.body as { value: { id: string; status: string; connected: boolean }[]; next?: string };
    };
    // By display name, any case; the details carry the status and connection.
    const kitchen = await list('search=KITCHEN');
    assert.deepEqual(
      kitchen.value.map((d) => [d.id, d.status, d.connected]),
      [
        ['ui-list-1', 'unassociated', false],
        ['ui-list-2', 'blocked', false],
        ['ui-list-3', 'unassociated', false],
      ],
    );
    assert.deepEqual(
      (await list('search=kitchen&status=blocked')).value.map((d) => d.id),
      ['ui-list-2'],
    );
    assert.deepEqual((await list(`search=kitchen&template=${encodeURIComponent(TEMPLATE_ID)}`)).value, []);
    const first = await list('search=ui-list&top=2');
    assert.deepEqual([first.value.map((d) => d.id), first.next], [['ui-list-1', 'ui-list-2'], 'ui-list-2']);
    const second = await list('search=ui-list&top=2&after=ui-list-2');
    assert.deepEqual([second.value.map((d) => d.id), second.next], [['ui-list-3'], undefined]);
    const bad = await centralRequest(platform, { method: 'GET', path: '/plugboard/devices?status=sleepy' });
    assert.equal(bad.status, 400, bad.text);
  });

  it('device delete answers 204 and removes the registration and the hub identity', async () => {
    const registration = await provision('del-1');
    const hub = platform.hubs.find((h) => h.hostName === registration.assignedHub)!;
    assert.equal(hub.has({ deviceId: 'del-1' }), true);
    const deleted = await centralRequest(platform, { method: 'DELETE', path: `/api/devices/del-1?${GA}` });
    assert.equal(deleted.status, 204);
    assert.equal(hub.has({ deviceId: 'del-1' }), false);
    assert.throws(() => platform.dps.getRegistration('del-1'));
    const gone = await device('del-1');
    assert.equal(gone.status, 404);
    assert.equal(errorOf({ body: gone.body }).code, 'NotFound');
  });

  it('bad device input gets a Central error and changes nothing', async () => {
    const cases: { body: unknown; status: number; match: RegExp }[] = [
      { body: { enabled: 'yes' }, status: 400, match: /enabled must be true or false/ },
      { body: { displayName: 42 }, status: 400, match: /displayName/ },
      { body: { organizations: 'x' }, status: 400, match: /organizations/ },
      { body: { colour: 'red' }, status: 400, match: /Unknown device field "colour"/ },
      { body: [1], status: 400, match: /JSON object/ },
      { body: { template: 'dtmi:com:example:Absent;1' }, status: 404, match: /Absent/ },
    ];
    for (const c of cases) {
      const response = await centralRequest(platform, {
        method: 'PUT',
        path: `/api/devices/bad-1?${GA}`,
        body: c.body,
      });
      assert.equal(response.status, c.status, `${JSON.stringify(c.body)}: ${response.text}`);
      assert.match(errorOf(response).message, c.match);
    }
    assert.equal((await device('bad-1')).status, 404, 'nothing was created');
    const badId = await centralRequest(platform, { method: 'PUT', path: `/api/devices/bad%20id?${GA}`, body: {} });
    assert.equal(badId.status, 400, badId.text);
  });

  it('an operator token manages devices; a template in use cannot be deleted', async () => {
    const token = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/apiTokens/devices-operator?${GA}`,
      body: { roles: [{ role: CENTRAL_ROLES.operator }] },
    });
    const operator = (token.body as { token: string }).token;
    const created = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/devices/op-1?${GA}`,
      body: { template: TEMPLATE_ID },
      token: operator,
    });
    assert.equal(created.status, 200, created.text);
    const inUse = await centralRequest(platform, {
      method: 'DELETE',
      path: `/api/deviceTemplates/${TEMPLATE_ID}?${PV}`,
    });
    assert.equal(inUse.status, 409, inUse.text);
    assert.match(errorOf(inUse).message, /assigned to devices/);
  });
});
