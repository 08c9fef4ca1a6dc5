/**
 * Forms from DTDL schemas: the fields each schema asks for, the value filled-in texts make, and each
 * refusal with the schema's reason (a string in a double, an object missing a field, a bad enum value,
 * a malformed date, time or duration), so bad input never leaves the form.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formFields, formValue } from '../src/schema-form.js';

const POINT = {
  '@type': 'Object',
  fields: [
    { name: 'x', schema: 'double', displayName: 'X' },
    { name: 'count', schema: 'integer' },
    { name: 'label', schema: 'string' },
    {
      name: 'mode',
      schema: {
        '@type': 'Enum',
        valueSchema: 'integer',
        enumValues: [
          { name: 'fast', enumValue: 1 },
          { name: 'slow', enumValue: 2, displayName: 'Slow' },
        ],
      },
    },
    { name: 'tags', schema: { '@type': 'Array', elementSchema: 'string' } },
  ],
};

describe('schema forms', () => {
  it('asks one field per primitive, enum or object member, and JSON for the rest', () => {
    assert.deepEqual(formFields('double', 'Target'), [{ path: [], label: 'Target', kind: 'number', schema: 'double' }]);
    assert.deepEqual(
      formFields(POINT, 'Point').map((f) => [f.path.join('.'), f.label, f.kind, f.schema]),
      [
        ['x', 'X', 'number', 'double'],
        ['count', 'count', 'integer', 'integer'],
        ['label', 'label', 'text', 'string'],
        ['mode', 'mode', 'enum', 'Enum'],
        ['tags', 'tags', 'json', 'Array'],
      ],
    );
    assert.deepEqual(formFields(POINT, 'Point')[3]?.choices, [
      { value: 1, label: 'fast' },
      { value: 2, label: 'Slow' },
    ]);
  });

  it('makes the value the schema describes', () => {
    assert.deepEqual(formValue(formFields('double', 'T'), { T: ' 21.5 ' }), { ok: true, value: 21.5 });
    assert.deepEqual(formValue(formFields('boolean', 'On'), { On: 'false' }), { ok: true, value: false });
    assert.deepEqual(formValue(formFields('string', 'Name'), { Name: '' }), { ok: true, value: '' });
    assert.deepEqual(formValue(formFields('duration', 'D'), { D: 'PT5M' }), { ok: true, value: 'PT5M' });
    assert.deepEqual(
      formValue(formFields(POINT, 'Point'), { X: '1.5', count: '3', label: ' a ', mode: '2', tags: '["t"]' }),
      { ok: true, value: { x: 1.5, count: 3, label: ' a ', mode: 2, tags: ['t'] } },
    );
  });

  it("refuses bad input with the schema's reason", () => {
    assert.deepEqual(formValue(formFields('double', 'T'), { T: 'warm' }), {
      ok: false,
      errors: { T: 'must be a number (double)' },
    });
    assert.deepEqual(formValue(formFields('integer', 'N'), { N: '2.5' }), {
      ok: false,
      errors: { N: 'must be a whole number (integer)' },
    });
    assert.deepEqual(formValue(formFields('dateTime', 'Since'), { Since: 'yesterday' }), {
      ok: false,
      errors: { Since: 'must be a date and time (ISO 8601)' },
    });
    assert.deepEqual(formValue(formFields('time', 'At'), { At: '25h' }), {
      ok: false,
      errors: { At: 'must be a time, hh:mm:ss' },
    });
    assert.deepEqual(formValue(formFields('duration', 'D'), { D: 'P' }), {
      ok: false,
      errors: { D: 'must be an ISO 8601 duration, e.g. PT5M' },
    });
    // An object missing a member, with a bad enum value and bad JSON: each field says why.
    assert.deepEqual(formValue(formFields(POINT, 'Point'), { X: '1', mode: '9', tags: '[' }), {
      ok: false,
      errors: {
        count: 'is required',
        label: 'is required',
        mode: 'must be one of the listed values',
        tags: 'must be JSON (Array)',
      },
    });
    assert.deepEqual(formValue(formFields('double', 'T'), {}), { ok: false, errors: { T: 'is required' } });
  });
});
