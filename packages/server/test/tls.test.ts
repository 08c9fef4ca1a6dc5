import assert from 'node:assert/strict';
import { X509Certificate, createHash, createPrivateKey, webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import {
  TLS_ERROR_CODES,
  TlsError,
  certificateThumbprints,
  commonNameOf,
  ensureTlsMaterial,
  issueCertificate,
  verifyCertificateChain,
} from '../src/tls/index.js';
import type { IssuedCertificate, TlsLogger, TlsMaterialOptions } from '../src/tls/index.js';
// After the module under test: it installs the Reflect metadata shim @peculiar/x509 needs.
import * as x509 from '@peculiar/x509';

const DAY_MS = 86_400_000;
const HOST_NAMES = ['localhost', 'hub-1.plugboard.local', '*.azure-devices.net'] as const;
const IP_ADDRESSES = ['127.0.0.1', '127.0.0.2', '::1'] as const;
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

let root: string;
let dirCount = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'plugboard-tls-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function freshDir(): string {
  dirCount += 1;
  return join(root, `d${dirCount}`, 'tls');
}

function options(directory: string, extra: Partial<TlsMaterialOptions> = {}): TlsMaterialOptions {
  return { directory, hostNames: HOST_NAMES, ipAddresses: IP_ADDRESSES, ...extra };
}

interface LogEntry {
  level: 'info' | 'warn';
  obj: object;
  msg: string | undefined;
}

function recordingLogger(): TlsLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return {
    entries,
    info: (obj, msg) => entries.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => entries.push({ level: 'warn', obj, msg }),
  };
}

function sans(pem: string): string {
  return new X509Certificate(pem).subjectAltName ?? '';
}

async function assertTlsError(promise: Promise<unknown>, code: TlsError['code'], ...fragments: string[]) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TlsError, `expected TlsError, got ${String(err)}`);
    assert.equal(err.code, code);
    for (const fragment of fragments) assert.ok(err.message.includes(fragment), `${err.message} lacks ${fragment}`);
    return true;
  });
}

/** Starts a TLS server on 127.0.0.1:0, runs `fn` with its port and first accepted socket, then closes all. */
async function withTlsServer<T>(
  serverOptions: tls.TlsOptions,
  fn: (port: number, firstAccepted: Promise<tls.TLSSocket>) => Promise<T>,
): Promise<T> {
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer(serverOptions, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  const firstAccepted = new Promise<tls.TLSSocket>((resolve) => server.once('secureConnection', resolve));
  server.on('tlsClientError', () => undefined); // the negative cases abort handshakes on purpose
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn((server.address() as AddressInfo).port, firstAccepted);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

type ConnectResult = { ok: true; peer: tls.DetailedPeerCertificate } | { ok: false; error: NodeJS.ErrnoException };

/** Connects, waits for the client-side handshake outcome, and closes. */
function connect(connectOptions: tls.ConnectionOptions): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const socket = tls.connect(connectOptions, () => {
      const peer = socket.getPeerCertificate(true);
      socket.destroy();
      resolve({ ok: true, peer });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve({ ok: false, error });
    });
  });
}

describe('ensureTlsMaterial', () => {
  test('[TLS:create] generates the CA and server certificate with the documented profile', async () => {
    const directory = freshDir();
    const logger = recordingLogger();
    const material = await ensureTlsMaterial(options(directory, { logger }));

    assert.deepEqual(material.created, { ca: true, server: true });
    assert.ok(isAbsolute(material.caCertificatePath));
    assert.equal(material.caCertificatePath, join(directory, 'ca.pem'));
    assert.equal(await readFile(join(directory, 'ca.pem'), 'utf8'), material.caCertificatePem);
    assert.equal(await readFile(join(directory, 'server.pem'), 'utf8'), material.serverCertificatePem);
    assert.equal(await readFile(join(directory, 'server.key.pem'), 'utf8'), material.serverKeyPem);
    assert.equal((await stat(directory)).mode & 0o777, 0o700);
    assert.equal((await stat(join(directory, 'ca.key.pem'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(directory, 'server.key.pem'))).mode & 0o777, 0o600);
    assert.deepEqual(
      logger.entries.map((e) => e.level),
      ['info', 'info'],
    );

    const ca = new X509Certificate(material.caCertificatePem);
    assert.equal(ca.subject, 'CN=Plugboard Local CA');
    assert.equal(ca.ca, true);
    const caPeculiar = new x509.X509Certificate(material.caCertificatePem);
    assert.equal((caPeculiar.notAfter.getTime() - caPeculiar.notBefore.getTime()) / DAY_MS, 3650);
    const caUsage = caPeculiar.getExtension(x509.KeyUsagesExtension);
    assert.equal(caUsage?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.equal(caPeculiar.getExtension(x509.BasicConstraintsExtension)?.critical, true);
    assert.equal(createPrivateKey(await readFile(join(directory, 'ca.key.pem'), 'utf8')).asymmetricKeyType, 'ec');

    const server = new X509Certificate(material.serverCertificatePem);
    assert.equal(server.ca, false);
    assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey), 'server certificate is signed by the CA');
    assert.ok(server.checkPrivateKey(createPrivateKey(material.serverKeyPem)));
    assert.deepEqual(server.keyUsage, [OID_SERVER_AUTH]); // Node reports extendedKeyUsage here
    const serverPeculiar = new x509.X509Certificate(material.serverCertificatePem);
    const serverDays = (serverPeculiar.notAfter.getTime() - serverPeculiar.notBefore.getTime()) / DAY_MS;
    assert.ok(serverDays <= 825, `server validity ${serverDays} days exceeds 825`);
    assert.equal(
      sans(material.serverCertificatePem),
      'DNS:localhost, DNS:hub-1.plugboard.local, DNS:*.azure-devices.net, ' +
        'IP Address:127.0.0.1, IP Address:127.0.0.2, IP Address:0:0:0:0:0:0:0:1',
    );
    // Leaf only: exactly one certificate in server.pem.
    assert.equal(material.serverCertificatePem.match(/BEGIN CERTIFICATE/g)?.length, 1);
  });

  test('[TLS:handshake] a node:tls client trusting only ca.pem accepts every DNS and IP SAN', async () => {
    const material = await ensureTlsMaterial(options(freshDir()));
    const ca = material.caCertificatePem;
    await withTlsServer({ cert: material.serverCertificatePem, key: material.serverKeyPem }, async (port) => {
      for (const servername of ['localhost', 'hub-1.plugboard.local', 'hub-7.azure-devices.net']) {
        const result = await connect({ host: '127.0.0.1', port, ca, servername });
        assert.ok(result.ok, `${servername}: ${result.ok ? '' : result.error.message}`);
      }

      // No servername: Node checks the IP address against the IP SANs.
      const byIp = await connect({ host: '127.0.0.1', port, ca });
      assert.ok(byIp.ok, byIp.ok ? '' : byIp.error.message);
      // The same certificate, as a client received it, also matches the other IP SANs (no IPv6 socket needed).
      assert.equal(tls.checkServerIdentity('::1', byIp.peer), undefined);
      assert.equal(tls.checkServerIdentity('127.0.0.2', byIp.peer), undefined);
      assert.ok(tls.checkServerIdentity('127.0.0.3', byIp.peer) instanceof Error);

      const wrongName = await connect({ host: '127.0.0.1', port, ca, servername: 'a.b.azure-devices.net' });
      assert.equal(wrongName.ok ? 'connected' : wrongName.error.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
      const untrusting = await connect({ host: '127.0.0.1', port, servername: 'localhost' });
      assert.equal(untrusting.ok ? 'connected' : untrusting.error.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });
  });

  test('[TLS:reuse] a second call reuses the files without regenerating anything', async () => {
    const directory = freshDir();
    const first = await ensureTlsMaterial(options(directory));
    const mtime = (await stat(join(directory, 'server.pem'))).mtimeMs;
    const logger = recordingLogger();
    const second = await ensureTlsMaterial(options(directory, { logger }));

    assert.deepEqual(second.created, { ca: false, server: false });
    assert.equal(second.caCertificatePem, first.caCertificatePem);
    assert.equal(second.serverCertificatePem, first.serverCertificatePem);
    assert.equal(second.serverKeyPem, first.serverKeyPem);
    assert.equal(
      new X509Certificate(second.serverCertificatePem).serialNumber,
      new X509Certificate(first.serverCertificatePem).serialNumber,
    );
    assert.equal((await stat(join(directory, 'server.pem'))).mtimeMs, mtime);
    assert.deepEqual(logger.entries, []);

    // Names given in another order, case or spelling of the same address still count as covered.
    const respelled = await ensureTlsMaterial({
      directory,
      hostNames: ['LOCALHOST.', '*.Azure-Devices.net'],
      ipAddresses: ['0:0:0:0:0:0:0:1', '127.0.0.1'],
    });
    assert.deepEqual(respelled.created, { ca: false, server: false });
  });

  test('[TLS:reissue] a new host name or IP re-issues the server certificate and keeps the CA', async () => {
    const directory = freshDir();
    const first = await ensureTlsMaterial(options(directory));
    const logger = recordingLogger();
    const second = await ensureTlsMaterial({
      directory,
      hostNames: [...HOST_NAMES, 'global.azure-devices-provisioning.net'],
      ipAddresses: [...IP_ADDRESSES, '10.0.0.5'],
      logger,
    });

    assert.deepEqual(second.created, { ca: false, server: true });
    assert.equal(second.caCertificatePem, first.caCertificatePem);
    assert.equal(await readFile(join(directory, 'ca.pem'), 'utf8'), first.caCertificatePem);
    assert.notEqual(
      new X509Certificate(second.serverCertificatePem).serialNumber,
      new X509Certificate(first.serverCertificatePem).serialNumber,
    );
    assert.match(sans(second.serverCertificatePem), /DNS:global\.azure-devices-provisioning\.net/);
    assert.match(sans(second.serverCertificatePem), /IP Address:10\.0\.0\.5/);
    assert.equal(await readFile(join(directory, 'server.pem'), 'utf8'), second.serverCertificatePem);
    const reason = (logger.entries[0]?.obj as { reason?: string } | undefined)?.reason ?? '';
    assert.match(reason, /global\.azure-devices-provisioning\.net, 10\.0\.0\.5/);
    const server = new X509Certificate(second.serverCertificatePem);
    assert.ok(server.verify(new X509Certificate(first.caCertificatePem).publicKey));

    // Dropping a name does not re-issue: the certificate still covers every requested name.
    const third = await ensureTlsMaterial(options(directory));
    assert.deepEqual(third.created, { ca: false, server: false });
  });

  test('[TLS:renew] a server certificate with 7 days or less left is re-issued; the CA is kept', async () => {
    const directory = freshDir();
    const start = Date.now();
    const first = await ensureTlsMaterial(options(directory, { now: () => new Date(start) }));

    const later = await ensureTlsMaterial(options(directory, { now: () => new Date(start + 800 * DAY_MS) }));
    assert.deepEqual(later.created, { ca: false, server: false });

    const nearExpiry = await ensureTlsMaterial(options(directory, { now: () => new Date(start + 820 * DAY_MS) }));
    assert.deepEqual(nearExpiry.created, { ca: false, server: true });
    assert.equal(nearExpiry.caCertificatePem, first.caCertificatePem);
    const renewed = new x509.X509Certificate(nearExpiry.serverCertificatePem);
    assert.ok(renewed.notAfter.getTime() > start + 1600 * DAY_MS);
  });

  test('[TLS:never-replace-ca] an unusable CA throws HUB_TLS_MATERIAL_INVALID naming the file', async () => {
    const directory = freshDir();
    await ensureTlsMaterial(options(directory));
    const caPath = join(directory, 'ca.pem');
    const caKeyPath = join(directory, 'ca.key.pem');
    const caPem = await readFile(caPath, 'utf8');
    const caKeyPem = await readFile(caKeyPath, 'utf8');

    await writeFile(caPath, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    await assertTlsError(ensureTlsMaterial(options(directory)), 'HUB_TLS_MATERIAL_INVALID', caPath, 'delete');
    await writeFile(caPath, 'garbage');
    await assertTlsError(ensureTlsMaterial(options(directory)), 'HUB_TLS_MATERIAL_INVALID', caPath, directory);
    assert.equal(await readFile(caPath, 'utf8'), 'garbage', 'the broken CA was left alone');

    await writeFile(caPath, caPem);
    await rm(caKeyPath);
    await assertTlsError(ensureTlsMaterial(options(directory)), 'HUB_TLS_MATERIAL_INVALID', caKeyPath, 'missing');

    const other = await issueCertificate({ commonName: 'other', isCa: true });
    await writeFile(caKeyPath, other.privateKeyPem);
    await assertTlsError(ensureTlsMaterial(options(directory)), 'HUB_TLS_MATERIAL_INVALID', caKeyPath, 'match');
    await writeFile(caKeyPath, 'not a key');
    await assertTlsError(ensureTlsMaterial(options(directory)), 'HUB_TLS_MATERIAL_INVALID', caKeyPath);

    const leaf = await issueCertificate({ commonName: 'not a CA' });
    await writeFile(caPath, leaf.certificatePem);
    await writeFile(caKeyPath, leaf.privateKeyPem);
    await assertTlsError(ensureTlsMaterial(options(directory)), 'HUB_TLS_MATERIAL_INVALID', caPath, 'not a CA');

    await writeFile(caPath, caPem);
    await writeFile(caKeyPath, caKeyPem);
    const expired = ensureTlsMaterial(options(directory, { now: () => new Date(Date.now() + 3700 * DAY_MS) }));
    await assertTlsError(expired, 'HUB_TLS_MATERIAL_INVALID', caPath, 'expired');

    const restored = await ensureTlsMaterial(options(directory));
    assert.deepEqual(restored.created, { ca: false, server: false });
  });

  test('[TLS:server-derived] a corrupted server certificate or key is re-issued with a warning', async () => {
    const directory = freshDir();
    const first = await ensureTlsMaterial(options(directory));
    await writeFile(join(directory, 'server.pem'), 'corrupted');
    const logger = recordingLogger();
    const second = await ensureTlsMaterial(options(directory, { logger }));
    assert.deepEqual(second.created, { ca: false, server: true });
    assert.equal(second.caCertificatePem, first.caCertificatePem);
    assert.ok(logger.entries.some((e) => e.level === 'warn'));

    const stranger = await issueCertificate({ commonName: 'x' });
    await writeFile(join(directory, 'server.key.pem'), stranger.privateKeyPem);
    const third = await ensureTlsMaterial(options(directory));
    assert.deepEqual(third.created, { ca: false, server: true });
    assert.ok(new X509Certificate(third.serverCertificatePem).checkPrivateKey(createPrivateKey(third.serverKeyPem)));
  });

  test('[TLS:race] concurrent calls for one directory share a single CA', async () => {
    const directory = freshDir();
    const [a, b] = await Promise.all([ensureTlsMaterial(options(directory)), ensureTlsMaterial(options(directory))]);
    assert.equal(a.caCertificatePem, b.caCertificatePem);
    assert.equal(a.serverCertificatePem, b.serverCertificatePem);
    assert.deepEqual([a.created.ca, b.created.ca].sort(), [false, true]);
    assert.equal(await readFile(join(directory, 'ca.pem'), 'utf8'), a.caCertificatePem);
  });

  test('[TLS:names] invalid names are rejected with HUB_TLS_CERTIFICATE_INVALID', async () => {
    const directory = freshDir();
    const bad = (hostNames: string[], ipAddresses: string[]) =>
      ensureTlsMaterial({ directory, hostNames, ipAddresses });
    await assertTlsError(bad(['bad host'], []), 'HUB_TLS_CERTIFICATE_INVALID', 'bad host');
    await assertTlsError(bad(['a.*.example'], []), 'HUB_TLS_CERTIFICATE_INVALID');
    await assertTlsError(bad(['127.0.0.1'], []), 'HUB_TLS_CERTIFICATE_INVALID', 'ipAddresses');
    await assertTlsError(bad([], ['999.1.1.1']), 'HUB_TLS_CERTIFICATE_INVALID', '999.1.1.1');
    await assertTlsError(bad([], []), 'HUB_TLS_CERTIFICATE_INVALID');
  });
});

describe('issueCertificate and thumbprints', () => {
  let deviceCa: IssuedCertificate;
  before(async () => {
    deviceCa = await issueCertificate({ commonName: 'Fleet CA', isCa: true, validDays: 30 });
  });

  test('[TLS:keys] RSA 2048 and ECDSA P-256 keys in PKCS#8 PEM', async () => {
    const rsa = await issueCertificate({ commonName: 'dev-rsa', issuer: deviceCa, keyAlgorithm: 'rsa' });
    assert.match(rsa.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const rsaKey = createPrivateKey(rsa.privateKeyPem);
    assert.equal(rsaKey.asymmetricKeyType, 'rsa');
    assert.equal(rsaKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.ok(new X509Certificate(rsa.certificatePem).checkPrivateKey(rsaKey));

    const ec = await issueCertificate({ commonName: 'dev-ec', issuer: deviceCa, extendedKeyUsage: 'clientAuth' });
    const ecKey = createPrivateKey(ec.privateKeyPem);
    assert.equal(ecKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.deepEqual(new X509Certificate(ec.certificatePem).keyUsage, [OID_CLIENT_AUTH]);

    // An RSA CA signs too (RSASSA-PKCS1-v1_5 with SHA-256).
    const rsaCa = await issueCertificate({ commonName: 'RSA CA', isCa: true, keyAlgorithm: 'rsa' });
    const signedByRsa = await issueCertificate({ commonName: 'dev-under-rsa', issuer: rsaCa });
    const rsaCaKey = new X509Certificate(rsaCa.certificatePem).publicKey;
    assert.ok(new X509Certificate(signedByRsa.certificatePem).verify(rsaCaKey));
  });

  test('[TLS:validity] validDays and notBefore are honoured', async () => {
    const notBefore = new Date('2030-01-01T00:00:00Z');
    const cert = await issueCertificate({ commonName: 'later', notBefore, validDays: 10 });
    const parsed = new x509.X509Certificate(cert.certificatePem);
    assert.equal(parsed.notBefore.toISOString(), '2030-01-01T00:00:00.000Z');
    assert.equal(parsed.notAfter.toISOString(), '2030-01-11T00:00:00.000Z');
  });

  test('[TLS:thumbprint] self-signed: thumbprints are SHA-1/SHA-256 of the DER, upper-case hex as Azure shows', async () => {
    const selfSigned = await issueCertificate({ commonName: 'self-signed-dev' });
    const node = new X509Certificate(selfSigned.certificatePem);
    assert.ok(node.verify(node.publicKey), 'self-signed');
    assert.match(selfSigned.thumbprintSha1, /^[0-9A-F]{40}$/);
    assert.match(selfSigned.thumbprintSha256, /^[0-9A-F]{64}$/);
    assert.equal(selfSigned.thumbprintSha1, createHash('sha1').update(node.raw).digest('hex').toUpperCase());
    assert.equal(selfSigned.thumbprintSha1, node.fingerprint.replaceAll(':', ''));
    assert.equal(selfSigned.thumbprintSha256, node.fingerprint256.replaceAll(':', ''));

    const expected = { sha1: selfSigned.thumbprintSha1, sha256: selfSigned.thumbprintSha256 };
    assert.deepEqual(certificateThumbprints(selfSigned.certificatePem), expected);
    assert.deepEqual(certificateThumbprints(node.raw), expected);
    assert.deepEqual(certificateThumbprints(new Uint8Array(node.raw)), expected);
    assert.deepEqual(certificateThumbprints(node.raw.toString('base64')), expected);
    assert.equal(commonNameOf(selfSigned.certificatePem), 'self-signed-dev');
    assert.equal(commonNameOf(node.raw), 'self-signed-dev');
  });

  test('[TLS:cn] commonNameOf round-trips any common name and rejects non-certificates', async () => {
    for (const commonName of ['dev,1+x=y "q"', '#00ff', ' spaced ', 'dévice-ü']) {
      const odd = await issueCertificate({ commonName });
      assert.equal(commonNameOf(odd.certificatePem), commonName);
    }
    const isInvalid = (err: unknown) => err instanceof TlsError && err.code === 'HUB_TLS_CERTIFICATE_INVALID';
    assert.throws(() => commonNameOf('not a certificate!'), isInvalid);
    assert.throws(() => certificateThumbprints(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])), isInvalid);
  });

  test('[TLS:issuer] unusable issuers are rejected with HUB_TLS_CERTIFICATE_INVALID', async () => {
    const leaf = await issueCertificate({ commonName: 'leaf' });
    await assertTlsError(
      issueCertificate({ commonName: 'x', issuer: leaf }),
      'HUB_TLS_CERTIFICATE_INVALID',
      'not a CA',
    );
    const otherCa = await issueCertificate({ commonName: 'Other', isCa: true });
    const mismatched = { certificatePem: deviceCa.certificatePem, privateKeyPem: otherCa.privateKeyPem };
    await assertTlsError(
      issueCertificate({ commonName: 'x', issuer: mismatched }),
      'HUB_TLS_CERTIFICATE_INVALID',
      'does not match',
    );
    const notPem = { certificatePem: 'nope', privateKeyPem: deviceCa.privateKeyPem };
    await assertTlsError(issueCertificate({ commonName: 'x', issuer: notPem }), 'HUB_TLS_CERTIFICATE_INVALID');
  });
});

describe('verifyCertificateChain', () => {
  let rootCa: IssuedCertificate;
  let intermediate: IssuedCertificate;
  let device: IssuedCertificate;
  let directDevice: IssuedCertificate;
  before(async () => {
    rootCa = await issueCertificate({ commonName: 'Device Root CA', isCa: true, validDays: 3650 });
    intermediate = await issueCertificate({ commonName: 'Device Intermediate', isCa: true, issuer: rootCa });
    device = await issueCertificate({
      commonName: 'dev-rsa',
      issuer: intermediate,
      keyAlgorithm: 'rsa',
      extendedKeyUsage: 'clientAuth',
    });
    directDevice = await issueCertificate({ commonName: 'dev-direct', issuer: rootCa, extendedKeyUsage: 'clientAuth' });
  });

  test('[X509:chain] a leaf signed by a trusted CA, directly or through intermediates, is accepted', () => {
    const trusted = [rootCa.certificatePem];
    assert.deepEqual(verifyCertificateChain([directDevice.certificatePem], trusted), {
      ok: true,
      commonName: 'dev-direct',
    });
    assert.deepEqual(verifyCertificateChain([device.certificatePem, intermediate.certificatePem], trusted), {
      ok: true,
      commonName: 'dev-rsa',
    });
    // One PEM bundle, DER bytes, a trusted intermediate, and a trusted bundle all work as well.
    const bundle = device.certificatePem + intermediate.certificatePem;
    assert.equal(verifyCertificateChain([bundle], trusted).ok, true);
    const der = (pem: string) => new X509Certificate(pem).raw;
    assert.equal(
      verifyCertificateChain([der(device.certificatePem), der(intermediate.certificatePem)], trusted).ok,
      true,
    );
    assert.equal(verifyCertificateChain([device.certificatePem], [intermediate.certificatePem]).ok, true);
    const trustedBundle = [intermediate.certificatePem + rootCa.certificatePem];
    assert.equal(verifyCertificateChain([directDevice.certificatePem], trustedBundle).ok, true);
  });

  test('[X509:untrusted] a missing intermediate or a foreign CA is untrusted', async () => {
    assert.deepEqual(verifyCertificateChain([device.certificatePem], [rootCa.certificatePem]), {
      ok: false,
      reason: 'untrusted',
      commonName: 'dev-rsa',
    });
    const foreign = await issueCertificate({ commonName: 'Foreign CA', isCa: true });
    assert.equal(verifyCertificateChain([directDevice.certificatePem], [foreign.certificatePem]).reason, 'untrusted');
    // Same subject name, different key: the signature, not the name, decides.
    const impostor = await issueCertificate({ commonName: 'Device Root CA', isCa: true });
    assert.equal(verifyCertificateChain([directDevice.certificatePem], [impostor.certificatePem]).reason, 'untrusted');
    assert.equal(verifyCertificateChain([directDevice.certificatePem], []).reason, 'untrusted');
  });

  test('[X509:ca-flag] intermediates and trusted anchors must be CA certificates', async () => {
    // A self-signed leaf in the trusted list does not act as a CA for itself.
    const selfSigned = await issueCertificate({ commonName: 'self' });
    assert.equal(verifyCertificateChain([selfSigned.certificatePem], [selfSigned.certificatePem]).reason, 'untrusted');

    // A non-CA "intermediate" signed by the root, signing a leaf: built by hand, since issueCertificate refuses.
    const rootKey = await webcrypto.subtle.importKey(
      'pkcs8',
      createPrivateKey(rootCa.privateKeyPem).export({ format: 'der', type: 'pkcs8' }),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    const ecdsa = { name: 'ECDSA', namedCurve: 'P-256' };
    const midKeys = await webcrypto.subtle.generateKey(ecdsa, false, ['sign', 'verify']);
    const leafKeys = await webcrypto.subtle.generateKey(ecdsa, false, ['sign', 'verify']);
    const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' };
    const mid = await x509.X509CertificateGenerator.create(
      {
        subject: 'CN=Not A CA',
        issuer: new x509.X509Certificate(rootCa.certificatePem).subjectName,
        publicKey: midKeys.publicKey,
        signingKey: rootKey,
        signingAlgorithm,
        extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
      },
      webcrypto,
    );
    const leaf = await x509.X509CertificateGenerator.create(
      {
        subject: 'CN=dev-under-non-ca',
        issuer: mid.subjectName,
        publicKey: leafKeys.publicKey,
        signingKey: midKeys.privateKey,
        signingAlgorithm,
      },
      webcrypto,
    );
    const rootPublicKey = new X509Certificate(rootCa.certificatePem).publicKey;
    assert.ok(new X509Certificate(mid.toString('pem')).verify(rootPublicKey), 'the fake intermediate is root-signed');
    const result = verifyCertificateChain([leaf.toString('pem'), mid.toString('pem')], [rootCa.certificatePem]);
    assert.deepEqual(result, { ok: false, reason: 'untrusted', commonName: 'dev-under-non-ca' });
  });

  test('[X509:validity] every certificate on the path must be within its validity window', async () => {
    const leafWindow = new x509.X509Certificate(device.certificatePem);
    const chain = [device.certificatePem, intermediate.certificatePem];
    const trusted = [rootCa.certificatePem];
    const at = (offsetMs: number, from: Date) => new Date(from.getTime() + offsetMs);
    assert.equal(verifyCertificateChain(chain, trusted, at(1000, leafWindow.notAfter)).reason, 'expired');
    assert.equal(verifyCertificateChain(chain, trusted, at(-1000, leafWindow.notBefore)).reason, 'not-yet-valid');
    assert.equal(verifyCertificateChain(chain, trusted, at(-1000, leafWindow.notAfter)).ok, true);

    // A long-lived leaf under a short-lived intermediate: the intermediate's expiry decides.
    const shortCa = await issueCertificate({ commonName: 'Short CA', isCa: true, issuer: rootCa, validDays: 2 });
    const longLeaf = await issueCertificate({ commonName: 'long', issuer: shortCa, validDays: 365 });
    const in10Days = new Date(Date.now() + 10 * DAY_MS);
    const result = verifyCertificateChain([longLeaf.certificatePem, shortCa.certificatePem], trusted, in10Days);
    assert.deepEqual(result, { ok: false, reason: 'expired', commonName: 'long' });
  });

  test('[X509:malformed] unparsable chains are malformed; an unparsable trusted CA throws', () => {
    const trusted = [rootCa.certificatePem];
    assert.deepEqual(verifyCertificateChain([], trusted), { ok: false, reason: 'malformed' });
    assert.deepEqual(verifyCertificateChain(['garbage!'], trusted), { ok: false, reason: 'malformed' });
    const der = new X509Certificate(device.certificatePem).raw;
    assert.deepEqual(verifyCertificateChain([der.subarray(0, der.length - 10)], trusted), {
      ok: false,
      reason: 'malformed',
    });
    assert.equal(verifyCertificateChain([device.certificatePem, 'garbage!'], trusted).reason, 'malformed');
    const isInvalid = (err: unknown) => err instanceof TlsError && err.code === 'HUB_TLS_CERTIFICATE_INVALID';
    assert.throws(() => verifyCertificateChain([device.certificatePem], ['not a pem']), isInvalid);
  });

  test('[X509:mtls] the chain a real TLS client presents (RSA device cert + intermediate) verifies', async () => {
    const material = await ensureTlsMaterial(options(freshDir()));
    const serverOptions = {
      cert: material.serverCertificatePem,
      key: material.serverKeyPem,
      requestCert: true,
      rejectUnauthorized: false, // the application decides, as the hub does for X.509 attestation
    };
    await withTlsServer(serverOptions, async (port, accepted) => {
      const client = tls.connect({
        host: '127.0.0.1',
        port,
        ca: material.caCertificatePem,
        servername: 'localhost',
        cert: device.certificatePem + intermediate.certificatePem,
        key: device.privateKeyPem,
      });
      client.on('error', () => undefined);
      try {
        // Keep the client open until the server has finished the handshake: with TLS 1.3 the client sends its
        // certificate after it already considers itself connected.
        const socket = await accepted;
        const peer = socket.getPeerCertificate(true);
        const raws: Buffer[] = [];
        for (let cert: tls.DetailedPeerCertificate | undefined = peer; cert?.raw !== undefined;) {
          const raw = cert.raw;
          if (raws.some((seen) => seen.equals(raw))) break;
          raws.push(raw);
          cert = cert.issuerCertificate;
        }
        assert.equal(raws.length, 2, 'leaf and intermediate were presented');
        assert.deepEqual(verifyCertificateChain(raws, [rootCa.certificatePem]), { ok: true, commonName: 'dev-rsa' });
        assert.equal(certificateThumbprints(peer.raw).sha1, device.thumbprintSha1);
        assert.equal(peer.fingerprint.replaceAll(':', ''), device.thumbprintSha1);
        assert.equal(commonNameOf(peer.raw), 'dev-rsa');
      } finally {
        client.destroy();
      }
    });
  });
});

test('[TLS:errors] TlsError carries a closed code and the cause', () => {
  assert.deepEqual([...TLS_ERROR_CODES], ['HUB_TLS_MATERIAL_INVALID', 'HUB_TLS_CERTIFICATE_INVALID']);
  const cause = new Error('inner');
  const err = new TlsError('HUB_TLS_MATERIAL_INVALID', 'outer', { cause });
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'TlsError');
  assert.equal(err.code, 'HUB_TLS_MATERIAL_INVALID');
  assert.equal(err.cause, cause);
  assert.equal(new TlsError('HUB_TLS_CERTIFICATE_INVALID', 'no cause').cause, undefined);
});
