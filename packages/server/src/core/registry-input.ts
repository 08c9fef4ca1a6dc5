/**
 * The registry's input rules: Azure's `Device` / `Module` JSON (what `azure-iothub` and the REST API send
 * to `PUT /devices/{id}[/modules/{m}]`) read into an {@link IdentityInput}, every field checked against the
 * documented schema — types, the `status` enum, the 128-character `statusReason`, the authentication
 * shapes, `capabilities.iotEdge` a boolean. Read-only fields the SDK echoes back from a GET (`etag`,
 * `generationId`, `connectionState`, …) and unknown fields are ignored, as IoT Hub does.
 */
import { describeValue } from './describe-value.js';
import { HubError } from '../errors.js';
import type { IdentityInput } from './hub.js';
import type { Identity } from './model.js';

/** Device and module ids: 1–128 characters of letters, digits and `- . % _ * ? ! ( ) , : = @ $ '`. */
export const IDENTITY_ID_PATTERN = /^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/;

/** Longest `statusReason` IoT Hub stores. */
export const MAX_STATUS_REASON_LENGTH = 128;
/** Longest `managedBy`. */
const MAX_MANAGED_BY_LENGTH = 128;

function invalid(message: string): HubError {
  return new HubError('HUB_INVALID_ARGUMENT', message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `enabled` or `disabled` (read case-insensitively, as IoT Hub's enum reader does, and stored in lower
 * case); throws `HUB_INVALID_ARGUMENT` for anything else.
 *
 * @example
 * deviceStatus('Enabled'); // 'enabled'
 * deviceStatus('bogus'); // throws HUB_INVALID_ARGUMENT
 */
export function deviceStatus(value: unknown): 'enabled' | 'disabled' {
  const lower = typeof value === 'string' ? value.toLowerCase() : undefined;
  if (lower === 'enabled' || lower === 'disabled') return lower;
  throw invalid(`status must be "enabled" or "disabled", not ${describeValue(value)}.`);
}

/**
 * A `statusReason`: a string of at most 128 characters, or null.
 *
 * @example
 * statusReason('maintenance'); // 'maintenance'
 */
export function statusReason(value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string') throw invalid(`statusReason must be a string or null, not ${describeValue(value)}.`);
  if (value.length > MAX_STATUS_REASON_LENGTH) {
    throw invalid(`statusReason is limited to ${MAX_STATUS_REASON_LENGTH} characters (got ${value.length}).`);
  }
  return value;
}

function optionalText(value: unknown, what: string): string | null | undefined {
  if (value === undefined || value === null) return value;
  if (typeof value !== 'string') throw invalid(`${what} must be a string or null, not ${describeValue(value)}.`);
  return value;
}

function section(value: unknown, what: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw invalid(`${what} must be an object, not ${describeValue(value)}.`);
  return value;
}

/** Azure's `authentication` object; `undefined` when absent (keep or generate keys). */
function authentication(value: unknown): IdentityInput['authentication'] {
  const auth = section(value, 'authentication');
  if (auth === undefined) return undefined;
  const symmetricKey = section(auth['symmetricKey'], 'authentication.symmetricKey');
  const thumbprint = section(auth['x509Thumbprint'], 'authentication.x509Thumbprint');
  const keys = {
    primaryKey: optionalText(symmetricKey?.['primaryKey'], 'authentication.symmetricKey.primaryKey'),
    secondaryKey: optionalText(symmetricKey?.['secondaryKey'], 'authentication.symmetricKey.secondaryKey'),
  };
  const thumbprints = {
    primaryThumbprint: optionalText(
      thumbprint?.['primaryThumbprint'],
      'authentication.x509Thumbprint.primaryThumbprint',
    ),
    secondaryThumbprint: optionalText(
      thumbprint?.['secondaryThumbprint'],
      'authentication.x509Thumbprint.secondaryThumbprint',
    ),
  };
  const type = auth['type'] ?? (thumbprints.primaryThumbprint ? 'selfSigned' : 'sas');
  const defined = <T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
  if (type === 'sas') return { type: 'sas', symmetricKey: defined(keys) };
  if (type === 'selfSigned') return { type: 'selfSigned', x509Thumbprint: defined(thumbprints) };
  if (type === 'certificateAuthority') return { type: 'certificateAuthority' };
  throw invalid(`authentication.type must be sas, selfSigned or certificateAuthority, not ${describeValue(type)}.`);
}

/**
 * Reads a `Device` / `Module` body for `identity` (the ids in the URL). Throws `HUB_INVALID_ARGUMENT`
 * naming the first field that breaks the schema.
 *
 * @example
 * identityInputFromBody({ deviceId: 'dev1', status: 'disabled', statusReason: 'stolen' }, { deviceId: 'dev1' });
 * // { deviceId: 'dev1', status: 'disabled', statusReason: 'stolen' }
 */
export function identityInputFromBody(body: unknown, identity: Identity): IdentityInput {
  if (body === undefined || body === null) return { ...identity };
  if (!isPlainObject(body)) throw invalid(`The body must be a Device JSON object, not ${describeValue(body)}.`);
  if (body['deviceId'] !== undefined && body['deviceId'] !== identity.deviceId) {
    throw invalid('deviceId in the body does not match the URL.');
  }
  if (identity.moduleId !== undefined && body['moduleId'] !== undefined && body['moduleId'] !== identity.moduleId) {
    throw invalid('moduleId in the body does not match the URL.');
  }
  const input: IdentityInput = { ...identity };
  if (body['status'] !== undefined && body['status'] !== null) input.status = deviceStatus(body['status']);
  if (body['statusReason'] !== undefined) input.statusReason = statusReason(body['statusReason']);
  const auth = authentication(body['authentication']);
  if (auth !== undefined) input.authentication = auth;
  const capabilities = section(body['capabilities'], 'capabilities');
  if (capabilities !== undefined) {
    const iotEdge = capabilities['iotEdge'];
    if (iotEdge !== undefined && typeof iotEdge !== 'boolean') {
      throw invalid(`capabilities.iotEdge must be true or false, not ${describeValue(iotEdge)}.`);
    }
    input.capabilities = iotEdge === undefined ? {} : { iotEdge };
  }
  const managedBy = optionalText(body['managedBy'], 'managedBy');
  if (typeof managedBy === 'string') {
    if (managedBy.length > MAX_MANAGED_BY_LENGTH) throw invalid('managedBy is limited to 128 characters.');
    input.managedBy = managedBy;
  }
  return input;
}

/**
 * The value rules the core applies to every write, also from in-process callers (DPS, the CLI): the
 * same `status` and `statusReason` checks as {@link identityInputFromBody}. Returns the input with
 * `status` normalised.
 */
export function checkIdentityInput(input: IdentityInput): IdentityInput {
  const out = { ...input };
  if (input.status !== undefined) out.status = deviceStatus(input.status);
  if (input.statusReason !== undefined) out.statusReason = statusReason(input.statusReason);
  if (input.capabilities?.iotEdge !== undefined && typeof input.capabilities.iotEdge !== 'boolean') {
    throw invalid('capabilities.iotEdge must be true or false.');
  }
  return out;
}
