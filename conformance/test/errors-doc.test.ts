import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { CLI_ERROR_CODES } from '@plugboard/cli';
import { DEVICE_ERROR_CODES } from '@plugboard/device';
import { DtdlErrorCode } from '@plugboard/dtdl';
import { PROTOCOL_ERROR_CODES } from '@plugboard/protocol';
import { CENTRAL_ERROR_CODES, DPS_ERROR_CODES, HUB_ERROR_CODES, TLS_ERROR_CODES } from '@plugboard/server';

it('[STYLE: errors] docs/errors.md documents exactly the codes the source defines', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([A-Z][A-Z0-9_]+)` +\|/gm)].map((m) => m[1]));
  const defined = new Set<string>([
    ...HUB_ERROR_CODES,
    ...TLS_ERROR_CODES,
    ...PROTOCOL_ERROR_CODES,
    ...DPS_ERROR_CODES,
    ...CENTRAL_ERROR_CODES,
    ...CLI_ERROR_CODES,
    ...DEVICE_ERROR_CODES,
    ...Object.values(DtdlErrorCode),
  ]);
  assert.deepEqual(
    [...defined].filter((c) => !documented.has(c)),
    [],
    'codes missing from docs/errors.md',
  );
  assert.deepEqual(
    [...documented].filter((c) => c !== undefined && !defined.has(c)),
    [],
    'documented codes that do not exist',
  );
});
