// Public surface of the TLS / certificate module: the local CA, the server certificate, device certificates
// and X.509 chain verification for DPS/IoT Hub X.509 attestation.
export { certificateThumbprints, commonNameOf, issueCertificate, verifyCertificateChain } from './certificates.js';
export type { ChainVerification, IssueCertificateOptions, IssuedCertificate } from './certificates.js';
export { TLS_ERROR_CODES, TlsError } from './errors.js';
export type { TlsErrorCode, TlsLogger } from './errors.js';
export {
  CA_COMMON_NAME,
  CA_VALID_DAYS,
  SERVER_RENEW_BEFORE_DAYS,
  SERVER_VALID_DAYS,
  ensureTlsMaterial,
} from './material.js';
export type { TlsMaterial, TlsMaterialOptions } from './material.js';
