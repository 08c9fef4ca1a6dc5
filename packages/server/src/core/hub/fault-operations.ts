/**
 * The fault-control messages the official SDKs' own end-to-end tests send: a telemetry message with
 * `AzIoTHub_FaultOperationType` (`KillTcp`, `ShutDownMqtt`, `KillAmqpConnection`, …),
 * `AzIoTHub_FaultOperationCloseReason` and `AzIoTHub_FaultOperationDelayInSecs`, after which IoT Hub
 * severs the device's connection. Pure: reads the operation from a message's application properties.
 * (Throttling, quota and auth operations — `InvokeThrottling`, `InvokeMaxMessageQuota`,
 * `InvokeAuthError` — do not disconnect and are not read here.)
 */
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

/** A fault operation a message asks for. */
export interface FaultOperation {
  type: string;
  /** When to sever the connection, after the message is accepted (ms; at most 5 minutes). */
  delayMs: number;
  reason: string;
}

/**
 * The disconnecting fault operation of a message, if it carries one.
 *
 * @example
 * faultOperationOf({ AzIoTHub_FaultOperationType: 'KillTcp', AzIoTHub_FaultOperationDelayInSecs: '1' });
 * // { type: 'KillTcp', delayMs: 1000, reason: 'KillTcp' }
 */
export function faultOperationOf(properties: Readonly<Record<string, string | null>>): FaultOperation | undefined {
  const type = properties['AzIoTHub_FaultOperationType'];
  if (typeof type !== 'string' || !DISCONNECTING_FAULT_OPERATIONS.has(type)) return undefined;
  const delay = Number(properties['AzIoTHub_FaultOperationDelayInSecs'] ?? 0);
  const reason = properties['AzIoTHub_FaultOperationCloseReason'];
  return {
    type,
    delayMs: Number.isFinite(delay) ? Math.min(Math.max(delay, 0), 300) * 1000 : 0,
    reason: typeof reason === 'string' && reason.trim() !== '' ? reason.trim() : type,
  };
}
