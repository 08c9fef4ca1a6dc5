/**
 * Ready-to-paste device code with a device's values filled in: the official Azure IoT SDK for Node.js
 * (DPS with the symmetric key, then the hub, as IoT Central's samples) and `@plugboard/device`. Each is
 * a whole file that registers, connects, sends one message and closes, and works as it is against
 * `plugboard up` (and, without `provisioningHost` and `ca`, against Azure IoT Central).
 */

/** What the snippets fill in. */
export interface ConnectValues {
  provisioningHost: string;
  idScope: string;
  deviceId: string;
  deviceKey: string;
  modelId?: string;
}

/** Where `plugboard up` keeps the CA devices trust, relative to where it runs. */
const CA_PATH = '.plugboard/tls/ca.pem';

/** `text` as a single-quoted JavaScript string, as the rest of the code is written. */
const q = (text: string): string => `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/**
 * The official SDK's provisioning and connection, as IoT Central's samples write them: a CommonJS file
 * that registers, connects, sends one message and closes.
 *
 * @example
 * officialSdkSnippet({ provisioningHost: '127.0.0.1', idScope: '0ne00000001', deviceId: 'd1', deviceKey: 'k' });
 */
export function officialSdkSnippet(v: ConnectValues): string {
  const model = q(v.modelId ?? '');
  return `// device.cjs — npm install azure-iot-device azure-iot-device-mqtt azure-iot-provisioning-device \\
//   azure-iot-provisioning-device-mqtt azure-iot-security-symmetric-key
// Run with NODE_EXTRA_CA_CERTS=${CA_PATH} node device.cjs (the CA plugboard up created).
const { ProvisioningDeviceClient } = require('azure-iot-provisioning-device');
const { Mqtt: DpsMqtt } = require('azure-iot-provisioning-device-mqtt');
const { SymmetricKeySecurityClient } = require('azure-iot-security-symmetric-key');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

const deviceKey = ${q(v.deviceKey)};

async function main() {
  const dps = ProvisioningDeviceClient.create(
    ${q(v.provisioningHost)},
    ${q(v.idScope)},
    new DpsMqtt(),
    new SymmetricKeySecurityClient(${q(v.deviceId)}, deviceKey),
  );
${v.modelId === undefined ? '' : `  dps.setProvisioningPayload({ modelId: ${model} });\n`}  const { assignedHub, deviceId } = await dps.register();
  const client = Client.fromConnectionString(
    \`HostName=\${assignedHub};DeviceId=\${deviceId};SharedAccessKey=\${deviceKey}\`,
    Mqtt,
  );
${v.modelId === undefined ? '' : `  await client.setOptions({ modelId: ${model} });\n`}  await client.open();
  const message = new Message(JSON.stringify({ temperature: 21.5 }));
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  message.properties.add('iothub-creation-time-utc', new Date().toISOString());
  await client.sendEvent(message);
  console.log(\`sent to \${assignedHub}\`);
  await client.close();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;
}

/**
 * The same device with `@plugboard/device` (reprovisioning, back-off, offline queue by default): an
 * ES module that starts, sends one message once the hub acknowledges it, and closes.
 *
 * @example
 * plugboardDeviceSnippet({ provisioningHost: '127.0.0.1', idScope: '0ne00000001', deviceId: 'd1', deviceKey: 'k' });
 */
export function plugboardDeviceSnippet(v: ConnectValues): string {
  return `// device.mjs — npm install @plugboard/device
import { readFileSync } from 'node:fs';
import { PnpDevice } from '@plugboard/device';

const device = new PnpDevice({
  idScope: ${q(v.idScope)},
  registrationId: ${q(v.deviceId)},
  credentials: { symmetricKey: ${q(v.deviceKey)} },
${v.modelId === undefined ? '' : `  modelId: ${q(v.modelId)},\n`}  provisioningHost: ${q(v.provisioningHost)},
  ca: readFileSync(${q(CA_PATH)}, 'utf8'),
});
device.on('connectionState', ({ state, reason }) => console.log(state, reason ?? ''));
await device.start();
await device.sendTelemetry({ temperature: 21.5 });
console.log('sent');
await device.close();
`;
}
