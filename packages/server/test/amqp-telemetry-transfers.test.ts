/**
 * The telemetry links' lean receive path, between a rhea client and a rhea server on loopback: every
 * delivery is settled with the outcome its handler gave, past the link's credit window and the session's
 * delivery window, in order or not, over two sessions; transfers the path does not take (in several
 * frames, pre-settled, on another link) reach rhea's `message` event as before; and the disposition
 * frames it writes are what rhea reads.
 */
import assert from 'node:assert/strict';
import type { AddressInfo, Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import rhea, { type Connection, type Delivery, type EventContext, type Sender } from 'rhea';
import { TelemetryTransfers, acceptedDisposition } from '../src/edges/amqp/telemetry-transfers.js';

// rhea's frame reader, to check the encoded dispositions against.
const frames = (await import('rhea/lib/frames.js' as string)) as {
  default: { read_frame(bytes: Buffer): { channel: number; performative: Record<string, unknown> } };
};

describe('AMQP telemetry transfers: the disposition frame', () => {
  it('is the accepted, settled disposition rhea reads, for ids of each encoded width', () => {
    for (const [channel, first, last] of [
      [0, 0, 0],
      [1, 7, 8],
      [3, 255, 256],
      [65535, 70000, 2 ** 32 - 1],
    ] as const) {
      const frame = frames.default.read_frame(acceptedDisposition(channel, first, last));
      assert.equal(frame.channel, channel);
      const p = frame.performative;
      assert.equal(String(p['constructor']), 'disposition#15');
      assert.deepEqual([p['role'], p['first'], p['last'], p['settled']], [true, first, last, true]);
      assert.equal(rhea.message.is_accepted(p['state'] as never), true);
    }
  });
});

describe('AMQP telemetry transfers: the receive path', () => {
  const server = rhea.create_container({ id: 'server' });
  let listener: Server;
  let port = 0;
  /** Bodies handed to the lean path, and to rhea's `message` event. */
  const taken: string[] = [];
  const viaRhea: string[] = [];
  /** Settlements held back until `holdFor` have arrived, then released in reverse order. */
  let held: (() => void)[] = [];
  let holdFor = 0;

  before(async () => {
    const transfers = new WeakMap<Connection, TelemetryTransfers>();
    server.on('connection_open', (context: EventContext) => {
      transfers.set(context.connection, new TelemetryTransfers(context.connection));
    });
    server.on('receiver_open', (context: EventContext) => {
      const receiver = context.receiver;
      if (receiver === undefined || receiver.target?.address !== 'telemetry') return;
      transfers.get(context.connection)?.take(receiver, (payload, settle) => {
        const body = String(rhea.message.decode(payload).body?.content ?? '');
        taken.push(body);
        if (body.startsWith('reject')) settle({ condition: 'amqp:not-allowed', description: `no ${body}` });
        else if (body.startsWith('hold')) {
          held.push(() => settle());
          if (held.length === holdFor) for (const done of held.reverse()) done();
        } else setImmediate(() => settle());
      });
    });
    server.on('message', (context: EventContext) => {
      const body = context.message?.body as { content?: Buffer } | string;
      viaRhea.push(typeof body === 'string' ? body : String(body.content ?? ''));
      context.delivery?.accept();
    });
    listener = server.listen({ host: '127.0.0.1', port: 0, autoaccept: false, max_frame_size: 1024 } as never);
    await new Promise((resolve) => listener.once('listening', resolve));
    port = (listener.address() as AddressInfo).port;
  });

  after(() => listener.close());

  async function connect(): Promise<Connection> {
    const client = rhea.create_container({ id: `client-${Math.random()}` });
    const connection = client.connect({ host: '127.0.0.1', port, reconnect: false } as never);
    await new Promise((resolve) => connection.once('connection_open', resolve));
    return connection;
  }

  /** Sends each body on `sender` as it has credit; resolves with each one's outcome. */
  function send(sender: Sender, bodies: string[]): Promise<string[]> {
    const outcomes = new Map<Delivery, number>();
    const results: string[] = new Array<string>(bodies.length);
    let next = 0;
    let settled = 0;
    return new Promise((resolve) => {
      const flush = (): void => {
        while (next < bodies.length && sender.sendable()) {
          const body = bodies[next] as string;
          outcomes.set(sender.send({ body: rhea.message.data_section(Buffer.from(body)) }), next++);
        }
      };
      const record = (context: EventContext, outcome: string): void => {
        const index = context.delivery === undefined ? undefined : outcomes.get(context.delivery);
        if (index === undefined) return;
        results[index] = outcome;
        if (++settled === bodies.length) resolve(results);
      };
      sender.on('sendable', flush);
      sender.on('accepted', (context) => record(context, 'accepted'));
      sender.on('rejected', (context) => {
        const error = (context.delivery?.remote_state as { error?: { condition?: string } } | undefined)?.error;
        record(context, `rejected ${String(error?.condition)}`);
      });
      sender.on('released', (context) => record(context, 'released'));
      flush();
    });
  }

  it('settles 3,000 deliveries with their handlers’ outcomes, past the credit and session windows', async () => {
    taken.length = 0;
    const connection = await connect();
    const sender = connection.open_sender({ target: { address: 'telemetry' } });
    const bodies = Array.from({ length: 3000 }, (_, i) => (i % 100 === 7 ? `reject-${i}` : `m-${i}`));
    const outcomes = await send(sender, bodies);
    assert.deepEqual(
      outcomes,
      bodies.map((body) => (body.startsWith('reject') ? 'rejected amqp:not-allowed' : 'accepted')),
    );
    assert.deepEqual(taken, bodies);
    connection.close();
  });

  it('settles deliveries accepted out of order, and on two sessions of one connection', async () => {
    taken.length = 0;
    held = [];
    holdFor = 40;
    const connection = await connect();
    const first = connection.open_sender({ target: { address: 'telemetry' } });
    const session = (
      connection as unknown as { create_session(): { begin(): void; open_sender(o: object): Sender } }
    ).create_session();
    session.begin();
    const second = session.open_sender({ target: { address: 'telemetry' } });
    const bodies = (prefix: string) => Array.from({ length: 20 }, (_, i) => `hold-${prefix}-${i}`);
    const outcomes = await Promise.all([send(first, bodies('a')), send(second, bodies('b'))]);
    assert.deepEqual(outcomes, [new Array(20).fill('accepted'), new Array(20).fill('accepted')]);
    assert.equal(taken.length, 40);
    connection.close();
  });

  it('leaves to rhea a transfer in several frames, a pre-settled one, and other links', async () => {
    taken.length = 0;
    viaRhea.length = 0;
    const connection = await connect();
    const telemetry = connection.open_sender({ target: { address: 'telemetry' } });
    const large = `large-${'x'.repeat(3000)}`;
    assert.deepEqual(await send(telemetry, ['small', large]), ['accepted', 'accepted']);
    const other = connection.open_sender({ target: { address: 'elsewhere' } });
    assert.deepEqual(await send(other, ['other']), ['accepted']);
    const presettled = connection.open_sender({ target: { address: 'telemetry' }, snd_settle_mode: 1 });
    await new Promise((resolve) => presettled.once('sendable', resolve));
    presettled.send({ body: rhea.message.data_section(Buffer.from('presettled')) });
    const deadline = Date.now() + 5000;
    while (!viaRhea.includes('presettled') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(taken, ['small']);
    assert.deepEqual(viaRhea, [large, 'other', 'presettled']);
    connection.close();
  });
});
