/**
 * SAS credentials for the simulated devices, minted exactly as an Azure device SDK does. Aedes does not
 * check them, but it receives the same CONNECT bytes as Plugboard.
 */
import { createSharedAccessSignature } from '@plugboard/protocol';
import { API_VERSION, type DeviceCredential } from './ipc.js';

/** A day: long enough for any run, short of the hub's limits. */
const TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/** One credential per device: `username = {hostName}/{deviceId}/?api-version=...`, password = SAS token. */
export async function mintCredentials(
  hostName: string,
  deviceIds: readonly string[],
  keyOf: (deviceId: string) => string,
): Promise<DeviceCredential[]> {
  const expiry = Math.floor(Date.now() / 1000) + TOKEN_LIFETIME_SECONDS;
  const out: DeviceCredential[] = [];
  for (const deviceId of deviceIds) {
    const password = await createSharedAccessSignature({
      resource: `${hostName}/devices/${deviceId}`,
      key: keyOf(deviceId),
      expiry,
    });
    out.push({ deviceId, username: `${hostName}/${deviceId}/?api-version=${API_VERSION}`, password });
  }
  return out;
}
