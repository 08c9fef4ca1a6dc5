import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ifMatchHolds, parseIfMatch } from '../src/index.js';

describe('If-Match (RFC 9110 §13.1.1, as IoT Hub reads it)', () => {
  it('`*` and `"*"` (what azure-iothub sends for forced updates) match any etag', () => {
    for (const header of ['*', '"*"', ' * ']) {
      assert.deepEqual(parseIfMatch(header), { kind: 'any' });
      assert.equal(ifMatchHolds(parseIfMatch(header), 'MA=='), true);
    }
  });

  it('a quoted etag matches only itself', () => {
    assert.deepEqual(parseIfMatch('"AAAAAAAAAAE="'), { kind: 'etag', etag: 'AAAAAAAAAAE=' });
    assert.equal(ifMatchHolds(parseIfMatch('"MA=="'), 'MA=='), true);
    assert.equal(ifMatchHolds(parseIfMatch('"MQ=="'), 'MA=='), false);
  });

  it('[finding 4] empty, a lone quote, a space, `""`, weak and unquoted tags are malformed and never hold', () => {
    for (const header of ['', '"', ' ', '""', '"""', 'W/"MA=="', 'MA==', '"a", "b"']) {
      const parsed = parseIfMatch(header);
      assert.equal(parsed?.kind, 'malformed', JSON.stringify(header));
      assert.equal(ifMatchHolds(parsed, 'MA=='), false, JSON.stringify(header));
      assert.equal(ifMatchHolds(parsed, ''), false, `${JSON.stringify(header)} against an empty etag`);
    }
  });

  it('no header: unconditional', () => {
    assert.equal(parseIfMatch(undefined), undefined);
    assert.equal(ifMatchHolds(undefined, 'MA=='), true);
  });

  it('allowUnquoted reads a bare token as an etag (DPS), but still never an empty one', () => {
    assert.deepEqual(parseIfMatch('abc', { allowUnquoted: true }), { kind: 'etag', etag: 'abc' });
    assert.deepEqual(parseIfMatch('"abc"', { allowUnquoted: true }), { kind: 'etag', etag: 'abc' });
    for (const header of ['', ' ', '"', '""', 'a b']) {
      assert.equal(parseIfMatch(header, { allowUnquoted: true })?.kind, 'malformed', JSON.stringify(header));
    }
  });
});
