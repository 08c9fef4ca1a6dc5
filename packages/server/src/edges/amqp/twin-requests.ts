/**
 * Device twin requests over AMQP (protocol.md §5.6): `GET`, reported `PATCH`, desired `PUT`/`DELETE`
 * subscription on the twin sender link, each answered on the twin receiver link by correlation id with
 * `status` (and `version`) message annotations and a JSON data section.
 */
import type { Logger } from 'pino';
import type { Message, Sender } from 'rhea';
import { readJson } from '@plugboard/protocol';
import type { ConnectionHandle, Hub } from '../../core/hub.js';
import { HubError } from '../../errors.js';
import { logRefusal } from '../log-fields.js';
import { asHubError, dataSection } from './messages.js';

/** Largest reported-properties patch read (IoT Hub's message limit). */
const MAX_PATCH_BYTES = 256 * 1024;

/** What a twin request needs of one identity's links. */
export interface TwinLinks {
  readonly hub: Hub;
  twinReplies: Sender | undefined;
  desired: boolean;
}

/**
 * Answers one twin request of `device` (the connection's links of the identity `handle` is).
 *
 * @example
 * if (parsed.kind === 'twin') answerTwinRequest(device, handle, message, bytes, log);
 */
export function answerTwinRequest(
  device: TwinLinks,
  handle: ConnectionHandle,
  message: Message,
  body: Buffer,
  log: Logger,
): void {
  const annotations = message.message_annotations ?? {};
  const operation = annotations['operation'];
  const resource = annotations['resource'];
  const respond = (status: number, payload?: unknown, version?: number): void => {
    device.twinReplies?.send({
      ...(message.correlation_id === undefined ? {} : { correlation_id: message.correlation_id }),
      message_annotations: { status, ...(version === undefined ? {} : { version }) },
      body: payload === undefined ? null : dataSection(Buffer.from(JSON.stringify(payload))),
    });
  };
  const fail = (error: unknown): void => {
    const hubError = asHubError(error, 'The twin request');
    logRefusal(log, 'twin request refused', hubError);
    respond(hubError.status, { errorCode: hubError.azureErrorCode, message: hubError.message });
  };
  try {
    if (operation === 'GET') {
      respond(200, device.hub.getTwinForDevice(handle));
    } else if (operation === 'PATCH' && resource === '/properties/reported') {
      let patch;
      try {
        patch = readJson(body, { maxBytes: MAX_PATCH_BYTES });
      } catch (cause) {
        throw new HubError('HUB_INVALID_TWIN_PATCH', 'The reported-properties patch is not valid JSON.', { cause });
      }
      device.hub.patchReported(handle, patch).then((version) => respond(204, undefined, version), fail);
    } else if (
      (operation === 'PUT' || operation === 'DELETE') &&
      resource === '/notifications/twin/properties/desired'
    ) {
      device.desired = operation === 'PUT';
      device.hub.endpointChanged(handle);
      respond(200);
    } else {
      throw new HubError('HUB_INVALID_ARGUMENT', `Unknown twin operation ${String(operation)} ${String(resource)}.`);
    }
  } catch (error) {
    fail(error);
  }
}
