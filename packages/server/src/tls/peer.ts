import type { TLSSocket } from 'node:tls';

/**
 * The TLS client certificate chain a peer presented, DER, leaf first; `undefined` when it presented none.
 *
 * @example
 * const chain = peerCertificateChain(socket);
 */
export function peerCertificateChain(socket: TLSSocket): Uint8Array[] | undefined {
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const leaf = socket.getPeerCertificate(true);
  if (leaf === null || leaf.raw === undefined) return undefined;
  const chain: Uint8Array[] = [];
  const seen = new Set<string>();
  let cert: typeof leaf | undefined = leaf;
  while (cert?.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new Uint8Array(cert.raw));
    cert = cert.issuerCertificate as typeof leaf | undefined;
  }
  return chain;
}
