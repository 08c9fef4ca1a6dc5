// Internal base64 helpers: the package is pure, so no Buffer; atob/btoa are available on Node 20+ and browsers.

const BASE64_SHAPE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes standard (RFC 4648 §4) base64; padding is optional but, when present, must complete a quantum.
 * Returns `undefined` for anything else (URL-safe alphabet, whitespace, stray `=`).
 */
export function tryDecodeBase64(text: string): Uint8Array | undefined {
  if (!BASE64_SHAPE.test(text)) return undefined;
  const body = text.replace(/=+$/, '');
  const padding = text.length - body.length;
  if (body.length % 4 === 1) return undefined;
  if (padding > 0 && text.length % 4 !== 0) return undefined;
  const binary = atob(body + '='.repeat((4 - (body.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Encodes bytes as padded standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
