/**
 * `@plugboard/server`: the Plugboard platform — IoT hubs with their MQTT (TLS and WebSockets) device
 * endpoints and service REST API, the protocol-neutral hub core, storage adapters and TLS material.
 *
 * @example
 * ```ts
 * import { startPlatform } from '@plugboard/server';
 * const platform = await startPlatform({ dataDir: '.plugboard', hubs: 2 });
 * ```
 *
 * @packageDocumentation
 */
export { HUB_ERRORS, HUB_ERROR_CODES, HubError, isHubError } from './errors.js';
export type { HubErrorCode } from './errors.js';
export { Hub } from './core/hub.js';
export type {
  Authenticated,
  C2dLease,
  C2dOutcome,
  C2dSettings,
  ConnectCredentials,
  ConnectionHandle,
  DeviceEndpoint,
  DeviceSession,
  HubOptions,
  IdentityInput,
  IncomingTelemetry,
  MethodInvocation,
  MethodRequest,
  MethodResult,
  OutgoingC2d,
} from './core/hub.js';
export { HubEventStream, PlatformEventStream } from './core/events.js';
export type {
  HubEvent,
  HubEventListener,
  PlatformEvent,
  PlatformEventInput,
  SubscribeOptions,
  TelemetryReader,
} from './core/events.js';
export { MESSAGE_PROPERTY_NAMES, copyMessageProperties, identityKey } from './core/model.js';
export type {
  AccessPolicy,
  Authentication,
  C2dAck,
  C2dFeedbackRecord,
  C2dRecord,
  HubPermission,
  Identity,
  IdentityRecord,
  JsonObject,
  JsonValue,
  MessageProperties,
  TelemetryRecord,
  TwinRecord,
  TwinSection,
} from './core/model.js';
export { TWIN_LIMITS, applySectionPatch, newTwin, sectionForDevice, validateTwinPatch } from './core/twin-document.js';
export { CONNACK_CODES, MAX_D2C_PAYLOAD, MqttSession } from './edges/mqtt/session.js';
export type { HubResolver, MqttSessionOptions, MqttSessionSink } from './edges/mqtt/session.js';
export { MAX_PACKET_BYTES, serveMqttConnection } from './edges/mqtt/connection.js';
export { DEFAULT_LISTENER_LIMITS, TLS_CIPHERS, listenerLimits } from './edges/limits.js';
export type { ListenerLimits } from './edges/limits.js';
export type { ServedRoute } from './edges/listeners.js';
export { identityView, registerServiceApi, telemetryView } from './edges/http/service-api.js';
export { REDACTED_PATHS, createLogger } from './logger.js';
export { prettyLogDestination, prettyLogLine } from './log-format.js';
export type { CreateLoggerOptions } from './logger.js';
export { SqliteStorage } from './storage/sqlite.js';
export type { SqliteStorageOptions } from './storage/sqlite.js';
export type { HubConfigRecord, Storage, StoredIdentity, TelemetryQuery } from './storage/port.js';
export {
  certificateThumbprints,
  commonNameOf,
  ensureTlsMaterial,
  issueCertificate,
  verifyCertificateChain,
} from './tls/index.js';
export { TLS_ERROR_CODES, TlsError } from './tls/index.js';
export type { IssuedCertificate, TlsErrorCode, TlsMaterial } from './tls/index.js';
export { peerCertificateChain } from './tls/peer.js';
export { DEFAULT_ENROLLMENT_GROUP, DEFAULT_PORTS, GLOBAL_DPS_HOST, startPlatform } from './platform.js';
export type { CentralEndpoint, DpsEndpoint, Platform, PlatformManifest, PlatformOptions } from './platform.js';
export type { HubDefinition, HubEndpoint } from './platform-hubs.js';
export { CentralHubs } from './central/hub-scaling.js';
export type { HubRemoval, HubView } from './central/hub-scaling.js';
export { ProvisioningService } from './core/dps.js';
export { allocateHub, balancedHub } from './core/dps-allocation.js';
export { DPS_QUOTA_PROFILES } from './core/dps-types.js';
export type {
  AllocationPolicy,
  Attestation,
  DpsCredentials,
  DpsQuotas,
  DpsServicePolicy,
  EnrollmentGroup,
  EnrollmentSettings,
  IndividualEnrollment,
  OperationStatus,
  ProvisioningServiceOptions,
  RateLimit,
  RegisterRequest,
  RegistrationRecord,
  RegistrationStatus,
  RegistrationSubstatus,
  ReprovisionPolicy,
} from './core/dps-types.js';
export { DPS_ERRORS, DPS_ERROR_CODES, DpsError } from './core/dps-errors.js';
export type { DpsErrorCode } from './core/dps-errors.js';
export { DpsMqttSession } from './edges/dps/mqtt-session.js';
export { DPS_AMQP_CONDITIONS, DpsAmqpEndpoint, parseRegistrationAddress } from './edges/dps/amqp.js';
export { registerDpsApi, sendDpsError } from './edges/dps/http.js';
export { enrollmentFromBody } from './edges/dps/enrollment-body.js';
export { serveMqttStream } from './edges/mqtt/connection.js';
export type { MqttProtocolSession, MqttStreamOptions } from './edges/mqtt/connection.js';
export { ADMIN_TOKEN_ID, CentralApp } from './central/app.js';
export type { CentralAppOptions } from './central/app.js';
export { ApiTokens, CENTRAL_ROLES } from './central/api-tokens.js';
export type { ApiTokenView, CentralPermission, CentralRole } from './central/api-tokens.js';
export { CENTRAL_ERRORS, CENTRAL_ERROR_CODES, CentralError } from './central/errors.js';
export type { CentralErrorCode } from './central/errors.js';
export { DeviceTemplates } from './central/templates.js';
export type { DeviceTemplate } from './central/templates.js';
export { registerCentralApi, sendCentralError } from './edges/http/central-api.js';
export { FAULT_CONDITIONS, FAULT_OPTIONS, FaultInjector, UNREACHABLE_ANSWERS } from './core/faults.js';
export { THROTTLE_PROFILES, TelemetryThrottle } from './core/telemetry-throttle.js';
export type { ThrottleProfile, ThrottleProfileName } from './core/telemetry-throttle.js';
export type { Fault, FaultCondition, FaultInput } from './core/faults.js';
export { DeviceTimeline, EAGER_INTERVAL_MS, EAGER_RETRIES, summarize } from './central/timeline.js';
export type { RetrySummary, TimelineEntry } from './central/timeline.js';
export { templateDocuments } from './central/templates.js';
