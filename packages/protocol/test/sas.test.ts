import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ProtocolError,
  createSharedAccessSignature,
  decodeResource,
  deriveDeviceKey,
  encodeUriComponentStrict,
  hmacSha256Base64,
  isBase64Key,
  parseSharedAccessSignature,
  resourceCovers,
  verifySharedAccessSignature,
} from '../src/index.js';

const DEVICE_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
const DEVICE_TOKEN =
  'SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=b9TgL6UZqS14451hdQFxRenG6wWuc3g6K%2Bv2uoeLqXw%3D&se=1795689874';
const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';
const DPS_KEY = 'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU=';
const DPS_TOKEN =
  'SharedAccessSignature sr=0ne00ABCDEF/registrations/dev1&sig=9zDtHmRfImQoDxMLzr5JjBJTj%2B96%2BWs58i%2FTk5hQM6U%3D&skn=registration&se=1795689900';
const SERVICE_KEY = 'c2VydmljZWtleXNlcnZpY2VrZXkwMTIzNDU2Nzg5YWI=';
const SERVICE_TOKEN =
  'SharedAccessSignature sr=localhost&sig=MK4RDHEN2QK8D1VsBYQ0quzkrV9x6%2B1eAA5b1Ggcnfs%3D&skn=iothubowner&se=1795689961';

function expectSasError(token: string): void {
  assert.throws(
    () => parseSharedAccessSignature(token),
    (error: unknown) => error instanceof ProtocolError && error.code === 'PROTOCOL_SAS_MALFORMED',
    token,
  );
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

describe('SAS golden vectors', () => {
  it('[SAS §2.2] device token of the Node device SDK is reproduced byte for byte', async () => {
    const token = await createSharedAccessSignature({
      resource: 'localhost/devices/dev1',
      key: DEVICE_KEY,
      expiry: 1795689874,
    });
    assert.equal(token, DEVICE_TOKEN);
  });

  it('[SAS §2.2] DPS token of the Node DPS SDK (raw sr, skn before se) is reproduced byte for byte', async () => {
    const token = await createSharedAccessSignature({
      resource: '0ne00ABCDEF/registrations/dev1',
      key: DPS_KEY,
      expiry: 1795689900,
      keyName: 'registration',
      encodeResource: false,
    });
    assert.equal(token, DPS_TOKEN);
  });

  it('[SAS §2.2] service policy token of azure-iothub is reproduced byte for byte', async () => {
    const token = await createSharedAccessSignature({
      resource: 'localhost',
      key: SERVICE_KEY,
      expiry: 1795689961,
      keyName: 'iothubowner',
    });
    assert.equal(token, SERVICE_TOKEN);
  });

  it('[SAS §2.2] the three captured tokens parse and verify with their keys', async () => {
    for (const [token, key] of [
      [DEVICE_TOKEN, DEVICE_KEY],
      [DPS_TOKEN, DPS_KEY],
      [SERVICE_TOKEN, SERVICE_KEY],
    ] as const) {
      assert.equal(await verifySharedAccessSignature(parseSharedAccessSignature(token), key), true, token);
    }
  });

  it('[SAS §2.2] a wrong key, resource or expiry fails verification', async () => {
    const sas = parseSharedAccessSignature(DEVICE_TOKEN);
    assert.equal(await verifySharedAccessSignature(sas, SERVICE_KEY), false);
    assert.equal(await verifySharedAccessSignature({ ...sas, expiry: sas.expiry + 1 }, DEVICE_KEY), false);
    assert.equal(
      await verifySharedAccessSignature({ ...sas, resource: 'localhost%2Fdevices%2Fdev2' }, DEVICE_KEY),
      false,
    );
  });

  it('[SAS §2.6] group-enrollment key derivation matches the test vector', async () => {
    assert.equal(await deriveDeviceKey(GROUP_KEY, 'dev1'), DPS_KEY);
  });

  it('[SAS §2.2] hmacSha256Base64 signs sr + "\\n" + se', async () => {
    assert.equal(
      await hmacSha256Base64(DEVICE_KEY, 'localhost%2Fdevices%2Fdev1\n1795689874'),
      'b9TgL6UZqS14451hdQFxRenG6wWuc3g6K+v2uoeLqXw=',
    );
  });
});

describe('parseSharedAccessSignature', () => {
  it('[SAS §2.1] keeps sr verbatim and percent-decodes sig and skn', () => {
    assert.deepEqual(parseSharedAccessSignature(DPS_TOKEN), {
      resource: '0ne00ABCDEF/registrations/dev1',
      signature: '9zDtHmRfImQoDxMLzr5JjBJTj+96+Ws58i/Tk5hQM6U=',
      expiry: 1795689900,
      keyName: 'registration',
    });
    assert.deepEqual(parseSharedAccessSignature(DEVICE_TOKEN), {
      resource: 'localhost%2Fdevices%2Fdev1',
      signature: 'b9TgL6UZqS14451hdQFxRenG6wWuc3g6K+v2uoeLqXw=',
      expiry: 1795689874,
    });
  });

  it('[SAS §2.1] accepts fields in any order (docs order sig, se, skn, sr)', () => {
    assert.deepEqual(
      parseSharedAccessSignature('SharedAccessSignature sig=abc%3D&se=10&skn=device&sr=h%2Fdevices%2Fd'),
      {
        resource: 'h%2Fdevices%2Fd',
        signature: 'abc=',
        expiry: 10,
        keyName: 'device',
      },
    );
  });

  it('[SAS §2.1] accepts any single whitespace after the prefix and ignores unknown fields', () => {
    assert.equal(parseSharedAccessSignature('SharedAccessSignature\tsr=h&sig=s&se=0&foo=bar').expiry, 0);
  });

  it('[SAS §2.1] rejects malformed tokens with PROTOCOL_SAS_MALFORMED', () => {
    for (const token of [
      '',
      'sr=h&sig=s&se=1',
      'SharedAccessSignaturesr=h&sig=s&se=1',
      'SharedAccessSignature  sr=h&sig=s&se=1',
      'sharedaccesssignature sr=h&sig=s&se=1',
      'SharedAccessSignature sig=s&se=1',
      'SharedAccessSignature sr=&sig=s&se=1',
      'SharedAccessSignature sr=h&se=1',
      'SharedAccessSignature sr=h&sig=&se=1',
      'SharedAccessSignature sr=h&sig=s',
      'SharedAccessSignature sr=h&sig=s&se=-1',
      'SharedAccessSignature sr=h&sig=s&se=1.5',
      'SharedAccessSignature sr=h&sig=s&se=01',
      'SharedAccessSignature sr=h&sig=s&se=',
      'SharedAccessSignature sr=h&sig=s&se=99999999999999999999',
      'SharedAccessSignature sr=h&sig=s&se=1&sr=h',
      'SharedAccessSignature sr=h&sig=s&se=1&',
      'SharedAccessSignature sr=h&sig=s&se=1&skn',
      'SharedAccessSignature sr=h&sig=s&se=1&skn=',
      'SharedAccessSignature sr=h&sig=%E0%A4%A&se=1',
      'SharedAccessSignature sr=h&sig=s&se=1&skn=%',
    ]) {
      expectSasError(token);
    }
  });

  it('[SAS §2.1] never throws anything but ProtocolError (fuzz)', () => {
    const fieldText = fc.string({
      unit: fc.constantFrom('s', 'r', 'i', 'g', 'e', 'k', 'n', '=', '&', '%', '1', '0', ' '),
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fieldText.map((rest) => `SharedAccessSignature ${rest}`),
        ),
        (token) => {
          try {
            parseSharedAccessSignature(token);
          } catch (error) {
            assert.ok(error instanceof ProtocolError && error.code === 'PROTOCOL_SAS_MALFORMED');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('createSharedAccessSignature / verifySharedAccessSignature', () => {
  it('[SAS §2.1-2.2] create → parse → verify round-trips (property)', async () => {
    const resource = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(
        resource,
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.option(fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }), { nil: undefined }),
        fc.boolean(),
        async (raw, keyBytes, expiry, keyName, encodeResource) => {
          // A raw (unencoded) sr cannot contain '&': it would end the field.
          const rawResource = encodeResource ? raw : raw.replaceAll('&', '/');
          const key = toBase64(keyBytes);
          const token = await createSharedAccessSignature({
            resource: rawResource,
            key,
            expiry,
            encodeResource,
            ...(keyName === undefined ? {} : { keyName }),
          });
          const sas = parseSharedAccessSignature(token);
          assert.equal(sas.resource, encodeResource ? encodeUriComponentStrict(rawResource) : rawResource);
          assert.equal(decodeResource(sas.resource), rawResource);
          assert.equal(sas.expiry, expiry);
          assert.equal(sas.keyName, keyName);
          assert.equal(await verifySharedAccessSignature(sas, key), true);
          assert.equal(await verifySharedAccessSignature(sas, toBase64(keyBytes.map((b) => b ^ 1))), false);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('[SAS §2.2] verifier falls back to the re-encoded and lower-case-escape forms of sr', async () => {
    const se = 1795689874;
    // Signed over the upper-case encoded form, transmitted raw.
    const upper = await hmacSha256Base64(DEVICE_KEY, `localhost%2Fdevices%2Fdev1\n${se}`);
    assert.equal(
      await verifySharedAccessSignature(
        { resource: 'localhost/devices/dev1', signature: upper, expiry: se },
        DEVICE_KEY,
      ),
      true,
    );
    // Signed over the .NET lower-case form, transmitted upper-case.
    const lower = await hmacSha256Base64(DEVICE_KEY, `localhost%2fdevices%2fdev1\n${se}`);
    assert.equal(
      await verifySharedAccessSignature(
        { resource: 'localhost%2Fdevices%2Fdev1', signature: lower, expiry: se },
        DEVICE_KEY,
      ),
      true,
    );
    // Signed over the lower-case form and transmitted that way: the raw text matches first.
    assert.equal(
      await verifySharedAccessSignature(
        { resource: 'localhost%2fdevices%2fdev1', signature: lower, expiry: se },
        DEVICE_KEY,
      ),
      true,
    );
  });

  it('[SAS §2.2] a malformed key or signature returns false instead of throwing', async () => {
    const sas = parseSharedAccessSignature(DEVICE_TOKEN);
    for (const key of ['', 'not base64!', 'abc', '====', 'MDEy MzQ1', '-_-_']) {
      assert.equal(await verifySharedAccessSignature(sas, key), false, key);
    }
    assert.equal(await verifySharedAccessSignature({ ...sas, signature: 'b9Tg!!' }, DEVICE_KEY), false);
    assert.equal(await verifySharedAccessSignature({ ...sas, signature: '' }, DEVICE_KEY), false);
    assert.equal(await verifySharedAccessSignature({ ...sas, resource: '%E0%A4%A' }, DEVICE_KEY), false);
  });

  it('[SAS §2.2] creating with a non-base64 key or bad expiry is a TypeError', async () => {
    await assert.rejects(createSharedAccessSignature({ resource: 'h', key: 'not base64!', expiry: 1 }), TypeError);
    await assert.rejects(createSharedAccessSignature({ resource: 'h', key: DEVICE_KEY, expiry: -1 }), TypeError);
    await assert.rejects(createSharedAccessSignature({ resource: 'h', key: DEVICE_KEY, expiry: 1.5 }), TypeError);
    await assert.rejects(deriveDeviceKey('', 'dev1'), TypeError);
  });

  it('[SAS §2.2] isBase64Key accepts standard base64 only', () => {
    assert.equal(isBase64Key(DEVICE_KEY), true);
    assert.equal(isBase64Key('YWJj'), true);
    assert.equal(isBase64Key('YWI'), true);
    for (const key of ['', 'YWJj=', 'Y', 'YW=J', 'YW_j', 'YW J', '====']) assert.equal(isBase64Key(key), false, key);
  });
});

describe('encodeUriComponentStrict', () => {
  it("[SAS §2.1] escapes ! ' ( ) * with lower-case hex like azure-iot-common", () => {
    assert.equal(encodeUriComponentStrict("a!b'c(d)e*f/g h"), 'a%21b%27c%28d%29e%2af%2Fg%20h');
    assert.equal(encodeUriComponentStrict('localhost/devices/dev1'), 'localhost%2Fdevices%2Fdev1');
  });

  it('[SAS §2.1] output is unreserved characters only and decodes back (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        const encoded = encodeUriComponentStrict(value);
        assert.match(encoded, /^[A-Za-z0-9\-_.~%]*$/);
        assert.equal(decodeURIComponent(encoded), value);
      }),
      { numRuns: 300 },
    );
  });
});

describe('decodeResource / resourceCovers', () => {
  it('[SAS §2.3] decodeResource percent-decodes, leaving invalid encodings as they are', () => {
    assert.equal(decodeResource('localhost%2Fdevices%2Fdev1'), 'localhost/devices/dev1');
    assert.equal(decodeResource('0ne00ABCDEF/registrations/dev1'), '0ne00ABCDEF/registrations/dev1');
    assert.equal(decodeResource('100%'), '100%');
  });

  it('[SAS §2.3] matches by path-segment prefix with a case-insensitive host', () => {
    assert.equal(resourceCovers('myhub.local', 'myhub.local/devices/dev1'), true);
    assert.equal(resourceCovers('MyHub.Local', 'myhub.local/devices/dev1'), true);
    assert.equal(resourceCovers('myhub.local/devices/dev1', 'myhub.local/devices/dev1/modules/m1'), true);
    assert.equal(resourceCovers('myhub.local/devices/dev1/', 'myhub.local/devices/dev1'), true);
    assert.equal(resourceCovers('myhub.local/devices/dev1', 'myhub.local/devices/dev1/'), true);
    assert.equal(resourceCovers('myhub.local/devices/dev1', 'myhub.local/devices/dev10'), false);
    assert.equal(resourceCovers('myhub.local/devices/dev1', 'myhub.local/devices/DEV1'), false);
    assert.equal(resourceCovers('myhub.local/devices/dev1/modules/m1', 'myhub.local/devices/dev1'), false);
    assert.equal(resourceCovers('myhub.local', 'otherhub.local'), false);
    assert.equal(resourceCovers('myhub', 'myhub.local'), false);
  });

  it('[SAS §2.3] every resource covers itself and its children, never a longer sibling (property)', () => {
    const segment = fc.string({ unit: fc.constantFrom('a', 'B', '1', '.', '-'), minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), segment, (segments, extra) => {
        const resource = segments.join('/');
        assert.equal(resourceCovers(resource, resource), true);
        assert.equal(resourceCovers(resource, `${resource}/${extra}`), true);
        assert.equal(resourceCovers(`${resource}/`, resource), true);
        assert.equal(resourceCovers(resource, `${resource}${extra}`), false);
      }),
      { numRuns: 200 },
    );
  });
});
