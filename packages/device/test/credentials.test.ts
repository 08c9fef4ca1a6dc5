import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSharedAccessSignature, verifySharedAccessSignature } from '@plugboard/protocol';
import { DeviceError, resolveCredentials } from '../src/index.js';
import type { DeviceCredentials } from '../src/index.js';
import { dpsToken, hubToken } from '../src/credentials.js';

const GROUP_KEY = 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=';
const DERIVED_KEY = 'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU=';
const DEVICE_KEY = 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=';
/** protocol.md §2.2 test vectors (tokens of the real Node SDKs). */
const DPS_TOKEN =
  'SharedAccessSignature sr=0ne00ABCDEF/registrations/dev1&sig=9zDtHmRfImQoDxMLzr5JjBJTj%2B96%2BWs58i%2FTk5hQM6U%3D&skn=registration&se=1795689900';
const DEVICE_TOKEN =
  'SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=b9TgL6UZqS14451hdQFxRenG6wWuc3g6K%2Bv2uoeLqXw%3D&se=1795689874';

function isInvalidOptions(error: unknown): boolean {
  return error instanceof DeviceError && error.code === 'DEVICE_INVALID_OPTIONS';
}

describe('resolveCredentials', () => {
  it('[protocol §2.6] a group key derives the device key from the registration id (test vector)', async () => {
    assert.deepEqual(await resolveCredentials({ groupKey: GROUP_KEY }, 'dev1'), {
      kind: 'sas',
      deviceKey: DERIVED_KEY,
    });
    const other = await resolveCredentials({ groupKey: GROUP_KEY }, 'dev2');
    assert.ok(other.kind === 'sas' && other.deviceKey !== DERIVED_KEY);
  });

  it('a symmetric key is used as it is', async () => {
    assert.deepEqual(await resolveCredentials({ symmetricKey: DEVICE_KEY }, 'dev1'), {
      kind: 'sas',
      deviceKey: DEVICE_KEY,
    });
  });

  it('an X.509 certificate and key are passed through', async () => {
    assert.deepEqual(await resolveCredentials({ x509: { cert: 'CERT', key: 'KEY', passphrase: 'pw' } }, 'dev1'), {
      kind: 'x509',
      cert: 'CERT',
      key: 'KEY',
      passphrase: 'pw',
    });
  });

  it('[errors: DEVICE_INVALID_OPTIONS] credentials of none of the three forms are refused', async () => {
    for (const credentials of [{}, { key: DEVICE_KEY }, { primaryKey: GROUP_KEY }]) {
      await assert.rejects(
        resolveCredentials(credentials as unknown as DeviceCredentials, 'dev1'),
        isInvalidOptions,
        JSON.stringify(credentials),
      );
    }
  });

  it('[errors: DEVICE_INVALID_OPTIONS] a group key that is not base64 is refused', async () => {
    await assert.rejects(resolveCredentials({ groupKey: 'not a key!' }, 'dev1'), isInvalidOptions);
  });
});

describe('dpsToken', () => {
  it('[protocol §2.3: DPS token] raw sr {idScope}/registrations/{registrationId}, skn=registration (test vector)', async () => {
    const now = (1795689900 - 3600) * 1000 + 999; // se = floor(now / 1000) + ttl
    const token = await dpsToken('0ne00ABCDEF', 'dev1', DERIVED_KEY, 3600, now);
    assert.equal(token, DPS_TOKEN);
    const sas = parseSharedAccessSignature(token);
    assert.equal(sas.resource, '0ne00ABCDEF/registrations/dev1');
    assert.equal(sas.keyName, 'registration');
    assert.equal(sas.expiry, 1795689900);
    assert.equal(await verifySharedAccessSignature(sas, DERIVED_KEY), true);
    assert.equal(await verifySharedAccessSignature(sas, DEVICE_KEY), false);
  });
});

describe('hubToken', () => {
  it('[protocol §2.3: device token] sr = encodeURIComponent(host/devices/deviceId), no skn (test vector)', async () => {
    const now = (1795689874 - 3600) * 1000 + 1;
    const { token, expiresAt } = await hubToken('localhost', { deviceId: 'dev1' }, DEVICE_KEY, 3600, now);
    assert.equal(token, DEVICE_TOKEN);
    const sas = parseSharedAccessSignature(token);
    assert.equal(sas.resource, 'localhost%2Fdevices%2Fdev1');
    assert.equal(sas.keyName, undefined);
    assert.equal(expiresAt, sas.expiry * 1000);
    assert.equal(expiresAt, 1795689874_000);
    assert.equal(await verifySharedAccessSignature(sas, DEVICE_KEY), true);
  });

  it('[protocol §1.9] a module token covers host/devices/deviceId/modules/moduleId', async () => {
    const now = 1_700_000_000_500;
    const { token, expiresAt } = await hubToken('localhost', { deviceId: 'dev1', moduleId: 'm1' }, DEVICE_KEY, 60, now);
    const sas = parseSharedAccessSignature(token);
    assert.equal(sas.resource, 'localhost%2Fdevices%2Fdev1%2Fmodules%2Fm1');
    assert.equal(sas.expiry, 1_700_000_060);
    assert.equal(expiresAt, sas.expiry * 1000);
    assert.equal(await verifySharedAccessSignature(sas, DEVICE_KEY), true);
  });

  it('[protocol §2.3] moduleId undefined is a device token', async () => {
    const { token } = await hubToken('localhost', { deviceId: 'dev1', moduleId: undefined }, DEVICE_KEY, 3600, 0);
    assert.equal(parseSharedAccessSignature(token).resource, 'localhost%2Fdevices%2Fdev1');
  });
});
