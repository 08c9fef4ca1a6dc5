/**
 * Device bodies of the Central REST API (`PUT`/`PATCH /api/devices/{id}`) checked: the id rule, the
 * writable fields and their types (read-only `id`, `etag`, `provisioned` are accepted and ignored, as
 * `az iot central device update` echoes them), the etag guard; and the JSON merge of property values
 * kept for a device that has not provisioned. Pure; every refusal is a {@link CentralError}.
 */
import { parseIfMatch, ifMatchHolds } from '@plugboard/protocol';
import { REGISTRATION_ID_PATTERN } from '../core/dps.js';
import type { JsonObject, JsonValue } from '../core/model.js';
import { CentralError } from './errors.js';

/** The writable fields of a device body, checked; `template: null` unassigns. */
export interface DeviceChanges {
  displayName?: string;
  template?: string | null;
  enabled?: boolean;
  simulated?: boolean;
  organizations?: string[];
}

const WRITABLE_FIELDS = new Set(['displayName', 'template', 'enabled', 'simulated', 'organizations']);
const READ_ONLY_FIELDS = new Set(['id', 'etag', 'provisioned']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A device id is the DPS registration id of the device, so it follows the registration id rule.
 *
 * @example
 * checkDeviceId('thermostat-1'); // ok
 * checkDeviceId('bad id');       // throws CENTRAL_BAD_REQUEST
 */
export function checkDeviceId(id: string): void {
  if (!REGISTRATION_ID_PATTERN.test(id)) {
    throw new CentralError(
      'CENTRAL_BAD_REQUEST',
      `Device id ${JSON.stringify(id)} is invalid: use up to 128 letters, digits and - . _ :, starting with a letter or digit and ending with a letter, digit or -.`,
    );
  }
}

/** `ifMatch` (an etag, quoted or bare, or `*`) must hold for the current etag; absent always holds. */
export function checkDeviceEtag(ifMatch: string | undefined, current: { etag: string } | undefined): void {
  if (ifMatch === undefined) return;
  if (!ifMatchHolds(parseIfMatch(ifMatch, { allowUnquoted: true }), current?.etag.replace(/"/g, ''))) {
    throw new CentralError('CENTRAL_PRECONDITION_FAILED', 'The etag does not match; read the device again.');
  }
}

/**
 * The writable fields of a device body.
 *
 * @example
 * checkDeviceBody({ displayName: 'N2', enabled: true, etag: '"e1"', id: 'd1' }); // { displayName: 'N2', enabled: true }
 */
export function checkDeviceBody(input: unknown): DeviceChanges {
  if (input === undefined || input === null) return {};
  if (!isObject(input)) throw new CentralError('CENTRAL_BAD_REQUEST', 'The device must be a JSON object.');
  const out: DeviceChanges = {};
  for (const [key, value] of Object.entries(input) as [string, JsonValue][]) {
    if (READ_ONLY_FIELDS.has(key)) continue;
    if (!WRITABLE_FIELDS.has(key)) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        `Unknown device field ${JSON.stringify(key)}; a device has displayName, template, enabled, simulated and organizations.`,
      );
    }
    if (key === 'displayName') {
      if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
        throw new CentralError('CENTRAL_BAD_REQUEST', 'displayName must be text of 1 to 256 characters.');
      }
      out.displayName = value;
    } else if (key === 'template') {
      if (value !== null && typeof value !== 'string') {
        throw new CentralError('CENTRAL_BAD_REQUEST', 'template must be a device template id (or null to unassign).');
      }
      out.template = value === '' ? null : value;
    } else if (key === 'enabled' || key === 'simulated') {
      if (typeof value !== 'boolean') throw new CentralError('CENTRAL_BAD_REQUEST', `${key} must be true or false.`);
      out[key] = value;
    } else {
      if (!Array.isArray(value) || value.some((o) => typeof o !== 'string')) {
        throw new CentralError('CENTRAL_BAD_REQUEST', 'organizations must be a list of organization ids.');
      }
      out.organizations = value as string[];
    }
  }
  return out;
}

/**
 * RFC 7386 merge: objects merge, `null` removes, anything else replaces.
 *
 * @example
 * mergePatch({ a: { b: 1, c: 2 } }, { a: { c: null, d: 3 } }); // { a: { b: 1, d: 3 } }
 */
export function mergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isObject(value) && isObject(out[key])) out[key] = mergePatch(out[key] as JsonObject, value as JsonObject);
    else out[key] = value;
  }
  return out;
}
