/**
 * `@plugboard/device`: the Plug and Play device SDK for IoT Central. A device registers with DPS (or reuses
 * its cached assignment), connects to its hub announcing its model id, and follows the best practices of
 * device-implementation.md by default: reprovision or back off on connection errors, token renewal, the
 * twin reconciled on every connect, writable properties acknowledged, creation times stamped, telemetry
 * kept in an offline queue until the hub acknowledges it. The same code runs against Azure IoT Central.
 *
 * @example
 * ```ts
 * import { PnpDevice } from '@plugboard/device';
 * import type { ThermostatDevice } from './thermostat.generated.js';
 *
 * const device = new PnpDevice<ThermostatDevice>({
 *   idScope: '0ne00ABCDEF',
 *   registrationId: 'thermostat-1',
 *   credentials: { groupKey: process.env.GROUP_KEY! },
 *   modelId: 'dtmi:com:example:Thermostat;1',
 * });
 * device.onWritableProperty('targetTemperature', (value) => ({ value }), { initial: 20 });
 * await device.start();
 * await device.sendTelemetry({ temperature: 21.5 });
 * ```
 *
 * @packageDocumentation
 */

export { DEVICE_ERROR_CODES, DeviceError } from './errors.js';
export type { DeviceErrorCode, DeviceErrorDetails } from './errors.js';

export { DEFAULT_CONNECTION_POLICY, backoffDelay, decide } from './connection-policy.js';
export type { BackoffSchedule, ConnectionPolicy, Decision, Failure } from './connection-policy.js';

export { resolveCredentials } from './credentials.js';
export type { DeviceCredentials, ResolvedCredentials } from './credentials.js';

export { fileAssignmentStore, memoryAssignmentStore } from './assignment-store.js';
export type { AssignmentStore } from './assignment-store.js';

export { OfflineQueue } from './offline-queue.js';
export type { OfflineQueueOptions, OverflowPolicy, QueueEntry } from './offline-queue.js';
export { fileQueueJournal } from './queue-journal.js';
export type { JournalCodec, QueueJournal } from './queue-journal.js';

export { readRegistrationAnswer } from './provisioning.js';
export type { Assignment, ProvisioningTransport, RegistrationRequest, RegistrationStep } from './provisioning.js';
export { registerOverHttps } from './dps-https.js';
export { registerOverMqtt } from './dps-mqtt.js';

export type { HubTransport } from './hub-session.js';

export { DeviceClient } from './device-client.js';
export { GLOBAL_PROVISIONING_HOST } from './device-options.js';
export type {
  ConnectedHook,
  ConnectionState,
  ConnectionStateChange,
  DeviceClientEvents,
  DeviceClientOptions,
  MethodResponse,
} from './device-options.js';

export { ComponentHandle, PnpDevice } from './pnp-device.js';
export { CommandResponse } from './pnp-types.js';
export type {
  CapabilitiesShape,
  DeviceModelShape,
  HandlerContext,
  PnpDeviceOptions,
  TelemetryOptions,
  UntypedCapabilities,
  UntypedModel,
  WritableOptions,
  WritableResult,
} from './pnp-types.js';

export { VERSION } from './version.js';

export { PlausibleValues, seededRandom, signalOf } from './simulator/plausible-values.js';
export { SimulatedFleet, capabilitiesOf } from './simulator/fleet.js';
export type { FleetOptions, FleetStats } from './simulator/fleet.js';
