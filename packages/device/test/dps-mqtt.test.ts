/**
 * DPS over MQTT against a server that accepts the connection and then never grants the subscription:
 * the registration fails with DEVICE_TIMEOUT at its deadline and closes the connection, instead of
 * waiting on the keep-alive.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { it } from 'node:test';
import { createServer, type TLSSocket } from 'node:tls';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { registerOverMqtt } from '../src/dps-mqtt.js';
import { DeviceError } from '../src/errors.js';

it('gives up with DEVICE_TIMEOUT when DPS never answers the SUBSCRIBE, and closes the connection', async () => {
  const dir = process.env['PLUGBOARD_TEST_CA_DIR'];
  assert.ok(dir, 'run through scripts/run-tests.mjs, which makes the test CA');
  const sockets: TLSSocket[] = [];
  const seen: string[] = [];
  const server = createServer({
    cert: readFileSync(join(dir, 'server.pem')),
    key: readFileSync(join(dir, 'server.key.pem')),
  });
  server.on('secureConnection', (socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      seen.push(packet.cmd);
      // CONNACK, and nothing for the SUBSCRIBE.
      if (packet.cmd === 'connect')
        socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
    });
    socket.on('data', (data: Buffer) => parser.parse(data));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const registering = registerOverMqtt(
      {
        provisioningHost: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        idScope: '0ne00000001',
        registrationId: 'd1',
        credentials: { kind: 'sas', deviceKey: Buffer.alloc(32).toString('base64') },
        ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
        timeoutMs: 1500,
        clientVersion: 'test',
      },
      false,
    );
    await assert.rejects(
      registering,
      (error: unknown) =>
        error instanceof DeviceError && error.code === 'DEVICE_TIMEOUT' && /SUBSCRIBE/.test(error.message),
    );
    assert.deepEqual(seen.slice(0, 2), ['connect', 'subscribe']);
    const socket = sockets[0];
    assert.ok(socket);
    if (!socket.destroyed) await once(socket, 'close');
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
