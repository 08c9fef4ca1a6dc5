import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError, parseDpsMqttUsername, parseMqttUsername } from '../src/index.js';

const CAPTURED =
  'localhost/dev1/?api-version=2021-04-12&model-id=dtmi:com:example:TemperatureController;2&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)';

function expectMalformed(username: string): void {
  assert.throws(
    () => parseMqttUsername(username),
    (error: unknown) => error instanceof ProtocolError && error.code === 'PROTOCOL_USERNAME_MALFORMED',
    username,
  );
}

describe('parseMqttUsername', () => {
  it('[MQTT §1.1] parses the captured Node CONNECT user name (raw model id)', () => {
    assert.deepEqual(parseMqttUsername(CAPTURED), {
      hostName: 'localhost',
      deviceId: 'dev1',
      apiVersion: '2021-04-12',
      modelId: 'dtmi:com:example:TemperatureController;2',
      deviceClientType: 'azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)',
      query: {
        'api-version': '2021-04-12',
        'model-id': 'dtmi:com:example:TemperatureController;2',
        DeviceClientType: 'azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)',
      },
    });
  });

  it('[MQTT §1.1] percent-decodes an encoded model id (C/Python SDKs)', () => {
    const parsed = parseMqttUsername(
      'hub.local/dev1/?api-version=2020-09-30&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1',
    );
    assert.equal(parsed.modelId, 'dtmi:com:example:Thermostat;1');
  });

  it('[MQTT §1.1] accepts the old form without "?"', () => {
    const parsed = parseMqttUsername('hub.local/dev1/api-version=2016-11-14');
    assert.deepEqual(parsed, {
      hostName: 'hub.local',
      deviceId: 'dev1',
      apiVersion: '2016-11-14',
      query: { 'api-version': '2016-11-14' },
    });
    assert.equal(
      parseMqttUsername('hub.local/dev1/api-version=1&DeviceClientType=foo/1.0').deviceClientType,
      'foo/1.0',
    );
    assert.equal(parseMqttUsername('hub.local/dev1/mod1/api-version=1').moduleId, 'mod1');
  });

  it('[MQTT §1.9] parses a module identity', () => {
    const parsed = parseMqttUsername('hub.local/edge1/filter/?api-version=2021-04-12&DeviceClientType=x');
    assert.equal(parsed.deviceId, 'edge1');
    assert.equal(parsed.moduleId, 'filter');
    assert.equal(parsed.apiVersion, '2021-04-12');
  });

  it('[MQTT §1.1] keeps device ids verbatim, including "?", "=" and "%"', () => {
    const parsed = parseMqttUsername('hub/d%20?=x/m=1/?api-version=1');
    assert.equal(parsed.deviceId, 'd%20?=x');
    assert.equal(parsed.moduleId, 'm=1');
  });

  it('[MQTT §1.1] tolerates empty queries, bare keys, unknown keys and bad escapes', () => {
    assert.deepEqual(parseMqttUsername('hub/dev1/').query, {});
    assert.deepEqual(parseMqttUsername('hub/dev1/?').query, {});
    assert.deepEqual(parseMqttUsername('hub/dev1/?flag&x=100%&api-version=1&api-version=2').query, {
      flag: '',
      x: '100%',
      'api-version': '1',
    });
  });

  it('[MQTT §1.1] rejects user names without host, device id or the "/" after them', () => {
    for (const username of [
      '',
      'hub',
      'hub/',
      'hub/dev1',
      '/dev1/?api-version=1',
      'hub//?api-version=1',
      'hub/dev1//?x=1',
    ]) {
      expectMalformed(username);
    }
  });

  it('[MQTT §1.1] round-trips what the Node SDK writes (property)', () => {
    const idChar = fc.constantFrom(..."abcXYZ019-._*!(),:@$'".split(''));
    const id = fc.string({ unit: idChar, minLength: 1, maxLength: 12 });
    const host = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}$/);
    fc.assert(
      fc.property(
        host,
        id,
        fc.option(id, { nil: undefined }),
        fc.option(fc.stringMatching(/^dtmi:[a-z:]{1,10};[1-9]$/), { nil: undefined }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        (hostName, deviceId, moduleId, modelId, userAgent) => {
          const clientId = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`;
          const model = modelId === undefined ? '' : `&model-id=${modelId}`;
          const username = `${hostName}/${clientId}/?api-version=2021-04-12${model}&DeviceClientType=${encodeURIComponent(userAgent)}`;
          const parsed = parseMqttUsername(username);
          assert.equal(parsed.hostName, hostName);
          assert.equal(parsed.deviceId, deviceId);
          assert.equal(parsed.moduleId, moduleId);
          assert.equal(parsed.modelId, modelId);
          assert.equal(parsed.deviceClientType, userAgent);
          assert.equal(parsed.apiVersion, '2021-04-12');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('[MQTT §1.1] never throws anything but ProtocolError (fuzz)', () => {
    const text = fc.string({ unit: fc.constantFrom('h', '/', '?', '=', '&', '%', '2', 'F') });
    fc.assert(
      fc.property(fc.oneof(fc.string(), text), (username) => {
        try {
          parseMqttUsername(username);
        } catch (error) {
          assert.ok(error instanceof ProtocolError && error.code === 'PROTOCOL_USERNAME_MALFORMED');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseDpsMqttUsername', () => {
  it('[DPS §3.2] parses the captured Node DPS user name (no "?")', () => {
    assert.deepEqual(
      parseDpsMqttUsername(
        '0ne00ABCDEF/registrations/dev1/api-version=2019-03-31&ClientVersion=azure-iot-provisioning-device%2F1.9.1',
      ),
      {
        idScope: '0ne00ABCDEF',
        registrationId: 'dev1',
        apiVersion: '2019-03-31',
        clientVersion: 'azure-iot-provisioning-device/1.9.1',
        query: { 'api-version': '2019-03-31', ClientVersion: 'azure-iot-provisioning-device/1.9.1' },
      },
    );
    assert.equal(
      parseDpsMqttUsername('0ne00ABCDEF/registrations/dev1/?api-version=2019-03-31').apiVersion,
      '2019-03-31',
    );
  });

  it('[DPS §3.2] rejects user names outside the grammar', () => {
    for (const username of ['', '0ne00ABCDEF/dev1/?x', '0ne00ABCDEF/registrations/dev1', '/registrations/dev1/x']) {
      assert.throws(() => parseDpsMqttUsername(username), ProtocolError, username);
    }
  });
});
