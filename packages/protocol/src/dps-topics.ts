import { decodeLenient, rawQueryValue, ridOf } from './query.js';

/**
 * The filter a DPS device subscribes to for responses (protocol.md §3.2).
 *
 * @example
 * ```ts
 * if (filter === DPS_RESPONSE_FILTER) grant(1);
 * ```
 */
export const DPS_RESPONSE_FILTER = '$dps/registrations/res/#';

/**
 * A topic a device may PUBLISH to on DPS (protocol.md §3.2). `rid` is raw (echo it back as sent);
 * `operationId` is percent-decoded.
 *
 * @example
 * ```ts
 * const topic: DpsPublishTopic = { kind: 'operationStatus', rid: '54973f33', operationId: '4.abc.def' };
 * ```
 */
export type DpsPublishTopic =
  /** `$dps/registrations/PUT/iotdps-register/?$rid={rid}` (body: DeviceRegistration JSON) */
  | { kind: 'register'; rid: string }
  /** `$dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={operationId}` (body ignored) */
  | { kind: 'operationStatus'; rid: string; operationId: string };

const DPS_KINDS: Record<DpsPublishTopic['kind'], true> = { register: true, operationStatus: true };

/**
 * Every kind of topic a device may publish to on DPS.
 *
 * @example
 * ```ts
 * DPS_PUBLISH_TOPIC_KINDS; // ['register', 'operationStatus']
 * ```
 */
export const DPS_PUBLISH_TOPIC_KINDS = Object.freeze(Object.keys(DPS_KINDS) as DpsPublishTopic['kind'][]);

const DPS_REGISTER_TOPIC = /^\$dps\/registrations\/PUT\/iotdps-register\/\?(.*)$/s;
const DPS_STATUS_TOPIC = /^\$dps\/registrations\/GET\/iotdps-get-operationstatus\/\?(.*)$/s;
const DPS_RESPONSE_TOPIC = /^\$dps\/registrations\/res\/([0-9]+)\/\?(.*)$/s;

/**
 * Classifies a DPS device PUBLISH topic; `undefined` for anything else (including a missing `$rid` or
 * `operationId`). Never throws.
 *
 * @example
 * ```ts
 * parseDpsPublishTopic('$dps/registrations/PUT/iotdps-register/?$rid=17985872');
 * // { kind: 'register', rid: '17985872' }
 * parseDpsPublishTopic('$dps/registrations/GET/iotdps-get-operationstatus/?$rid=5&operationId=4.abc.def');
 * // { kind: 'operationStatus', rid: '5', operationId: '4.abc.def' }
 * ```
 */
export function parseDpsPublishTopic(topic: string): DpsPublishTopic | undefined {
  const register = DPS_REGISTER_TOPIC.exec(topic);
  if (register !== null) {
    const rid = ridOf(register[1] ?? '');
    return rid === undefined ? undefined : { kind: 'register', rid };
  }
  const status = DPS_STATUS_TOPIC.exec(topic);
  if (status !== null) {
    const query = status[1] ?? '';
    const rid = ridOf(query);
    const operationId = decodeLenient(rawQueryValue(query, 'operationId') ?? '');
    return rid === undefined || operationId === '' ? undefined : { kind: 'operationStatus', rid, operationId };
  }
  return undefined;
}

/**
 * The topic of a DPS response: `$dps/registrations/res/{status}/?$rid={rid}[&retry-after={seconds}]`. Keep
 * the `/?` form: Node matches `/^\$dps\/registrations\/res\/(.*)\/\?(.*)$/`.
 *
 * @example
 * ```ts
 * dpsResponseTopic(202, '17985872', 1); // '$dps/registrations/res/202/?$rid=17985872&retry-after=1'
 * ```
 */
export function dpsResponseTopic(status: number, rid: string, retryAfter?: number): string {
  const retryPart = retryAfter === undefined ? '' : `&retry-after=${retryAfter}`;
  return `$dps/registrations/res/${status}/?$rid=${rid}${retryPart}`;
}

/**
 * A parsed DPS response topic (the device side of {@link dpsResponseTopic}).
 *
 * @example
 * ```ts
 * const response: DpsResponseTopic = { status: 202, rid: '1', retryAfter: 1 };
 * ```
 */
export interface DpsResponseTopic {
  status: number;
  /** Raw, as sent. */
  rid: string;
  /** `retry-after` in seconds, when present and a non-negative integer. */
  retryAfter?: number;
}

/**
 * Parses a DPS response topic; `undefined` if it is not one. Never throws.
 *
 * @example
 * ```ts
 * parseDpsResponseTopic('$dps/registrations/res/202/?$rid=1&retry-after=3'); // { status: 202, rid: '1', retryAfter: 3 }
 * ```
 */
export function parseDpsResponseTopic(topic: string): DpsResponseTopic | undefined {
  const match = DPS_RESPONSE_TOPIC.exec(topic);
  if (match === null) return undefined;
  const status = Number(match[1]);
  const query = match[2] ?? '';
  const rid = ridOf(query);
  if (rid === undefined || !Number.isSafeInteger(status)) return undefined;
  const response: DpsResponseTopic = { status, rid };
  const retryAfter = rawQueryValue(query, 'retry-after');
  if (retryAfter !== undefined && /^[0-9]+$/.test(retryAfter)) response.retryAfter = Number(retryAfter);
  return response;
}

/**
 * The register request topic a DPS device publishes to.
 *
 * @example
 * ```ts
 * dpsRegisterTopic('1'); // '$dps/registrations/PUT/iotdps-register/?$rid=1'
 * ```
 */
export function dpsRegisterTopic(rid: string): string {
  return `$dps/registrations/PUT/iotdps-register/?$rid=${rid}`;
}

/**
 * The operation-status request topic a DPS device publishes to.
 *
 * @example
 * ```ts
 * dpsOperationStatusTopic('2', '4.abc.def');
 * // '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=4.abc.def'
 * ```
 */
export function dpsOperationStatusTopic(rid: string, operationId: string): string {
  return `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${encodeURIComponent(operationId)}`;
}
