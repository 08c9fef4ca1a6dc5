import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DPS_RESPONSE_FILTER,
  dpsOperationStatusTopic,
  dpsRegisterTopic,
  dpsResponseTopic,
  parseDpsPublishTopic,
  parseDpsResponseTopic,
} from '../src/index.js';

// The regular expression azure-iot-provisioning-device-mqtt matches response topics with.
const NODE_DPS_RESPONSE = /^\$dps\/registrations\/res\/(.*)\/\?(.*)$/;

describe('DPS MQTT topics', () => {
  it('[DPS §3.2] parses the captured register and operation-status publishes', () => {
    assert.deepEqual(
      parseDpsPublishTopic('$dps/registrations/PUT/iotdps-register/?$rid=17985872-20a3-48e7-9cbb-c01e27c6a2d4'),
      { kind: 'register', rid: '17985872-20a3-48e7-9cbb-c01e27c6a2d4' },
    );
    assert.deepEqual(
      parseDpsPublishTopic(
        '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=54973f33-178c-4235-999d-0e1e41f8dc59&operationId=4.abc.def',
      ),
      { kind: 'operationStatus', rid: '54973f33-178c-4235-999d-0e1e41f8dc59', operationId: '4.abc.def' },
    );
  });

  it('[DPS §3.2] returns undefined outside the grammar', () => {
    for (const topic of [
      '',
      '$dps/registrations/PUT/iotdps-register/',
      '$dps/registrations/PUT/iotdps-register/?$rid=',
      '$dps/registrations/PUT/iotdps-register?$rid=1',
      '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1',
      '$dps/registrations/GET/iotdps-get-operationstatus/?operationId=1',
      '$dps/registrations/res/200/?$rid=1',
      '$iothub/twin/GET/?$rid=1',
    ]) {
      assert.equal(parseDpsPublishTopic(topic), undefined, topic);
    }
  });

  it('[DPS §3.2] builds the captured response topics in the "/?" form Node matches', () => {
    assert.equal(
      dpsResponseTopic(202, '17985872-20a3-48e7-9cbb-c01e27c6a2d4', 1),
      '$dps/registrations/res/202/?$rid=17985872-20a3-48e7-9cbb-c01e27c6a2d4&retry-after=1',
    );
    assert.equal(dpsResponseTopic(200, '54973f33'), '$dps/registrations/res/200/?$rid=54973f33');
    assert.match(dpsResponseTopic(401, '1'), NODE_DPS_RESPONSE);
    assert.equal(DPS_RESPONSE_FILTER, '$dps/registrations/res/#');
  });

  it('[DPS §3.2] response, register and status topics round-trip (property)', () => {
    const rid = fc.stringMatching(/^[A-Za-z0-9-]{1,36}$/);
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        rid,
        fc.option(fc.nat(3600), { nil: undefined }),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
        (status, id, retryAfter, operationId) => {
          const topic = dpsResponseTopic(status, id, retryAfter);
          assert.match(topic, NODE_DPS_RESPONSE);
          assert.deepEqual(
            parseDpsResponseTopic(topic),
            retryAfter === undefined ? { status, rid: id } : { status, rid: id, retryAfter },
          );
          assert.deepEqual(parseDpsPublishTopic(dpsRegisterTopic(id)), { kind: 'register', rid: id });
          assert.deepEqual(parseDpsPublishTopic(dpsOperationStatusTopic(id, operationId)), {
            kind: 'operationStatus',
            rid: id,
            operationId,
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('[DPS §3.2] parsers never throw (fuzz)', () => {
    fc.assert(
      fc.property(fc.string(), (topic) => {
        parseDpsPublishTopic(topic);
        parseDpsResponseTopic(topic);
      }),
      { numRuns: 300 },
    );
  });
});
