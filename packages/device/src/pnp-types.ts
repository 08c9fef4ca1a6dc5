/**
 * The vocabulary of the Plug and Play API: the model shapes `plugboard model codegen` emits (and their
 * untyped defaults), what handlers receive and may return, and a device's options. The device that uses
 * them is pnp-device.ts.
 */

import type { DtdlModel } from '@plugboard/dtdl';
import type { DeviceClientOptions } from './device-options.js';

/**
 * One Interface's capabilities, as `plugboard model codegen` emits them (`ThermostatCapabilities`).
 *
 * @example
 * ```ts
 * import type { ThermostatCapabilities } from './thermostat.generated.js';
 * const shape: CapabilitiesShape = {} as ThermostatCapabilities;
 * ```
 */
export interface CapabilitiesShape {
  readonly telemetry: object;
  readonly readOnlyProperties: object;
  readonly writableProperties: object;
  readonly commands: object;
}

/**
 * A device model as codegen emits it (`ThermostatDevice`, `TemperatureControllerDevice`): the root
 * capabilities and each component's.
 */
export interface DeviceModelShape {
  readonly modelId: string;
  readonly root: CapabilitiesShape;
  readonly components: object;
}

/** Capabilities of a model without generated types: any name, any value. */
export interface UntypedCapabilities {
  readonly telemetry: Readonly<Record<string, unknown>>;
  readonly readOnlyProperties: Readonly<Record<string, unknown>>;
  readonly writableProperties: Readonly<Record<string, unknown>>;
  readonly commands: Readonly<Record<string, { readonly request: unknown; readonly response: unknown }>>;
}

/** A model without generated types. */
export interface UntypedModel {
  readonly modelId: string;
  readonly root: UntypedCapabilities;
  readonly components: Readonly<Record<string, UntypedCapabilities>>;
}

/** The request type of a generated command. */
export type RequestOf<T> = T extends { readonly request: infer R } ? R : unknown;
/** The response type of a generated command. */
export type ResponseOf<T> = T extends { readonly response: infer R } ? R : unknown;
/** The capabilities of component `K` of model `M`. */
export type ComponentOf<M extends DeviceModelShape, K> = K extends keyof M['components']
  ? M['components'][K] extends CapabilitiesShape
    ? M['components'][K]
    : never
  : never;

/**
 * What a command handler may return instead of a bare payload: another status (202 for a long-running
 * command, 4xx when the request cannot be served).
 *
 * @example
 * ```ts
 * device.onCommand('reboot', (delay) => new CommandResponse(202, undefined));
 * ```
 */
export class CommandResponse<R = unknown> {
  constructor(
    readonly status: number,
    readonly payload: R,
  ) {}
}

/** The context a handler gets: the component and, for writable properties, the desired `$version`. */
export interface HandlerContext {
  readonly component: string | undefined;
  readonly version: number;
}

/**
 * What a writable-property handler may return: the value it applied (default the desired value), the
 * status `ac` (default 200) and description `ad` (default `completed`). Returning nothing accepts the value.
 */
export interface WritableResult<T> {
  value?: T;
  ac?: number;
  ad?: string;
}

/** Options of a writable-property handler. */
export interface WritableOptions<T> {
  /** Reported at start-up with `ac: 203, av: 0` while the property has no desired value yet (protocol.md §6.4). */
  initial?: T;
}

/** Telemetry options. */
export interface TelemetryOptions {
  /** `iothub-creation-time-utc`: default now; a `Date` to stamp another time; `false` for none. */
  creationTime?: Date | false;
  /** Extra application properties. */
  properties?: Readonly<Record<string, string>>;
}

/**
 * Options of a {@link PnpDevice}: the connection's, a required model id and, for payload checks, the
 * parsed DTDL model.
 *
 * @example
 * ```ts
 * const options: PnpDeviceOptions = { idScope, registrationId: 'thermostat-1', credentials: { groupKey }, modelId: 'dtmi:com:example:Thermostat;1' };
 * ```
 */
export interface PnpDeviceOptions extends DeviceClientOptions {
  modelId: string;
  /** The model (from `@plugboard/dtdl`'s `parse`): payloads are checked against it before they are sent. */
  model?: DtdlModel | undefined;
  /** `reject` (default when a model is given): an invalid payload is not sent; `warn`: sent, with a warning; `off`. */
  validation?: 'reject' | 'warn' | 'off' | undefined;
}
