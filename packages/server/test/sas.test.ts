import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import {
  createSharedAccessSignature,
  deriveDeviceKey,
  parseSharedAccessSignature,
  verifySharedAccessSignature,
} from '@plugboard/protocol';
import { hmacBase64, verifySas } from '../src/core/sas.js';

it('[SAS §2.2] verifySas accepts the documented vectors', () => {
  const device = parseSharedAccessSignature(
    'SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=b9TgL6UZqS14451hdQFxRenG6wWuc3g6K%2Bv2uoeLqXw%3D&se=1795689874',
  );
  assert.equal(verifySas(device, 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY='), true);
  assert.equal(verifySas(device, 'c2VydmljZWtleXNlcnZpY2VrZXkwMTIzNDU2Nzg5YWI='), false);
  const dps = parseSharedAccessSignature(
    'SharedAccessSignature sr=0ne00ABCDEF/registrations/dev1&sig=9zDtHmRfImQoDxMLzr5JjBJTj%2B96%2BWs58i%2FTk5hQM6U%3D&skn=registration&se=1795689900',
  );
  assert.equal(verifySas(dps, 'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU='), true);
});

it('[SAS §2.6] hmacBase64 derives the documented group key', () => {
  assert.equal(
    hmacBase64('Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=', 'dev1'),
    'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU=',
  );
});

it('[SAS] verifySas agrees with the protocol package on random tokens and keys (property)', async () => {
  const key = fc.uint8Array({ minLength: 16, maxLength: 64 }).map((b) => Buffer.from(b).toString('base64'));
  await fc.assert(
    fc.asyncProperty(
      key,
      key,
      fc.stringMatching(/^[a-z0-9.-]{1,20}\/devices\/[A-Za-z0-9-]{1,20}$/),
      fc.boolean(),
      async (k1, k2, resource, encode) => {
        const token = parseSharedAccessSignature(
          await createSharedAccessSignature({ resource, key: k1, expiry: 2_000_000_000, encodeResource: encode }),
        );
        for (const k of [k1, k2]) assert.equal(verifySas(token, k), await verifySharedAccessSignature(token, k));
        assert.equal(hmacBase64(k1, resource), await deriveDeviceKey(k1, resource));
      },
    ),
    { numRuns: 100 },
  );
});
