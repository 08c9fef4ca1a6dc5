import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { COMPONENT_MARKER, componentCommandName, parseCommandName, writablePropertyAck } from '../src/index.js';

describe('Plug and Play conventions', () => {
  it('[PnP §6.5] component commands are named component*command', () => {
    assert.equal(componentCommandName('thermostat1', 'getMaxMinReport'), 'thermostat1*getMaxMinReport');
    assert.equal(componentCommandName(undefined, 'reboot'), 'reboot');
    assert.deepEqual(parseCommandName('thermostat1*getMaxMinReport'), {
      component: 'thermostat1',
      command: 'getMaxMinReport',
    });
    assert.deepEqual(parseCommandName('reboot'), { command: 'reboot' });
    assert.deepEqual(parseCommandName('*x'), { command: '*x' });
    assert.deepEqual(parseCommandName('x*'), { command: 'x*' });
  });

  it('[PnP §6.5] command names round-trip (property)', () => {
    const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,20}$/);
    fc.assert(
      fc.property(fc.option(name, { nil: undefined }), name, (component, command) => {
        const parsed = parseCommandName(componentCommandName(component, command));
        assert.deepEqual(parsed, component === undefined ? { command } : { component, command });
      }),
      { numRuns: 200 },
    );
  });

  it('[PnP:writable-ack §6.4] builds acks as documented, omitting an undefined ad', () => {
    assert.equal(
      JSON.stringify({ targetTemperature: writablePropertyAck({ value: 21.3, ac: 200, av: 3, ad: 'completed' }) }),
      '{"targetTemperature":{"value":21.3,"ac":200,"av":3,"ad":"completed"}}',
    );
    assert.deepEqual(writablePropertyAck({ value: 20, ac: 203, av: 0, ad: undefined }), { value: 20, ac: 203, av: 0 });
  });

  it('[PnP §6.3] the component marker is {"__t":"c"}', () => {
    assert.equal(
      JSON.stringify({ thermostat1: { ...COMPONENT_MARKER, maxTempSinceLastReboot: 38.7 } }),
      '{"thermostat1":{"__t":"c","maxTempSinceLastReboot":38.7}}',
    );
  });
});
