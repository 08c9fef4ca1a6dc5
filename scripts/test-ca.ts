// Creates (or reuses) the local CA the test suite trusts through NODE_EXTRA_CA_CERTS.
// Usage: node --import tsx scripts/test-ca.ts DIR
import { ensureTlsMaterial } from '../packages/server/src/tls/index.js';

const directory = process.argv[2];
if (directory === undefined) {
  process.stderr.write('usage: test-ca.ts DIR\n');
  process.exit(2);
}
const material = await ensureTlsMaterial({ directory, hostNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
process.stdout.write(`${material.caCertificatePath}\n`);
