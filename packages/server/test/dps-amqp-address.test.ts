/** DPS over AMQP: registration link addresses (also the SASL PLAIN user name) and the condition table. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DPS_ERROR_CODES } from '../src/core/dps-errors.js';
import { DPS_AMQP_CONDITIONS, parseRegistrationAddress } from '../src/edges/dps/amqp.js';

describe('parseRegistrationAddress', () => {
  it('reads {idScope}/registrations/{registrationId}', () => {
    assert.deepEqual(parseRegistrationAddress('0ne00ABCDEF/registrations/dev-1'), {
      idScope: '0ne00ABCDEF',
      registrationId: 'dev-1',
    });
  });

  it('refuses anything else', () => {
    for (const address of [
      undefined,
      42,
      '',
      '$cbs',
      '0ne00ABCDEF/registrations/',
      '/registrations/dev-1',
      '0ne00ABCDEF/devices/dev-1',
      '0ne00ABCDEF/registrations/dev-1/extra',
    ]) {
      assert.equal(parseRegistrationAddress(address), undefined, String(address));
    }
  });
});

describe('DPS_AMQP_CONDITIONS', () => {
  it('maps every DPS error code; the retried ones are those the Node SDK retries', () => {
    assert.deepEqual(Object.keys(DPS_AMQP_CONDITIONS).sort(), [...DPS_ERROR_CODES].sort());
    assert.equal(DPS_AMQP_CONDITIONS.DPS_THROTTLED, 'com.microsoft:device-container-throttled');
    assert.equal(DPS_AMQP_CONDITIONS.DPS_INTERNAL, 'amqp:internal-error');
    assert.equal(DPS_AMQP_CONDITIONS.DPS_UNAUTHORIZED, 'amqp:unauthorized-access');
  });
});
