/**
 * The Plug and Play device (protocol.md §6): telemetry with its component in `$.sub`, JSON content type
 * and encoding and `iothub-creation-time-utc` stamped; reported properties with the component marker
 * `__t: "c"`; writable properties handed to typed handlers and acknowledged `{ value, ac, av, ad }`, the
 * full twin reconciled by `$version` on every connect (so an update made while offline is not missed) and
 * initial values reported with `ac: 203`; commands routed by `component*command` with typed requests and
 * responses; offline commands (C2D with `method-name`). Payloads are checked against the DTDL model before
 * they leave when one is given. Types come from the DTDL codegen (`plugboard model codegen`).
 */

import {
  COMPONENT_MARKER,
  decodePropertyBag,
  parseCommandName,
  writablePropertyAck,
  type D2cProperties,
} from '@plugboard/protocol';
import {
  validateCommandPayload,
  validatePropertyPatch,
  validateTelemetry,
  validateValue,
  type DtdlModel,
  type PayloadResult,
} from '@plugboard/dtdl';
import { DeviceClient } from './device-client.js';
import type { DeviceClientEvents } from './device-options.js';
import {
  CommandResponse,
  type CapabilitiesShape,
  type ComponentOf,
  type DeviceModelShape,
  type HandlerContext,
  type PnpDeviceOptions,
  type RequestOf,
  type ResponseOf,
  type TelemetryOptions,
  type UntypedModel,
  type WritableOptions,
  type WritableResult,
} from './pnp-types.js';
import { DeviceError } from './errors.js';

type WritableHandlerEntry = {
  handler: (value: unknown, context: HandlerContext) => unknown;
  options: WritableOptions<unknown>;
};

type Record_ = Record<string, unknown>;

function isRecord(value: unknown): value is Record_ {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function key(component: string | undefined, name: string): string {
  return component === undefined ? `*${name}` : `${component}*${name}`;
}

/**
 * One component of a device (or its root): telemetry, properties and commands as the model types them.
 *
 * @example
 * ```ts
 * const thermostat1 = device.component('thermostat1');
 * await thermostat1.sendTelemetry({ temperature: 21.5 });
 * thermostat1.onWritableProperty('targetTemperature', (value) => setTarget(value));
 * ```
 */
export class ComponentHandle<C extends CapabilitiesShape> {
  readonly #device: PnpDevice<DeviceModelShape>;
  /** The component's name; `undefined` for the root component. */
  readonly componentName: string | undefined;

  /** @internal Use {@link PnpDevice.component} (or the device itself for the root component). */
  constructor(device: PnpDevice<DeviceModelShape> | undefined, component: string | undefined) {
    // The device is its own root component.
    this.#device = device ?? (this as unknown as PnpDevice<DeviceModelShape>);
    this.componentName = component;
  }

  /** Sends one telemetry message of this component; resolves when the hub acknowledged it. */
  sendTelemetry(values: C['telemetry'], options: TelemetryOptions = {}): Promise<void> {
    return this.#device.sendComponentTelemetry(this.componentName, values as Record_, options);
  }

  /** Reports read-only properties of this component; resolves with the new reported `$version`. */
  reportProperties(values: C['readOnlyProperties']): Promise<number | undefined> {
    return this.#device.reportComponentProperties(this.componentName, values as Record_);
  }

  /**
   * Handles a writable property: called for every desired value (at connect for one changed while
   * offline); the value is acknowledged with what the handler returns.
   */
  onWritableProperty<K extends keyof C['writableProperties'] & string>(
    name: K,
    handler: (
      value: NonNullable<C['writableProperties'][K]>,
      context: HandlerContext,
    ) =>
      | WritableResult<NonNullable<C['writableProperties'][K]>>
      | void
      | Promise<WritableResult<NonNullable<C['writableProperties'][K]>> | void>,
    options: WritableOptions<NonNullable<C['writableProperties'][K]>> = {},
  ): void {
    this.#device.addWritableHandler(this.componentName, name, handler as WritableHandlerEntry['handler'], options);
  }

  /** Handles a command; the handler's return value is the response payload (status 200) or a {@link CommandResponse}. */
  onCommand<K extends keyof C['commands'] & string>(
    name: K,
    handler: (
      request: RequestOf<C['commands'][K]>,
      context: HandlerContext,
    ) =>
      | ResponseOf<C['commands'][K]>
      | CommandResponse<ResponseOf<C['commands'][K]>>
      | Promise<ResponseOf<C['commands'][K]> | CommandResponse<ResponseOf<C['commands'][K]>>>,
  ): void {
    this.#device.addCommandHandler(this.componentName, name, handler as (r: unknown, c: HandlerContext) => unknown);
  }
}

/**
 * A Plug and Play device for IoT Central, typed by its generated model (`M`, e.g. `ThermostatDevice`).
 * Root-component operations are on the device itself; components through {@link PnpDevice.component}.
 *
 * @example
 * ```ts
 * const device = new PnpDevice<ThermostatDevice>({ idScope, registrationId: 'thermostat-1', credentials: { groupKey }, modelId: 'dtmi:com:example:Thermostat;1' });
 * device.onWritableProperty('targetTemperature', (value) => ({ value }), { initial: 20 });
 * device.onCommand('getMaxMinReport', (since) => ({ maxTemp: 22, minTemp: 18, avgTemp: 20, startTime: since, endTime: new Date().toISOString() }));
 * await device.start();
 * await device.sendTelemetry({ temperature: 21.5 });
 * ```
 */
export class PnpDevice<M extends DeviceModelShape = UntypedModel> extends ComponentHandle<M['root']> {
  readonly client: DeviceClient;
  readonly modelId: string;
  readonly #model: DtdlModel | undefined;
  readonly #validation: 'reject' | 'warn' | 'off';
  readonly #writable = new Map<string, WritableHandlerEntry>();
  readonly #commands = new Map<string, (request: unknown, context: HandlerContext) => unknown>();
  /** Made on first use, like `#c2d`: most devices have neither (a fleet of thousands pays for each). */
  #offline: Map<string, (request: unknown) => unknown> | undefined;
  #c2d: ((payload: Buffer, properties: Readonly<Record<string, string | null>>) => void)[] | undefined;
  /** The desired `$version` each writable property was last applied at. */
  readonly #applied = new Map<string, number>();
  #desiredWork: Promise<unknown> = Promise.resolve();

  constructor(options: PnpDeviceOptions) {
    if (typeof options.modelId !== 'string' || options.modelId === '') {
      throw new DeviceError('DEVICE_INVALID_OPTIONS', 'options.modelId must be the DTMI of the device model.');
    }
    super(undefined, undefined);
    const client = new DeviceClient(options);
    this.client = client;
    this.modelId = options.modelId;
    this.#model = options.model;
    this.#validation = options.model === undefined ? 'off' : (options.validation ?? 'reject');
    // Desired updates are handled one at a time, in arrival order (the reconcile of a connect included),
    // so a value from an older $version is never applied after a newer one.
    client.onConnected(() => this.#serially(() => this.#reconcile()));
    client.onDesiredPatch((patch) => {
      this.#serially(() => this.#onDesired(patch)).catch((error: unknown) =>
        this.#warn('A desired-property update failed.', error),
      );
    });
    client.setMethodHandler((name, payload) => this.#onCommand(name, payload));
    client.onC2d((bag, payload) => this.#onC2d(bag, payload));
  }

  /** Connects (registering with DPS first when needed); resolves once connected and the twin reconciled. */
  start(): Promise<void> {
    return this.client.start();
  }

  /** Disconnects; queued telemetry is rejected with `DEVICE_CLOSED`. */
  close(): Promise<void> {
    return this.client.close();
  }

  /** Listens to connection-state changes and warnings. */
  on<E extends keyof DeviceClientEvents>(event: E, listener: (...args: DeviceClientEvents[E]) => void): this {
    this.client.on(event, listener as never);
    return this;
  }

  /** A component of the model. */
  component<K extends keyof M['components'] & string>(name: K): ComponentHandle<ComponentOf<M, K>> {
    return new ComponentHandle(this as unknown as PnpDevice<DeviceModelShape>, name);
  }

  /** Handles an offline command (IoT Central's "queue if offline": a C2D message with `method-name`). */
  onOfflineCommand(name: string, handler: (request: unknown) => void | Promise<void>): void {
    (this.#offline ??= new Map()).set(name, handler);
  }

  /** Listens to C2D messages that are not offline commands (body and properties). */
  onC2dMessage(listener: (payload: Buffer, properties: Readonly<Record<string, string | null>>) => void): void {
    (this.#c2d ??= []).push(listener);
  }

  /** Sends a raw telemetry message (unmodeled data): body and properties as given, nothing checked. */
  sendRaw(body: string | Buffer, properties: D2cProperties = { application: {} }): Promise<void> {
    return this.client.sendTelemetry(body, properties);
  }

  // ---- used by ComponentHandle (public for it; not part of the documented surface) ----

  /** @internal */
  sendComponentTelemetry(component: string | undefined, values: Record_, options: TelemetryOptions): Promise<void> {
    const checked = this.#check(
      () =>
        validateTelemetry(
          this.#model as DtdlModel,
          this.modelId,
          { value: values },
          component === undefined ? {} : { component },
        ),
      `telemetry${component === undefined ? '' : ` of ${component}`}`,
    );
    if (checked !== undefined) return Promise.reject(checked);
    const properties: D2cProperties = {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      application: { ...options.properties },
    };
    if (component !== undefined) properties.component = component;
    if (options.creationTime !== false) properties.creationTimeUtc = (options.creationTime ?? new Date()).toISOString();
    return this.client.sendTelemetry(JSON.stringify(values), properties);
  }

  /** @internal */
  reportComponentProperties(component: string | undefined, values: Record_): Promise<number | undefined> {
    const patch = component === undefined ? values : { [component]: { ...COMPONENT_MARKER, ...values } };
    const checked = this.#check(
      () => validatePropertyPatch(this.#model as DtdlModel, this.modelId, { value: patch }, 'reported'),
      'reported properties',
    );
    if (checked !== undefined) return Promise.reject(checked);
    return this.client.updateReported(patch);
  }

  /** @internal */
  addWritableHandler(
    component: string | undefined,
    name: string,
    handler: WritableHandlerEntry['handler'],
    options: WritableOptions<unknown>,
  ): void {
    this.#writable.set(key(component, name), { handler, options });
  }

  /** @internal */
  addCommandHandler(
    component: string | undefined,
    name: string,
    handler: (request: unknown, context: HandlerContext) => unknown,
  ): void {
    this.#commands.set(key(component, name), handler);
  }

  /** Runs a check; the error to reject with (`reject`), or undefined. */
  #check(run: () => PayloadResult, what: string): DeviceError | undefined {
    if (this.#validation === 'off') return undefined;
    const result = run();
    if (result.ok) return undefined;
    const error = new DeviceError(
      'DEVICE_PAYLOAD_INVALID',
      `The ${what} do not match ${this.modelId}: ${result.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
    if (this.#validation === 'reject') return error;
    this.client.warn(error);
    return undefined;
  }

  /** Runs `work` after every desired update queued before it. */
  #serially(work: () => Promise<void>): Promise<void> {
    const next = this.#desiredWork.then(work, work);
    this.#desiredWork = next.catch(() => undefined);
    return next;
  }

  #warn(message: string, cause: unknown): void {
    this.client.warn(
      cause instanceof DeviceError ? cause : new DeviceError('DEVICE_PAYLOAD_INVALID', message, { cause }),
    );
  }

  /** The writable properties' acknowledgements for `desired` at `version`; `reported` tells which are already acknowledged. */
  async #acknowledge(desired: Record_, version: number, reported: Record_ | undefined): Promise<Record_> {
    const patch: Record_ = {};
    for (const [id, entry] of this.#writable) {
      const star = id.indexOf('*');
      const component = star === 0 ? undefined : id.slice(0, star);
      const name = id.slice(star + 1);
      const section = component === undefined ? desired : desired[component];
      if (!isRecord(section) || !(name in section)) continue;
      const value = section[name];
      const reportedSection = component === undefined ? reported : reported?.[component];
      const previous = isRecord(reportedSection) ? reportedSection[name] : undefined;
      if (reported !== undefined && isRecord(previous) && previous['av'] === version) continue;
      // A patch applied at this version or later is not applied again; the reconcile after a connect
      // (reported known) re-applies one whose acknowledgement never reached the twin.
      const applied = this.#applied.get(id) ?? -1;
      if (reported === undefined ? applied >= version : applied > version) continue;
      this.#applied.set(id, version);
      // Acknowledged before with this very value (the desired version moved for another property):
      // acknowledge the new version without running the handler again.
      const unchanged =
        isRecord(previous) && previous['ac'] === 200 && JSON.stringify(previous['value']) === JSON.stringify(value);
      const ack = unchanged
        ? writablePropertyAck({
            value,
            ac: 200,
            av: version,
            ad: typeof previous['ad'] === 'string' ? previous['ad'] : 'completed',
          })
        : await this.#apply(component, name, entry, value, version);
      if (component === undefined) patch[name] = ack;
      else {
        const target = (patch[component] ??= { ...COMPONENT_MARKER }) as Record_;
        target[name] = ack;
      }
    }
    return patch;
  }

  async #apply(
    component: string | undefined,
    name: string,
    entry: WritableHandlerEntry,
    value: unknown,
    version: number,
  ): Promise<unknown> {
    if (this.#validation !== 'off' && this.#model !== undefined) {
      const schema = this.#propertySchema(component, name);
      if (schema !== undefined) {
        const result = validateValue(this.#model, schema, { value }, name);
        if (!result.ok) {
          return writablePropertyAck({
            value,
            ac: 400,
            av: version,
            ad: result.issues.map((i) => i.message).join('; '),
          });
        }
      }
    }
    try {
      const result = (await entry.handler(value, { component, version })) as WritableResult<unknown> | undefined;
      return writablePropertyAck({
        value: result?.value ?? value,
        ac: result?.ac ?? 200,
        av: version,
        ad: result?.ad ?? 'completed',
      });
    } catch (error) {
      this.#warn(`The handler of writable property ${name} threw.`, error);
      return writablePropertyAck({
        value,
        ac: 500,
        av: version,
        ad: error instanceof Error ? error.message : String(error),
      });
    }
  }

  #propertySchema(component: string | undefined, name: string): string | undefined {
    const element = (this.#model as DtdlModel).capability(this.modelId, component, name);
    return element?.kind === 'Property' ? element.schema : undefined;
  }

  /** On every connect: the full twin, every writable property not yet acknowledged at this `$version`, initial values. */
  async #reconcile(): Promise<void> {
    if (this.#writable.size === 0) return;
    const twin = await this.client.getTwin();
    const version = typeof twin.desired['$version'] === 'number' ? twin.desired['$version'] : 0;
    const patch = await this.#acknowledge(twin.desired, version, twin.reported);
    for (const [id, entry] of this.#writable) {
      if (!('initial' in entry.options)) continue;
      const star = id.indexOf('*');
      const component = star === 0 ? undefined : id.slice(0, star);
      const name = id.slice(star + 1);
      const desired = component === undefined ? twin.desired : twin.desired[component];
      const reported = component === undefined ? twin.reported : twin.reported[component];
      if ((isRecord(desired) && name in desired) || (isRecord(reported) && name in reported)) continue;
      const ack = writablePropertyAck({ value: entry.options.initial, ac: 203, av: 0, ad: 'initialize' });
      if (component === undefined) patch[name] = ack;
      else ((patch[component] ??= { ...COMPONENT_MARKER }) as Record_)[name] = ack;
    }
    if (Object.keys(patch).length > 0) await this.client.updateReported(patch);
  }

  async #onDesired(patch: Record_): Promise<void> {
    const version = typeof patch['$version'] === 'number' ? patch['$version'] : 0;
    const acks = await this.#acknowledge(patch, version, undefined);
    if (Object.keys(acks).length > 0) await this.client.updateReported(acks);
  }

  async #onCommand(methodName: string, payload: unknown): Promise<{ status: number; payload?: unknown }> {
    const { component, command } = parseCommandName(methodName);
    const handler = this.#commands.get(key(component, command));
    if (handler === undefined)
      return { status: 501, payload: { message: `The device has no handler for ${methodName}.` } };
    if (this.#validation !== 'off') {
      const result = validateCommandPayload(
        this.#model as DtdlModel,
        this.modelId,
        command,
        { value: payload },
        'request',
        component === undefined ? {} : { component },
      );
      if (!result.ok)
        return { status: 400, payload: { message: result.issues.map((i) => `${i.path}: ${i.message}`).join('; ') } };
    }
    const answer = await handler(payload, { component, version: 0 });
    return answer instanceof CommandResponse
      ? { status: answer.status, payload: answer.payload }
      : { status: 200, payload: answer };
  }

  #onC2d(propertyBag: string, payload: Buffer): void {
    let properties: Record<string, string | null>;
    try {
      properties = Object.fromEntries(decodePropertyBag(propertyBag));
    } catch (error) {
      this.#warn('A C2D message had a malformed property bag.', error);
      return;
    }
    const name = properties['method-name'];
    const handler = typeof name === 'string' ? this.#offline?.get(name) : undefined;
    if (handler === undefined) {
      for (const listener of this.#c2d ?? []) listener(payload, properties);
      return;
    }
    let request: unknown;
    try {
      request = payload.length === 0 ? null : JSON.parse(payload.toString('utf8'));
    } catch {
      request = payload.toString('utf8');
    }
    Promise.resolve(handler(request)).catch((error: unknown) =>
      this.#warn(`The offline command ${String(name)} failed.`, error),
    );
  }
}
