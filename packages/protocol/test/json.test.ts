import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_JSON_LIMITS, ProtocolError, readJson, type ProtocolErrorCode } from '../src/index.js';

function code(fn: () => unknown): ProtocolErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProtocolError) return error.code;
    throw error;
  }
  return undefined;
}

function hasProtoKey(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return true;
  return Object.values(value).some(hasProtoKey);
}

const seed = Number(process.env['PLUGBOARD_FUZZ_SEED'] ?? Date.now() % 2 ** 31);

describe('readJson: the bounded reader for untrusted JSON', () => {
  it('parses what JSON.parse parses, from text or UTF-8 bytes (BOM ignored)', () => {
    assert.deepEqual(readJson('{"temperature":21.5,"ok":true,"list":[1,"a",null]}'), {
      temperature: 21.5,
      ok: true,
      list: [1, 'a', null],
    });
    assert.deepEqual(readJson(new TextEncoder().encode('{"t":"é€😀"}')), { t: 'é€😀' });
    assert.deepEqual(readJson('\ufeff[1]'), [1]);
    assert.equal(readJson('"text"'), 'text');
  });

  it('[fuzz] agrees with JSON.parse on every JSON value within the limits, except __proto__ keys', (t) => {
    t.diagnostic(`fast-check seed ${seed} (PLUGBOARD_FUZZ_SEED)`);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        const text = JSON.stringify(value);
        if (hasProtoKey(value))
          assert.equal(
            code(() => readJson(text)),
            'PROTOCOL_JSON_FORBIDDEN_KEY',
          );
        else assert.deepEqual(readJson(text), JSON.parse(text));
      }),
      { seed, numRuns: 300 },
    );
  });

  it('[fuzz] never throws anything but a ProtocolError on arbitrary text', (t) => {
    t.diagnostic(`fast-check seed ${seed} (PLUGBOARD_FUZZ_SEED)`);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        try {
          readJson(text, { maxDepth: 4, maxKeys: 5, maxBytes: 150 });
        } catch (error) {
          assert.ok(error instanceof ProtocolError, String(error));
        }
      }),
      { seed, numRuns: 500 },
    );
  });

  it('refuses 100,000 levels of nesting without recursing (arrays, objects, mixed), inside strings ignored', () => {
    const depth = 100_000;
    assert.equal(
      code(() => readJson('['.repeat(depth) + ']'.repeat(depth))),
      'PROTOCOL_JSON_TOO_DEEP',
    );
    assert.equal(
      code(() => readJson('{"a":'.repeat(depth) + '1' + '}'.repeat(depth))),
      'PROTOCOL_JSON_TOO_DEEP',
    );
    assert.equal(
      code(() => readJson('[{"a":'.repeat(depth))),
      'PROTOCOL_JSON_TOO_DEEP',
      'even when truncated',
    );
    assert.deepEqual(readJson(JSON.stringify({ s: '[[[[[[[[[[{{{{{{{{' })), { s: '[[[[[[[[[[{{{{{{{{' });
    assert.deepEqual(readJson(JSON.stringify({ s: 'a\\"[[[[[' })), { s: 'a\\"[[[[[' });
  });

  it('the depth limit is exact: maxDepth levels pass, one more fails', () => {
    const nested = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    assert.doesNotThrow(() => readJson(nested(64)));
    assert.equal(
      code(() => readJson(nested(65))),
      'PROTOCOL_JSON_TOO_DEEP',
    );
    assert.doesNotThrow(() => readJson(nested(3), { maxDepth: 3 }));
    assert.equal(
      code(() => readJson(nested(4), { maxDepth: 3 })),
      'PROTOCOL_JSON_TOO_DEEP',
    );
    assert.equal(DEFAULT_JSON_LIMITS.maxDepth, 64);
  });

  it('refuses text over maxBytes, counting UTF-8 bytes, before parsing', () => {
    assert.equal(
      code(() => readJson(`"${'a'.repeat(10)}"`, { maxBytes: 11 })),
      'PROTOCOL_JSON_TOO_LARGE',
    );
    assert.doesNotThrow(() => readJson(`"${'a'.repeat(10)}"`, { maxBytes: 12 }));
    // 4 characters, 12 bytes.
    assert.equal(
      code(() => readJson('"€€"', { maxBytes: 7 })),
      'PROTOCOL_JSON_TOO_LARGE',
    );
    assert.doesNotThrow(() => readJson('"€€"', { maxBytes: 8 }));
    assert.equal(
      code(() => readJson(new Uint8Array(9).fill(0x31), { maxBytes: 8 })),
      'PROTOCOL_JSON_TOO_LARGE',
    );
  });

  it('refuses more members than maxKeys', () => {
    const members = (n: number): string =>
      JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
    assert.doesNotThrow(() => readJson(members(10), { maxKeys: 10 }));
    assert.equal(
      code(() => readJson(members(11), { maxKeys: 10 })),
      'PROTOCOL_JSON_TOO_MANY_KEYS',
    );
    assert.doesNotThrow(() => readJson('{"a:b:c":"x:y"}', { maxKeys: 1 }), 'colons in strings are not members');
  });

  it('refuses __proto__ keys, also when escaped, and accepts the word elsewhere', () => {
    assert.equal(
      code(() => readJson('{"__proto__":{"admin":true}}')),
      'PROTOCOL_JSON_FORBIDDEN_KEY',
    );
    assert.equal(
      code(() => readJson('{"a":[{"__proto__" :1}]}')),
      'PROTOCOL_JSON_FORBIDDEN_KEY',
    );
    assert.equal(
      code(() => readJson('{"\\u005f_proto__":1}')),
      'PROTOCOL_JSON_FORBIDDEN_KEY',
    );
    assert.deepEqual(readJson('{"note":"__proto__"}'), { note: '__proto__' });
    assert.deepEqual(readJson('{"constructor":{"prototype":1}}'), { constructor: { prototype: 1 } });
  });

  it('refuses empty, invalid and non-UTF-8 input as PROTOCOL_JSON_MALFORMED with the parser message', () => {
    for (const text of ['', ' ', '{', '{"a":}', 'nul', '[1,]', '{"a":1}}']) {
      assert.equal(
        code(() => readJson(text)),
        'PROTOCOL_JSON_MALFORMED',
        JSON.stringify(text),
      );
    }
    assert.equal(
      code(() => readJson(Uint8Array.of(0x22, 0xff, 0x22))),
      'PROTOCOL_JSON_MALFORMED',
    );
    assert.throws(() => readJson('{oops}'), /not valid JSON: /);
  });
});
