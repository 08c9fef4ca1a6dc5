/**
 * The TLS options every connection of a device uses: Node's root CAs plus the extra CA a local
 * application needs (Node's `ca` option replaces the roots, so the two are joined), and the X.509 client
 * certificate when the device authenticates with one.
 */

import { rootCertificates } from 'node:tls';
import type { ResolvedCredentials } from './credentials.js';

/** TLS fields for `mqtt.connect`, `https.request` and `ws`. */
export interface DeviceTlsOptions {
  ca?: string[];
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  rejectUnauthorized: true;
}

/**
 * The TLS options for an extra CA (PEM) and credentials.
 *
 * @example
 * ```ts
 * tlsOptions(readFileSync(manifest.caCertificate, 'utf8'), { kind: 'sas', deviceKey });
 * // { ca: [...rootCertificates, '-----BEGIN CERTIFICATE-----…'], rejectUnauthorized: true }
 * ```
 */
export function tlsOptions(ca: string | Buffer | undefined, credentials: ResolvedCredentials): DeviceTlsOptions {
  const options: DeviceTlsOptions = { rejectUnauthorized: true };
  if (ca !== undefined) options.ca = [...rootCertificates, typeof ca === 'string' ? ca : ca.toString('utf8')];
  if (credentials.kind === 'x509') {
    options.cert = credentials.cert;
    options.key = credentials.key;
    if (credentials.passphrase !== undefined) options.passphrase = credentials.passphrase;
  }
  return options;
}
