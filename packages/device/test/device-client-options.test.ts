/**
 * What the device client refuses at construction, before any connection: an empty id scope or
 * registration id, and a keep-alive MQTT cannot carry (two bytes, 3.1.1 §3.1.2.10).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DeviceClient } from '../src/device-client.js';
import { DeviceError } from '../src/errors.js';

const BASE = {
  idScope: '0ne00000001',
  registrationId: 'd1',
  credentials: { symmetricKey: Buffer.alloc(32).toString('base64') },
  assignmentStore: false as const,
};

it('refuses options it could never connect with, as DEVICE_INVALID_OPTIONS', () => {
  const refused = (options: Record<string, unknown>, message: RegExp): void =>
    assert.throws(
      () => new DeviceClient({ ...BASE, ...options } as ConstructorParameters<typeof DeviceClient>[0]),
      (error: unknown) =>
        error instanceof DeviceError && error.code === 'DEVICE_INVALID_OPTIONS' && message.test(error.message),
    );
  refused({ idScope: '' }, /idScope/);
  refused({ registrationId: '' }, /registrationId/);
  for (const keepaliveSeconds of [65_536, -1, 2.5, Number.NaN]) refused({ keepaliveSeconds }, /keepaliveSeconds/);
  for (const keepaliveSeconds of [0, 60, 65_535]) {
    assert.doesNotThrow(() => new DeviceClient({ ...BASE, keepaliveSeconds }));
  }
});
