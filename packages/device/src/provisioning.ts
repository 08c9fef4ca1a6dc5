/**
 * DPS registration, whatever the transport: the options, the assignment it yields, and how a DPS answer
 * (protocol.md §3.4: `assigned`, `assigning` with `retry-after`, `failed`, errors with `errorCode`) becomes
 * an assignment, a poll, or a {@link DeviceError} that keeps what DPS said for the connection policy.
 */

import type { JsonValue } from '@plugboard/protocol';
import type { ResolvedCredentials } from './credentials.js';
import { DeviceError } from './errors.js';

/** The DPS transports: MQTT over TLS (8883), MQTT over WebSockets (443) and HTTPS (443). */
export type ProvisioningTransport = 'mqtt' | 'mqttWs' | 'https';

/**
 * One registration.
 *
 * @example
 * ```ts
 * const options: RegistrationRequest = {
 *   provisioningHost: '127.0.0.1', idScope: '0ne00ABCDEF', registrationId: 'thermostat-1',
 *   credentials: { kind: 'sas', deviceKey }, payload: { modelId: 'dtmi:com:example:Thermostat;1' },
 * };
 * ```
 */
export interface RegistrationRequest {
  provisioningHost: string;
  idScope: string;
  registrationId: string;
  credentials: ResolvedCredentials;
  /** The registration payload; IoT Central reads `{ modelId }` from it to pick the device template. */
  payload?: JsonValue | undefined;
  /** Extra CA certificates to trust (PEM), besides Node's. */
  ca?: string | Buffer | undefined;
  /** Port override (default 8883 for `mqtt`, 443 otherwise). */
  port?: number | undefined;
  /** Gives up after this long (default 60 s). */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** The client version sent to DPS. */
  clientVersion: string;
}

/**
 * Where DPS put the device.
 *
 * @example
 * ```ts
 * const assignment: Assignment = { assignedHub: '127.0.0.2', deviceId: 'thermostat-1', registrationId: 'thermostat-1', substatus: 'initialAssignment' };
 * ```
 */
export interface Assignment {
  assignedHub: string;
  deviceId: string;
  registrationId: string;
  substatus?: string;
}

/** DPS's answer to one request: `assigned` (done), `assigning` (poll `operationId` after `retryAfter` s). */
export type RegistrationStep =
  { kind: 'assigned'; assignment: Assignment } | { kind: 'assigning'; operationId: string; retryAfter: number };

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function failure(message: string, status: number | undefined, errorCode: unknown, retryAfter?: number): DeviceError {
  return new DeviceError('DEVICE_PROVISIONING_FAILED', message, {
    status,
    errorCode: typeof errorCode === 'number' ? errorCode : undefined,
    retryAfter,
  });
}

/**
 * Reads one DPS answer (status and parsed JSON body, or `undefined` for a body that is not JSON).
 *
 * @throws {@link DeviceError} `DEVICE_PROVISIONING_FAILED` for an error status (with DPS's `errorCode`
 * and `retry-after`), a `failed` or `disabled` registration, or a body without the fields it needs.
 * @example
 * ```ts
 * readRegistrationAnswer(202, { operationId: '4.a.b', status: 'assigning' }, 1);
 * // { kind: 'assigning', operationId: '4.a.b', retryAfter: 1 }
 * ```
 */
export function readRegistrationAnswer(
  status: number,
  body: unknown,
  retryAfter: number | undefined,
): RegistrationStep {
  const answer = record(body);
  if (status >= 300) {
    const message = typeof answer?.['message'] === 'string' ? answer['message'] : `status ${status}`;
    return raise(failure(`DPS refused the registration: ${message}`, status, answer?.['errorCode'], retryAfter));
  }
  if (answer === undefined)
    return raise(failure('DPS answered with a body that is not a JSON object.', status, undefined));
  const state = record(answer['registrationState']);
  const phase = typeof answer['status'] === 'string' ? answer['status'].toLowerCase() : undefined;
  if (phase === 'assigned') {
    const assignedHub = state?.['assignedHub'];
    const deviceId = state?.['deviceId'];
    if (typeof assignedHub !== 'string' || typeof deviceId !== 'string') {
      return raise(failure('DPS said "assigned" without an assigned hub and device id.', status, undefined));
    }
    const assignment: Assignment = {
      assignedHub,
      deviceId,
      registrationId: typeof state?.['registrationId'] === 'string' ? state['registrationId'] : deviceId,
    };
    if (typeof state?.['substatus'] === 'string') assignment.substatus = state['substatus'];
    return { kind: 'assigned', assignment };
  }
  if (phase === 'assigning' || phase === 'unassigned') {
    const operationId = answer['operationId'];
    if (typeof operationId !== 'string' || operationId === '') {
      return raise(failure('DPS said "assigning" without an operation id.', status, undefined));
    }
    return { kind: 'assigning', operationId, retryAfter: retryAfter ?? 2 };
  }
  if (phase === 'failed') {
    const message = typeof state?.['errorMessage'] === 'string' ? state['errorMessage'] : 'registration failed';
    const errorCode = state?.['errorCode'];
    const derived = typeof errorCode === 'number' ? Math.floor(errorCode / 1000) : 400;
    return raise(failure(`DPS failed the registration: ${message}`, derived, errorCode));
  }
  return raise(failure(`DPS answered with registration status ${String(answer['status'])}.`, 403, undefined));
}

function raise(error: DeviceError): never {
  throw error;
}

/** The payload sent to DPS: `{ modelId }` (protocol.md §3.4, §7.3) unless the caller gave another. */
export function registrationBody(request: RegistrationRequest): string {
  const body: { registrationId: string; payload?: JsonValue } = { registrationId: request.registrationId };
  if (request.payload !== undefined) body.payload = request.payload;
  return JSON.stringify(body);
}

/** Waits `ms`, or rejects when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(closedError(signal));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(closedError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function closedError(signal: AbortSignal | undefined): DeviceError {
  return new DeviceError('DEVICE_CLOSED', 'The operation was cancelled.', { cause: signal?.reason });
}
