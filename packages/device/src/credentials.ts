/**
 * A device's credentials and what it makes from them: the device key (given, or derived from an enrollment
 * group key, protocol.md §2.6), SAS tokens for DPS and the hub (§2.1, with the Node SDKs' `sr` encodings), or
 * an X.509 certificate and key presented in the TLS handshake.
 */

import { createSharedAccessSignature, deriveDeviceKey, isBase64Key } from '@plugboard/protocol';
import { DeviceError } from './errors.js';

/**
 * How a device proves who it is:
 * - `{ symmetricKey }`: its own key (an individual enrollment, or a key already derived from the group key);
 * - `{ groupKey }`: the enrollment group's key — the device key is derived from it and the registration id,
 *   as IoT Central's SAS groups do;
 * - `{ x509: { cert, key } }`: a PEM certificate (chain) and private key; the certificate's CN is the
 *   registration id.
 *
 * @example
 * ```ts
 * const credentials: DeviceCredentials = { groupKey: manifest.enrollmentGroups[0].primaryKey };
 * ```
 */
export type DeviceCredentials =
  | { readonly symmetricKey: string }
  | { readonly groupKey: string }
  | { readonly x509: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly passphrase?: string } };

/** A device key, or the TLS client certificate, ready for connections. */
export type ResolvedCredentials =
  | { readonly kind: 'sas'; readonly deviceKey: string }
  | {
      readonly kind: 'x509';
      readonly cert: string | Buffer;
      readonly key: string | Buffer;
      readonly passphrase?: string;
    };

/**
 * Resolves credentials for `registrationId`: derives the device key from a group key.
 *
 * @throws {@link DeviceError} `DEVICE_INVALID_OPTIONS` when none of the three forms is given, or a key is not base64.
 * @example
 * ```ts
 * await resolveCredentials({ groupKey: 'Z3JvdXBrZXlncm91cGtleWdyb3Vwa2V5MTIzNDU2Nzg=' }, 'dev1');
 * // { kind: 'sas', deviceKey: 'OLA3eIzpasQ8yAMJ7izbqK9rZ8DmvITpRezFluwpsxU=' }
 * ```
 */
export async function resolveCredentials(
  credentials: DeviceCredentials,
  registrationId: string,
): Promise<ResolvedCredentials> {
  if ('symmetricKey' in credentials) {
    if (!isBase64Key(credentials.symmetricKey)) {
      throw new DeviceError('DEVICE_INVALID_OPTIONS', 'credentials.symmetricKey is not a base64 key.');
    }
    return { kind: 'sas', deviceKey: credentials.symmetricKey };
  }
  if ('groupKey' in credentials) {
    try {
      return { kind: 'sas', deviceKey: await deriveDeviceKey(credentials.groupKey, registrationId) };
    } catch (cause) {
      throw new DeviceError('DEVICE_INVALID_OPTIONS', 'credentials.groupKey is not a base64 key.', { cause });
    }
  }
  if ('x509' in credentials) return { kind: 'x509', ...credentials.x509 };
  throw new DeviceError('DEVICE_INVALID_OPTIONS', 'credentials need one of symmetricKey, groupKey or x509.');
}

/** Seconds since the epoch. */
function nowSeconds(now: number): number {
  return Math.floor(now / 1000);
}

/**
 * The SAS token DPS expects (protocol.md §3.2): `sr={idScope}/registrations/{registrationId}` raw, as the
 * Node provisioning SDK writes it, `skn=registration`.
 *
 * @example
 * ```ts
 * await dpsToken('0ne00ABCDEF', 'dev1', deviceKey, 3600, Date.now());
 * ```
 */
export function dpsToken(
  idScope: string,
  registrationId: string,
  deviceKey: string,
  ttlSeconds: number,
  now: number,
): Promise<string> {
  return createSharedAccessSignature({
    resource: `${idScope}/registrations/${registrationId}`,
    key: deviceKey,
    expiry: nowSeconds(now) + ttlSeconds,
    keyName: 'registration',
    encodeResource: false,
  });
}

/**
 * The SAS token an IoT hub expects of a device or module (protocol.md §2.3): `sr` =
 * `{host}/devices/{deviceId}[/modules/{moduleId}]`, URL-encoded as the Node device SDK writes it.
 *
 * @example
 * ```ts
 * const { token, expiresAt } = await hubToken('hub.local', { deviceId: 'dev1' }, deviceKey, 3600, Date.now());
 * ```
 */
export async function hubToken(
  hostName: string,
  identity: { deviceId: string; moduleId?: string | undefined },
  deviceKey: string,
  ttlSeconds: number,
  now: number,
): Promise<{ token: string; expiresAt: number }> {
  const module = identity.moduleId === undefined ? '' : `/modules/${identity.moduleId}`;
  const expiry = nowSeconds(now) + ttlSeconds;
  const token = await createSharedAccessSignature({
    resource: `${hostName}/devices/${identity.deviceId}${module}`,
    key: deviceKey,
    expiry,
  });
  return { token, expiresAt: expiry * 1000 };
}
