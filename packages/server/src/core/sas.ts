/**
 * SAS verification with `node:crypto`: the same rules as `verifySharedAccessSignature` in
 * `@plugboard/protocol` (which uses WebCrypto so that it stays pure), about 15 times faster — it runs on
 * every CONNECT and every DPS request.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { sasSigningCandidates, type SharedAccessSignature } from '@plugboard/protocol';

/** HMAC-SHA256 of `message` with a base64 key, as base64. */
export function hmacBase64(key: string, message: string): string {
  return createHmac('sha256', Buffer.from(key, 'base64')).update(message, 'utf8').digest('base64');
}

/**
 * True when `sas` is signed with `key` over its `sr` as sent (or a re-encoded form). IoT Hub signs with
 * the key's base64-decoded bytes; Event Hubs clients (`@azure/core-amqp`) sign with the key's text as
 * UTF-8 (`keyEncoding: 'utf8'`).
 * Constant time per comparison; never throws.
 *
 * @example
 * verifySas(parseSharedAccessSignature(token), device.primaryKey);
 */
export function verifySas(sas: SharedAccessSignature, key: string, keyEncoding: 'base64' | 'utf8' = 'base64'): boolean {
  const keyBytes = Buffer.from(key, keyEncoding);
  const expected = Buffer.from(sas.signature, 'base64');
  if (keyBytes.length === 0 || expected.length !== 32) return false;
  let matched = false;
  for (const resource of sasSigningCandidates(sas.resource)) {
    const actual = createHmac('sha256', keyBytes).update(`${resource}\n${sas.expiry}`, 'utf8').digest();
    matched = timingSafeEqual(actual, expected) || matched;
  }
  return matched;
}
