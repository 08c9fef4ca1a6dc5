import {
  X509Certificate as NodeX509Certificate,
  createHash,
  createPrivateKey,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
// Must be evaluated before @peculiar/x509 (tsyringe checks for Reflect metadata at load time).
import './reflect-metadata.js';
import * as x509 from '@peculiar/x509';
import { TlsError } from './errors.js';

// @peculiar/x509 needs a WebCrypto provider; Node's is the only one we use. Setting it is idempotent.
x509.cryptoProvider.set(webcrypto);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SigningAlgorithm = webcrypto.Algorithm | webcrypto.EcdsaParams;

const DAY_MS = 86_400_000;
/** Default backdating of `notBefore`, so a peer whose clock runs a little behind still accepts the certificate. */
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * A certificate and its private key, with the thumbprints Azure shows for it.
 *
 * @example
 * ```ts
 * const device = await issueCertificate({ commonName: 'dev1', extendedKeyUsage: 'clientAuth' });
 * enrollment.thumbprint = device.thumbprintSha1; // 40 upper-case hex digits, as in the Azure portal
 * ```
 */
export interface IssuedCertificate {
  /** The certificate alone (no chain), PEM. */
  certificatePem: string;
  /** The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  privateKeyPem: string;
  /** SHA-1 of the DER certificate: 40 upper-case hex digits, no colons (Azure's "thumbprint"). */
  thumbprintSha1: string;
  /** SHA-256 of the DER certificate: 64 upper-case hex digits, no colons. */
  thumbprintSha256: string;
}

/**
 * What {@link issueCertificate} should create.
 *
 * @example
 * ```ts
 * const options: IssueCertificateOptions = { commonName: 'Device CA', isCa: true, validDays: 3650 };
 * ```
 */
export interface IssueCertificateOptions {
  /** Subject CN: the device id / registration id for device certificates. */
  commonName: string;
  /** The signing CA (certificate + private key, PEM). Omitted: the certificate is self-signed. */
  issuer?: { certificatePem: string; privateKeyPem: string };
  /** Issue a CA certificate (basicConstraints CA, keyUsage keyCertSign + cRLSign). Default `false`. */
  isCa?: boolean;
  /** Key of the new certificate: ECDSA P-256 (`'ec'`, default) or RSA 2048 (`'rsa'`). */
  keyAlgorithm?: 'ec' | 'rsa';
  /** Validity in days, counted from `notBefore`. Default 365. */
  validDays?: number;
  /** Start of validity. Default: five minutes ago (tolerates peers whose clock is slightly behind). */
  notBefore?: Date;
  /** Restrict the certificate to TLS client or server authentication. Default: no extendedKeyUsage. */
  extendedKeyUsage?: 'clientAuth' | 'serverAuth';
  /** DNS subjectAltNames (a leading `*.` wildcard label is allowed). */
  hostNames?: readonly string[];
  /** IP address subjectAltNames (IPv4 or IPv6). */
  ipAddresses?: readonly string[];
}

/**
 * The outcome of {@link verifyCertificateChain}.
 *
 * @example
 * ```ts
 * const result: ChainVerification = { ok: false, reason: 'untrusted', commonName: 'dev1' };
 * ```
 */
export interface ChainVerification {
  ok: boolean;
  reason?: 'expired' | 'not-yet-valid' | 'untrusted' | 'malformed';
  /** The leaf's subject CN, when the leaf could be parsed and has one. */
  commonName?: string;
}

/**
 * Creates a key pair and a certificate for it, signed by `issuer` or self-signed.
 *
 * The certificate carries basicConstraints (critical), keyUsage (critical; CA: keyCertSign + cRLSign; leaf:
 * digitalSignature, plus keyEncipherment for RSA), subject/authority key identifiers, the optional
 * extendedKeyUsage and subjectAltNames, a random 128-bit serial number and a SHA-256 signature (SHA-384/512
 * for P-384/P-521 issuers).
 *
 * @throws {@link TlsError} `HUB_TLS_CERTIFICATE_INVALID` when the issuer certificate or key cannot be parsed,
 * do not match, the issuer is not a CA, or a host name / IP address is invalid.
 * @example
 * ```ts
 * const ca = await issueCertificate({ commonName: 'Fleet CA', isCa: true, validDays: 3650 });
 * const device = await issueCertificate({
 *   commonName: 'dev1',
 *   issuer: { certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem },
 *   keyAlgorithm: 'rsa',
 *   extendedKeyUsage: 'clientAuth',
 * });
 * ```
 */
export async function issueCertificate(options: IssueCertificateOptions): Promise<IssuedCertificate> {
  const isCa = options.isCa ?? false;
  const validDays = options.validDays ?? 365;
  if (!Number.isFinite(validDays) || validDays <= 0) {
    throw new RangeError(`validDays must be a positive number, got ${String(validDays)}`);
  }
  if (options.commonName.length === 0) throw new RangeError('commonName must not be empty');
  const hostNames = normalizeHostNames(options.hostNames ?? []);
  const ipAddresses = normalizeIpAddresses(options.ipAddresses ?? []);
  const issuer = options.issuer === undefined ? undefined : await loadIssuer(options.issuer);

  const keys = await generateKeyPair(options.keyAlgorithm ?? 'ec');
  const notBefore = options.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  const notAfter = new Date(notBefore.getTime() + validDays * DAY_MS);
  // Explicit utf8String: a plain string would be read as RFC 4514 text ('#...' hex, quotes, escapes).
  const subject = new x509.Name([{ CN: [{ utf8String: options.commonName }] }]);

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(isCa, undefined, true),
    new x509.KeyUsagesExtension(keyUsagesFor(isCa, options.keyAlgorithm ?? 'ec'), true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
  ];
  if (issuer === undefined) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey, false, webcrypto));
  } else if (issuer.subjectKeyId !== undefined) {
    // OpenSSL matches AKI against the issuer's SKI byte for byte, so copy it rather than recompute it.
    extensions.push(new x509.AuthorityKeyIdentifierExtension(issuer.subjectKeyId));
  }
  if (options.extendedKeyUsage !== undefined) {
    const usage = options.extendedKeyUsage === 'serverAuth' ? EKU_SERVER_AUTH : EKU_CLIENT_AUTH;
    extensions.push(new x509.ExtendedKeyUsageExtension([usage], false));
  }
  if (hostNames.length > 0 || ipAddresses.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        [
          ...hostNames.map((value) => ({ type: 'dns' as const, value })),
          ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
        ],
        false,
      ),
    );
  }

  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject,
      issuer: issuer?.subjectName ?? subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: issuer?.signingKey ?? keys.privateKey,
      signingAlgorithm: issuer?.signingAlgorithm ?? signingAlgorithmFor(keys.privateKey),
      extensions,
    },
    webcrypto,
  );

  const der = Buffer.from(certificate.rawData);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const thumbprints = thumbprintsOfDer(der);
  return {
    certificatePem: toPem(der, 'CERTIFICATE'),
    privateKeyPem: toPem(pkcs8, 'PRIVATE KEY'),
    thumbprintSha1: thumbprints.sha1,
    thumbprintSha256: thumbprints.sha256,
  };
}

/**
 * SHA-1 and SHA-256 thumbprints of a certificate, as upper-case hex without colons (how Azure IoT Hub and DPS
 * show and compare them). Accepts PEM (the first certificate is used), bare base64 DER, or DER bytes.
 *
 * @throws {@link TlsError} `HUB_TLS_CERTIFICATE_INVALID` when the input is not a certificate.
 * @example
 * ```ts
 * const { sha1 } = certificateThumbprints(socket.getPeerCertificate().raw);
 * if (sha1 !== enrollment.primaryThumbprint) reject();
 * ```
 */
export function certificateThumbprints(certificatePemOrDer: string | Uint8Array): { sha1: string; sha256: string } {
  const der = certificateDer(certificatePemOrDer);
  parseNode(der);
  return thumbprintsOfDer(der);
}

/**
 * The subject common name (CN) of a certificate: the device id / registration id for X.509 devices.
 * Returns `undefined` when the subject has no CN.
 *
 * @throws {@link TlsError} `HUB_TLS_CERTIFICATE_INVALID` when the input is not a certificate.
 * @example
 * ```ts
 * const registrationId = commonNameOf(peerCertificate.raw); // 'dev1'
 * ```
 */
export function commonNameOf(certificatePemOrDer: string | Uint8Array): string | undefined {
  return commonNameOfDer(certificateDer(certificatePemOrDer));
}

/**
 * Checks that the leaf certificate chains by signature to one of the trusted CAs.
 *
 * `chain` is the leaf first, then any intermediates in any order (PEM, possibly several per string, bare
 * base64 or DER bytes, e.g. `socket.getPeerCertificate(true)` raws). Each step must be issued by the next
 * (`checkIssued` plus a signature check with the issuer's public key); intermediates and the trusted CA must be
 * CA certificates; every certificate on the path must be valid at `now`. A chain that cannot be parsed is
 * `malformed`; one with no path to a trusted CA is `untrusted`; a valid path with a certificate outside its
 * validity window is `expired` or `not-yet-valid`.
 *
 * @throws {@link TlsError} `HUB_TLS_CERTIFICATE_INVALID` when one of `trustedCaPems` is not a certificate
 * (a server configuration error, not the client's).
 * @example
 * ```ts
 * const peer = socket.getPeerCertificate(true);
 * const result = verifyCertificateChain([peer.raw, peer.issuerCertificate.raw], [group.caCertificatePem]);
 * if (!result.ok) log.warn({ reason: result.reason }, 'device certificate rejected');
 * ```
 */
export function verifyCertificateChain(
  chain: readonly (string | Uint8Array)[],
  trustedCaPems: readonly string[],
  now: Date = new Date(),
): ChainVerification {
  const trusted: ParsedCertificate[] = [];
  trustedCaPems.forEach((pem, index) => {
    for (const der of pemBlocks(pem, `trusted CA #${index}`))
      trusted.push(parseCertificate(der, `trusted CA #${index}`));
  });

  let presented: ParsedCertificate[];
  try {
    presented = chain.flatMap((item) =>
      typeof item === 'string' && item.includes('-----BEGIN')
        ? pemBlocks(item, 'certificate chain').map((der) => parseCertificate(der, 'certificate chain'))
        : [parseCertificate(certificateDer(item), 'certificate chain')],
    );
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const [leaf, ...intermediates] = presented;
  if (leaf === undefined) return { ok: false, reason: 'malformed' };
  const commonName = commonNameOfDer(leaf.der);
  const withName = (result: ChainVerification): ChainVerification =>
    commonName === undefined ? result : { ...result, commonName };

  const path = buildPath(leaf, intermediates, trusted);
  if (path === undefined) return withName({ ok: false, reason: 'untrusted' });
  const at = now.getTime();
  for (const certificate of path) {
    if (at < certificate.notBefore.getTime()) return withName({ ok: false, reason: 'not-yet-valid' });
    if (at > certificate.notAfter.getTime()) return withName({ ok: false, reason: 'expired' });
  }
  return withName({ ok: true });
}

// ---------------------------------------------------------------------------------------------------------
// Helpers shared with material.ts (not re-exported from index.ts).

/** A parsed certificate: Node's view (verification) plus the DER and dates. */
export interface ParsedCertificate {
  der: Buffer;
  node: NodeX509Certificate;
  notBefore: Date;
  notAfter: Date;
}

/** Parses one DER certificate; throws `HUB_TLS_CERTIFICATE_INVALID` naming `what` if it is not one. */
export function parseCertificate(der: Buffer, what: string): ParsedCertificate {
  const node = parseNode(der, what);
  try {
    const peculiar = new x509.X509Certificate(der);
    return { der, node, notBefore: peculiar.notBefore, notAfter: peculiar.notAfter };
  } catch (cause) {
    throw new TlsError('HUB_TLS_CERTIFICATE_INVALID', `${what} is not a valid X.509 certificate`, { cause });
  }
}

/** The DER bytes of every `CERTIFICATE` block in `pem`, in order; throws if there is none. */
export function pemBlocks(pem: string, what: string): Buffer[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
    Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'),
  );
  if (blocks.length === 0) {
    throw new TlsError('HUB_TLS_CERTIFICATE_INVALID', `${what} contains no PEM "CERTIFICATE" block`);
  }
  return blocks;
}

/** Whether `issuer` issued `subject`: names/key identifiers match and the signature verifies. */
export function isIssuedBy(subject: ParsedCertificate, issuer: ParsedCertificate): boolean {
  try {
    return subject.node.checkIssued(issuer.node) && subject.node.verify(issuer.node.publicKey);
  } catch {
    return false;
  }
}

/** Parses a PEM private key (PKCS#8, SEC1 or PKCS#1); throws `HUB_TLS_CERTIFICATE_INVALID` naming `what`. */
export function parsePrivateKey(pem: string, what: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (cause) {
    throw new TlsError('HUB_TLS_CERTIFICATE_INVALID', `${what} is not a readable PEM private key`, { cause });
  }
}

/** The DNS and IP subjectAltNames of a certificate, normalised like {@link normalizeHostNames} / IPs. */
export function subjectAltNamesOf(der: Buffer): { hostNames: string[]; ipAddresses: string[] } {
  const extension = new x509.X509Certificate(der).getExtension(x509.SubjectAlternativeNameExtension);
  const hostNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of extension?.names.items ?? []) {
    if (name.type === 'dns') hostNames.push(normalizeHostName(name.value));
    else if (name.type === 'ip') {
      const ip = canonicalIp(name.value);
      if (ip !== undefined) ipAddresses.push(ip);
    }
  }
  return { hostNames, ipAddresses };
}

/**
 * Lower-cases, strips a trailing dot, validates and de-duplicates DNS names (a leading `*.` label is allowed).
 * Throws `HUB_TLS_CERTIFICATE_INVALID` for an invalid one.
 */
export function normalizeHostNames(hostNames: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of hostNames) {
    const name = normalizeHostName(raw);
    if (isIP(name) !== 0) {
      throw new TlsError(
        'HUB_TLS_CERTIFICATE_INVALID',
        `'${raw}' is an IP address, not a host name: list it in ipAddresses instead`,
      );
    }
    if (name.length > 253 || !HOST_NAME.test(name)) {
      throw new TlsError(
        'HUB_TLS_CERTIFICATE_INVALID',
        `'${raw}' is not a valid DNS host name for a certificate (letters, digits, '-', '_' and dots; only a leading '*.' wildcard)`,
      );
    }
    out.add(name);
  }
  return [...out];
}

/** Canonicalises, validates and de-duplicates IP addresses. Throws `HUB_TLS_CERTIFICATE_INVALID`. */
export function normalizeIpAddresses(ipAddresses: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of ipAddresses) {
    const ip = canonicalIp(raw);
    if (ip === undefined) {
      throw new TlsError('HUB_TLS_CERTIFICATE_INVALID', `'${raw}' is not a valid IPv4 or IPv6 address`);
    }
    out.add(ip);
  }
  return [...out];
}

/** Wraps DER bytes as PEM with 64-character lines and a trailing newline. */
export function toPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// ---------------------------------------------------------------------------------------------------------

const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const LABEL = '(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)';
const HOST_NAME = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

interface LoadedIssuer {
  subjectName: x509.Name;
  subjectKeyId: string | undefined;
  signingKey: CryptoKey;
  signingAlgorithm: SigningAlgorithm;
}

function normalizeHostName(raw: string): string {
  const lower = raw.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** IPv4 dotted quad or RFC 5952 IPv6 text (WHATWG URL serialisation), or undefined if not an IP. */
function canonicalIp(raw: string): string | undefined {
  const ip = raw.trim();
  try {
    if (isIP(ip) === 4) return new URL(`http://${ip}/`).hostname;
    if (isIP(ip) === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    // e.g. an IPv6 zone id ("fe80::1%eth0"), which has no place in a certificate
  }
  return undefined;
}

function keyUsagesFor(isCa: boolean, keyAlgorithm: 'ec' | 'rsa'): x509.KeyUsageFlags {
  if (isCa) return x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
  return keyAlgorithm === 'rsa'
    ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
    : x509.KeyUsageFlags.digitalSignature;
}

async function generateKeyPair(keyAlgorithm: 'ec' | 'rsa'): Promise<CryptoKeyPair> {
  const algorithm =
    keyAlgorithm === 'rsa'
      ? {
          name: 'RSASSA-PKCS1-v1_5',
          modulusLength: 2048,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: 'SHA-256',
        }
      : { name: 'ECDSA', namedCurve: 'P-256' };
  return await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
}

function signingAlgorithmFor(key: CryptoKey): SigningAlgorithm {
  return key.algorithm.name === 'ECDSA'
    ? { name: 'ECDSA', hash: 'SHA-256' }
    : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}

const CURVES: Readonly<Record<string, { namedCurve: string; hash: string }>> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
  secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
};

async function loadIssuer(issuer: { certificatePem: string; privateKeyPem: string }): Promise<LoadedIssuer> {
  const [der] = pemBlocks(issuer.certificatePem, 'issuer certificate');
  const certificate = parseCertificate(der as Buffer, 'issuer certificate');
  if (!certificate.node.ca) {
    throw new TlsError(
      'HUB_TLS_CERTIFICATE_INVALID',
      'issuer certificate is not a CA certificate (basicConstraints CA:TRUE); issue it with isCa: true',
    );
  }
  const keyObject = parsePrivateKey(issuer.privateKeyPem, 'issuer private key');
  if (!certificate.node.checkPrivateKey(keyObject)) {
    throw new TlsError('HUB_TLS_CERTIFICATE_INVALID', 'issuer private key does not match the issuer certificate');
  }

  const pkcs8 = keyObject.export({ format: 'der', type: 'pkcs8' });
  let signingKey: CryptoKey;
  let signingAlgorithm: SigningAlgorithm;
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = CURVES[keyObject.asymmetricKeyDetails?.namedCurve ?? ''];
    if (curve === undefined) {
      throw new TlsError(
        'HUB_TLS_CERTIFICATE_INVALID',
        `issuer key uses curve ${keyObject.asymmetricKeyDetails?.namedCurve ?? 'unknown'}; use P-256, P-384 or P-521`,
      );
    }
    signingKey = await webcrypto.subtle.importKey(
      'pkcs8',
      pkcs8,
      { name: 'ECDSA', namedCurve: curve.namedCurve },
      false,
      ['sign'],
    );
    signingAlgorithm = { name: 'ECDSA', hash: curve.hash };
  } else if (keyObject.asymmetricKeyType === 'rsa') {
    signingKey = await webcrypto.subtle.importKey(
      'pkcs8',
      pkcs8,
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['sign'],
    );
    signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  } else {
    throw new TlsError(
      'HUB_TLS_CERTIFICATE_INVALID',
      `issuer key type ${keyObject.asymmetricKeyType ?? 'unknown'} is not supported; use an EC or RSA key`,
    );
  }

  const peculiar = new x509.X509Certificate(certificate.der);
  const ski = peculiar.getExtension(x509.SubjectKeyIdentifierExtension);
  return { subjectName: peculiar.subjectName, subjectKeyId: ski?.keyId, signingKey, signingAlgorithm };
}

/** Positive, non-zero 128-bit serial number (RFC 5280 §4.1.2.2: at most 20 octets, positive). */
function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function thumbprintsOfDer(der: Buffer): { sha1: string; sha256: string } {
  return {
    sha1: createHash('sha1').update(der).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(der).digest('hex').toUpperCase(),
  };
}

function certificateDer(input: string | Uint8Array): Buffer {
  if (typeof input !== 'string') return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (input.includes('-----BEGIN')) return pemBlocks(input, 'certificate')[0] as Buffer;
  const compact = input.replace(/\s+/g, '');
  if (compact.length === 0 || !BASE64.test(compact)) {
    throw new TlsError('HUB_TLS_CERTIFICATE_INVALID', 'certificate is neither PEM nor base64-encoded DER');
  }
  return Buffer.from(compact, 'base64');
}

function parseNode(der: Buffer, what = 'certificate'): NodeX509Certificate {
  try {
    return new NodeX509Certificate(der);
  } catch (cause) {
    throw new TlsError('HUB_TLS_CERTIFICATE_INVALID', `${what} is not a valid X.509 certificate`, { cause });
  }
}

function commonNameOfDer(der: Buffer): string | undefined {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(der);
  } catch (cause) {
    throw new TlsError('HUB_TLS_CERTIFICATE_INVALID', 'certificate is not a valid X.509 certificate', { cause });
  }
  return certificate.subjectName.getField('CN')[0];
}

/** Leaf, intermediates used, trust anchor; or undefined when no path reaches a trusted CA. */
function buildPath(
  leaf: ParsedCertificate,
  intermediates: readonly ParsedCertificate[],
  trusted: readonly ParsedCertificate[],
): ParsedCertificate[] | undefined {
  const path = [leaf];
  const unused = new Set(intermediates);
  let current = leaf;
  // Each step consumes one intermediate, so this terminates.
  for (;;) {
    const anchor = trusted.find((ca) => ca.node.ca && isIssuedBy(current, ca));
    if (anchor !== undefined) return [...path, anchor];
    const next = [...unused].find((candidate) => candidate.node.ca && isIssuedBy(current, candidate));
    if (next === undefined) return undefined;
    unused.delete(next);
    path.push(next);
    current = next;
  }
}
