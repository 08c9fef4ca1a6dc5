/**
 * The fault-control messages the official SDKs' own end-to-end tests send: a telemetry message with
 * `AzIoTHub_FaultOperationType`, `AzIoTHub_FaultOperationCloseReason`,
 * `AzIoTHub_FaultOperationDelayInSecs` and `AzIoTHub_FaultOperationDurationInSecs`. The transport ones
 * (`KillTcp`, `ShutDownMqtt`, `KillAmqpConnection`, …) make IoT Hub sever the device's connection after
 * the delay; `InvokeThrottling`, `InvokeMaxMessageQuota` and `InvokeAuthError` make it refuse the
 * device's telemetry for the duration with a throttling, quota or authorization error (the SDKs' tests
 * expect `ThrottlingError`, `IotHubQuotaExceededError`, `UnauthorizedError`). Pure: reads the operation
 * from a message's application properties.
 */
import type { HubErrorCode } from '../../errors.js';

/** The operations that sever the connection (the transport-level ones all close it over MQTT). */
export const DISCONNECTING_FAULT_OPERATIONS: ReadonlySet<string> = new Set([
  'KillTcp',
  'ShutDownMqtt',
  'KillAmqpConnection',
  'KillAmqpSession',
  'KillAmqpCBSLinkReq',
  'KillAmqpCBSLinkResp',
  'KillAmqpD2CLink',
  'KillAmqpC2DLink',
  'KillAmqpTwinLinkReq',
  'KillAmqpTwinLinkResp',
  'KillAmqpMethodReqLink',
  'KillAmqpMethodRespLink',
  'ShutDownAmqp',
]);

/** The operations that refuse the device's telemetry for a while, and the error each refuses with. */
export const REFUSING_FAULT_OPERATIONS: ReadonlyMap<string, HubErrorCode> = new Map([
  ['InvokeThrottling', 'HUB_THROTTLED'],
  ['InvokeMaxMessageQuota', 'HUB_QUOTA_EXCEEDED'],
  ['InvokeAuthError', 'HUB_UNAUTHORIZED'],
]);

/** A fault operation a message asks for. */
export interface FaultOperation {
  type: string;
  /** `sever`: close the connection; otherwise the error the device's telemetry is refused with. */
  effect: 'sever' | HubErrorCode;
  /** When it starts, after the message is accepted (ms; at most 5 minutes). */
  delayMs: number;
  /** How long telemetry is refused (ms; at most 5 minutes; default 5 s, as the SDKs' tests use). */
  durationMs: number;
  reason: string;
}

/** Seconds from a property, clamped to [0, 300]; `fallback` when absent or not a number. */
function seconds(value: string | null | undefined, fallback: number): number {
  const n = Number(value ?? fallback);
  return (Number.isFinite(n) ? Math.min(Math.max(n, 0), 300) : fallback) * 1000;
}

/**
 * The fault operation of a message, if it carries one the hub knows.
 *
 * @example
 * faultOperationOf({ AzIoTHub_FaultOperationType: 'KillTcp', AzIoTHub_FaultOperationDelayInSecs: '1' });
 * // { type: 'KillTcp', effect: 'sever', delayMs: 1000, durationMs: 5000, reason: 'KillTcp' }
 * faultOperationOf({ AzIoTHub_FaultOperationType: 'InvokeThrottling', AzIoTHub_FaultOperationDurationInSecs: '2' });
 * // { type: 'InvokeThrottling', effect: 'HUB_THROTTLED', delayMs: 0, durationMs: 2000, reason: 'InvokeThrottling' }
 */
export function faultOperationOf(properties: Readonly<Record<string, string | null>>): FaultOperation | undefined {
  const type = properties['AzIoTHub_FaultOperationType'];
  if (typeof type !== 'string') return undefined;
  const effect = DISCONNECTING_FAULT_OPERATIONS.has(type) ? 'sever' : REFUSING_FAULT_OPERATIONS.get(type);
  if (effect === undefined) return undefined;
  const reason = properties['AzIoTHub_FaultOperationCloseReason'];
  return {
    type,
    effect,
    delayMs: seconds(properties['AzIoTHub_FaultOperationDelayInSecs'], 0),
    durationMs: seconds(properties['AzIoTHub_FaultOperationDurationInSecs'], 5),
    reason: typeof reason === 'string' && reason.trim() !== '' ? reason.trim() : type,
  };
}

/**
 * The refusal windows that `InvokeThrottling`, `InvokeMaxMessageQuota` and `InvokeAuthError` open, one
 * per identity (a later operation replaces an earlier one). Times are passed in; nothing runs on a timer.
 *
 * @example
 * const windows = new RefusalWindows();
 * windows.open('dev1', operation, Date.now());
 * windows.refusal('dev1', Date.now()); // { code: 'HUB_THROTTLED', message: 'InvokeThrottling: …' } while it lasts
 */
export class RefusalWindows {
  readonly #windows = new Map<string, { code: HubErrorCode; from: number; until: number; message: string }>();

  /** Whether any window is open or pending (checked on every message, so it must be cheap). */
  get active(): boolean {
    return this.#windows.size > 0;
  }

  /** Opens the window of a refusing `operation` for `key`, starting its delay after `now`. */
  open(key: string, operation: FaultOperation, now: number): void {
    if (operation.effect === 'sever') return;
    const from = now + operation.delayMs;
    this.#windows.set(key, {
      code: operation.effect,
      from,
      until: from + operation.durationMs,
      message: `${operation.type}: ${operation.reason} (fault operation).`,
    });
  }

  /** The refusal `key`'s telemetry gets at `now`, if its window is open; a window that has passed is forgotten. */
  refusal(key: string, now: number): { code: HubErrorCode; message: string } | undefined {
    const window = this.#windows.get(key);
    if (window === undefined) return undefined;
    if (now >= window.until) {
      this.#windows.delete(key);
      return undefined;
    }
    return now >= window.from ? { code: window.code, message: window.message } : undefined;
  }
}
