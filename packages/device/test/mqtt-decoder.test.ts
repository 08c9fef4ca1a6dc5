import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { MqttDecodeError, MqttDecoder, type ServerPacket } from '../src/mqtt-decoder.js';

const seed = Number(process.env['PLUGBOARD_FUZZ_SEED'] ?? Date.now() % 2 ** 31);

/** A server-to-client packet, as the decoder returns it, and as mqtt-packet encodes it. */
const serverPacket: fc.Arbitrary<ServerPacket> = fc
  .oneof(
    fc.record({
      cmd: fc.constant('connack' as const),
      sessionPresent: fc.boolean(),
      returnCode: fc.integer({ min: 0, max: 5 }),
    }),
    fc
      .record({
        topic: fc.string({ unit: 'grapheme', maxLength: 80 }),
        payload: fc.uint8Array({ maxLength: 300 }),
        qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
        messageId: fc.integer({ min: 1, max: 0xffff }),
        dup: fc.boolean(),
        retain: fc.boolean(),
      })
      .map(({ payload, ...rest }) => ({
        cmd: 'publish' as const,
        ...rest,
        payload: Buffer.from(payload),
        messageId: rest.qos === 0 ? 0 : rest.messageId,
        dup: rest.qos === 0 ? false : rest.dup,
      })),
    fc.record({ cmd: fc.constant('puback' as const), messageId: fc.integer({ min: 1, max: 0xffff }) }),
    fc.record({
      cmd: fc.constant('suback' as const),
      messageId: fc.integer({ min: 1, max: 0xffff }),
      granted: fc.array(fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 8 }),
    }),
    fc.record({ cmd: fc.constant('unsuback' as const), messageId: fc.integer({ min: 1, max: 0xffff }) }),
    fc.constant({ cmd: 'pingresp' as const }),
  )
  // fast-check's records have no prototype; the decoder's packets are plain objects.
  .map((packet) => ({ ...packet }));

function encode(packet: ServerPacket): Buffer {
  const wire: Packet =
    packet.cmd === 'publish' && packet.qos === 0
      ? { cmd: 'publish', topic: packet.topic, payload: packet.payload, qos: 0, dup: false, retain: packet.retain }
      : (packet as Packet);
  return mqttPacket.generate(wire);
}

function decodeAll(chunks: Buffer[]): ServerPacket[] {
  const decoder = new MqttDecoder();
  const out: ServerPacket[] = [];
  for (const chunk of chunks) decoder.push(chunk, (packet) => out.push(packet));
  return out;
}

function decodeError(bytes: number[]): MqttDecodeError {
  try {
    decodeAll([Buffer.from(bytes)]);
  } catch (error) {
    assert.ok(error instanceof MqttDecodeError, String(error));
    return error;
  }
  assert.fail(`decoded ${JSON.stringify(bytes)} without an error`);
}

describe('MqttDecoder: the packets a server sends a client (MQTT 3.1.1)', () => {
  it(`decodes what mqtt-packet encodes, however the stream is cut (fast-check seed ${seed})`, (t) => {
    t.diagnostic(`fast-check seed ${seed} (PLUGBOARD_FUZZ_SEED)`);
    fc.assert(
      fc.property(
        fc.array(serverPacket, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (packets, cutsAt) => {
          const bytes = Buffer.concat(packets.map(encode));
          const cuts = [...new Set(cutsAt.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let from = 0;
          for (const cut of [...cuts, bytes.length]) {
            chunks.push(bytes.subarray(from, cut));
            from = cut;
          }
          assert.deepEqual(decodeAll(chunks), packets);
        },
      ),
      { seed, numRuns: 300 },
    );
  });

  it('decodes a PUBLISH whose Remaining Length takes three bytes (a 20,000-byte C2D payload)', () => {
    const payload = Buffer.alloc(20_000, 7);
    const bytes = mqttPacket.generate({
      cmd: 'publish',
      topic: 'devices/d1/messages/devicebound/',
      payload,
      qos: 1,
      messageId: 9,
      dup: false,
      retain: false,
    });
    assert.equal(bytes[1]! & 0x80, 0x80);
    assert.equal(bytes[2]! & 0x80, 0x80);
    const [packet] = decodeAll([bytes.subarray(0, 3), bytes.subarray(3)]);
    assert.equal(packet?.cmd, 'publish');
    assert.deepEqual(packet.cmd === 'publish' && packet.payload, payload);
  });

  it('copies payloads, so the chunk they came in is not kept alive', () => {
    const bytes = mqttPacket.generate({
      cmd: 'publish',
      topic: 't',
      payload: Buffer.from('abc'),
      qos: 0,
      dup: false,
      retain: false,
    });
    const [packet] = decodeAll([bytes]);
    assert.ok(packet?.cmd === 'publish');
    bytes.fill(0);
    assert.equal(packet.payload.toString(), 'abc');
  });

  it('rejects malformed packets with a MqttDecodeError (§4.8: the connection is then closed)', () => {
    assert.match(decodeError([0x21, 0x02, 0x00, 0x00]).message, /reserved flags/);
    assert.match(decodeError([0x20, 0x03, 0x00, 0x00, 0x00]).message, /CONNACK is 2 bytes/);
    assert.match(decodeError([0x20, 0x02, 0x02, 0x00]).message, /CONNACK flags/);
    assert.match(decodeError([0x36, 0x03, 0x00, 0x01, 0x74]).message, /QoS 3/);
    assert.match(decodeError([0x32, 0x03, 0x00, 0x01, 0x74]).message, /shorter than its topic and packet id/);
    assert.match(decodeError([0x30, 0x04, 0x00, 0x09, 0x74, 0x74]).message, /shorter than its topic/);
    assert.match(decodeError([0x90, 0x03, 0x00, 0x01, 0x03]).message, /SUBACK return code 3/);
    assert.match(decodeError([0x90, 0x02, 0x00, 0x01]).message, /at least one return code/);
    assert.match(decodeError([0x40, 0x01, 0x00]).message, /PUBACK is 2 bytes/);
    assert.match(decodeError([0xd0, 0x01, 0x00]).message, /PINGRESP has no body/);
    assert.match(decodeError([0x10, 0x00]).message, /does not send packet type 1/);
    assert.match(decodeError([0xc0, 0x00]).message, /does not send packet type 12/);
    assert.match(decodeError([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]).message, /more than four bytes/);
    // A declared 5 MiB PUBLISH is refused from its header, before any of its body is buffered.
    assert.match(decodeError([0x30, 0x80, 0x80, 0xc0, 0x02]).message, /larger than 4194304 bytes/);
  });

  it('joins a large packet once, not once per chunk: a 4 MB method payload in 16 KB chunks copies under 3× its size', () => {
    const payload = Buffer.alloc(4 * 1024 * 1024 - 100, 3);
    const bytes = mqttPacket.generate({
      cmd: 'publish',
      topic: '$iothub/methods/POST/big/?$rid=1',
      payload,
      qos: 0,
      dup: false,
      retain: false,
    });
    const concat = Buffer.concat;
    let copied = 0;
    Buffer.concat = (list: readonly Uint8Array[], totalLength?: number) => {
      const joined = concat(list, totalLength);
      copied += joined.length;
      return joined;
    };
    let out: ServerPacket[];
    try {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 16 * 1024) chunks.push(bytes.subarray(i, i + 16 * 1024));
      out = decodeAll(chunks);
    } finally {
      Buffer.concat = concat;
    }
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]?.cmd === 'publish' && out[0].payload, payload);
    // Before: each chunk joined to everything before it, about 256 × 2 MB.
    assert.ok(copied < 3 * bytes.length, `${copied} bytes copied for a ${bytes.length}-byte packet`);
  });

  it('waits for the rest of a packet, one byte at a time', () => {
    const bytes = Buffer.concat([
      encode({ cmd: 'connack', sessionPresent: true, returnCode: 0 }),
      encode({ cmd: 'pingresp' }),
    ]);
    const decoder = new MqttDecoder();
    const out: ServerPacket[] = [];
    for (const byte of bytes) decoder.push(Buffer.from([byte]), (packet) => out.push(packet));
    assert.deepEqual(out, [{ cmd: 'connack', sessionPresent: true, returnCode: 0 }, { cmd: 'pingresp' }]);
  });
});
