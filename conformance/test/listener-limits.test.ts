/**
 * Time limits on every phase of every listener (docs/architecture.md#limits): a client that never
 * finishes TLS, never sends CONNECT or its HTTP headers, trickles a body or idles is cut off at the
 * configured limit on every TLS port of the hubs and DPS; connections that keep to the limits are not.
 * The TLS ports offer only AEAD ECDHE suites on TLS 1.2 and refuse older protocol versions.
 *
 * Limits are set far below the defaults, and each close is awaited with a deadline well below the
 * default limit, so a close proves the configured limit acted (not the default, which would time out).
 */
import assert from 'node:assert/strict';
import { connect as netConnect, createServer as createNetServer, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import deviceSdk from 'azure-iot-device';
import mqttTransport from 'azure-iot-device-mqtt';
import { DEFAULT_LISTENER_LIMITS, type Hub } from '@plugboard/server';
import {
  RawMqtt,
  deviceToken,
  eventually,
  isPacket,
  mqttUsername,
  onlyHub,
  rawMqttOptions,
  serviceToken,
  startTestPlatform,
  withTimeout,
  type TestPlatform,
} from './harness.js';

const { Client, Message } = deviceSdk;
const { MqttWs } = mqttTransport;

const LIMITS = {
  tlsHandshakeMs: 300,
  mqttConnectMs: 300,
  mqttMaxIdleMs: 1_500,
  amqpOpenMs: 400,
  httpHeadersMs: 400,
  httpRequestMs: 800,
  httpKeepAliveMs: 400,
} as const;
/** Every close must come well before the smallest default (10 s), so the configured limit did it. */
const DEADLINE_MS = 5_000;

let platform: TestPlatform;
let hub: Hub;

before(async () => {
  platform = await startTestPlatform({ limits: LIMITS });
  hub = onlyHub(platform);
  await hub.createIdentity({ deviceId: 'idle-dev' });
  await hub.createIdentity({ deviceId: 'ws-dev' });
});
after(async () => {
  await platform?.dispose();
});

interface Port {
  name: string;
  host: string;
  port: number;
}

function tlsPorts(): Port[] {
  const endpoint = platform.endpoints[0];
  if (endpoint === undefined) throw new Error('no hub endpoint');
  const dps = platform.dpsEndpoint;
  return [
    { name: 'hub MQTT', host: endpoint.address, port: endpoint.mqttPort },
    { name: 'hub AMQP', host: endpoint.address, port: endpoint.amqpPort },
    { name: 'hub HTTPS', host: endpoint.address, port: endpoint.httpsPort },
    { name: 'DPS MQTT', host: dps.address, port: dps.mqttPort },
    { name: 'DPS AMQP', host: dps.address, port: dps.amqpPort },
    { name: 'DPS HTTPS', host: dps.address, port: dps.httpsPort },
  ];
}

function openTcp(port: Port): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: port.host, port: port.port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    socket.once('close', () => resolve());
    socket.on('error', () => undefined);
  });
}

/** The first flight of a real TLS client: a complete ClientHello, captured on a local TCP server. */
function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = createNetServer((socket) => {
      socket.once('data', (data: Buffer) => {
        resolve(data);
        socket.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address !== 'object' || address === null) return reject(new Error('no address'));
      const client = tlsConnect({ host: '127.0.0.1', port: address.port, rejectUnauthorized: false });
      client.on('error', () => undefined);
    });
  });
}

function tlsHandshake(port: Port, options: ConnectionOptions = {}): Promise<{ cipher: string; version: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: port.host, port: port.port, ca: platform.tls.caCertificatePem, ...options });
    socket.once('secureConnect', () => {
      const result = { cipher: socket.getCipher().name, version: socket.getProtocol() ?? '' };
      socket.destroy();
      resolve(result);
    });
    socket.once('error', reject);
  });
}

describe('[limits] TLS handshakes end at limits.tlsHandshakeMs on every TLS port', () => {
  it('[finding 1] a TCP connection that sends nothing is closed by the server', async () => {
    for (const port of tlsPorts()) {
      const socket = await openTcp(port);
      await withTimeout(closed(socket), DEADLINE_MS, `${port.name}: idle TCP connection closed`);
    }
  });

  it('[finding 1] a connection that stops in the middle of its ClientHello is closed by the server', async () => {
    const hello = await captureClientHello();
    assert.ok(hello.length > 40, 'a ClientHello was captured');
    for (const port of tlsPorts()) {
      const socket = await openTcp(port);
      socket.write(hello.subarray(0, Math.floor(hello.length / 2)));
      await withTimeout(closed(socket), DEADLINE_MS, `${port.name}: truncated ClientHello closed`);
    }
  });

  it('the defaults are documented values well above the test limits', () => {
    assert.equal(DEFAULT_LISTENER_LIMITS.tlsHandshakeMs, 30_000);
    assert.ok(DEFAULT_LISTENER_LIMITS.mqttConnectMs >= 2 * DEADLINE_MS);
  });
});

describe('[limits] TLS parameters: TLS 1.2+ and AEAD ECDHE suites only (finding 7)', () => {
  it('a TLS 1.2 client offering only CBC-SHA1, CCM-8 or ARIA suites is refused on every port', async () => {
    for (const port of tlsPorts()) {
      for (const ciphers of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES128-CCM8', 'ECDHE-ECDSA-ARIA128-GCM-SHA256']) {
        await assert.rejects(
          tlsHandshake(port, { maxVersion: 'TLSv1.2', ciphers }),
          /handshake failure|no cipher|ssl/i,
          `${port.name}: ${ciphers} refused`,
        );
      }
    }
  });

  it('a TLS 1.2 client gets an ECDHE GCM suite; TLS 1.3 works; TLS 1.1 is refused', async () => {
    for (const port of tlsPorts()) {
      const tls12 = await tlsHandshake(port, { maxVersion: 'TLSv1.2' });
      assert.equal(tls12.version, 'TLSv1.2');
      assert.match(tls12.cipher, /^ECDHE-(ECDSA|RSA)-AES(128|256)-GCM-SHA(256|384)$/, port.name);
      assert.equal((await tlsHandshake(port)).version, 'TLSv1.3');
      await assert.rejects(tlsHandshake(port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }), port.name);
    }
  });
});

describe('[limits] MQTT: CONNECT deadline and idle limit', () => {
  it('TLS done but no CONNECT: closed at limits.mqttConnectMs on the hub and DPS', async () => {
    const endpoint = platform.endpoints[0];
    assert.ok(endpoint !== undefined);
    const ca = platform.tls.caCertificatePem;
    for (const { address, mqttPort } of [endpoint, platform.dpsEndpoint]) {
      const client = await RawMqtt.connect({ host: address, port: mqttPort, ca });
      await client.waitClosed(DEADLINE_MS);
      assert.deepEqual(client.packets, []);
    }
  });

  it('AMQP: TLS done but no open frame (or a SASL header and nothing more): closed at limits.amqpOpenMs on the hub and DPS', async () => {
    const endpoint = platform.endpoints[0];
    assert.ok(endpoint !== undefined);
    for (const port of [
      { name: 'hub AMQP', host: endpoint.address, port: endpoint.amqpPort },
      { name: 'DPS AMQP', host: platform.dpsEndpoint.address, port: platform.dpsEndpoint.amqpPort },
    ]) {
      for (const bytes of [Buffer.alloc(0), Buffer.from('AMQP\x03\x01\x00\x00', 'latin1')]) {
        const socket = tlsConnect({ host: port.host, port: port.port, ca: platform.tls.caCertificatePem });
        await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
        if (bytes.length > 0) socket.write(bytes);
        socket.resume();
        const started = Date.now();
        await withTimeout(closed(socket), DEADLINE_MS, `${port.name}: closed without an open frame`);
        assert.ok(Date.now() - started >= 300, `${port.name}: not before the limit`);
      }
    }
  });

  it('keepalive 0 is still bounded by limits.mqttMaxIdleMs; a PINGREQ inside the limit keeps it open', async () => {
    const client = await RawMqtt.connect(rawMqttOptions(platform, hub));
    const connack = await client.handshake({
      clientId: 'idle-dev',
      username: mqttUsername(hub.hostName, 'idle-dev'),
      password: await deviceToken(hub, 'idle-dev'),
      clean: true,
      keepalive: 0,
    });
    assert.equal(connack.returnCode, 0);
    client.send({ cmd: 'pingreq' });
    await client.next(isPacket('pingresp'));
    await client.waitClosed(DEADLINE_MS);
    assert.equal(hub.isConnected({ deviceId: 'idle-dev' }), false);
  });
});

/** Writes an HTTP request head (and optionally part of a body) over TLS and returns the socket. */
async function httpsSocket(port: Port): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: port.host, port: port.port, ca: platform.tls.caCertificatePem });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('[limits] HTTP: headers, whole request and keep-alive', () => {
  it('headers sent one byte at a time are cut at limits.httpHeadersMs on both HTTPS ports', async () => {
    for (const port of tlsPorts().filter((p) => p.name.endsWith('HTTPS'))) {
      const socket = await httpsSocket(port);
      const head = Buffer.from(`GET /devices?api-version=2021-04-12 HTTP/1.1\r\nHost: ${hub.hostName}\r\nX-Slow: `);
      socket.write(head);
      const trickle = setInterval(() => socket.writable && socket.write('a'), 50);
      try {
        await withTimeout(closed(socket), DEADLINE_MS, `${port.name}: trickled headers closed`);
      } finally {
        clearInterval(trickle);
      }
    }
  });

  it('[finding 7] a body trickled after complete headers is cut at limits.httpRequestMs with 408', async () => {
    for (const port of tlsPorts().filter((p) => p.name.endsWith('HTTPS'))) {
      const socket = await httpsSocket(port);
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.write(
        `PUT /devices/slow?api-version=2021-04-12 HTTP/1.1\r\nHost: ${hub.hostName}\r\n` +
          `Authorization: ${await serviceToken(hub)}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
      );
      const trickle = setInterval(() => socket.writable && socket.write(' '), 50);
      try {
        await withTimeout(closed(socket), DEADLINE_MS, `${port.name}: trickled body closed`);
      } finally {
        clearInterval(trickle);
      }
      assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 408 /, port.name);
    }
    assert.equal(hub.has({ deviceId: 'slow' }), false, 'the trickled request changed nothing');
  });

  it('an idle keep-alive connection is closed at limits.httpKeepAliveMs after its response', async () => {
    const port = tlsPorts().find((p) => p.name === 'hub HTTPS');
    assert.ok(port !== undefined);
    const socket = await httpsSocket(port);
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.write(
      `GET /devices?api-version=2021-04-12 HTTP/1.1\r\nHost: ${hub.hostName}\r\n` +
        `Authorization: ${await serviceToken(hub)}\r\nConnection: keep-alive\r\n\r\n`,
    );
    await eventually(() => (Buffer.concat(chunks).includes('\r\n\r\n') ? true : undefined), DEADLINE_MS, 'a response');
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 200 /);
    await withTimeout(closed(socket), DEADLINE_MS, 'idle keep-alive connection closed');
  });

  it('MQTT over WebSockets is an MQTT connection after the upgrade: the HTTP request limit does not cut it', async () => {
    const client = Client.fromConnectionString(hub.deviceConnectionString({ deviceId: 'ws-dev' }), MqttWs);
    let disconnects = 0;
    client.on('disconnect', () => disconnects++);
    await withTimeout(client.open(), 15_000, 'open over WebSockets');
    try {
      // Four times the HTTP request limit, with telemetry more often than the MQTT idle limit. Proving that
      // a close does not happen needs the time to pass.
      const rounds = Math.ceil((4 * LIMITS.httpRequestMs) / 400);
      for (let i = 0; i < rounds; i++) {
        await new Promise((r) => setTimeout(r, 400));
        await withTimeout(client.sendEvent(new Message(JSON.stringify({ i }))), 10_000, `sendEvent ${i}`);
      }
      assert.equal(disconnects, 0);
      assert.equal((await hub.queryTelemetry({ deviceId: 'ws-dev' })).length, rounds);
    } finally {
      await client.close();
    }
  });
});
