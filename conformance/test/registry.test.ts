/**
 * The official `azure-iothub` Registry (promise API) against a Plugboard hub: device and module CRUD,
 * X.509 identities, and twin reads and updates guarded by etags. A few raw REST calls cover what the SDK
 * cannot send (twin replacement, malformed bodies, invalid ids). protocol.md §9.2, §4.4.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import serviceSdk from 'azure-iothub';
import { hubRequest, onlyHub, startTestPlatform, type TestPlatform } from './harness.js';

const { Registry } = serviceSdk;

type SdkRegistry = InstanceType<typeof Registry>;

/** The shape `azure-iothub`'s RestApiClient.translateError gives a failed call. */
interface SdkHttpError extends Error {
  response?: { statusCode?: number; headers?: Record<string, unknown> };
  responseBody?: string;
}

let platform: TestPlatform;
let registry: SdkRegistry;

before(async () => {
  platform = await startTestPlatform();
  registry = Registry.fromConnectionString(onlyHub(platform).serviceConnectionString());
});
after(async () => {
  await platform?.dispose();
});

/** Runs an SDK call that must fail and returns its error. */
async function rejection(call: () => Promise<unknown>): Promise<SdkHttpError> {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof Error, 'the SDK rejects with an Error');
    return error as SdkHttpError;
  }
  assert.fail('the call was expected to fail');
}

/** The IoT Hub error body (`{"Message":"ErrorCode:<Name>;<text>", ...}`) of a failed SDK call. */
function errorCodeOf(error: SdkHttpError): string | undefined {
  const body = JSON.parse(error.responseBody ?? '{}') as { Message?: string };
  return /^ErrorCode:([^;]+);/.exec(body.Message ?? '')?.[1];
}

function assertGeneratedKey(key: string | undefined, what: string): void {
  assert.equal(typeof key, 'string', `${what} is a string`);
  assert.ok(key !== undefined && key.length > 0, `${what} is not empty`);
  const bytes = Buffer.from(key, 'base64');
  assert.equal(bytes.length, 32, `${what} decodes to 32 bytes`);
  assert.equal(bytes.toString('base64'), key, `${what} is canonical base64`);
}

/** `Device.Authentication` in the SDK's typings omits the `type` the hub sends. */
function authType(device: { authentication?: unknown }): unknown {
  return (device.authentication as { type?: unknown } | undefined)?.type;
}

const givenPrimary = Buffer.alloc(32, 1).toString('base64');
const givenSecondary = Buffer.alloc(32, 2).toString('base64');

describe('[§9.2] azure-iothub Registry: device CRUD', () => {
  it('create with empty keys: the hub generates two 32-byte base64 keys', async () => {
    const { responseBody: device, httpResponse } = await registry.create({
      deviceId: 'reg-generated',
      authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } },
    });
    assert.equal(httpResponse.statusCode, 200);
    assert.equal(device.deviceId, 'reg-generated');
    assert.equal(device.status, 'enabled');
    assert.equal(device.connectionState, 'Disconnected');
    assert.ok(device.etag, 'the device has an etag');
    assert.ok(device.generationId, 'the device has a generationId');
    assertGeneratedKey(device.authentication?.symmetricKey?.primaryKey, 'primaryKey');
    assertGeneratedKey(device.authentication?.symmetricKey?.secondaryKey, 'secondaryKey');
    assert.notEqual(device.authentication?.symmetricKey?.primaryKey, device.authentication?.symmetricKey?.secondaryKey);
  });

  it('create without an authentication object (the SDK normalises it to empty SAS keys)', async () => {
    const { responseBody: device } = await registry.create({ deviceId: 'reg-no-auth' });
    assert.equal(authType(device), 'sas');
    assertGeneratedKey(device.authentication?.symmetricKey?.primaryKey, 'primaryKey');
  });

  it('create with given keys keeps them', async () => {
    const { responseBody: device } = await registry.create({
      deviceId: 'reg-given',
      authentication: { type: 'sas', symmetricKey: { primaryKey: givenPrimary, secondaryKey: givenSecondary } },
    });
    assert.equal(device.authentication?.symmetricKey?.primaryKey, givenPrimary);
    assert.equal(device.authentication?.symmetricKey?.secondaryKey, givenSecondary);
  });

  it('create of an existing device fails with 409 DeviceAlreadyExists (DeviceAlreadyExistsError)', async () => {
    await registry.create({ deviceId: 'reg-dup' });
    const error = await rejection(() => registry.create({ deviceId: 'reg-dup' }));
    assert.equal(error.name, 'DeviceAlreadyExistsError');
    assert.equal(error.response?.statusCode, 409);
    assert.equal(errorCodeOf(error), 'DeviceAlreadyExists');
  });

  it('get returns the device; get of a missing device fails with 404 DeviceNotFoundError', async () => {
    const { responseBody: device } = await registry.get('reg-given');
    assert.equal(device.deviceId, 'reg-given');
    assert.equal(device.authentication?.symmetricKey?.primaryKey, givenPrimary);

    const error = await rejection(() => registry.get('reg-missing'));
    assert.equal(error.name, 'DeviceNotFoundError');
    assert.equal(error.response?.statusCode, 404);
    assert.equal(errorCodeOf(error), 'DeviceNotFound');
  });

  it('list returns every created device, each with a deviceId', async () => {
    const { responseBody: devices } = await registry.list();
    assert.ok(Array.isArray(devices));
    for (const device of devices) assert.equal(typeof device.deviceId, 'string');
    const ids = devices.map((d) => d.deviceId);
    for (const id of ['reg-generated', 'reg-given', 'reg-dup']) assert.ok(ids.includes(id), `list contains ${id}`);
  });

  it('update to disabled with a statusReason changes the etag and keeps the keys', async () => {
    const { responseBody: before } = await registry.get('reg-given');
    const { responseBody: updated } = await registry.update({
      deviceId: 'reg-given',
      status: 'disabled',
      statusReason: 'maintenance',
    });
    assert.equal(updated.status, 'disabled');
    assert.equal(updated.statusReason, 'maintenance');
    assert.notEqual(updated.etag, before.etag, 'the etag changes on update');
    assert.equal(updated.authentication?.symmetricKey?.primaryKey, givenPrimary, 'omitted keys are kept');
    const { responseBody: reread } = await registry.get('reg-given');
    assert.equal(reread.status, 'disabled');
    assert.equal(reread.statusReason, 'maintenance');
    assert.equal(reread.etag, updated.etag);
  });

  it('delete removes the device: get then fails with DeviceNotFoundError, and so does a second delete', async () => {
    await registry.create({ deviceId: 'reg-delete' });
    const { httpResponse } = await registry.delete('reg-delete');
    assert.equal(httpResponse.statusCode, 204);
    const error = await rejection(() => registry.get('reg-delete'));
    assert.equal(error.name, 'DeviceNotFoundError');
    const again = await rejection(() => registry.delete('reg-delete'));
    assert.equal(again.response?.statusCode, 404);
  });

  it('create of a selfSigned X.509 device stores its thumbprints', async () => {
    const primaryThumbprint = 'A'.repeat(40);
    const secondaryThumbprint = 'B'.repeat(64);
    const { responseBody: device } = await registry.create({
      deviceId: 'reg-x509',
      authentication: { x509Thumbprint: { primaryThumbprint, secondaryThumbprint } },
    });
    assert.equal(authType(device), 'selfSigned');
    assert.equal(device.authentication?.x509Thumbprint?.primaryThumbprint, primaryThumbprint);
    assert.equal(device.authentication?.x509Thumbprint?.secondaryThumbprint, secondaryThumbprint);
    const { responseBody: reread } = await registry.get('reg-x509');
    assert.equal(authType(reread), 'selfSigned');
    assert.equal(reread.authentication?.x509Thumbprint?.primaryThumbprint, primaryThumbprint);
    const twin = (await registry.getTwin('reg-x509')).responseBody;
    assert.equal((twin as unknown as { authenticationType?: string }).authenticationType, 'selfSigned');
  });

  it('an invalid device id is rejected with 400 ArgumentInvalid (SDK: ArgumentError)', async () => {
    const error = await rejection(() => registry.create({ deviceId: 'bad#id' }));
    assert.equal(error.name, 'ArgumentError');
    assert.equal(error.response?.statusCode, 400);
    assert.equal(errorCodeOf(error), 'ArgumentInvalid');
  });
});

describe('[§9.2] azure-iothub Registry: modules', () => {
  before(async () => {
    await registry.create({ deviceId: 'reg-modules' });
  });

  it('addModule, getModule, getModulesOnDevice, removeModule', async () => {
    const added = await registry.addModule({ deviceId: 'reg-modules', moduleId: 'm1' });
    assert.equal(added.httpResponse.statusCode, 200);
    const addedBody = added.responseBody as { deviceId?: string; moduleId?: string };
    assert.equal(addedBody.deviceId, 'reg-modules');
    assert.equal(addedBody.moduleId, 'm1');
    await registry.addModule({ deviceId: 'reg-modules', moduleId: 'm2' });

    const { responseBody: module } = await registry.getModule('reg-modules', 'm1');
    assert.equal(module.deviceId, 'reg-modules');
    assert.equal(module.moduleId, 'm1');
    assertGeneratedKey(module.authentication?.symmetricKey?.primaryKey, 'module primaryKey');

    const { responseBody: modules } = await registry.getModulesOnDevice('reg-modules');
    assert.deepEqual(modules.map((m) => m.moduleId).sort(), ['m1', 'm2']);

    const duplicate = await rejection(() => registry.addModule({ deviceId: 'reg-modules', moduleId: 'm1' }));
    assert.equal(duplicate.response?.statusCode, 409);

    const removed = await registry.removeModule('reg-modules', 'm1');
    assert.equal(removed.httpResponse.statusCode, 204);
    const missing = await rejection(() => registry.getModule('reg-modules', 'm1'));
    assert.equal(missing.response?.statusCode, 404);
    assert.equal(errorCodeOf(missing), 'ModuleNotFound');
    const { responseBody: remaining } = await registry.getModulesOnDevice('reg-modules');
    assert.deepEqual(
      remaining.map((m) => m.moduleId),
      ['m2'],
    );
  });

  it('the modules of a device are not listed as devices, and go away with their device', async () => {
    const { responseBody: devices } = await registry.list();
    assert.ok(devices.every((d) => (d as { moduleId?: unknown }).moduleId === undefined));
    await registry.delete('reg-modules');
    const error = await rejection(() => registry.getModule('reg-modules', 'm2'));
    assert.equal(error.response?.statusCode, 404);
  });
});

describe('[§9.2] azure-iothub Registry: twins and etags', () => {
  const deviceId = 'reg-twin';

  before(async () => {
    await registry.create({ deviceId });
  });

  it('getTwin of a new device: desired and reported at $version 1, an etag, no tags', async () => {
    const { responseBody: twin } = await registry.getTwin(deviceId);
    assert.equal(twin.deviceId, deviceId);
    assert.ok(typeof twin.etag === 'string' && twin.etag !== '*', 'the hub sends an etag');
    assert.equal(twin.properties.desired['$version'], 1);
    assert.equal((twin.properties as { reported?: { $version?: number } }).reported?.$version, 1);
    assert.deepEqual(twin.tags, {});
  });

  it('updateTwin with the current etag succeeds; a stale etag gets 412 (InvalidEtagError); "*" always matches', async () => {
    const { responseBody: original } = await registry.getTwin(deviceId);
    const staleEtag = original.etag;

    const first = await registry.updateTwin(
      deviceId,
      { tags: { site: 'lab' }, properties: { desired: { targetTemperature: 21, fan: { speed: 1 } } } },
      staleEtag,
    );
    assert.equal(first.httpResponse.statusCode, 200);
    const afterFirst = first.responseBody;
    assert.equal(afterFirst.properties.desired['targetTemperature'], 21);
    assert.deepEqual(afterFirst.properties.desired['fan'], { speed: 1 });
    assert.equal(afterFirst.properties.desired['$version'], 2);
    assert.deepEqual(afterFirst.tags, { site: 'lab' });
    assert.notEqual(afterFirst.etag, staleEtag, 'the etag changes with the update');

    const stale = await rejection(() =>
      registry.updateTwin(deviceId, { properties: { desired: { targetTemperature: 99 } } }, staleEtag),
    );
    assert.equal(stale.response?.statusCode, 412);
    assert.equal(stale.name, 'InvalidEtagError');
    assert.equal(errorCodeOf(stale), 'PreconditionFailed');
    const { responseBody: unchanged } = await registry.getTwin(deviceId);
    assert.equal(unchanged.properties.desired['targetTemperature'], 21, 'a refused update changes nothing');
    assert.equal(unchanged.etag, afterFirst.etag);

    const forced = await registry.updateTwin(
      deviceId,
      { tags: { floor: 2 }, properties: { desired: { fan: { mode: 'auto' } } } },
      '*',
    );
    assert.deepEqual(forced.responseBody.tags, { site: 'lab', floor: 2 }, 'tags are merged');
    assert.deepEqual(forced.responseBody.properties.desired['fan'], { speed: 1, mode: 'auto' }, 'desired is merged');
    assert.equal(forced.responseBody.properties.desired['$version'], 3);

    const current = await registry.updateTwin(
      deviceId,
      { properties: { desired: { targetTemperature: 23 } } },
      forced.responseBody.etag,
    );
    assert.equal(current.responseBody.properties.desired['targetTemperature'], 23);
  });

  it('null deletes a desired property; $metadata carries $lastUpdated and $lastUpdatedVersion', async () => {
    await registry.updateTwin(deviceId, { properties: { desired: { doomed: 1, kept: 'yes' } } }, '*');
    const before = Date.now();
    const { responseBody: twin } = await registry.updateTwin(
      deviceId,
      { properties: { desired: { doomed: null } } },
      '*',
    );
    const desired = twin.properties.desired as Record<string, unknown>;
    assert.equal('doomed' in desired, false, 'null deletes the property');
    assert.equal(desired['kept'], 'yes');
    const metadata = desired['$metadata'] as Record<string, unknown> & {
      $lastUpdated?: string;
      $lastUpdatedVersion?: number;
      kept?: { $lastUpdated?: string; $lastUpdatedVersion?: number };
    };
    assert.ok(metadata, 'desired has $metadata');
    assert.equal('doomed' in metadata, false, 'the deleted property leaves $metadata too');
    assert.equal(typeof metadata.$lastUpdated, 'string');
    const lastUpdated = Date.parse(metadata.$lastUpdated ?? '');
    assert.ok(lastUpdated >= before - 5 && lastUpdated <= Date.now(), '$lastUpdated is the time of the update');
    assert.equal(metadata.$lastUpdatedVersion, desired['$version']);
    assert.equal(typeof metadata.kept?.$lastUpdated, 'string');
    assert.equal(metadata.kept?.$lastUpdatedVersion, (desired['$version'] as number) - 1);
  });

  it('updateTwin of a missing device fails with DeviceNotFoundError', async () => {
    const error = await rejection(() => registry.updateTwin('reg-twin-missing', { tags: { a: 1 } }, '*'));
    assert.equal(error.name, 'DeviceNotFoundError');
  });
});

describe('[§9.2][§4.4] raw twin and registry REST', () => {
  const deviceId = 'reg-raw';

  before(async () => {
    await registry.create({ deviceId });
    await registry.updateTwin(deviceId, { properties: { desired: { a: 1, b: { c: 2 } } } }, '*');
  });

  function hub() {
    return onlyHub(platform);
  }

  it('PUT /twins replaces desired properties (absent ones are removed) and bumps $version', async () => {
    const before = (await registry.getTwin(deviceId)).responseBody;
    const response = await hubRequest(platform, hub(), {
      method: 'PUT',
      path: `/twins/${deviceId}?api-version=2021-04-12`,
      headers: { 'if-match': `"${before.etag}"` },
      body: { properties: { desired: { z: 26 } } },
    });
    assert.equal(response.status, 200, response.text);
    const twin = response.body as { properties: { desired: Record<string, unknown> }; etag: string };
    assert.equal(twin.properties.desired['z'], 26);
    assert.equal('a' in twin.properties.desired, false, 'a replaced section drops absent properties');
    assert.equal('b' in twin.properties.desired, false);
    assert.equal(twin.properties.desired['$version'], (before.properties.desired['$version'] as number) + 1);
    assert.notEqual(twin.etag, before.etag);
    const reread = (await registry.getTwin(deviceId)).responseBody;
    assert.deepEqual(Object.keys(reread.properties.desired).sort(), ['$metadata', '$version', 'z']);
  });

  it('PATCH /twins with a body that is not a JSON object fails with 400 ArgumentInvalid', async () => {
    const bodies: { what: string; body: unknown }[] = [
      { what: 'a number', body: 42 },
      { what: 'a string', body: 'desired' },
      { what: 'an array', body: [{ properties: {} }] },
      { what: 'null', body: null },
      { what: 'malformed JSON', body: Buffer.from('{"properties":') },
    ];
    for (const { what, body } of bodies) {
      const response = await hubRequest(platform, hub(), {
        method: 'PATCH',
        path: `/twins/${deviceId}?api-version=2021-04-12`,
        headers: { 'if-match': '"*"' },
        body,
      });
      assert.equal(response.status, 400, `${what}: ${response.text}`);
      const error = response.body as { Message?: unknown; ExceptionMessage?: unknown };
      assert.equal(typeof error.Message, 'string', `${what}: IoT Hub error body`);
      assert.match(error.Message as string, /^ErrorCode:ArgumentInvalid;./, what);
      assert.equal(typeof error.ExceptionMessage, 'string', `${what}: ExceptionMessage`);
      assert.equal(response.headers['iothub-errorcode'], 'ArgumentInvalid', what);
    }
    const twin = (await registry.getTwin(deviceId)).responseBody;
    assert.equal(twin.properties.desired['z'], 26, 'refused patches change nothing');
  });

  it('a stale If-Match on PATCH /twins gets 412 PreconditionFailed', async () => {
    const response = await hubRequest(platform, hub(), {
      method: 'PATCH',
      path: `/twins/${deviceId}?api-version=2021-04-12`,
      headers: { 'if-match': '"AAAAAAAAAAE="' },
      body: { properties: { desired: { y: 1 } } },
    });
    assert.equal(response.status, 412, response.text);
    assert.match((response.body as { Message: string }).Message, /^ErrorCode:PreconditionFailed;/);
  });

  it('invalid device ids get 400 ArgumentInvalid (encoded "/", "#", space)', async () => {
    for (const encoded of ['bad%2Fid', 'bad%23id', 'bad%20id']) {
      const response = await hubRequest(platform, hub(), {
        method: 'PUT',
        path: `/devices/${encoded}?api-version=2021-04-12`,
        body: { deviceId: decodeURIComponent(encoded) },
      });
      assert.equal(response.status, 400, `${encoded}: ${response.text}`);
      assert.match((response.body as { Message: string }).Message, /^ErrorCode:ArgumentInvalid;/, encoded);
    }
    const { responseBody: devices } = await registry.list();
    assert.ok(!devices.some((d) => d.deviceId.startsWith('bad')), 'nothing was created');
  });

  it('device ids of up to 128 characters work end to end; 129 characters get 400 ArgumentInvalid', async () => {
    const longest = `long-${'x'.repeat(123)}`;
    assert.equal(longest.length, 128);
    const { responseBody: created } = await registry.create({ deviceId: longest });
    assert.equal(created.deviceId, longest);
    assert.equal((await registry.get(longest)).responseBody.deviceId, longest);
    const twin = await registry.updateTwin(longest, { tags: { long: true } }, '*');
    assert.deepEqual(twin.responseBody.tags, { long: true });
    await registry.delete(longest);

    const response = await hubRequest(platform, hub(), {
      method: 'PUT',
      path: `/devices/${'y'.repeat(129)}?api-version=2021-04-12`,
      body: { deviceId: 'y'.repeat(129) },
    });
    assert.equal(response.status, 400, response.text);
    assert.match((response.body as { Message: string }).Message, /^ErrorCode:ArgumentInvalid;/);
  });

  it('a deviceId in the body that differs from the URL gets 400', async () => {
    const response = await hubRequest(platform, hub(), {
      method: 'PUT',
      path: '/devices/reg-url?api-version=2021-04-12',
      body: { deviceId: 'reg-body' },
    });
    assert.equal(response.status, 400, response.text);
    assert.match((response.body as { Message: string }).Message, /^ErrorCode:ArgumentInvalid;/);
  });
});
