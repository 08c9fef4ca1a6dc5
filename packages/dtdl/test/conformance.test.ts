// The DTDL v2 and v3 conformance suites (Azure/opendigitaltwins-dtdl DTDL/v{2,3}/spec): every case's verdict must
// match, except the cases listed with a reason in conformance-expectations.json (which must really still differ).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parse } from '../src/index.js';
import { readJsonFile, specCases, type SpecCase } from './corpus.js';

interface Expectations {
  readonly v2: Readonly<Record<string, string>>;
  readonly v3: Readonly<Record<string, string>>;
}

const expectations = readJsonFile(join(import.meta.dirname, 'conformance-expectations.json')) as Expectations;

const CODE_RE = /^dtmi:(?:dtdl|plugboard):parsing(?:Error|Warning):[a-z][A-Za-z]+$/;
/** Diagnostics without a well-formed code, a sentence-like message or a location. */
const malformed: string[] = [];

/** Why the case does not match, or undefined when it does. */
function mismatch(c: SpecCase): string | undefined {
  const allow = c.options?.includes('AllowUndefinedExtensions')
    ? true
    : c.options?.includes('DisallowUndefinedExtensions')
      ? false
      : undefined;
  const docs = c.input.map((d) => (typeof d === 'string' ? d : JSON.stringify(d)));
  const r = parse(docs, allow === undefined ? {} : { allowUndefinedExtensions: allow });
  for (const d of [...r.errors, ...r.warnings]) {
    if (!CODE_RE.test(d.code) || d.message.length < 20 || !/[.)]$/.test(d.message) || d.location === undefined) {
      malformed.push(`${d.code}: ${d.message}`);
    }
  }
  const codes = r.errors.map((e) => e.code).join(', ');
  const expected = c.expect?.unresolvedIdentifiers;
  if (expected !== undefined) {
    if (r.errors.length > 0) return `expected only unresolved ${expected.join(', ')}, got errors ${codes}`;
    const got = [...r.unresolved].sort().join(',');
    return got === [...expected].sort().join(',') ? undefined : `unresolved ${got} instead of ${expected.join(',')}`;
  }
  if (!c.valid) return r.ok ? 'accepted an invalid model' : undefined;
  if (!r.ok) return `rejected a valid model: ${codes || `unresolved ${r.unresolved.join(', ')}`}`;
  if (c.desirable === false && r.warnings.length === 0) return 'no warning for a valid but undesirable model';
  if (c.desirable === true && r.warnings.length > 0) {
    return `warned about a desirable model: ${r.warnings.map((w) => w.code).join(', ')}`;
  }
  return undefined;
}

for (const version of ['v2', 'v3'] as const) {
  describe(`DTDL ${version} conformance suite`, () => {
    const cases = specCases(version);
    const known = expectations[version];

    it(`matches every ${version} case not listed in conformance-expectations.json`, () => {
      const unexpected: string[] = [];
      const fixed: string[] = [];
      let agree = 0;
      for (const [key, c] of cases) {
        const why = mismatch(c);
        if (why === undefined) agree++;
        if (why !== undefined && known[key] === undefined) unexpected.push(`${key}: ${why}`);
        if (why === undefined && known[key] !== undefined) fixed.push(key);
      }
      // Printed so CI logs carry the agreement figures.
      process.stdout.write(`DTDL ${version} conformance: ${agree}/${cases.length} cases agree\n`);
      assert.deepEqual(unexpected, [], 'cases that disagree and are not in the expectations file');
      assert.deepEqual(
        malformed.slice(0, 10),
        [],
        'every diagnostic has a code, a message with cause and fix, a location',
      );
      assert.deepEqual(fixed, [], 'cases listed in the expectations file that now agree: remove them');
      assert.ok(Object.keys(known).length <= cases.length * 0.005, 'at most 0.5% of the cases may be excused');
    });
  });
}
