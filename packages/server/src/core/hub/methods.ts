/**
 * A hub's direct methods: a service invocation is validated (name, timeouts, 128 KB payload), waits for
 * the device to be online (`connectTimeoutInSeconds`, 404103), is sent with a `$rid`, and resolves with
 * the device's answer or times out (504101). Answers are read with the bounded JSON reader.
 */
import { ProtocolError, readJson } from '@plugboard/protocol';
import { HubError } from '../../errors.js';
import { identityKey, type Identity, type JsonValue } from '../model.js';
import type { Connections } from './connections.js';
import type { HubContext } from './context.js';
import type { Registry } from './registry.js';
import type { ConnectionHandle, MethodInvocation, MethodResult } from './types.js';

const METHOD_NAME_PATTERN = /^[\x21-\x7e]+$/;
const METHOD_NAME_FORBIDDEN = /[$()<>@,;:\\"/[\]?={}]/;
const MAX_METHOD_PAYLOAD = 128 * 1024;

/**
 * Direct methods of one hub.
 *
 * @example
 * const { status, payload } = await methods.invokeMethod({ deviceId: 'dev1' }, { methodName: 'reboot' });
 */
export class Methods {
  readonly #ctx: HubContext;
  readonly #registry: Registry;
  readonly #connections: Connections;
  readonly #pendingMethods = new Map<
    string,
    { key: string; resolve: (r: MethodResult) => void; reject: (e: HubError) => void; timer: NodeJS.Timeout }
  >();
  #ridCounter = 0;

  constructor(context: HubContext, registry: Registry, connections: Connections) {
    this.#ctx = context;
    this.#registry = registry;
    this.#connections = connections;
  }

  /** Rejects every pending call (the hub is shutting down). */
  close(): void {
    for (const pending of this.#pendingMethods.values()) {
      clearTimeout(pending.timer);
      pending.reject(new HubError('HUB_SERVICE_UNAVAILABLE', 'The hub is shutting down.'));
    }
    this.#pendingMethods.clear();
  }

  /**
   * Invokes a direct method and waits for the device's answer. Throws `HUB_DEVICE_NOT_ONLINE` (404103)
   * when the device is not connected and subscribed within `connectTimeoutInSeconds`, and
   * `HUB_METHOD_TIMEOUT` (504101) when it does not answer within `responseTimeoutInSeconds`.
   */
  async invokeMethod(identity: Identity, invocation: MethodInvocation): Promise<MethodResult> {
    this.#registry.require(identity);
    const { methodName } = invocation;
    if (
      typeof methodName !== 'string' ||
      methodName.length === 0 ||
      methodName.length > 256 ||
      !METHOD_NAME_PATTERN.test(methodName) ||
      METHOD_NAME_FORBIDDEN.test(methodName)
    ) {
      throw new HubError('HUB_INVALID_ARGUMENT', `Method name ${JSON.stringify(methodName)} is invalid.`);
    }
    const responseTimeout = invocation.responseTimeoutInSeconds ?? 30;
    const connectTimeout = invocation.connectTimeoutInSeconds ?? 0;
    // Azure's floor is 5 s; shorter timeouts are allowed here so tests need not wait (docs/adr/0009).
    if (!(responseTimeout > 0 && responseTimeout <= 300)) {
      throw new HubError('HUB_INVALID_ARGUMENT', 'responseTimeoutInSeconds must be greater than 0 and at most 300.');
    }
    if (!(connectTimeout >= 0 && connectTimeout <= 300)) {
      throw new HubError('HUB_INVALID_ARGUMENT', 'connectTimeoutInSeconds must be between 0 and 300.');
    }
    const payload = JSON.stringify(invocation.payload ?? null);
    if (payload.length > MAX_METHOD_PAYLOAD) {
      throw new HubError('HUB_MESSAGE_TOO_LARGE', 'Method payloads are limited to 128 KB.');
    }
    const key = identityKey(identity);
    const event = (outcome: 'invoked' | 'answered' | 'failed', extra: { status?: number; code?: string } = {}) =>
      this.#ctx.events.emit({ type: 'method', hub: this.#ctx.name, identity, methodName, outcome, ...extra });
    const failed = (error: unknown): never => {
      event('failed', { code: error instanceof HubError ? error.code : 'HUB_INTERNAL' });
      throw error;
    };
    const handle = await this.#connections.waitForMethods(key, connectTimeout * 1000).catch(failed);
    const rid = (++this.#ridCounter).toString(16);
    event('invoked');
    return new Promise<MethodResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingMethods.delete(rid);
        reject(new HubError('HUB_METHOD_TIMEOUT', 'Timed out waiting for the response from device.'));
      }, responseTimeout * 1000);
      this.#pendingMethods.set(rid, { key, resolve, reject, timer });
      handle.endpoint.sendMethodRequest({ rid, methodName, payload });
    }).then((result) => {
      event('answered', { status: result.status });
      return result;
    }, failed);
  }

  /** The device answered a method call. Unknown or foreign `$rid`s are ignored (and logged). */
  completeMethod(handle: ConnectionHandle, rid: string, status: number, body: Uint8Array): void {
    this.#registry.touch(handle.key);
    const pending = this.#pendingMethods.get(rid);
    if (pending === undefined || pending.key !== handle.key) {
      this.#ctx.log.debug({ rid, deviceId: handle.identity.deviceId }, 'method response for unknown $rid ignored');
      return;
    }
    this.#pendingMethods.delete(rid);
    clearTimeout(pending.timer);
    let payload: JsonValue = null;
    if (body.length > 0) {
      try {
        payload = readJson(body, { maxBytes: MAX_METHOD_PAYLOAD });
      } catch (cause) {
        if (!(cause instanceof ProtocolError) || cause.code === 'PROTOCOL_JSON_MALFORMED') {
          // Not JSON: the service gets the text, as IoT Hub passes it on.
          payload = Buffer.from(body).toString('utf8');
        } else {
          this.#ctx.log.info(
            { code: cause.code, deviceId: handle.identity.deviceId, rid },
            `method response refused: ${cause.message}`,
          );
          const code = cause.code === 'PROTOCOL_JSON_TOO_LARGE' ? 'HUB_MESSAGE_TOO_LARGE' : 'HUB_INVALID_ARGUMENT';
          pending.reject(new HubError(code, `The device's method response is refused: ${cause.message}`, { cause }));
          return;
        }
      }
    }
    pending.resolve({ status, payload });
  }
}
