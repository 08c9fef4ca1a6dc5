import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  applySectionPatch,
  applyTagsPatch,
  newTwin,
  replaceSection,
  sectionForDevice,
  validateTwinPatch,
  versionEtag,
} from '../src/core/twin-document.js';
import { HubError } from '../src/errors.js';
import type { JsonObject, JsonValue } from '../src/core/model.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:00:01.000Z';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof HubError ? error.code : 'not a HubError';
  }
  return undefined;
}

describe('twin document algebra', () => {
  it('[twins: versions] a new twin starts with desired and reported at $version 1', () => {
    const twin = newTwin(T0);
    assert.equal(twin.desired.$version, 1);
    assert.equal(twin.reported.$version, 1);
    assert.equal(twin.etag, 'AAAAAAAAAAE=');
  });

  it('[twins: etag] etags are the version as 8 big-endian bytes in base64', () => {
    assert.equal(versionEtag(1), 'AAAAAAAAAAE=');
    assert.equal(versionEtag(258), 'AAAAAAAAAQI=');
  });

  it('[twins: merge patch] objects merge, scalars replace, null deletes, $version increments', () => {
    const twin = newTwin(T0);
    const a = applySectionPatch(twin.reported, { a: 1, o: { x: 1, y: 2 } }, T0, 'reported');
    const b = applySectionPatch(a, { a: null, o: { y: null, z: 3 } }, T1, 'reported');
    assert.deepEqual(sectionForDevice(b), { $version: 3, o: { x: 1, z: 3 } });
    assert.deepEqual(sectionForDevice(a), { $version: 2, a: 1, o: { x: 1, y: 2 } }, 'the input is not modified');
  });

  it('[twins: $metadata] every node gets $lastUpdated; desired nodes also $lastUpdatedVersion', () => {
    const twin = newTwin(T0);
    const desired = applySectionPatch(twin.desired, { target: 21, o: { x: 1 } }, T1, 'desired');
    const meta = desired.$metadata as Record<string, JsonObject>;
    assert.equal(meta['$lastUpdated'] as unknown, T1);
    assert.equal(meta['$lastUpdatedVersion'] as unknown, 2);
    assert.deepEqual(meta['target'], { $lastUpdated: T1, $lastUpdatedVersion: 2 });
    assert.equal((meta['o'] as JsonObject)['$lastUpdatedVersion'], 2);
    assert.deepEqual((meta['o'] as JsonObject)['x'], { $lastUpdated: T1, $lastUpdatedVersion: 2 });
    const reported = applySectionPatch(twin.reported, { t: 1 }, T1, 'reported');
    assert.deepEqual((reported.$metadata as JsonObject)['t'], { $lastUpdated: T1 });
    const deleted = applySectionPatch(desired, { target: null }, T1, 'desired');
    assert.equal((deleted.$metadata as JsonObject)['target'], undefined, 'deleting a property deletes its metadata');
  });

  it('[twins: PUT] replaceSection removes properties not in the replacement', () => {
    const twin = newTwin(T0);
    const a = applySectionPatch(twin.desired, { a: 1, b: 2 }, T0, 'desired');
    const b = replaceSection(a, { b: 3 }, T1, 'desired');
    assert.deepEqual(sectionForDevice(b), { $version: 3, b: 3 });
  });

  it('[twins: limits] keys with . $ space or control characters, depth > 10, > 32 KB, big integers are rejected', () => {
    assert.equal(
      codeOf(() => validateTwinPatch({ 'a.b': 1 }, 'reported')),
      'HUB_INVALID_TWIN_PATCH',
    );
    assert.equal(
      codeOf(() => validateTwinPatch({ $a: 1 }, 'reported')),
      'HUB_INVALID_TWIN_PATCH',
    );
    assert.equal(
      codeOf(() => validateTwinPatch({ 'a b': 1 }, 'reported')),
      'HUB_INVALID_TWIN_PATCH',
    );
    assert.equal(
      codeOf(() => validateTwinPatch({ 'a\u0001': 1 }, 'reported')),
      'HUB_INVALID_TWIN_PATCH',
    );
    assert.equal(
      codeOf(() => validateTwinPatch([1], 'reported')),
      'HUB_INVALID_TWIN_PATCH',
    );
    assert.equal(
      codeOf(() => validateTwinPatch('x', 'reported')),
      'HUB_INVALID_TWIN_PATCH',
    );
    assert.equal(
      codeOf(() => validateTwinPatch({ n: 2 ** 53 }, 'reported')),
      'HUB_INVALID_TWIN_PATCH',
    );
    assert.equal(
      codeOf(() => validateTwinPatch({ s: 'x'.repeat(4097) }, 'reported')),
      'HUB_INVALID_TWIN_PATCH',
    );
    // Azure's own example of the deepest valid document: "one" ... "ten", then { "property": "value" }.
    let deep: JsonObject = { property: 'value' };
    for (const level of ['ten', 'nine', 'eight', 'seven', 'six', 'five', 'four', 'three', 'two', 'one']) {
      deep = { [level]: deep };
    }
    assert.equal(
      codeOf(() => validateTwinPatch(deep, 'reported')),
      undefined,
      '10 levels are allowed',
    );
    assert.equal(
      codeOf(() => validateTwinPatch({ zero: deep }, 'reported')),
      'HUB_INVALID_TWIN_PATCH',
      '11 are not',
    );
    let arrays: JsonValue = 1;
    for (let i = 0; i < 100_000; i++) arrays = [arrays];
    assert.equal(
      codeOf(() => validateTwinPatch({ a: arrays }, 'reported')),
      'HUB_INVALID_TWIN_PATCH',
      'nested arrays',
    );
    const twin = newTwin(T0);
    const big: JsonObject = {};
    for (let i = 0; i < 10; i++) big[`k${i}`] = 'v'.repeat(4000);
    // Sizes follow Azure's rule (key + value lengths), not JSON text: 2,500 short strings fit in 32 KB.
    const many: JsonObject = {};
    for (let i = 0; i < 2500; i++) many[`p${String(i).padStart(4, '0')}`] = 'abcd';
    assert.equal(
      codeOf(() => applySectionPatch(twin.reported, many, T1, 'reported')),
      undefined,
    );
    assert.equal(
      codeOf(() => applySectionPatch(twin.reported, big, T1, 'reported')),
      'HUB_INVALID_TWIN_PATCH',
    );
    const tags: JsonObject = { a: 'x'.repeat(4000), b: 'y'.repeat(4000), c: 'z'.repeat(400) };
    assert.equal(
      codeOf(() => applyTagsPatch({}, tags)),
      'HUB_INVALID_TWIN_PATCH',
    );
  });

  it('[twins: merge patch] applying a patch then reading it back yields the patch values (property)', () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
    const leaf = fc.oneof(fc.integer(), fc.boolean(), fc.string({ maxLength: 20 }));
    const patch = fc.dictionary(key, fc.oneof(leaf, fc.dictionary(key, leaf, { maxKeys: 3, noNullPrototype: true })), {
      maxKeys: 6,
      noNullPrototype: true,
    });
    fc.assert(
      fc.property(patch, (p) => {
        const section = applySectionPatch(newTwin(T0).reported, p as JsonObject, T1, 'reported');
        const view = sectionForDevice(section);
        for (const [k, v] of Object.entries(p)) assert.deepEqual(view[k], v);
        assert.equal(section.$version, 2);
      }),
      { numRuns: 200 },
    );
  });
});
