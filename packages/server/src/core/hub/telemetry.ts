/**
 * A hub's telemetry ingest: a device-to-cloud message gets its enqueued time and system properties
 * (`iothub-connection-*`, `dt-dataschema`, `dt-subject`) and is stored durably before the edge may
 * acknowledge it; stored messages are queried back by device and sequence number.
 */
import type { D2cProperties } from '@plugboard/protocol';
import { copyMessageProperties, type TelemetryRecord } from '../model.js';
import type { HubContext } from './context.js';
import type { Registry } from './registry.js';
import type { DeviceSession, IncomingTelemetry } from './types.js';

/**
 * A device-to-cloud message as the core takes it, from its body and its decoded properties (an MQTT
 * property bag, HTTPS headers or a batch item, AMQP properties): the same message whatever the transport.
 *
 * @example
 * incomingTelemetry(body, decodeD2cProperties('%24.sub=thermostat1')); // { body, properties: {}, component: 'thermostat1' }
 */
export function incomingTelemetry(body: Uint8Array, props: D2cProperties): IncomingTelemetry {
  const message: IncomingTelemetry = { body, properties: props.application };
  copyMessageProperties(props, message);
  if (props.component !== undefined) message.component = props.component;
  if (props.creationTimeUtc !== undefined) message.creationTime = props.creationTimeUtc;
  if (props.outputName !== undefined) message.outputName = props.outputName;
  return message;
}

/** `iothub-connection-auth-method` values, serialised once. */
const AUTH_METHOD = {
  sas: JSON.stringify({ scope: 'device', type: 'sas', issuer: 'iothub' }),
  x509: JSON.stringify({ scope: 'device', type: 'x509Certificate', issuer: 'iothub' }),
} as const;

/**
 * Telemetry of one hub.
 *
 * @example
 * const record = await telemetry.ingestTelemetry(handle, { body, properties: {} });
 */
export class Telemetry {
  readonly #ctx: HubContext;
  readonly #registry: Registry;

  constructor(context: HubContext, registry: Registry) {
    this.#ctx = context;
    this.#registry = registry;
  }

  /**
   * Accepts a device-to-cloud message: stamps enqueued time and system properties and stores it durably.
   * Resolves once stored; only then may the edge acknowledge it.
   */
  async ingestTelemetry(handle: DeviceSession, message: IncomingTelemetry): Promise<TelemetryRecord> {
    const enqueuedTime = this.#ctx.iso();
    const stored = this.#registry.touch(handle.key, enqueuedTime);
    const systemProperties: Record<string, string> = {
      'iothub-connection-device-id': handle.identity.deviceId,
      'iothub-connection-auth-method': AUTH_METHOD[handle.authMethod],
      'iothub-connection-auth-generation-id': stored?.record.generationId ?? '',
      'iothub-enqueuedtime': enqueuedTime,
    };
    if (handle.identity.moduleId !== undefined) {
      systemProperties['iothub-connection-module-id'] = handle.identity.moduleId;
    }
    const modelId = stored?.activity.modelId;
    if (modelId) systemProperties['dt-dataschema'] = modelId;
    if (message.component !== undefined) systemProperties['dt-subject'] = message.component;
    if (message.outputName !== undefined) systemProperties['iothub-outputname'] = message.outputName;
    const record: TelemetryRecord = {
      hub: this.#ctx.name,
      deviceId: handle.identity.deviceId,
      enqueuedTime,
      properties: message.properties,
      systemProperties,
      body: message.body,
    };
    if (handle.identity.moduleId !== undefined) record.moduleId = handle.identity.moduleId;
    if (message.creationTime !== undefined) record.creationTime = message.creationTime;
    if (message.component !== undefined) record.component = message.component;
    copyMessageProperties(message, record);
    record.sequenceNumber = await this.#ctx.storage.appendTelemetry(record);
    this.#ctx.events.emit({ type: 'telemetry', hub: this.#ctx.name, record });
    return record;
  }

  /** Stored telemetry of this hub, oldest first. */
  queryTelemetry(query: { deviceId?: string; moduleId?: string; afterSequenceNumber?: number; limit?: number } = {}) {
    return this.#ctx.storage.queryTelemetry({ ...query, hub: this.#ctx.name });
  }
}
