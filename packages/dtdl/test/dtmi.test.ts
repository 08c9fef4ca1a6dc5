import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DtdlError, dtmiToPath, formatDtmi, isValidDtmi, parseDtmi } from '../src/index.js';

describe('DTMI', () => {
  it('[Requirement-DtmiRegexRequiredScalarVersionV2] v2 requires ;N with 1..999999999 and no leading zero', () => {
    for (const ok of ['dtmi:foo;1', 'dtmi:com:example:Thermostat;1', 'dtmi:a_b:c1;999999999']) {
      assert.equal(isValidDtmi(ok), true, ok);
    }
    for (const bad of [
      'dtmi:foo:bar',
      'dtmi:foo;0',
      'dtmi:foo;01',
      'dtmi:foo;1234567890',
      'dtmi:foo;3.14',
      'dtmi:foo_;1',
      'dtmi:_foo;1',
      'dtmi:1foo;1',
      'DTMI:foo;1',
      'urn:foo;1',
      'dtmi:foo;1#frag',
      'dtmi::foo;1',
      '',
    ]) {
      assert.equal(isValidDtmi(bad), false, bad);
    }
    assert.equal(isValidDtmi(42), false);
  });

  it('[Requirement-DtmiRegexV3] v3 allows no version and ;N.M (minor 1..999999)', () => {
    for (const ok of ['dtmi:foo:bar', 'dtmi:foo;1.2', 'dtmi:foo;1.999999', 'dtmi:foo;7']) {
      assert.equal(isValidDtmi(ok, { dtdlVersion: 3 }), true, ok);
    }
    for (const bad of ['dtmi:foo;1.0', 'dtmi:foo;1.01', 'dtmi:foo;1.1234567', 'dtmi:foo;0', 'dtmi:foo;']) {
      assert.equal(isValidDtmi(bad, { dtdlVersion: 3 }), false, bad);
    }
  });

  it('rejects DTMIs longer than 4096 characters', () => {
    const long = `dtmi:${'a'.repeat(4100)};1`;
    assert.equal(isValidDtmi(long), false);
    assert.throws(
      () => parseDtmi(long),
      (e: unknown) => e instanceof DtdlError && e.code === 'DTDL_INVALID_DTMI',
    );
  });

  it('parses the general grammar: labels, versions, system segments, fragments', () => {
    const d = parseDtmi('dtmi:com:example:Thermostat;1');
    assert.deepEqual(d.labels, ['com', 'example', 'Thermostat']);
    assert.equal(d.majorVersion, 1);
    assert.equal(d.minorVersion, undefined);
    assert.equal(d.versionless, 'dtmi:com:example:Thermostat');
    assert.equal(d.isSystem, false);
    const g = parseDtmi('dtmi:example:start:_contents:__Friend;1');
    assert.equal(g.isSystem, true);
    const f = parseDtmi('dtmi:foo:bar;3.2#baz');
    assert.equal(f.minorVersion, 2);
    assert.equal(f.fragment, 'baz');
    assert.equal(f.versionless, 'dtmi:foo:bar');
    assert.equal(parseDtmi('dtmi:dtdl:context;2').isReserved, true);
    assert.throws(() => parseDtmi('http://example.com'), DtdlError);
  });

  it('formats parts and round-trips', () => {
    assert.equal(formatDtmi({ labels: ['com', 'example', 'X'], majorVersion: 2 }), 'dtmi:com:example:X;2');
    assert.equal(formatDtmi({ labels: ['a'], majorVersion: 1, minorVersion: 5 }), 'dtmi:a;1.5');
    assert.throws(() => formatDtmi({ labels: ['1bad'] }), DtdlError);
  });

  it('[DMR] maps a DTMI to its repository path (lowercased, ; -> -)', () => {
    assert.equal(dtmiToPath('dtmi:com:Example:Thermostat;1'), 'dtmi/com/example/thermostat-1.json');
    assert.equal(
      dtmiToPath('dtmi:com:example:TemperatureController;1', { expanded: true }),
      'dtmi/com/example/temperaturecontroller-1.expanded.json',
    );
    assert.throws(() => dtmiToPath('not-a-dtmi'), DtdlError);
  });
});
