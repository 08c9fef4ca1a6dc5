/**
 * The Central application's device templates and API tokens through its REST API, shaped as
 * `az iot central device-template …` and `api-token …` send them (../shared/reference/az-central-wire.md):
 * raw `:` and `;` in template ids, `2022-06-30-preview` for templates and `2022-07-31` for tokens, the
 * token verbatim in `Authorization`, `{"value","nextLink"}` lists whose last page has no `nextLink`,
 * and `{"error":{"code","message","requestId","time"}}` on every failure.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CENTRAL_ROLES } from '@plugboard/server';
import { modelRepository, sampleModel } from './central-fixtures.js';
import { centralRequest, startTestPlatform, type TestPlatform } from './harness.js';

const THERMOSTAT = sampleModel('Thermostat.json');
const CONTROLLER = sampleModel('TemperatureController.json');
const PV = 'api-version=2022-06-30-preview';
const GA = 'api-version=2022-07-31';

let platform: TestPlatform;
let models: string;

before(async () => {
  // A model repository folder (DMR layout) with what the TemperatureController references.
  models = modelRepository();
  platform = await startTestPlatform({ central: { modelRepository: models } });
});
after(async () => {
  await platform?.dispose();
  rmSync(models, { recursive: true, force: true });
});

function template(capabilityModel: Record<string, unknown>, displayName: string) {
  return { '@type': ['ModelDefinition', 'DeviceModel'], displayName, capabilityModel };
}

function errorOf(response: { body: unknown }): { code: string; message: string; requestId: string; time: string } {
  return (response.body as { error: { code: string; message: string; requestId: string; time: string } }).error;
}

async function createToken(id: string, role: keyof typeof CENTRAL_ROLES): Promise<string> {
  const response = await centralRequest(platform, {
    method: 'PUT',
    path: `/api/apiTokens/${id}?${GA}`,
    body: { roles: [{ role: CENTRAL_ROLES[role] }] },
  });
  assert.equal(response.status, 200, response.text);
  return (response.body as { token: string }).token;
}

describe('[Central] device templates', () => {
  it('device-template create/show round trip: what was imported comes back equal, with an etag', async () => {
    const id = 'dtmi:plugboard:thermostatTemplate;1';
    const body = template(THERMOSTAT, 'Thermostat');
    const created = await centralRequest(platform, { method: 'PUT', path: `/api/deviceTemplates/${id}?${PV}`, body });
    assert.equal(created.status, 200, created.text);
    const shown = await centralRequest(platform, { method: 'GET', path: `/api/deviceTemplates/${id}?${PV}` });
    assert.equal(shown.status, 200);
    const { etag, ...exported } = shown.body as Record<string, unknown>;
    assert.equal(typeof etag, 'string');
    assert.deepEqual(exported, { '@id': id, ...body });
    assert.equal(platform.central.templates.forModel('dtmi:com:example:Thermostat;1')?.id, id);
  });

  it('a multi-component model is resolved from the model repository; without it the answer is 422 naming what is missing', async () => {
    const id = 'dtmi:plugboard:controllerTemplate;1';
    const created = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/deviceTemplates/${id}?${PV}`,
      body: template(CONTROLLER, 'Temperature Controller'),
    });
    assert.equal(created.status, 200, created.text);
    const model = platform.central.templates.get(id).model;
    assert.equal(
      model.capability('dtmi:com:example:TemperatureController;1', 'thermostat1', 'targetTemperature')?.kind,
      'Property',
    );
    const unknown = structuredClone(CONTROLLER) as { '@id': string; contents: { schema?: unknown }[] };
    unknown['@id'] = 'dtmi:plugboard:orphan;1';
    unknown.contents.push({ '@type': 'Component', name: 'extra', schema: 'dtmi:nowhere:missing;1' } as never);
    const refused = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/deviceTemplates/dtmi:plugboard:orphanTemplate;1?${PV}`,
      body: template(unknown, 'Orphan'),
    });
    assert.equal(refused.status, 422, refused.text);
    assert.equal(errorOf(refused).code, 'UnprocessableEntity');
    assert.match(errorOf(refused).message, /dtmi:nowhere:missing;1/);
  });

  it('a template whose components came from the model repository opens again after a restart without it', async () => {
    const id = 'dtmi:plugboard:controllerTemplate;1';
    assert.ok(platform.central.templates.get(id), 'imported by the previous test');
    const dataDir = platform.dataDir;
    await platform.close();
    platform = await startTestPlatform({ dataDir });
    const model = platform.central.templates.get(id).model;
    assert.equal(
      model.capability('dtmi:com:example:TemperatureController;1', 'thermostat2', 'temperature')?.kind,
      'Telemetry',
    );
    const shown = await centralRequest(platform, { method: 'GET', path: `/api/deviceTemplates/${id}?${PV}` });
    assert.equal(shown.status, 200, shown.text);
    await platform.close();
    platform = await startTestPlatform({ dataDir, central: { modelRepository: models } });
  });

  it('invalid input gets the documented status and body and stores nothing', async () => {
    const bad: { path: string; body: unknown; status: number; code: string; reason: RegExp }[] = [
      {
        path: '/api/deviceTemplates/not-a-dtmi',
        body: template(THERMOSTAT, 'x'),
        status: 400,
        code: 'BadRequest',
        reason: /DTMI/,
      },
      {
        path: '/api/deviceTemplates/dtmi:a:b;1',
        body: { displayName: 'x' },
        status: 400,
        code: 'BadRequest',
        reason: /capabilityModel/,
      },
      {
        path: '/api/deviceTemplates/dtmi:a:b;1',
        body: { ...template(THERMOSTAT, 'x'), '@type': ['Interface'] },
        status: 400,
        code: 'BadRequest',
        reason: /@type/,
      },
      {
        path: '/api/deviceTemplates/dtmi:a:b;1',
        body: { ...template(THERMOSTAT, 'x'), '@id': 'dtmi:c:d;1' },
        status: 400,
        code: 'BadRequest',
        reason: /@id/,
      },
      {
        path: '/api/deviceTemplates/dtmi:a:b;1',
        body: template({ ...THERMOSTAT, contents: [{ '@type': 'Telemetry', name: 'x y', schema: 'double' }] }, 'x'),
        status: 422,
        code: 'UnprocessableEntity',
        reason: /not valid DTDL.*dtmi:dtdl:parsingError/,
      },
      {
        path: '/api/deviceTemplates/dtmi:a:b;1',
        body: template(THERMOSTAT, 'second'),
        status: 409,
        code: 'Conflict',
        reason: /already has the capability model/,
      },
      { path: '/api/deviceTemplates/dtmi:a:b;1', body: [], status: 400, code: 'BadRequest', reason: /JSON object/ },
    ];
    for (const c of bad) {
      const response = await centralRequest(platform, { method: 'PUT', path: `${c.path}?${PV}`, body: c.body });
      assert.equal(response.status, c.status, `${c.path}: ${response.text}`);
      const error = errorOf(response);
      assert.equal(error.code, c.code);
      assert.match(error.message, c.reason);
      assert.equal(typeof error.requestId, 'string');
      assert.ok(!Number.isNaN(Date.parse(error.time)));
    }
    const missingVersion = await centralRequest(platform, { method: 'GET', path: '/api/deviceTemplates' });
    assert.equal(missingVersion.status, 400);
    assert.match(errorOf(missingVersion).message, /api-version/);
    assert.equal(
      (await centralRequest(platform, { method: 'GET', path: `/api/deviceTemplates/dtmi:a:b;1?${PV}` })).status,
      404,
    );
  });

  it('device-template list pages with $top and stops: the last page has no nextLink', async () => {
    for (let i = 0; i < 3; i++) {
      const model = { ...THERMOSTAT, '@id': `dtmi:plugboard:paged${i};1` };
      const r = await centralRequest(platform, {
        method: 'PUT',
        path: `/api/deviceTemplates/dtmi:plugboard:pagedTemplate${i};1?${PV}`,
        body: template(model, `Paged ${i}`),
      });
      assert.equal(r.status, 200, r.text);
    }
    const ids: string[] = [];
    let path: string | undefined = `/api/deviceTemplates?${PV}&$top=2`;
    for (let pages = 0; path !== undefined; pages++) {
      assert.ok(pages < 10, 'the pages end');
      const page = await centralRequest(platform, { method: 'GET', path });
      assert.equal(page.status, 200);
      const body = page.body as { value: { '@id': string }[]; nextLink?: string };
      ids.push(...body.value.map((t) => t['@id']));
      path = body.nextLink === undefined ? undefined : new URL(body.nextLink).pathname + new URL(body.nextLink).search;
      if (body.nextLink !== undefined) assert.match(body.nextLink, /^https:\/\/plugboard\.central\.local\//);
    }
    assert.deepEqual(ids, [...ids].sort());
    assert.equal(new Set(ids).size, ids.length, 'no template twice');
    assert.ok(ids.length >= 5);
  });

  it('PATCH changes the display name and keeps the rest; a stale etag is 412; DELETE removes', async () => {
    const id = 'dtmi:plugboard:pagedTemplate0;1';
    const before = (await centralRequest(platform, { method: 'GET', path: `/api/deviceTemplates/${id}?${PV}` }))
      .body as {
      etag: string;
    };
    const patched = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/deviceTemplates/${id}?${PV}`,
      body: { displayName: 'Renamed', etag: before.etag },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal((patched.body as { displayName: string }).displayName, 'Renamed');
    const stale = await centralRequest(platform, {
      method: 'PATCH',
      path: `/api/deviceTemplates/${id}?${PV}`,
      body: { displayName: 'Again', etag: before.etag },
    });
    assert.equal(stale.status, 412);
    assert.equal(
      (await centralRequest(platform, { method: 'DELETE', path: `/api/deviceTemplates/${id}?${PV}` })).status,
      204,
    );
    assert.equal(
      (await centralRequest(platform, { method: 'GET', path: `/api/deviceTemplates/${id}?${PV}` })).status,
      404,
    );
  });
});

describe('[Central] API tokens and roles', () => {
  it('no token, a forged, an expired or a revoked token: 401 with an error body', async () => {
    const operator = await createToken('op-revoked', 'operator');
    assert.equal(
      (await centralRequest(platform, { method: 'GET', path: `/api/deviceTemplates?${PV}`, token: operator })).status,
      200,
    );
    await centralRequest(platform, { method: 'DELETE', path: `/api/apiTokens/op-revoked?${GA}` });
    const forged = platform.central.adminToken.replace(/sig=[^&]+/, 'sig=AAAA');
    const expiredRaw = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/apiTokens/soon?${GA}`,
      body: { roles: [{ role: CENTRAL_ROLES.admin }], expiry: new Date(Date.now() + 1500).toISOString() },
    });
    const soon = (expiredRaw.body as { token: string }).token;
    await new Promise((r) => setTimeout(r, 1600)); // a token whose expiry has passed
    for (const [what, token] of [
      ['none', null],
      ['garbage', 'Bearer abc'],
      ['forged', forged],
      ['revoked', operator],
      ['expired', soon],
    ] as const) {
      const response = await centralRequest(platform, { method: 'GET', path: `/api/deviceTemplates?${PV}`, token });
      assert.equal(response.status, 401, what);
      assert.equal(errorOf(response).code, 'Unauthorized', what);
    }
  });

  it('an operator reads but may not create templates or tokens (403); a builder builds but may not manage tokens', async () => {
    const operator = await createToken('op', 'operator');
    const builder = await createToken('builder', 'builder');
    const model = { ...THERMOSTAT, '@id': 'dtmi:plugboard:roles;1' };
    const asOperator = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/deviceTemplates/dtmi:plugboard:rolesTemplate;1?${PV}`,
      body: template(model, 'Roles'),
      token: operator,
    });
    assert.equal(asOperator.status, 403);
    assert.equal(errorOf(asOperator).code, 'Forbidden');
    const asBuilder = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/deviceTemplates/dtmi:plugboard:rolesTemplate;1?${PV}`,
      body: template(model, 'Roles'),
      token: builder,
    });
    assert.equal(asBuilder.status, 200, asBuilder.text);
    for (const token of [operator, builder]) {
      const r = await centralRequest(platform, {
        method: 'PUT',
        path: `/api/apiTokens/x?${GA}`,
        body: { roles: [{ role: CENTRAL_ROLES.admin }] },
        token,
      });
      assert.equal(r.status, 403);
    }
    const list = await centralRequest(platform, { method: 'GET', path: `/api/apiTokens?${GA}` });
    const ids = (list.body as { value: { id: string }[] }).value.map((t) => t.id);
    assert.ok(ids.includes('plugboard-admin') && ids.includes('op') && ids.includes('builder'));
    assert.doesNotMatch(list.text, /"token"|"key"/, 'listing never shows a token or its key');
  });

  it('GET /plugboard/me names the signed-in token, its roles and the permissions they grant', async () => {
    const operator = await createToken('me-operator', 'operator');
    const me = async (token?: string) =>
      centralRequest(platform, { method: 'GET', path: '/plugboard/me', ...(token === undefined ? {} : { token }) });
    assert.deepEqual((await me(operator)).body, {
      tokenId: 'me-operator',
      roles: ['operator'],
      permissions: ['read', 'operate'],
    });
    const admin = (await me()).body as { tokenId: string; roles: string[]; permissions: string[] };
    assert.deepEqual(admin.roles, ['admin']);
    assert.deepEqual(admin.permissions, ['read', 'operate', 'build', 'administer']);
    const forged = await me('SharedAccessSignature sr=plugboard&sig=forged&skn=me-operator&se=9999999999999');
    assert.equal(forged.status, 401);
    assert.doesNotMatch(JSON.stringify(admin), /sig=|key/i, 'the answer holds no secret');
  });

  it('api-token create answers the token once, in the Central format; bad roles are 400', async () => {
    const created = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/apiTokens/shape?${GA}`,
      body: { roles: [{ role: CENTRAL_ROLES.builder }] },
    });
    const body = created.body as { id: string; roles: { role: string }[]; expiry: string; token: string };
    assert.equal(body.id, 'shape');
    assert.match(body.token, /^SharedAccessSignature sr=plugboard&sig=[^&]+&skn=shape&se=\d{13}$/);
    assert.ok(Date.parse(body.expiry) > Date.now());
    const bad = await centralRequest(platform, {
      method: 'PUT',
      path: `/api/apiTokens/bad?${GA}`,
      body: { roles: [{ role: 'superuser' }] },
    });
    assert.equal(bad.status, 400);
    assert.match(errorOf(bad).message, /Unknown role/);
  });
});
