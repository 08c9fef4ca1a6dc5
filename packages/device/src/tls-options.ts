/**
 * The TLS options every connection of a device uses: Node's root CAs plus the extra CA a local
 * application needs (Node's `ca` option replaces the roots, so the two are joined), and the X.509 client
 * certificate when the device authenticates with one. A context of ~150 root certificates costs about
 * 1 MB and 20 ms to build (bench/device-fleet), so one is built per distinct CA and shared by every
 * connection that trusts it.
 */

import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { ResolvedCredentials } from './credentials.js';

/** TLS fields for `mqtt.connect`, `https.request` and `ws`. */
export interface DeviceTlsOptions {
  ca?: string[];
  secureContext?: SecureContext;
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  rejectUnauthorized: true;
}

/** Shared contexts by CA text; a process trusts few distinct CAs. */
const contexts = new Map<string, SecureContext>();

/**
 * The TLS options for an extra CA (PEM) and credentials: the roots and the CA come as one cached
 * `secureContext` (for `tls.connect`, `https.request` and `ws` alike), unless the device has a client
 * certificate, which belongs in the context.
 *
 * @example
 * ```ts
 * tlsOptions(readFileSync(manifest.caCertificate, 'utf8'), { kind: 'sas', deviceKey });
 * // { secureContext: <roots + the CA>, rejectUnauthorized: true }
 * ```
 */
export function tlsOptions(ca: string | Buffer | undefined, credentials: ResolvedCredentials): DeviceTlsOptions {
  const options: DeviceTlsOptions = { rejectUnauthorized: true };
  if (credentials.kind === 'x509') {
    options.cert = credentials.cert;
    options.key = credentials.key;
    if (credentials.passphrase !== undefined) options.passphrase = credentials.passphrase;
  }
  if (ca === undefined) return options;
  const pem = typeof ca === 'string' ? ca : ca.toString('utf8');
  // A client certificate belongs in the context too, so X.509 devices keep their own.
  if (credentials.kind !== 'x509') {
    let context = contexts.get(pem);
    if (context === undefined) {
      context = createSecureContext({ ca: [...rootCertificates, pem] });
      contexts.set(pem, context);
    }
    options.secureContext = context;
    return options;
  }
  options.ca = [...rootCertificates, pem];
  return options;
}
