/**
 * DPS registration over MQTT (TLS on 8883, or WebSockets on 443 at `/$iothub/websocket`), as the Node
 * provisioning SDK does it (protocol.md §3.2): CONNECT `clean=true` with the `{idScope}/registrations/{id}`
 * user name and a registration SAS, SUBSCRIBE `$dps/registrations/res/#`, PUBLISH the register request,
 * poll the operation status after each `retry-after`, then DISCONNECT.
 */

import { randomUUID } from 'node:crypto';
import {
  DPS_RESPONSE_FILTER,
  dpsOperationStatusTopic,
  dpsRegisterTopic,
  formatDpsMqttUsername,
  parseDpsResponseTopic,
} from '@plugboard/protocol';
import { dpsToken } from './credentials.js';
import { DeviceError } from './errors.js';
import { mqttEndpoint, MqttConnection } from './mqtt-connection.js';
import {
  pause,
  readRegistrationAnswer,
  registrationBody,
  type Assignment,
  type RegistrationRequest,
  type RegistrationStep,
} from './provisioning.js';
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
  const { credentials, idScope, registrationId, signal } = request;
  const password =
    credentials.kind === 'sas'
      ? await dpsToken(idScope, registrationId, credentials.deviceKey, TOKEN_TTL_SECONDS, Date.now())
      : undefined;
  const timeoutMs = request.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const pending = new Map<string, (step: RegistrationStep | DeviceError) => void>();
  let failed: DeviceError | undefined;
  const failAll = (error: DeviceError): void => {
    failed ??= error;
    for (const settle of pending.values()) settle(error);
    pending.clear();
  };
  const onMessage = (topic: string, payload: Buffer): void => {
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
  };
  const connection = await MqttConnection.open(
    {
      host: request.provisioningHost,
      ...mqttEndpoint(request.port, webSockets),
      tls: tlsOptions(request.ca, credentials),
      clientId: registrationId,
      clean: true,
      keepaliveSeconds: 180,
      username: formatDpsMqttUsername({ idScope, registrationId, clientVersion: request.clientVersion }),
      password,
      connectTimeoutMs: timeoutMs,
    },
    { onMessage, onClose: failAll },
    signal,
  );
  const onAbort = (): void => {
    const error = new DeviceError('DEVICE_CLOSED', 'The registration was cancelled.');
    failAll(error);
    connection.destroy(error);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted === true) onAbort();

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
      connection.publishAcked(topic(rid), body).catch((error: unknown) => {
        if (pending.delete(rid)) {
          clearTimeout(timer);
          reject(error as DeviceError);
        }
      });
    });

  try {
    // DPS's SUBACK is held to the same deadline as its answers.
    let subscribeTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      connection.subscribe(DPS_RESPONSE_FILTER, 1),
      new Promise<never>((_resolve, reject) => {
        subscribeTimer = setTimeout(
          () => reject(new DeviceError('DEVICE_TIMEOUT', 'DPS did not answer the SUBSCRIBE in time.')),
          Math.max(1, deadline - Date.now()),
        );
      }),
    ]).finally(() => clearTimeout(subscribeTimer));
    let step = await ask(dpsRegisterTopic, registrationBody(request));
    while (step.kind === 'assigning') {
      await pause(step.retryAfter * 1000, signal);
      const operationId = step.operationId;
      step = await ask((rid) => dpsOperationStatusTopic(rid, operationId), ' ');
    }
    return step.assignment;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await connection.end();
  }
}
