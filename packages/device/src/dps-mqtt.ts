/**
 * DPS registration over MQTT (TLS on 8883, or WebSockets on 443 at `/$iothub/websocket`), as the Node
 * provisioning SDK does it (protocol.md §3.2): CONNECT `clean=true` with the `{idScope}/registrations/{id}`
 * user name and a registration SAS, SUBSCRIBE `$dps/registrations/res/#`, PUBLISH the register request,
 * poll the operation status after each `retry-after`, then DISCONNECT.
 */

import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import {
  DPS_RESPONSE_FILTER,
  dpsOperationStatusTopic,
  dpsRegisterTopic,
  formatDpsMqttUsername,
  parseDpsResponseTopic,
} from '@plugboard/protocol';
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
import { endClient } from './mqtt-end.js';
import { tlsOptions } from './tls-options.js';

const TOKEN_TTL_SECONDS = 3600;

/**
 * Registers over MQTT and resolves with the assignment.
 *
 * @throws {@link DeviceError} `DEVICE_PROVISIONING_FAILED` (DPS refused; `status`, `errorCode`,
 * `retryAfter` say why), `DEVICE_CONNECTION_REFUSED` (CONNACK refused), `DEVICE_TIMEOUT`, `DEVICE_CLOSED`.
 * @example
 * ```ts
 * const assignment = await registerOverMqtt({ ...request, clientVersion: 'plugboard-device/0.1.0' }, false);
 * ```
 */
export async function registerOverMqtt(request: RegistrationRequest, webSockets: boolean): Promise<Assignment> {
  const { credentials, idScope, registrationId } = request;
  const password =
    credentials.kind === 'sas'
      ? await dpsToken(idScope, registrationId, credentials.deviceKey, TOKEN_TTL_SECONDS, Date.now())
      : undefined;
  const port = request.port ?? (webSockets ? 443 : 8883);
  const client = mqtt.connect({
    ...(webSockets ? { protocol: 'wss' as const, path: '/$iothub/websocket' } : { protocol: 'mqtts' as const }),
    host: request.provisioningHost,
    port,
    clientId: registrationId,
    clean: true,
    keepalive: 180,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: request.timeoutMs ?? 60_000,
    username: formatDpsMqttUsername({ idScope, registrationId, clientVersion: request.clientVersion }),
    ...(password === undefined ? {} : { password }),
    ...tlsOptions(request.ca, credentials),
  });
  const pending = new Map<string, (step: RegistrationStep | DeviceError) => void>();
  let failed: DeviceError | undefined;
  const failAll = (error: DeviceError): void => {
    failed ??= error;
    for (const settle of pending.values()) settle(error);
    pending.clear();
  };
  client.on('message', (topic, payload) => {
    const response = parseDpsResponseTopic(topic);
    if (response === undefined) return;
    const settle = pending.get(response.rid);
    if (settle === undefined) return;
    pending.delete(response.rid);
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      body = undefined;
    }
    try {
      settle(readRegistrationAnswer(response.status, body, response.retryAfter));
    } catch (error) {
      settle(error as DeviceError);
    }
  });
  client.on('error', (error) => failAll(connectError(error)));
  client.on('close', () => failAll(new DeviceError('DEVICE_CONNECTION_LOST', 'DPS closed the MQTT connection.')));
  const onAbort = (): void => {
    failAll(new DeviceError('DEVICE_CLOSED', 'The registration was cancelled.'));
    client.end(true);
  };
  request.signal?.addEventListener('abort', onAbort, { once: true });
  if (request.signal?.aborted === true) onAbort();
  const deadline = Date.now() + (request.timeoutMs ?? 60_000);

  const ask = (topic: (rid: string) => string, body: string): Promise<RegistrationStep> =>
    new Promise((resolve, reject) => {
      if (failed !== undefined) {
        reject(failed);
        return;
      }
      const rid = randomUUID();
      const timer = setTimeout(
        () => {
          pending.delete(rid);
          reject(new DeviceError('DEVICE_TIMEOUT', 'DPS did not answer the registration in time.'));
        },
        Math.max(1, deadline - Date.now()),
      );
      pending.set(rid, (step) => {
        clearTimeout(timer);
        if (step instanceof DeviceError) reject(step);
        else resolve(step);
      });
      client.publish(topic(rid), body, { qos: 1 }, (error) => {
        if (error && pending.delete(rid)) {
          clearTimeout(timer);
          reject(connectError(error));
        }
      });
    });

  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (error) => reject(connectError(error)));
      client.once('close', () =>
        reject(failed ?? new DeviceError('DEVICE_CONNECTION_LOST', 'DPS closed the connection.')),
      );
    });
    await client.subscribeAsync(DPS_RESPONSE_FILTER, { qos: 1 });
    let step = await ask(dpsRegisterTopic, registrationBody(request));
    while (step.kind === 'assigning') {
      await pause(step.retryAfter * 1000, request.signal);
      const operationId = step.operationId;
      step = await ask((rid) => dpsOperationStatusTopic(rid, operationId), ' ');
    }
    return step.assignment;
  } finally {
    request.signal?.removeEventListener('abort', onAbort);
    client.on('error', () => undefined);
    await endClient(client);
  }
}

/** An mqtt.js error as a {@link DeviceError}: a CONNACK refusal keeps its return code. */
export function connectError(error: unknown): DeviceError {
  if (error instanceof DeviceError) return error;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'number' && code > 0) {
    return new DeviceError('DEVICE_CONNECTION_REFUSED', message, {
      returnCode: code,
      status: code === 3 ? 503 : 401,
      cause: error,
    });
  }
  return new DeviceError('DEVICE_CONNECTION_LOST', message, { cause: error });
}
