/**
 * What the application tells live watchers (`plugboard diagnostics …`, the UI): the platform's events
 * about application devices, in the application's terms — each telemetry message with its verdict
 * against the device template, each property change with its section and version, each connect and
 * disconnect, of the device or of one of its edge modules (`module`). Pure mapping from a platform
 * event; the REST edge streams the results.
 */
import type { PlatformEvent } from '../core/events.js';
import type { JsonObject, JsonValue } from '../core/model.js';
import { displayedTime, judgeTelemetry, type VerdictTemplate } from './telemetry-verdict.js';

/** One event for watchers. */
export type ApplicationEvent =
  | {
      type: 'telemetry';
      deviceId: string;
      module?: string;
      component?: string;
      enqueuedTime: string;
      creationTime?: string;
      /** The displayed time (the creation time when valid). */
      timestamp: string;
      modeled: Record<string, JsonValue>;
      unmodeled: { name: string; value: JsonValue; reason: string }[];
      invalid?: string;
      /** The body as text (for unmodeled or invalid payloads). */
      body: string;
      properties: Record<string, string | null>;
    }
  | {
      type: 'properties';
      deviceId: string;
      module?: string;
      section: 'reported' | 'desired';
      version: number;
      patch: JsonObject;
    }
  | { type: 'connected'; deviceId: string; module?: string; at: string; modelId: string }
  | { type: 'disconnected'; deviceId: string; module?: string; at: string; reason: string }
  | { type: 'dropped'; count: number };

/** What the mapping needs to know about the application. */
export interface EventContext {
  /** The application's id for a hub device id, if it is an application device. */
  deviceOf(deviceId: string): string | undefined;
  templateOf(deviceId: string): VerdictTemplate | undefined;
}

/**
 * The application event for a platform event, if any (devices outside the application give none).
 *
 * @example
 * applicationEvent(event, { deviceOf: (id) => devices.find(id)?.id, templateOf: (id) => telemetry.templateOf(id) });
 */
export function applicationEvent(event: PlatformEvent, context: EventContext): ApplicationEvent | undefined {
  if (event.type === 'dropped') return { type: 'dropped', count: event.count };
  const identity =
    event.type === 'telemetry'
      ? { deviceId: event.record.deviceId, moduleId: event.record.moduleId }
      : 'identity' in event
        ? event.identity
        : undefined;
  if (identity === undefined) return undefined;
  const deviceId = context.deviceOf(identity.deviceId);
  if (deviceId === undefined) return undefined;
  const module = identity.moduleId;
  const of = module === undefined ? {} : { module };
  switch (event.type) {
    case 'telemetry': {
      const { record } = event;
      const body = Buffer.from(record.body).toString('utf8');
      const verdict = judgeTelemetry(context.templateOf(deviceId), body, record.component, module);
      const out: ApplicationEvent = {
        type: 'telemetry',
        deviceId,
        ...of,
        enqueuedTime: record.enqueuedTime,
        timestamp: displayedTime(record.enqueuedTime, record.creationTime),
        modeled: verdict.modeled,
        unmodeled: verdict.unmodeled,
        body,
        properties: record.properties,
      };
      if (record.component !== undefined) out.component = record.component;
      if (record.creationTime !== undefined) out.creationTime = record.creationTime;
      if (verdict.invalid !== undefined) out.invalid = verdict.invalid;
      return out;
    }
    case 'twinChanged':
      if (event.section === 'tags') return undefined;
      return {
        type: 'properties',
        deviceId,
        ...of,
        section: event.section,
        version: event.version,
        patch: event.patch,
      };
    case 'connected':
      return { type: 'connected', deviceId, ...of, at: new Date(event.at).toISOString(), modelId: event.modelId };
    case 'disconnected':
      return { type: 'disconnected', deviceId, ...of, at: new Date(event.at).toISOString(), reason: event.reason };
    default:
      return undefined;
  }
}
