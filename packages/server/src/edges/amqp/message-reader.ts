/**
 * A lean reader of the AMQP 1.0 messages devices send as telemetry (protocol.md §5.4): the bare message's
 * sections read straight from the transfer payload into the fields {@link telemetryFromAmqp} takes, in
 * one pass and without rhea's typed intermediate values. It reads what the device SDKs send (strings,
 * symbols, binaries, booleans, integers, doubles and timestamps; data-section or string/binary value
 * bodies) and steps over the sections it does not need (header, delivery annotations, footer). For
 * anything else it answers `undefined` and the caller decodes with rhea instead, so an unusual message
 * is read exactly as before, only slower.
 *
 * Encoding: AMQP 1.0 part 1 §1.6 (primitive types), part 3 §3.2 (message format).
 */
import type { Message } from 'rhea';

/** Thrown inside the reader when the payload leaves the common case; caught and turned into `undefined`. */
const UNUSUAL = Symbol('unusual message');

/** Section descriptors (part 3 §3.2). */
const HEADER = 0x70;
const DELIVERY_ANNOTATIONS = 0x71;
const MESSAGE_ANNOTATIONS = 0x72;
const PROPERTIES = 0x73;
const APPLICATION_PROPERTIES = 0x74;
const DATA = 0x75;
const AMQP_VALUE = 0x77;
const FOOTER = 0x78;

/** The `properties` section's fields, in list order; `null` for a field the reader steps over. */
const PROPERTY_FIELDS = [
  'message_id',
  'user_id',
  'to',
  null, // subject
  null, // reply_to
  'correlation_id',
  'content_type',
  'content_encoding',
  'absolute_expiry_time',
] as const;

const TWO_32 = 2 ** 32;

class Reader {
  offset = 0;
  constructor(readonly buffer: Buffer) {}

  byte(): number {
    if (this.offset >= this.buffer.length) throw UNUSUAL;
    return this.buffer[this.offset++] as number;
  }

  take(length: number): Buffer {
    const end = this.offset + length;
    if (end > this.buffer.length) throw UNUSUAL;
    const bytes = this.buffer.subarray(this.offset, end);
    this.offset = end;
    return bytes;
  }

  /** The size of a variable-width or compound value: one byte for 0xa_/0xc_/0xe_, four for the others. */
  size(constructor: number): number {
    if ((constructor & 0x10) === 0) return this.byte();
    const bytes = this.take(4);
    return bytes.readUInt32BE(0);
  }

  /** Steps over one encoded value of any type, described ones included. */
  skip(): void {
    const constructor = this.byte();
    if (constructor === 0x00) {
      this.skip(); // the descriptor
      this.skip(); // the value
      return;
    }
    switch (constructor >> 4) {
      case 0x4:
        return;
      case 0x5:
        this.take(1);
        return;
      case 0x6:
        this.take(2);
        return;
      case 0x7:
        this.take(4);
        return;
      case 0x8:
        this.take(8);
        return;
      case 0x9:
        this.take(16);
        return;
      case 0xa:
      case 0xb:
      case 0xc:
      case 0xd:
      case 0xe:
      case 0xf:
        this.take(this.size(constructor));
        return;
      default:
        throw UNUSUAL;
    }
  }

  /**
   * One primitive value as rhea unwraps it: strings and symbols as text, binaries and uuids as bytes,
   * integers and doubles as numbers, timestamps as dates. Other types are unusual.
   */
  value(): unknown {
    const constructor = this.byte();
    const b = this.buffer;
    switch (constructor) {
      case 0x40:
        return null;
      case 0x41:
        return true;
      case 0x42:
        return false;
      case 0x56:
        return this.byte() !== 0;
      case 0x43:
      case 0x44:
        return 0;
      case 0x50:
      case 0x52:
      case 0x53:
        return this.byte();
      case 0x51:
      case 0x54:
      case 0x55:
        return this.take(1).readInt8(0);
      case 0x60:
        return this.take(2).readUInt16BE(0);
      case 0x61:
        return this.take(2).readInt16BE(0);
      case 0x70:
        return this.take(4).readUInt32BE(0);
      case 0x71:
        return this.take(4).readInt32BE(0);
      case 0x80:
      case 0x81:
      case 0x83: {
        const at = this.offset;
        this.take(8);
        const hi = constructor === 0x80 ? b.readUInt32BE(at) : b.readInt32BE(at);
        // Beyond 2^53 rhea keeps the raw bytes; such a value is unusual here.
        if (hi >= 2097153 || hi <= -2097153) throw UNUSUAL;
        const long = hi * TWO_32 + b.readUInt32BE(at + 4);
        return constructor === 0x83 ? new Date(long) : long;
      }
      case 0x82:
        return this.take(8).readDoubleBE(0);
      case 0x98:
        return this.take(16);
      case 0xa0:
      case 0xb0:
        return this.take(this.size(constructor));
      case 0xa1:
      case 0xb1:
      case 0xa3:
      case 0xb3:
        return this.take(this.size(constructor)).toString('utf8');
      default:
        throw UNUSUAL;
    }
  }

  /** A map section's entries: a key and its value reader, called once per entry. */
  map(entry: (key: string) => void): void {
    const constructor = this.byte();
    if (constructor !== 0xc1 && constructor !== 0xd1) throw UNUSUAL;
    const size = this.size(constructor);
    const end = this.offset + size;
    const count = constructor === 0xc1 ? this.byte() : this.take(4).readUInt32BE(0);
    if (count % 2 !== 0) throw UNUSUAL;
    for (let i = 0; i < count; i += 2) {
      const key = this.value();
      // rhea's map object drops a `__proto__` key; the fallback keeps that behaviour.
      if (typeof key !== 'string' || key === '__proto__') throw UNUSUAL;
      entry(key);
    }
    if (this.offset !== end) throw UNUSUAL;
  }

  /** A list section's fields, each given its index; fields past `count` are absent. */
  list(field: (index: number) => void): void {
    const constructor = this.byte();
    if (constructor === 0x45) return;
    if (constructor !== 0xc0 && constructor !== 0xd0) throw UNUSUAL;
    const size = this.size(constructor);
    const end = this.offset + size;
    const count = constructor === 0xc0 ? this.byte() : this.take(4).readUInt32BE(0);
    for (let i = 0; i < count; i++) field(i);
    if (this.offset !== end) throw UNUSUAL;
  }
}

/**
 * A telemetry message's fields from its transfer payload, or `undefined` when the payload is not in the
 * common form (the caller then decodes it with rhea). Null properties are left out, as rhea leaves them.
 *
 * @example
 * readTelemetryMessage(payload) ?? rhea.message.decode(payload);
 * // { to: '/devices/dev1/messages/events', content_type: 'application/json', application_properties: {…}, body: <…> }
 */
export function readTelemetryMessage(payload: Buffer): Message | undefined {
  try {
    return read(payload);
  } catch (error) {
    if (error === UNUSUAL) return undefined;
    throw error;
  }
}

function read(payload: Buffer): Message {
  const reader = new Reader(payload);
  const message: Record<string, unknown> = {};
  const bodies: Buffer[] = [];
  let valueBody: unknown;
  let hasValueBody = false;
  /** The sections read so far, one bit each: a repeated one (other than data) is unusual. */
  let seen = 0;
  while (reader.offset < payload.length) {
    if (reader.byte() !== 0x00 || reader.byte() !== 0x53) throw UNUSUAL;
    const section = reader.byte();
    const bit = 1 << (section & 0x0f);
    if (section !== DATA && (seen & bit) !== 0) throw UNUSUAL;
    seen |= bit;
    switch (section) {
      case HEADER:
      case DELIVERY_ANNOTATIONS:
      case FOOTER:
        reader.skip();
        break;
      case MESSAGE_ANNOTATIONS: {
        const annotations: Record<string, unknown> = {};
        reader.map((key) => {
          if (key === 'dt-subject') annotations[key] = reader.value();
          else reader.skip();
        });
        message['message_annotations'] = annotations;
        break;
      }
      case PROPERTIES:
        reader.list((index) => {
          const name = PROPERTY_FIELDS[index];
          if (name === undefined || name === null) {
            reader.skip();
            return;
          }
          const value = reader.value();
          if (value !== null) message[name] = value;
        });
        break;
      case APPLICATION_PROPERTIES: {
        const properties: Record<string, unknown> = {};
        reader.map((key) => {
          properties[key] = reader.value();
        });
        message['application_properties'] = properties;
        break;
      }
      case DATA: {
        const constructor = reader.byte();
        if (constructor !== 0xa0 && constructor !== 0xb0) throw UNUSUAL;
        bodies.push(reader.take(reader.size(constructor)));
        break;
      }
      case AMQP_VALUE: {
        if (hasValueBody || bodies.length > 0) throw UNUSUAL;
        const value = reader.value();
        if (typeof value !== 'string' && !Buffer.isBuffer(value)) throw UNUSUAL;
        valueBody = value;
        hasValueBody = true;
        break;
      }
      default:
        throw UNUSUAL;
    }
  }
  if (hasValueBody && bodies.length > 0) throw UNUSUAL;
  if (hasValueBody) message['body'] = valueBody;
  else if (bodies.length === 1) message['body'] = bodies[0];
  else if (bodies.length > 1) message['body'] = Buffer.concat(bodies);
  return message as unknown as Message;
}
