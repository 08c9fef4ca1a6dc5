/**
 * DPS registration over HTTPS (protocol.md §3.3): `PUT /{idScope}/registrations/{id}/register` with the
 * registration SAS in `Authorization` (or the TLS client certificate), then `GET …/operations/{operationId}`
 * after each `retry-after`, until DPS says `assigned`.
 */

import { request as httpsRequest } from 'node:https';
import { dpsToken } from './credentials.js';
import { DeviceError } from './errors.js';
import {
  pause,
  readRegistrationAnswer,
  registrationBody,
  type Assignment,
  type RegistrationRequest,
  type RegistrationStep,
} from './provisioning.js';
import { tlsOptions } from './tls-options.js';

const API_VERSION = '2019-03-31';
const TOKEN_TTL_SECONDS = 3600;
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Registers over HTTPS and resolves with the assignment.
 *
 * @throws {@link DeviceError} `DEVICE_PROVISIONING_FAILED` (DPS refused; `status`, `errorCode`,
 * `retryAfter` say why), `DEVICE_CONNECTION_LOST` (no answer), `DEVICE_TIMEOUT`, `DEVICE_CLOSED`.
 * @example
 * ```ts
 * const assignment = await registerOverHttps({ ...request, clientVersion: 'plugboard-device/0.1.0' });
 * ```
 */
export async function registerOverHttps(request: RegistrationRequest): Promise<Assignment> {
  const base = `/${encodeURIComponent(request.idScope)}/registrations/${encodeURIComponent(request.registrationId)}`;
  const deadline = Date.now() + (request.timeoutMs ?? 60_000);
  let step = await send(
    request,
    'PUT',
    `${base}/register?api-version=${API_VERSION}`,
    registrationBody(request),
    deadline,
  );
  while (step.kind === 'assigning') {
    await pause(step.retryAfter * 1000, request.signal);
    step = await send(
      request,
      'GET',
      `${base}/operations/${encodeURIComponent(step.operationId)}?api-version=${API_VERSION}`,
      undefined,
      deadline,
    );
  }
  return step.assignment;
}

async function send(
  request: RegistrationRequest,
  method: 'PUT' | 'GET',
  path: string,
  body: string | undefined,
  deadline: number,
): Promise<RegistrationStep> {
  const { credentials } = request;
  const headers: Record<string, string> = {
    accept: 'application/json',
    'user-agent': request.clientVersion,
  };
  if (body !== undefined) {
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  if (credentials.kind === 'sas') {
    headers['authorization'] = await dpsToken(
      request.idScope,
      request.registrationId,
      credentials.deviceKey,
      TOKEN_TTL_SECONDS,
      Date.now(),
    );
  }
  const answer = await new Promise<{ status: number; text: string; retryAfter: number | undefined }>(
    (resolve, reject) => {
      const req = httpsRequest(
        {
          host: request.provisioningHost,
          port: request.port ?? 443,
          method,
          path,
          headers,
          timeout: Math.max(1, deadline - Date.now()),
          ...(request.signal === undefined ? {} : { signal: request.signal }),
          ...tlsOptions(request.ca, credentials),
          // The agent's pool keys sockets by host and TLS fields, not by the shared context: no reuse.
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) req.destroy(new Error('DPS answer too large'));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            const retryAfter = Number(res.headers['retry-after']);
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              retryAfter: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new DeviceError('DEVICE_TIMEOUT', 'DPS did not answer in time.')));
      req.on('error', (error) => {
        if (error instanceof DeviceError) reject(error);
        else if (request.signal?.aborted === true)
          reject(new DeviceError('DEVICE_CLOSED', 'The registration was cancelled.', { cause: error }));
        else
          reject(
            new DeviceError('DEVICE_CONNECTION_LOST', `DPS could not be reached: ${error.message}`, { cause: error }),
          );
      });
      req.end(body);
    },
  );
  let parsed: unknown;
  try {
    parsed = answer.text === '' ? undefined : JSON.parse(answer.text);
  } catch {
    parsed = undefined;
  }
  return readRegistrationAnswer(answer.status, parsed, answer.retryAfter);
}
