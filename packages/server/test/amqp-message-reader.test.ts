/**
 * The lean telemetry message reader against rhea's decoder: for any message rhea encodes, the telemetry
 * the hub stores is the same whether the reader read it or (when it declined) rhea did; the messages the
 * device SDKs send are read by the reader itself; and no input makes it throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import rhea, { type Message } from 'rhea';
import { readTelemetryMessage } from '../src/edges/amqp/message-reader.js';
import { telemetryFromAmqp } from '../src/edges/amqp/messages.js';

const { message: amqp, types } = rhea;

const decodeWithRhea = (payload: Buffer): Message => amqp.decode(payload) as unknown as Message;

/** The telemetry as the hub stores it, from the reader (or rhea when it declines) and from rhea alone. */
function bothWays(payload: Buffer): { lean: unknown; rhea: unknown; read: boolean } {
  const read = readTelemetryMessage(payload);
  const lean = telemetryFromAmqp(read ?? decodeWithRhea(payload));
  return { lean, rhea: telemetryFromAmqp(decodeWithRhea(payload)), read: read !== undefined };
}

const text = fc.string({ maxLength: 300 });
const key = fc.string({ minLength: 1, maxLength: 20 }).filter((k) => k !== '__proto__');
const applicationValue = fc.oneof(
  text,
  fc.integer(),
  fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
  // rhea encodes an integral number as an integer type; beyond 2^64 it cannot encode it.
  fc.double({ noNaN: true, min: -1e15, max: 1e15 }),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes)),
  fc.date({ min: new Date(0), max: new Date(2 ** 40), noInvalidDate: true }),
);
const id = fc.oneof(
  text,
  fc.nat(),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => types.wrap_uuid(Buffer.from(bytes)) as unknown),
  fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
);
const body = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }).map((bytes) => amqp.data_section(Buffer.from(bytes))),
  text,
  fc.uint8Array({ maxLength: 50 }).map((bytes) => Buffer.from(bytes)),
  fc.integer(),
  fc
    .array(
      fc.uint8Array({ maxLength: 30 }).map((bytes) => Buffer.from(bytes)),
      { minLength: 2, maxLength: 3 },
    )
    .map((sections) => amqp.data_sections(sections)),
);
const message = fc.record(
  {
    message_id: id,
    correlation_id: id,
    user_id: fc.uint8Array({ maxLength: 10 }).map((bytes) => Buffer.from(bytes)),
    to: text,
    subject: text,
    reply_to: text,
    content_type: fc.constantFrom('application/json', 'text/plain', ''),
    content_encoding: fc.constantFrom('utf-8', 'utf-16'),
    absolute_expiry_time: fc.date({ min: new Date(0), max: new Date(2 ** 42), noInvalidDate: true }),
    creation_time: fc.date({ min: new Date(0), max: new Date(2 ** 42), noInvalidDate: true }),
    group_id: text,
    durable: fc.boolean(),
    ttl: fc.nat(),
    application_properties: fc.dictionary(key, applicationValue, { maxKeys: 8 }),
    message_annotations: fc.dictionary(
      fc.constantFrom('dt-subject', 'x-opt-partition-key', 'iothub-connection-device-id'),
      fc.oneof(text, fc.integer(), fc.boolean()),
    ),
    delivery_annotations: fc.dictionary(fc.constantFrom('x-opt-lock-token', 'x-a'), text),
    footer: fc.dictionary(fc.constantFrom('x-f'), text),
    body,
  },
  { requiredKeys: [] },
);

/** A message as azure-iot-device-amqp's `AmqpMessage.fromMessage` builds a Plug and Play sample's. */
function sdkMessage(component?: string): Buffer {
  const sent: Message = {
    to: '/devices/thermostat-1/messages/events',
    message_id: 'a1b2c3',
    content_type: 'application/json',
    content_encoding: 'utf-8',
    application_properties: { 'iothub-creation-time-utc': '2026-12-03T10:00:00.000Z', unit: 'C' },
    body: amqp.data_section(Buffer.from('{"temperature":21.5}')),
  };
  if (component !== undefined) sent.message_annotations = { 'dt-subject': component };
  return amqp.encode(sent);
}

describe('AMQP telemetry message reader', () => {
  it('reads the messages the device SDKs send itself, as rhea does', () => {
    for (const payload of [sdkMessage(), sdkMessage('thermostat1')]) {
      const { lean, rhea: decoded, read } = bothWays(payload);
      assert.equal(read, true);
      assert.deepEqual(lean, decoded);
    }
    const telemetry = telemetryFromAmqp(readTelemetryMessage(sdkMessage('thermostat1')) as Message);
    assert.equal(Buffer.from(telemetry.body).toString(), '{"temperature":21.5}');
    assert.equal(telemetry.component, 'thermostat1');
    assert.equal(telemetry.creationTime, '2026-12-03T10:00:00.000Z');
    assert.equal(telemetry.contentType, 'application/json');
  });

  it('gives the same telemetry as rhea for any message rhea encodes', () => {
    let read = 0;
    fc.assert(
      fc.property(message, (sent) => {
        const outcome = bothWays(amqp.encode(sent as unknown as Message));
        if (outcome.read) read++;
        assert.deepEqual(outcome.lean, outcome.rhea);
      }),
      { numRuns: 2000 },
    );
    // Most generated messages are in the common form: the reader is not just declining everything.
    assert.ok(read > 1000, `read ${read} of 2000`);
  });

  it('declines what it does not read: other descriptors, repeated sections, a __proto__ key', () => {
    const symbolic = Buffer.concat([
      Buffer.from([0x00, 0xa3, 20]),
      Buffer.from('amqp:data:binary....'.slice(0, 20)),
      Buffer.from([0xa0, 0x02, 0x7b, 0x7d]),
    ]);
    assert.equal(readTelemetryMessage(symbolic), undefined);
    const data = amqp.encode({ body: amqp.data_section(Buffer.from('{}')) } as Message);
    assert.notEqual(readTelemetryMessage(data), undefined);
    assert.equal(readTelemetryMessage(Buffer.concat([data, data])), undefined);
    const value = amqp.encode({ body: 'text' } as Message);
    assert.notEqual(readTelemetryMessage(value), undefined);
    assert.equal(readTelemetryMessage(Buffer.concat([value, data.subarray(4)])), undefined);
    const proto = amqp.encode({
      application_properties: { ['__proto__']: 'x', a: 'b' },
      body: amqp.data_section(Buffer.from('{}')),
    } as unknown as Message);
    assert.equal(readTelemetryMessage(proto), undefined);
  });

  it('never throws: truncated messages and random bytes are read or declined', () => {
    fc.assert(
      fc.property(message, fc.nat(), (sent, cut) => {
        const payload = amqp.encode(sent as unknown as Message);
        readTelemetryMessage(payload.subarray(0, cut % (payload.length + 1)));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        readTelemetryMessage(Buffer.from(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});
