/**
 * Carrying a device between linked hubs, as DPS does when it reprovisions a device to another hub (and
 * as failover and hub removal do on its behalf): the identity is created or re-enabled on the hub it
 * goes to with the same authentication, the group's CA is trusted there for CA-signed devices, the twin
 * (tags, desired and reported properties) comes along when the reprovision policy migrates data, so do
 * the cloud-to-device messages still queued for it, and the identity on the hub it leaves is disabled with the reason, so that hub refuses the device from then on.
 */
import type { EnrollmentGroup } from './dps-types.js';
import type { Hub } from './hub.js';
import type { Authentication, JsonObject } from './model.js';

/** A copy of an authentication, as a hub's identity input takes it. */
export function copyAuthentication(authentication: Authentication): Authentication {
  return authentication.type === 'sas'
    ? { type: 'sas', symmetricKey: { ...authentication.symmetricKey } }
    : authentication.type === 'selfSigned'
      ? { type: 'selfSigned', x509Thumbprint: { ...authentication.x509Thumbprint } }
      : { type: 'certificateAuthority' };
}

/**
 * Gives a device its identity on `hub` with `authentication`: created (with `capabilities`) when it has
 * none there, else updated and enabled again. Resolves true when it was created.
 */
export async function enableIdentity(
  hub: Hub,
  deviceId: string,
  authentication: Authentication,
  capabilities?: { iotEdge: boolean },
): Promise<boolean> {
  if (hub.has({ deviceId })) {
    await hub.updateIdentity({ deviceId, authentication, status: 'enabled', statusReason: null }, '*');
    return false;
  }
  await hub.createIdentity({ deviceId, authentication, ...(capabilities === undefined ? {} : { capabilities }) });
  return true;
}

/**
 * Makes `hub` trust the CA certificates of an X.509 enrollment group (named `dps:{group}:primary` and
 * `…:secondary`), so devices whose chains end in them authenticate there.
 */
export async function trustGroupCertificates(hub: Hub, group: EnrollmentGroup): Promise<void> {
  const ca = group.attestation.type === 'x509' ? group.attestation.x509.caCertificates : undefined;
  if (ca === undefined) return;
  await hub.addCertificateAuthority(`dps:${group.enrollmentGroupId}:primary`, ca.primary);
  if (ca.secondary !== undefined) {
    await hub.addCertificateAuthority(`dps:${group.enrollmentGroupId}:secondary`, ca.secondary);
  }
}

/**
 * Copies a device's twin from one hub to another (tags, desired and reported properties; the versions
 * start again on the new hub, as IoT Hub's do).
 */
export async function migrateTwin(from: Hub, to: Hub, deviceId: string): Promise<void> {
  const identity = { deviceId };
  const twin = from.getTwin(identity) as {
    tags?: JsonObject;
    properties?: { desired?: JsonObject; reported?: JsonObject };
  };
  await to.importTwin(identity, {
    tags: twin.tags ?? {},
    desired: twin.properties?.desired ?? {},
    reported: twin.properties?.reported ?? {},
  });
}

/**
 * Disables the device on the hub it left: its live connections drop and it is refused from then on
 * (CONNACK 3 "Server unavailable" on MQTT), which sends a well-written device back to DPS.
 */
export async function retireIdentity(from: Hub, deviceId: string, reason: string): Promise<void> {
  await from.updateIdentity({ deviceId, status: 'disabled', statusReason: reason }, '*');
}

/**
 * Moves the cloud-to-device messages queued for a device (not its modules) to the hub it goes to, with
 * their ids, expiry and delivery counts, so nothing a back end was told is queued is lost.
 */
export async function moveC2dQueue(from: Hub, to: Hub, deviceId: string): Promise<void> {
  const messages = await from.takeC2d({ deviceId });
  if (messages.length > 0) await to.adoptC2d({ deviceId }, messages);
}
