import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  issueCertificate,
  isIssuedBy,
  normalizeHostNames,
  normalizeIpAddresses,
  parseCertificate,
  parsePrivateKey,
  pemBlocks,
  subjectAltNamesOf,
} from './certificates.js';
import type { ParsedCertificate } from './certificates.js';
import { TlsError } from './errors.js';
import type { TlsLogger } from './errors.js';
import { ensurePrivateDirectory, tightenPrivateFiles } from '../secret-files.js';

/**
 * Where the local CA and the server certificate live, and which names the server certificate must cover.
 *
 * @example
 * ```ts
 * const options: TlsMaterialOptions = {
 *   directory: `${dataDir}/tls`,
 *   hostNames: ['localhost', 'hub-1.plugboard.local', '*.azure-devices.net'],
 *   ipAddresses: ['127.0.0.1', '::1'],
 * };
 * ```
 */
export interface TlsMaterialOptions {
  /** Directory of `ca.pem`, `ca.key.pem`, `server.pem`, `server.key.pem`; created (mode 0700) if missing. */
  directory: string;
  /** DNS subjectAltNames of the server certificate (a leading `*.` wildcard label is allowed). */
  hostNames: readonly string[];
  /** IP subjectAltNames of the server certificate. */
  ipAddresses: readonly string[];
  logger?: TlsLogger;
  /** Clock, for tests. */
  now?: () => Date;
}

/**
 * The CA and server certificate the TLS listeners use.
 *
 * @example
 * ```ts
 * const material = await ensureTlsMaterial(options);
 * https.createServer({ cert: material.serverCertificatePem, key: material.serverKeyPem }, app);
 * logger.info(`export NODE_EXTRA_CA_CERTS=${material.caCertificatePath}`);
 * ```
 */
export interface TlsMaterial {
  /** Absolute path of `ca.pem` (what users put in `NODE_EXTRA_CA_CERTS`). */
  caCertificatePath: string;
  caCertificatePem: string;
  /** The server (leaf) certificate only; clients trust the CA directly. */
  serverCertificatePem: string;
  serverKeyPem: string;
  /** Whether this call generated the CA / the server certificate. */
  created: { ca: boolean; server: boolean };
}

/**
 * Validity of the local CA, in days (10 years).
 *
 * @example
 * ```ts
 * const caExpiry = new Date(Date.now() + CA_VALID_DAYS * 86_400_000);
 * ```
 */
export const CA_VALID_DAYS = 3650;
/**
 * Validity of the server certificate, in days: Apple's 825-day maximum for TLS server certificates.
 *
 * @example
 * ```ts
 * assert.ok(serverValidityDays <= SERVER_VALID_DAYS);
 * ```
 */
export const SERVER_VALID_DAYS = 825;
/**
 * A server certificate with this many days or fewer left is re-issued by {@link ensureTlsMaterial}.
 *
 * @example
 * ```ts
 * const renewAt = new Date(notAfter.getTime() - SERVER_RENEW_BEFORE_DAYS * 86_400_000);
 * ```
 */
export const SERVER_RENEW_BEFORE_DAYS = 7;
/**
 * Subject CN of the local CA (what users see in their trust store).
 *
 * @example
 * ```ts
 * logger.info(`trust "${CA_COMMON_NAME}" from ${material.caCertificatePath}`);
 * ```
 */
export const CA_COMMON_NAME = 'Plugboard Local CA';

const DAY_MS = 86_400_000;
const CLOCK_SKEW_MS = 5 * 60_000;
const CA_WARN_BEFORE_DAYS = 30;

/**
 * Loads the local CA and server certificate from `options.directory`, creating whatever is missing.
 *
 * - No `ca.pem`: a new CA ("Plugboard Local CA", ECDSA P-256, 10 years) and server certificate are generated.
 * - `ca.pem` present: it is reused, never replaced. If it cannot be parsed, is not a CA, has expired, or
 *   `ca.key.pem` is missing or does not match, this throws `HUB_TLS_MATERIAL_INVALID` naming the file and
 *   asking to delete the directory to regenerate (clients trusting the old CA must then trust the new one).
 * - The server certificate (ECDSA P-256, 825 days, extendedKeyUsage serverAuth, SANs = `hostNames` +
 *   `ipAddresses`) is reused when it was issued by the CA, matches its key, is currently valid for more than
 *   7 more days and covers every requested name; otherwise it is re-issued.
 *
 * Files are written atomically (temporary file + rename); keys with mode 0600. Calls for the same directory
 * within one process are serialised; separate processes must not initialise the same directory concurrently.
 *
 * @throws {@link TlsError} `HUB_TLS_MATERIAL_INVALID` (unusable existing CA, unwritable directory) or
 * `HUB_TLS_CERTIFICATE_INVALID` (an invalid host name or IP address, or no names at all).
 * @example
 * ```ts
 * const material = await ensureTlsMaterial({
 *   directory: join(dataDir, 'tls'),
 *   hostNames: ['localhost', 'hub-1.plugboard.local'],
 *   ipAddresses: ['127.0.0.1'],
 *   logger,
 * });
 * tls.createServer({ cert: material.serverCertificatePem, key: material.serverKeyPem });
 * ```
 */
export function ensureTlsMaterial(options: TlsMaterialOptions): Promise<TlsMaterial> {
  const directory = resolve(options.directory);
  const previous = inFlight.get(directory) ?? Promise.resolve();
  const run = previous.then(
    () => ensure(directory, options),
    () => ensure(directory, options),
  );
  const settled = run.then(
    () => undefined,
    () => undefined,
  );
  inFlight.set(directory, settled);
  // `settled` never rejects; the empty handler satisfies the rule that every promise is handled.
  settled.then(
    () => {
      if (inFlight.get(directory) === settled) inFlight.delete(directory);
    },
    () => undefined,
  );
  return run;
}

const inFlight = new Map<string, Promise<void>>();

interface Paths {
  directory: string;
  ca: string;
  caKey: string;
  server: string;
  serverKey: string;
}

interface Pair {
  certificatePem: string;
  privateKeyPem: string;
}

async function ensure(directory: string, options: TlsMaterialOptions): Promise<TlsMaterial> {
  const logger = options.logger;
  const now = options.now ?? (() => new Date());
  const hostNames = normalizeHostNames(options.hostNames);
  const ipAddresses = normalizeIpAddresses(options.ipAddresses);
  if (hostNames.length === 0 && ipAddresses.length === 0) {
    throw new TlsError(
      'HUB_TLS_CERTIFICATE_INVALID',
      'the server certificate needs at least one host name or IP address (e.g. localhost, 127.0.0.1)',
    );
  }
  const paths: Paths = {
    directory,
    ca: join(directory, 'ca.pem'),
    caKey: join(directory, 'ca.key.pem'),
    server: join(directory, 'server.pem'),
    serverKey: join(directory, 'server.key.pem'),
  };
  try {
    ensurePrivateDirectory(directory);
    tightenPrivateFiles([paths.caKey, paths.serverKey]);
  } catch (cause) {
    throw new TlsError('HUB_TLS_MATERIAL_INVALID', `cannot create the TLS directory ${directory}: check permissions`, {
      cause,
    });
  }

  let ca = await loadCa(paths, now(), logger);
  let caCreated = false;
  if (ca === undefined) {
    const issued = await issueCertificate({
      commonName: CA_COMMON_NAME,
      isCa: true,
      keyAlgorithm: 'ec',
      validDays: CA_VALID_DAYS,
      notBefore: new Date(now().getTime() - CLOCK_SKEW_MS),
    });
    // Key first: a crash in between leaves a key without a certificate, which the next run regenerates.
    await writeAtomically(paths, paths.caKey, issued.privateKeyPem, 0o600);
    await writeAtomically(paths, paths.ca, issued.certificatePem, 0o644);
    ca = { certificatePem: issued.certificatePem, privateKeyPem: issued.privateKeyPem };
    caCreated = true;
    logger?.info(
      { path: paths.ca, thumbprintSha256: issued.thumbprintSha256 },
      'generated the Plugboard Local CA; trust it with NODE_EXTRA_CA_CERTS',
    );
  }

  const caCertificate = parseCertificate(pemBlocks(ca.certificatePem, paths.ca)[0] as Buffer, paths.ca);
  const existing = caCreated
    ? ({ reusable: false, reason: 'new-ca' } as const)
    : await loadServer(paths, caCertificate, hostNames, ipAddresses, now(), logger);
  if (existing.reusable) {
    return material(paths, ca, existing.pair, { ca: false, server: false });
  }

  const server = await issueCertificate({
    commonName: hostNames[0] ?? ipAddresses[0] ?? 'localhost',
    issuer: ca,
    keyAlgorithm: 'ec',
    validDays: SERVER_VALID_DAYS,
    notBefore: new Date(now().getTime() - CLOCK_SKEW_MS),
    extendedKeyUsage: 'serverAuth',
    hostNames,
    ipAddresses,
  });
  await writeAtomically(paths, paths.serverKey, server.privateKeyPem, 0o600);
  await writeAtomically(paths, paths.server, server.certificatePem, 0o644);
  logger?.info(
    { path: paths.server, reason: existing.reason, hostNames, ipAddresses, thumbprintSha256: server.thumbprintSha256 },
    'issued the server certificate',
  );
  return material(
    paths,
    ca,
    { certificatePem: server.certificatePem, privateKeyPem: server.privateKeyPem },
    { ca: caCreated, server: true },
  );
}

function material(paths: Paths, ca: Pair, server: Pair, created: { ca: boolean; server: boolean }): TlsMaterial {
  return {
    caCertificatePath: paths.ca,
    caCertificatePem: ca.certificatePem,
    serverCertificatePem: server.certificatePem,
    serverKeyPem: server.privateKeyPem,
    created,
  };
}

/** The existing CA, or undefined when there is none yet. Never returns a CA it could not fully check. */
async function loadCa(paths: Paths, now: Date, logger: TlsLogger | undefined): Promise<Pair | undefined> {
  const certificatePem = await readOptional(paths, paths.ca);
  if (certificatePem === undefined) {
    if ((await readOptional(paths, paths.caKey)) !== undefined) {
      logger?.warn(
        { path: paths.caKey },
        'found a CA key without ca.pem (an interrupted first run?); generating a new CA',
      );
    }
    return undefined;
  }

  let certificate: ParsedCertificate;
  try {
    certificate = parseCertificate(pemBlocks(certificatePem, paths.ca)[0] as Buffer, paths.ca);
  } catch (cause) {
    throw invalid(paths, paths.ca, 'is not a PEM X.509 certificate', cause);
  }
  if (!certificate.node.ca) throw invalid(paths, paths.ca, 'is not a CA certificate (basicConstraints CA:TRUE)');
  if (now.getTime() > certificate.notAfter.getTime()) {
    throw invalid(paths, paths.ca, `expired on ${certificate.notAfter.toISOString()}`);
  }
  if (now.getTime() < certificate.notBefore.getTime()) {
    logger?.warn(
      { path: paths.ca, notBefore: certificate.notBefore.toISOString() },
      'the CA is not valid yet: is the system clock right?',
    );
  } else if (certificate.notAfter.getTime() - now.getTime() < CA_WARN_BEFORE_DAYS * DAY_MS) {
    logger?.warn(
      { path: paths.ca, notAfter: certificate.notAfter.toISOString() },
      `the CA expires soon; delete ${paths.directory} to generate a new one and re-trust it`,
    );
  }

  const privateKeyPem = await readOptional(paths, paths.caKey);
  if (privateKeyPem === undefined) throw invalid(paths, paths.caKey, 'is missing (ca.pem exists)');
  let matches: boolean;
  try {
    matches = certificate.node.checkPrivateKey(parsePrivateKey(privateKeyPem, paths.caKey));
  } catch (cause) {
    throw invalid(paths, paths.caKey, 'is not a readable PEM private key', cause);
  }
  if (!matches) throw invalid(paths, paths.caKey, 'does not match ca.pem');
  return { certificatePem, privateKeyPem };
}

type ServerCheck = { reusable: true; pair: Pair } | { reusable: false; reason: string };

async function loadServer(
  paths: Paths,
  ca: ParsedCertificate,
  hostNames: readonly string[],
  ipAddresses: readonly string[],
  now: Date,
  logger: TlsLogger | undefined,
): Promise<ServerCheck> {
  const certificatePem = await readOptional(paths, paths.server);
  const privateKeyPem = await readOptional(paths, paths.serverKey);
  if (certificatePem === undefined || privateKeyPem === undefined) return { reusable: false, reason: 'missing' };

  let certificate: ParsedCertificate;
  let keyMatches: boolean;
  try {
    certificate = parseCertificate(pemBlocks(certificatePem, paths.server)[0] as Buffer, paths.server);
    keyMatches = certificate.node.checkPrivateKey(parsePrivateKey(privateKeyPem, paths.serverKey));
  } catch (cause) {
    // The server certificate is derived material: replacing it is safe, but say so.
    logger?.warn({ path: paths.server, err: cause }, 'the server certificate or key is unreadable; re-issuing it');
    return { reusable: false, reason: 'unreadable' };
  }
  if (!keyMatches) {
    logger?.warn({ path: paths.serverKey }, 'server.key.pem does not match server.pem; re-issuing');
    return { reusable: false, reason: 'key-mismatch' };
  }
  if (!isIssuedBy(certificate, ca)) return { reusable: false, reason: 'not-issued-by-ca' };
  if (now.getTime() < certificate.notBefore.getTime()) return { reusable: false, reason: 'not-yet-valid' };
  if (certificate.notAfter.getTime() - now.getTime() <= SERVER_RENEW_BEFORE_DAYS * DAY_MS) {
    return { reusable: false, reason: 'expiring' };
  }
  const present = subjectAltNamesOf(certificate.der);
  const missing = [
    ...hostNames.filter((name) => !present.hostNames.includes(name)),
    ...ipAddresses.filter((ip) => !present.ipAddresses.includes(ip)),
  ];
  if (missing.length > 0) return { reusable: false, reason: `missing names: ${missing.join(', ')}` };
  return { reusable: true, pair: { certificatePem, privateKeyPem } };
}

function invalid(paths: Paths, file: string, problem: string, cause?: unknown): TlsError {
  return new TlsError(
    'HUB_TLS_MATERIAL_INVALID',
    `${file} ${problem}. Plugboard never replaces an existing CA because clients already trust it: ` +
      `delete the directory ${paths.directory} to generate a new CA, then trust the new ca.pem.`,
    cause === undefined ? undefined : { cause },
  );
}

async function readOptional(paths: Paths, file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TlsError('HUB_TLS_MATERIAL_INVALID', `cannot read ${file}: check permissions of ${paths.directory}`, {
      cause,
    });
  }
}

/** Writes a temporary file (synced to disk) next to `file` and renames it over `file`. */
async function writeAtomically(paths: Paths, file: string, data: string, mode: number): Promise<void> {
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (cause) {
    await rm(temporary, { force: true });
    throw new TlsError('HUB_TLS_MATERIAL_INVALID', `cannot write ${file}: check permissions of ${paths.directory}`, {
      cause,
    });
  }
}
