import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  c2dTopic,
  d2cPropertyBag,
  decodeD2cProperties,
  desiredPatchTopic,
  deviceSubscriptions,
  encodePropertyBag,
  formatDpsMqttUsername,
  formatMqttUsername,
  methodRequestTopic,
  methodResponseTopic,
  moduleInputTopic,
  parseDevicePublishTopic,
  parseDpsMqttUsername,
  parseHubToDeviceTopic,
  parseMqttUsername,
  parseSubscriptionFilter,
  telemetryTopic,
  twinGetTopic,
  twinPatchReportedTopic,
  twinResponseTopic,
} from '../src/index.js';

describe('device-side topics', () => {
  it('[MQTT §1.4] what a device publishes parses back as the hub reads it', () => {
    assert.deepEqual(parseDevicePublishTopic(telemetryTopic({ deviceId: 'dev1' }, '%24.ct=application%2Fjson')), {
      kind: 'telemetry',
      deviceId: 'dev1',
      propertyBag: '%24.ct=application%2Fjson',
    });
    assert.equal(telemetryTopic({ deviceId: 'dev1' }, ''), 'devices/dev1/messages/events/');
    assert.deepEqual(parseDevicePublishTopic(telemetryTopic({ deviceId: 'e', moduleId: 'm' }, '')), {
      kind: 'telemetry',
      deviceId: 'e',
      moduleId: 'm',
      propertyBag: '',
    });
    assert.deepEqual(parseDevicePublishTopic(twinGetTopic('r1')), { kind: 'twinGet', rid: 'r1' });
    assert.deepEqual(parseDevicePublishTopic(twinPatchReportedTopic('r2')), { kind: 'twinPatchReported', rid: 'r2' });
    assert.deepEqual(parseDevicePublishTopic(methodResponseTopic(404, 'r3')), {
      kind: 'methodResponse',
      status: 404,
      rid: 'r3',
    });
  });

  it('[MQTT §1.4] the subscription filters are the documented ones', () => {
    const device = deviceSubscriptions({ deviceId: 'dev1' });
    assert.deepEqual(parseSubscriptionFilter(device.c2d), { kind: 'c2d', deviceId: 'dev1' });
    assert.deepEqual(parseSubscriptionFilter(device.methods), { kind: 'methods' });
    assert.deepEqual(parseSubscriptionFilter(device.twinResponses), { kind: 'twinResponses' });
    assert.deepEqual(parseSubscriptionFilter(device.desiredPatches), { kind: 'desiredPatches' });
    assert.deepEqual(parseSubscriptionFilter(deviceSubscriptions({ deviceId: 'e', moduleId: 'm' }).c2d), {
      kind: 'moduleInputs',
      deviceId: 'e',
      moduleId: 'm',
    });
  });

  it('[MQTT §1.6-1.8] what the hub publishes parses on the device side', () => {
    assert.deepEqual(parseHubToDeviceTopic(twinResponseTopic(204, 'd9', 6)), {
      kind: 'twinResponse',
      status: 204,
      rid: 'd9',
      version: 6,
    });
    assert.deepEqual(parseHubToDeviceTopic(twinResponseTopic(200, 'x')), {
      kind: 'twinResponse',
      status: 200,
      rid: 'x',
    });
    assert.deepEqual(parseHubToDeviceTopic(desiredPatchTopic(4)), { kind: 'desiredPatch', version: 4 });
    assert.deepEqual(parseHubToDeviceTopic(methodRequestTopic('thermostat1*getMaxMinReport', '1')), {
      kind: 'methodRequest',
      methodName: 'thermostat1*getMaxMinReport',
      rid: '1',
    });
    assert.deepEqual(parseHubToDeviceTopic(c2dTopic('dev1', 'method-name=setAlarm')), {
      kind: 'c2d',
      deviceId: 'dev1',
      propertyBag: 'method-name=setAlarm',
    });
    assert.deepEqual(parseHubToDeviceTopic(moduleInputTopic('e', 'm', 'input1', 'a=b')), {
      kind: 'moduleInput',
      deviceId: 'e',
      moduleId: 'm',
      inputName: 'input1',
      propertyBag: 'a=b',
    });
    for (const bad of ['$iothub/twin/res/200/?x=1', '$iothub/methods/POST/m/?', 'other/topic', 'devices/d/x']) {
      assert.equal(parseHubToDeviceTopic(bad), undefined, bad);
    }
  });

  it('[MQTT §1.4] parseHubToDeviceTopic never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string(), (topic) => {
        parseHubToDeviceTopic(topic);
      }),
      { numRuns: 500 },
    );
  });
});

describe('device-side user names', () => {
  it("[MQTT §1.1] the user name is the Node SDK's, model id raw between api-version and DeviceClientType", () => {
    const username = formatMqttUsername({
      hostName: 'localhost',
      deviceId: 'dev1',
      modelId: 'dtmi:com:example:TemperatureController;2',
      deviceClientType: 'azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)',
    });
    assert.equal(
      username,
      'localhost/dev1/?api-version=2021-04-12&model-id=dtmi:com:example:TemperatureController;2&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)',
    );
    const parsed = parseMqttUsername(username);
    assert.equal(parsed.modelId, 'dtmi:com:example:TemperatureController;2');
    assert.equal(parsed.deviceClientType, 'azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)');
    assert.equal(
      formatMqttUsername({ hostName: 'h', deviceId: 'e', moduleId: 'm', deviceClientType: 'x' }),
      'h/e/m/?api-version=2021-04-12&DeviceClientType=x',
    );
  });

  it('[DPS §3.2] the DPS user name is the provisioning SDK\'s (no "?")', () => {
    const username = formatDpsMqttUsername({
      idScope: '0ne00ABCDEF',
      registrationId: 'dev1',
      clientVersion: 'azure-iot-provisioning-device/1.9.1',
    });
    assert.equal(
      username,
      '0ne00ABCDEF/registrations/dev1/api-version=2019-03-31&ClientVersion=azure-iot-provisioning-device%2F1.9.1',
    );
    assert.equal(parseDpsMqttUsername(username).clientVersion, 'azure-iot-provisioning-device/1.9.1');
  });
});

describe('d2cPropertyBag', () => {
  it('[MQTT §1.5] encodes as the captured Node publish, and decodes back', () => {
    const encoded = encodePropertyBag(
      d2cPropertyBag({
        messageId: 'mid-1',
        correlationId: 'cid/1',
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        component: 'thermostat1',
        application: { 'my prop': 'a&b=c' },
      }),
    );
    assert.equal(
      encoded,
      '%24.mid=mid-1&%24.cid=cid%2F1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1&my%20prop=a%26b%3Dc',
    );
  });

  it('[MQTT §1.5] creation time becomes iothub-creation-time-utc; round trip through decodeD2cProperties', () => {
    fc.assert(
      fc.property(
        fc.record({
          contentType: fc.constantFrom('application/json', 'text/plain'),
          component: fc.string({ minLength: 1, maxLength: 12 }),
          creationTimeUtc: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          application: fc.dictionary(
            fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !k.startsWith('$.') && k !== '__proto__'),
            fc.string({ maxLength: 8 }),
          ),
        }),
        (props) => {
          const decoded = decodeD2cProperties(encodePropertyBag(d2cPropertyBag(props)));
          assert.equal(decoded.contentType, props.contentType);
          assert.equal(decoded.component, props.component);
          assert.equal(decoded.creationTimeUtc, props.application['iothub-creation-time-utc'] ?? props.creationTimeUtc);
          for (const [key, value] of Object.entries(props.application)) assert.equal(decoded.application[key], value);
        },
      ),
      { numRuns: 300 },
    );
  });
});
