import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError, formatConnectionString, parseConnectionString } from '../src/index.js';

function expectMalformed(text: string): void {
  assert.throws(
    () => parseConnectionString(text),
    (error: unknown) => error instanceof ProtocolError && error.code === 'PROTOCOL_CONNECTION_STRING_MALFORMED',
    JSON.stringify(text),
  );
}

describe('connection strings', () => {
  it('[CS] parses a device connection string, splitting on the first "="', () => {
    assert.deepEqual(
      parseConnectionString(
        'HostName=myhub.local;DeviceId=dev1;SharedAccessKey=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
      ),
      { HostName: 'myhub.local', DeviceId: 'dev1', SharedAccessKey: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=' },
    );
  });

  it('[CS] keeps keys case-sensitive, values verbatim, and tolerates a trailing ";" and surrounding whitespace', () => {
    const parsed = parseConnectionString(
      '  HostName=h;hostname=x;SharedAccessSignature=SharedAccessSignature sr=h%2Fdevices%2Fd&sig=a%3D&se=1;\n',
    );
    assert.deepEqual(parsed, {
      HostName: 'h',
      hostname: 'x',
      SharedAccessSignature: 'SharedAccessSignature sr=h%2Fdevices%2Fd&sig=a%3D&se=1',
    });
    assert.ok(Object.isFrozen(parsed));
  });

  it('[CS] rejects empty text, parts without "=", empty keys and repeated keys', () => {
    for (const text of ['', '   ', ';', ';;', 'HostName', 'HostName=h;DeviceId', '=x', 'HostName=h;=x', 'A=1;A=2']) {
      expectMalformed(text);
    }
  });

  it('[CS] formats in insertion order and skips undefined', () => {
    assert.equal(
      formatConnectionString({ HostName: 'h', DeviceId: 'd', ModuleId: undefined, SharedAccessKey: 'k==' }),
      'HostName=h;DeviceId=d;SharedAccessKey=k==',
    );
  });

  it('[CS] refuses to format what could not be parsed back', () => {
    for (const fields of [{ '': 'x' }, { 'A=B': 'x' }, { 'A;B': 'x' }, { A: 'x;y' }]) {
      assert.throws(() => formatConnectionString(fields), ProtocolError);
    }
  });

  it('[CS] format → parse round-trips (property)', () => {
    const key = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,12}$/);
    const value = fc.string({ unit: 'binary', maxLength: 30 }).filter((v) => !v.includes(';') && v.trim() === v);
    fc.assert(
      fc.property(fc.dictionary(key, value, { minKeys: 1, maxKeys: 6 }), (fields) => {
        assert.deepEqual(Object.entries(parseConnectionString(formatConnectionString(fields))), Object.entries(fields));
      }),
      { numRuns: 200 },
    );
  });

  it('[CS] parse never throws anything but ProtocolError (fuzz)', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'B', '=', ';', ' ', 'x') });
    fc.assert(
      fc.property(fc.oneof(fc.string(), text), (input) => {
        try {
          parseConnectionString(input);
        } catch (error) {
          assert.ok(error instanceof ProtocolError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
