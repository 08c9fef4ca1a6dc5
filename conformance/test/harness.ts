/**
 * Test harness: starts a platform on loopback addresses of its own (so test files can run in parallel on
 * the real ports the official SDKs hard-code: 8883 and 443), trusting the run's CA through
 * NODE_EXTRA_CA_CERTS (set by scripts/run-tests.mjs).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, startPlatform, type Platform, type PlatformOptions } from '@plugboard/server';

/** A random 127.x.y prefix so parallel test files never share an address. */
export function randomLoopbackPrefix(): string {
  const a = 1 + Math.floor(Math.random() * 254);
  const b = 1 + Math.floor(Math.random() * 254);
  return `127.${a}.${b}`;
}

export interface TestPlatform extends Platform {
  dataDir: string;
  /** Stops the platform and removes its data directory. */
  dispose(): Promise<void>;
}

/** Starts a platform for a test; `options.dataDir` reuses a directory (restart tests). */
export async function startTestPlatform(options: Partial<PlatformOptions> = {}): Promise<TestPlatform> {
  const caDir = process.env['PLUGBOARD_TEST_CA_DIR'];
  if (caDir === undefined || process.env['NODE_EXTRA_CA_CERTS'] === undefined) {
    throw new Error('Run tests through `npm test` (scripts/run-tests.mjs): it creates the CA the SDKs trust.');
  }
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'plugboard-test-'));
  const tlsDir = join(dataDir, 'tls');
  mkdirSync(tlsDir, { recursive: true });
  copyFileSync(join(caDir, 'ca.pem'), join(tlsDir, 'ca.pem'));
  copyFileSync(join(caDir, 'ca.key.pem'), join(tlsDir, 'ca.key.pem'));
  const platform = await startPlatform({
    hubs: 1,
    loopbackPrefix: randomLoopbackPrefix(),
    logger: createLogger({ level: process.env['PLUGBOARD_TEST_LOG'] ?? 'silent' }),
    ...options,
    dataDir,
  });
  return Object.assign(platform, {
    dataDir,
    async dispose() {
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Wraps a callback-style SDK call (the Azure SDKs accept callbacks or return promises). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
