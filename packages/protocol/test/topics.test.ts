import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  c2dTopic,
  desiredPatchTopic,
  encodePropertyBag,
  methodRequestTopic,
  moduleInputTopic,
  parseDevicePublishTopic,
  parseSubscriptionFilter,
  twinResponseTopic,
} from '../src/index.js';

describe('parseDevicePublishTopic', () => {
  it('[MQTT §1.5] telemetry with the captured property bag', () => {
    assert.deepEqual(
      parseDevicePublishTopic(
        'devices/dev1/messages/events/%24.mid=mid-1&%24.cid=cid%2F1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1&my%20prop=a%26b%3Dc',
      ),
      {
        kind: 'telemetry',
        deviceId: 'dev1',
        propertyBag:
          '%24.mid=mid-1&%24.cid=cid%2F1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1&my%20prop=a%26b%3Dc',
      },
    );
  });

  it('[MQTT §1.4] telemetry with an empty bag, with or without the trailing "/"', () => {
    for (const topic of ['devices/dev1/messages/events/', 'devices/dev1/messages/events']) {
      assert.deepEqual(parseDevicePublishTopic(topic), { kind: 'telemetry', deviceId: 'dev1', propertyBag: '' }, topic);
    }
  });

  it('[MQTT §1.4, §1.9] module telemetry; the extra trailing "/" of Node output events is stripped', () => {
    assert.deepEqual(parseDevicePublishTopic('devices/edge1/modules/filter/messages/events/%24.on=output1/'), {
      kind: 'telemetry',
      deviceId: 'edge1',
      moduleId: 'filter',
      propertyBag: '%24.on=output1',
    });
    assert.deepEqual(parseDevicePublishTopic('devices/edge1/modules/filter/messages/events//'), {
      kind: 'telemetry',
      deviceId: 'edge1',
      moduleId: 'filter',
      propertyBag: '',
    });
  });

  it('[MQTT §1.7] twin GET and PATCH reported carry the raw $rid', () => {
    assert.deepEqual(parseDevicePublishTopic('$iothub/twin/GET/?$rid=7b4a171b-57d0-481c-8a99-33ab76657597'), {
      kind: 'twinGet',
      rid: '7b4a171b-57d0-481c-8a99-33ab76657597',
    });
    assert.deepEqual(parseDevicePublishTopic('$iothub/twin/PATCH/properties/reported/?$rid=d9250a95&foo=bar'), {
      kind: 'twinPatchReported',
      rid: 'd9250a95',
    });
    assert.deepEqual(parseDevicePublishTopic('$iothub/twin/GET/?foo=1&%24rid=a%20b'), {
      kind: 'twinGet',
      rid: 'a%20b',
    });
  });

  it('[MQTT §1.8] method responses carry an integer status and the $rid', () => {
    assert.deepEqual(parseDevicePublishTopic('$iothub/methods/res/200/?$rid=1'), {
      kind: 'methodResponse',
      status: 200,
      rid: '1',
    });
    assert.deepEqual(parseDevicePublishTopic('$iothub/methods/res/-1/?$rid=x'), {
      kind: 'methodResponse',
      status: -1,
      rid: 'x',
    });
  });

  it('[MQTT §1.4] returns undefined for topics outside the grammar', () => {
    for (const topic of [
      '',
      'devices/dev1/messages',
      'devices//messages/events/',
      'devices/dev1/messages/eventsx',
      'devices/dev1/modules//messages/events/',
      'devices/dev1/messages/devicebound/',
      '/devices/dev1/messages/events/',
      '$iothub/twin/GET/',
      '$iothub/twin/GET/?',
      '$iothub/twin/GET/?$rid=',
      '$iothub/twin/GET/?rid=1',
      '$iothub/twin/GET?$rid=1',
      '$iothub/twin/PATCH/properties/desired/?$rid=1',
      '$iothub/methods/res/abc/?$rid=1',
      '$iothub/methods/res/200/?$version=1',
      '$iothub/methods/res/99999999999999999999/?$rid=1',
      '$iothub/methods/POST/reboot/?$rid=1',
      '$dps/registrations/PUT/iotdps-register/?$rid=1',
    ]) {
      assert.equal(parseDevicePublishTopic(topic), undefined, topic);
    }
  });

  it('[MQTT §1.4] never throws (fuzz)', () => {
    const text = fc.string({
      unit: fc.constantFrom(
        'devices/',
        'messages/',
        'events',
        '$iothub/',
        'twin/',
        'GET/',
        '?',
        '$rid=',
        '&',
        '%',
        'x',
      ),
    });
    fc.assert(
      fc.property(fc.oneof(fc.string(), text), (topic) => {
        parseDevicePublishTopic(topic);
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseSubscriptionFilter', () => {
  it('[MQTT §1.4] recognises exactly the documented filters', () => {
    assert.deepEqual(parseSubscriptionFilter('devices/dev1/messages/devicebound/#'), { kind: 'c2d', deviceId: 'dev1' });
    assert.deepEqual(parseSubscriptionFilter('devices/edge1/modules/filter/inputs/#'), {
      kind: 'moduleInputs',
      deviceId: 'edge1',
      moduleId: 'filter',
    });
    assert.deepEqual(parseSubscriptionFilter('$iothub/methods/POST/#'), { kind: 'methods' });
    assert.deepEqual(parseSubscriptionFilter('$iothub/twin/res/#'), { kind: 'twinResponses' });
    assert.deepEqual(parseSubscriptionFilter('$iothub/twin/PATCH/properties/desired/#'), { kind: 'desiredPatches' });
  });

  it('[MQTT §1.4][Embedded C] devices/+/messages/devicebound/# is the C2D filter of the connected device', () => {
    assert.deepEqual(parseSubscriptionFilter('devices/+/messages/devicebound/#'), { kind: 'c2d' });
  });

  it('[MQTT §1.4] rejects other filters and wildcards', () => {
    for (const filter of [
      '#',
      '$iothub/#',
      '+/+/messages/devicebound/#',
      'devices/+/messages/devicebound/+',
      'devices/+/messages/events/#',
      'devices/+/modules/+/inputs/#',
      'devices/dev1/messages/devicebound/+',
      'devices/dev1/messages/devicebound',
      'devices/dev1/messages/#',
      'devices/#/messages/devicebound/#',
      'devices/dev1/modules/+/inputs/#',
      '$iothub/methods/POST/+',
      '$iothub/twin/res/200',
      '$iothub/twin/PATCH/properties/desired',
      '$dps/registrations/res/#',
    ]) {
      assert.equal(parseSubscriptionFilter(filter), undefined, filter);
    }
  });
});

describe('hub → device topic builders', () => {
  it('[MQTT §1.4] build the documented topics', () => {
    assert.equal(
      c2dTopic('dev1', '%24.mid=m1&iothub-ack=full'),
      'devices/dev1/messages/devicebound/%24.mid=m1&iothub-ack=full',
    );
    assert.equal(c2dTopic('dev1', ''), 'devices/dev1/messages/devicebound/');
    assert.equal(
      moduleInputTopic('edge1', 'filter', 'input1', 'a=1'),
      'devices/edge1/modules/filter/inputs/input1/a=1',
    );
    assert.equal(twinResponseTopic(200, '7b4a'), '$iothub/twin/res/200/?$rid=7b4a');
    assert.equal(twinResponseTopic(204, 'd925', 6), '$iothub/twin/res/204/?$rid=d925&$version=6');
    assert.equal(desiredPatchTopic(4), '$iothub/twin/PATCH/properties/desired/?$version=4');
    assert.equal(
      methodRequestTopic('thermostat1*getMaxMinReport', '1'),
      '$iothub/methods/POST/thermostat1*getMaxMinReport/?$rid=1',
    );
  });

  it('[MQTT §1.6, trap 10] Node reads segment 4 of a C2D topic as the whole bag, and module inputs at 5/6 (property)', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9\-.:]{1,12}$/);
    const bag = fc.array(fc.tuple(fc.string({ unit: 'binary', minLength: 1 }), fc.string({ unit: 'binary' })), {
      maxLength: 4,
    });
    fc.assert(
      fc.property(id, id, id, bag, (deviceId, moduleId, inputName, properties) => {
        const encoded = encodePropertyBag(properties);
        assert.equal(c2dTopic(deviceId, encoded).split('/')[4], encoded);
        const input = moduleInputTopic(deviceId, moduleId, inputName, encoded).split('/');
        assert.equal(input[5], inputName);
        assert.equal(input[6], encoded);
      }),
      { numRuns: 200 },
    );
  });

  it('[MQTT §1.7] a device twin GET topic round-trips its $rid (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9\-_.~]{1,40}$/), (rid) => {
        assert.deepEqual(parseDevicePublishTopic(`$iothub/twin/GET/?$rid=${rid}`), { kind: 'twinGet', rid });
        assert.deepEqual(parseDevicePublishTopic(`$iothub/methods/res/200/?$rid=${rid}`), {
          kind: 'methodResponse',
          status: 200,
          rid,
        });
        assert.equal(twinResponseTopic(200, rid).endsWith(`?$rid=${rid}`), true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('parseDevicePublishTopic: telemetry topics read without a regular expression', () => {
  /** The grammar as a regular expression: the reference the string search must agree with. */
  const TELEMETRY = /^devices\/([^/]+)(?:\/modules\/([^/]+))?\/messages\/events(?:\/(.*))?$/s;
  function reference(topic: string): unknown {
    const m = TELEMETRY.exec(topic);
    if (m === null) return undefined;
    const [, deviceId = '', moduleId, bag = ''] = m;
    const propertyBag = bag.replace(/\/+$/, '');
    return moduleId === undefined
      ? { kind: 'telemetry', deviceId, propertyBag }
      : { kind: 'telemetry', deviceId, moduleId, propertyBag };
  }

  it('[fuzz] agrees with the grammar on topics built from its pieces and on random text', () => {
    const piece = fc.constantFrom('devices', 'modules', 'messages', 'events', 'd1', 'm1', '', '%24.ct=x', 'a\nb');
    const built = fc
      .array(piece, { maxLength: 7 })
      .chain((parts) => fc.boolean().map((slash) => parts.join('/') + (slash ? '/' : '')));
    fc.assert(
      fc.property(
        fc.oneof(
          built,
          fc.string({ maxLength: 40 }).map((t) => `devices/${t}`),
        ),
        (topic) => {
          if (reference(topic) === undefined) {
            const parsed = parseDevicePublishTopic(topic);
            assert.ok(parsed === undefined || parsed.kind !== 'telemetry', topic);
          } else {
            assert.deepEqual(parseDevicePublishTopic(topic), reference(topic), topic);
          }
        },
      ),
      { numRuns: 2000 },
    );
    for (const topic of [
      'devices/d/messages/events',
      'devices/d/messages/events/',
      'devices/d/messages/events//',
      'devices/d/messages/events/a//',
      'devices/d/messages/events//a',
      'devices/d/messages/eventsX',
      'devices//messages/events',
      'devices/d/modules//messages/events',
      'devices/x/modules/messages/events',
      'devices/d/modules/m/messages/events/%24.ct=a',
    ]) {
      assert.deepEqual(parseDevicePublishTopic(topic), reference(topic), topic);
    }
  });
});
