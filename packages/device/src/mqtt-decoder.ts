/**
 * Decodes the MQTT 3.1.1 packets a server sends a client (OASIS MQTT 3.1.1 §2–3): CONNACK, PUBLISH,
 * PUBACK, SUBACK, UNSUBACK and PINGRESP, from a byte stream cut anywhere. Pure and incremental; its only
 * state is the bytes of an incomplete packet (and, once its header is in, how many it needs). The SDK
 * encodes with `mqtt-packet`, whose parser keeps a stream and its buffers per connection (about 1.6 KB,
 * ADR 0021); a device receives only these six kinds.
 */

/** A packet from the server. */
export type ServerPacket =
  | { cmd: 'connack'; sessionPresent: boolean; returnCode: number }
  | { cmd: 'publish'; topic: string; payload: Buffer; qos: 0 | 1 | 2; messageId: number; dup: boolean; retain: boolean }
  | { cmd: 'puback'; messageId: number }
  | { cmd: 'suback'; messageId: number; granted: number[] }
  | { cmd: 'unsuback'; messageId: number }
  | { cmd: 'pingresp' };

/** Bytes that are not a well-formed server-to-client MQTT 3.1.1 packet. */
export class MqttDecodeError extends Error {
  override readonly name = 'MqttDecodeError';
}

/**
 * The largest packet a device accepts: IoT Hub sends at most 64 KB C2D messages and 128 KB method
 * payloads (MQTT itself allows 256 MB), so 4 MiB bounds what a broken or hostile server can make the
 * device buffer.
 */
export const MAX_SERVER_PACKET_BYTES = 4 * 1024 * 1024;

/**
 * An incremental decoder: feed it what the socket reads, get whole packets back.
 *
 * @example
 * ```ts
 * const decoder = new MqttDecoder();
 * decoder.push(Buffer.from([0x20, 0x02, 0x00]), onPacket); // nothing yet: the CONNACK is incomplete
 * decoder.push(Buffer.from([0x00]), onPacket); // onPacket({ cmd: 'connack', sessionPresent: false, returnCode: 0 })
 * ```
 */
export class MqttDecoder {
  /** The bytes of an incomplete packet, as they came (joined only once the packet is whole). */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** How many bytes the incomplete packet needs in all, once its header said so. */
  #needed = 0;

  /**
   * Decodes what `chunk` completes and calls `onPacket` for each packet, in order. A large packet that
   * comes in many chunks is joined once, when its last byte is in: its bytes are copied a bounded
   * number of times, not once per chunk.
   *
   * @throws {@link MqttDecodeError} on malformed input; the decoder is then unusable (close the
   * connection, as §4.8 requires).
   */
  push(chunk: Buffer, onPacket: (packet: ServerPacket) => void): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered < this.#needed) return;
    const buffer = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [];
    this.#buffered = 0;
    this.#needed = 0;
    let offset = 0;
    while (buffer.length - offset >= 2) {
      let length = 0;
      let multiplier = 1;
      let index = offset + 1;
      let byte: number;
      let complete = true;
      do {
        if (index >= buffer.length) {
          complete = false;
          break;
        }
        if (multiplier > 128 ** 3) throw new MqttDecodeError('The Remaining Length takes more than four bytes.');
        byte = buffer[index++] as number;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
      } while ((byte & 0x80) !== 0);
      if (!complete) break;
      // Checked before waiting for the body, so it is never buffered.
      if (length > MAX_SERVER_PACKET_BYTES) {
        throw new MqttDecodeError(`A ${length}-byte packet is larger than ${MAX_SERVER_PACKET_BYTES} bytes.`);
      }
      if (buffer.length - index < length) {
        this.#needed = index + length - offset;
        break;
      }
      const header = buffer[offset] as number;
      offset = index + length;
      onPacket(decodeBody(header, buffer, index, offset));
    }
    if (offset < buffer.length) {
      // Copied, so a large chunk is not kept alive by the few bytes of the next packet.
      const rest = Buffer.from(buffer.subarray(offset));
      this.#chunks.push(rest);
      this.#buffered = rest.length;
    }
  }
}

/** Decodes the packet whose fixed header byte is `header` and whose variable part is `buffer[start, end)`. */
function decodeBody(header: number, buffer: Buffer, start: number, end: number): ServerPacket {
  const type = header >> 4;
  const flags = header & 0x0f;
  const length = end - start;
  if (type === 3) return decodePublish(flags, buffer, start, end);
  if (flags !== 0) throw new MqttDecodeError(`Packet type ${type} has reserved flags ${flags} set (§2.2.2).`);
  switch (type) {
    case 2: {
      if (length !== 2) throw new MqttDecodeError('A CONNACK is 2 bytes long.');
      const ackFlags = buffer[start] as number;
      if ((ackFlags & 0xfe) !== 0) throw new MqttDecodeError('CONNACK flags other than session present are set.');
      return { cmd: 'connack', sessionPresent: ackFlags === 1, returnCode: buffer[start + 1] as number };
    }
    case 4:
    case 11: {
      if (length !== 2) throw new MqttDecodeError(`A ${type === 4 ? 'PUBACK' : 'UNSUBACK'} is 2 bytes long.`);
      const messageId = buffer.readUInt16BE(start);
      return type === 4 ? { cmd: 'puback', messageId } : { cmd: 'unsuback', messageId };
    }
    case 9: {
      if (length < 3) throw new MqttDecodeError('A SUBACK has a packet id and at least one return code.');
      const granted: number[] = [];
      for (let i = start + 2; i < end; i++) {
        const code = buffer[i] as number;
        if (code > 2 && code !== 0x80) throw new MqttDecodeError(`SUBACK return code ${code} is not allowed (§3.9.3).`);
        granted.push(code);
      }
      return { cmd: 'suback', messageId: buffer.readUInt16BE(start), granted };
    }
    case 13:
      if (length !== 0) throw new MqttDecodeError('A PINGRESP has no body.');
      return { cmd: 'pingresp' };
    default:
      throw new MqttDecodeError(`A server does not send packet type ${type}.`);
  }
}

function decodePublish(flags: number, buffer: Buffer, start: number, end: number): ServerPacket {
  const qos = (flags >> 1) & 3;
  if (qos === 3) throw new MqttDecodeError('A PUBLISH cannot have QoS 3 (§3.3.1.2).');
  if (end - start < 2) throw new MqttDecodeError('A PUBLISH has no topic length.');
  const topicEnd = start + 2 + buffer.readUInt16BE(start);
  const payloadStart = topicEnd + (qos > 0 ? 2 : 0);
  if (payloadStart > end) throw new MqttDecodeError('A PUBLISH is shorter than its topic and packet id.');
  return {
    cmd: 'publish',
    topic: buffer.toString('utf8', start + 2, topicEnd),
    // Copied: the chunk it came in is not kept alive by a payload the application holds on to.
    payload: Buffer.from(buffer.subarray(payloadStart, end)),
    qos: qos as 0 | 1 | 2,
    messageId: qos > 0 ? buffer.readUInt16BE(topicEnd) : 0,
    dup: (flags & 8) !== 0,
    retain: (flags & 1) !== 0,
  };
}
