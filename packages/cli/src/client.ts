import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createSharedAccessSignature, parseConnectionString } from '@plugboard/protocol';
import type { Manifest } from './up.js';
import { manifestPath } from './up.js';

/** The closed set of CLI error codes (docs/errors.md). */
export const CLI_ERROR_CODES = [
  'CLI_NOT_RUNNING',
  'CLI_REQUEST_FAILED',
  'CLI_INVALID_ARGUMENT',
  'CLI_CHECK_FAILED',
] as const;

/** A CLI failure with a stable code and a message that says what to do. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: (typeof CLI_ERROR_CODES)[number];
  constructor(code: CliError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Reads `DIR/plugboard.json`, written by a running `plugboard up`. */
export function readManifest(dataDir: string): Manifest {
  const path = manifestPath(dataDir);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (cause) {
    throw new CliError(
      'CLI_NOT_RUNNING',
      `Cannot read ${path}: start the platform with \`plugboard up --data-dir ${dataDir}\` first (or pass --data-dir).`,
      { cause },
    );
  }
}

/** Calls the platform's DPS service API with the `provisioningserviceowner` policy. */
export async function dpsServiceRequest(
  manifest: Manifest,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const cs = parseConnectionString(manifest.dps.serviceConnectionString);
  const token = await createSharedAccessSignature({
    resource: manifest.dps.host,
    key: cs['SharedAccessKey'] ?? '',
    keyName: cs['SharedAccessKeyName'] ?? '',
    expiry: Math.floor(Date.now() / 1000) + 300,
  });
  const ca = readFileSync(manifest.caCertificate, 'utf8');
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: manifest.dps.address,
        port: manifest.dps.httpsPort,
        method,
        path: `${path}${path.includes('?') ? '&' : '?'}api-version=2021-10-01`,
        headers: {
          host: manifest.dps.host,
          authorization: token,
          ...(payload === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
        },
        ca,
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const parsed: unknown = text === '' ? undefined : JSON.parse(text);
          if ((res.statusCode ?? 500) >= 400) {
            const message = (parsed as { message?: string } | undefined)?.message ?? text;
            reject(new CliError('CLI_REQUEST_FAILED', `${method} ${path} failed (${res.statusCode}): ${message}`));
            return;
          }
          resolve(parsed);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (cause) =>
      reject(
        new CliError('CLI_NOT_RUNNING', `Cannot reach DPS at ${manifest.dps.address}: is \`plugboard up\` running?`, {
          cause,
        }),
      ),
    );
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
