/** The AMQP frame guard: frame sizes followed across chunks and protocol headers, oversized frames reported. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameGuard } from '../src/edges/amqp/frame-guard.js';

function frame(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  bytes.writeUInt32BE(size, 0);
  return bytes;
}
const header = (id: number) => Buffer.from([0x41, 0x4d, 0x51, 0x50, id, 1, 0, 0]);

describe('AMQP frame guard', () => {
  it('follows headers and frames, also split byte by byte, and reports a frame over the limit', () => {
    const stream = Buffer.concat([header(3), frame(20), header(0), frame(100), frame(8), frame(5000)]);
    const whole = new FrameGuard(4096);
    assert.equal(whole.push(stream), 5000);
    const split = new FrameGuard(4096);
    let reported: number | undefined;
    for (const byte of stream) reported ??= split.push(Buffer.from([byte]));
    assert.equal(reported, 5000);
  });

  it('passes frames within the limit', () => {
    const guard = new FrameGuard(4096);
    assert.equal(guard.push(Buffer.concat([header(0), frame(4096), frame(12)])), undefined);
  });
});
