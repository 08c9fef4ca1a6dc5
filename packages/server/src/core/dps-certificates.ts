/**
 * Certificates uploaded with DPS enrollments — an individual enrollment's device certificate
 * (`x509.clientCertificates.primary.certificate`) and a group's signing certificate
 * (`x509.signingCertificates.primary.certificate`), as the portal, `az iot dps enrollment create
 * --certificate-path` and the DPS REST API send them: PEM or bare base64 DER. Read here into PEM and the
 * `info` block DPS answers with (subject, issuer, SHA-1 and SHA-256 thumbprints, validity, serial number).
 */
import { X509Certificate } from 'node:crypto';
import { DpsError } from './dps-errors.js';

/** DPS's `X509CertificateInfo`. */
export interface CertificateInfo {
  subjectName: string;
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  issuerName: string;
  notBeforeUtc: string;
  notAfterUtc: string;
  serialNumber: string;
  version: number;
}

/** An uploaded certificate: its PEM and its info. */
export interface EnrollmentCertificate {
  pem: string;
  info: CertificateInfo;
  isCa: boolean;
}

/** `CN=a, O=b` from Node's newline-separated distinguished name. */
function distinguishedName(text: string): string {
  return text
    .split('\n')
    .filter((part) => part !== '')
    .join(', ');
}

/** The PEM of `text`: PEM as given (its first certificate), or base64 DER wrapped. */
function pemOf(text: string): string {
  const trimmed = text.trim();
  if (trimmed.includes('-----BEGIN')) return trimmed.endsWith('\n') ? trimmed : `${trimmed}\n`;
  const base64 = trimmed.replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${base64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

/**
 * Reads an uploaded certificate. Throws `DPS_INVALID_CERTIFICATE` (400) naming `what` when it is not an
 * X.509 certificate in PEM or base64 DER, or when it has expired at `now`.
 *
 * @example
 * const { info } = readEnrollmentCertificate(pem, 'x509.clientCertificates.primary.certificate', new Date());
 * info.sha1Thumbprint; // '9F2C…' (upper-case hex)
 */
export function readEnrollmentCertificate(text: string, what: string, now: Date): EnrollmentCertificate {
  if (text.trim() === '') throw new DpsError('DPS_INVALID_CERTIFICATE', `${what} is empty.`);
  const pem = pemOf(text);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch (cause) {
    throw new DpsError(
      'DPS_INVALID_CERTIFICATE',
      `${what} is not an X.509 certificate in PEM or base64 DER: ${cause instanceof Error ? cause.message : String(cause)}.`,
      { cause },
    );
  }
  const notAfter = new Date(certificate.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw new DpsError(
      'DPS_INVALID_CERTIFICATE',
      `${what} expired on ${notAfter.toISOString()}; upload a certificate that is still valid.`,
    );
  }
  const hex = (fingerprint: string): string => fingerprint.replace(/:/g, '').toUpperCase();
  return {
    pem: certificate.toString(),
    isCa: certificate.ca,
    info: {
      subjectName: distinguishedName(certificate.subject),
      sha1Thumbprint: hex(certificate.fingerprint),
      sha256Thumbprint: hex(certificate.fingerprint256),
      issuerName: distinguishedName(certificate.issuer),
      notBeforeUtc: new Date(certificate.validFrom).toISOString(),
      notAfterUtc: notAfter.toISOString(),
      serialNumber: certificate.serialNumber.toUpperCase(),
      version: 3,
    },
  };
}

/**
 * The info block of a stored certificate (already checked when it was uploaded; expiry is not judged
 * again here).
 */
export function certificateInfoOf(pem: string): CertificateInfo | undefined {
  try {
    return readEnrollmentCertificate(pem, 'certificate', new Date(0)).info;
  } catch {
    return undefined;
  }
}
