/**
 * Enrollments as the DPS service API answers them: Plugboard's stored fields, plus Azure's shapes for
 * X.509 attestation — `x509.signingCertificates.{primary,secondary}.info` for a group's CA and
 * `x509.clientCertificates.{primary,secondary}.info` for an individual enrollment's uploaded device
 * certificate — so the portal-shaped clients and `az iot dps` read what they expect. The uploaded PEMs
 * themselves are not echoed, as DPS does not.
 */
import { certificateInfoOf, type CertificateInfo } from '../../core/dps-certificates.js';
import type { EnrollmentGroup, IndividualEnrollment } from '../../core/dps-types.js';

type Info = { info: CertificateInfo };

function withInfo(pem: string | undefined): Info | undefined {
  const info = pem === undefined ? undefined : certificateInfoOf(pem);
  return info === undefined ? undefined : { info };
}

/**
 * The JSON answer for an enrollment group or individual enrollment.
 *
 * @example
 * send(reply, 200, enrollmentView(dps.getIndividualEnrollment('dev1')));
 */
export function enrollmentView(enrollment: EnrollmentGroup | IndividualEnrollment): unknown {
  const attestation = enrollment.attestation;
  if (attestation.type !== 'x509') return enrollment;
  const { caCertificates, clientCertificates } = attestation.x509;
  const x509: Record<string, unknown> = {};
  if (caCertificates !== undefined) {
    x509['caCertificates'] = caCertificates;
    const primary = withInfo(caCertificates.primary);
    const secondary = withInfo(caCertificates.secondary);
    x509['signingCertificates'] = {
      ...(primary === undefined ? {} : { primary }),
      ...(secondary === undefined ? {} : { secondary }),
    };
  }
  if (clientCertificates !== undefined) {
    const { primaryCertificate, secondaryCertificate, ...thumbprints } = clientCertificates;
    const primary = withInfo(primaryCertificate);
    const secondary = withInfo(secondaryCertificate);
    x509['clientCertificates'] = {
      ...thumbprints,
      ...(primary === undefined ? {} : { primary }),
      ...(secondary === undefined ? {} : { secondary }),
    };
  }
  return { ...enrollment, attestation: { type: 'x509', x509 } };
}
