/**
 * The receive path of a connection's telemetry links, beside rhea's: rhea still reads every frame and
 * keeps the session's and the link's state, but a whole, unsettled transfer on a link taken here is
 * handed to its handler as the payload bytes (no message object, no event, no closures per delivery),
 * and its acceptance goes out as a disposition frame encoded here, the acceptances of one event-loop
 * turn merged into ranges per session. Everything else (a transfer in several frames, a pre-settled or
 * non-zero-format one, any other link, a rejection) keeps rhea's own path. Why: ADR 0022.
 *
 * This touches rhea 3.0's internals (the connection's `on_transfer` and `remote_channel_map`, a
 * session's `incoming` deliveries and `remote.handles`, a receiver's `credit` and `delivery_count`),
 * which is why `rhea` is pinned to an exact version; when they are not there, nothing is taken.
 */
import type { Connection, Receiver } from 'rhea';
import rhea from 'rhea';

/** An outcome's error for a rejected delivery (`amqp:…` condition and description). */
export interface TransferRejection {
  condition: string;
  description: string;
}

/** Settles a delivery taken here: accepted, or rejected with the error. */
export type SettleTransfer = (rejection?: TransferRejection) => void;

/** Takes one whole transfer's payload (an AMQP message, format 0) and settles it once, later or at once. */
export type TransferHandler = (payload: Buffer, settle: SettleTransfer) => void;

/** The fields of an incoming delivery that rhea's session reads (dispositions, window, remote settling). */
interface TakenDelivery {
  id: number;
  link: Receiver;
  settled: boolean;
  state: unknown;
  remote_settled: boolean;
  remote_state: unknown;
  format: number;
}

interface TransferFrame {
  channel: number;
  payload?: Buffer;
  performative: {
    handle: number;
    delivery_id?: number;
    message_format?: number;
    settled?: boolean;
    more?: boolean;
    aborted?: boolean;
  };
}

interface SessionInternals {
  local: { channel: number };
  remote: { handles: Record<number, unknown> };
  incoming: {
    next_transfer_id: number;
    next_delivery_id: number | undefined;
    max_transfer_id: number;
    readonly window: number;
    deliveries: { push(delivery: TakenDelivery): void; pop_if(settled: (delivery: TakenDelivery) => boolean): number };
    updated: TakenDelivery[];
  };
  is_open(): boolean;
}

interface ReceiverInternals {
  credit: number;
  delivery_count: number;
  _incomplete?: unknown;
  session: SessionInternals;
  is_remote_open(): boolean;
  is_open(): boolean;
  flow(credit: number): void;
  get_option(name: string, fallback: number): number;
  local: { attach: { rcv_settle_mode?: number } };
}

interface ConnectionInternals {
  remote_channel_map: Record<number, SessionInternals | undefined>;
  on_transfer(frame: TransferFrame): void;
  _register(): void;
  is_open(): boolean;
  socket_ready?: boolean;
  socket?: { write(bytes: Buffer): unknown };
}

/** A link taken here: its handler and its credit window (rhea's `credit_window` option). */
interface TakenLink {
  handler: TransferHandler;
  window: number;
}

/** The `rejected` outcome with its error, as rhea encodes it. */
const REJECTED = (rejection: TransferRejection): unknown =>
  (rhea.message as unknown as { rejected(fields: object): { described(): unknown } })
    .rejected({ error: rejection })
    .described();

/** The `accepted` outcome: a described empty list (`0x00 0x53 0x24 0x45`). */
const ACCEPTED_STATE = Buffer.from([0x00, 0x53, 0x24, 0x45]);

/** Bytes of `value` as the shortest AMQP uint encoding: `uint0`, `smalluint` or `uint`. */
function uintSize(value: number): number {
  return value === 0 ? 1 : value < 0x100 ? 2 : 5;
}

function writeUint(frame: Buffer, offset: number, value: number): number {
  if (value === 0) {
    frame[offset] = 0x43;
    return offset + 1;
  }
  if (value < 0x100) {
    frame[offset] = 0x52;
    frame[offset + 1] = value;
    return offset + 2;
  }
  frame[offset] = 0x70;
  frame.writeUInt32BE(value, offset + 1);
  return offset + 5;
}

/**
 * A `disposition` frame from the receiver settling deliveries `first`…`last` as accepted (AMQP 1.0
 * part 2 §2.7.6; frame layout §2.3.2).
 *
 * @example
 * acceptedDisposition(0, 7, 8).toString('hex'); // '0000001802000000005315c00b0541520752084100532445'
 */
export function acceptedDisposition(channel: number, first: number, last: number): Buffer {
  first >>>= 0;
  last >>>= 0;
  // The list's fields: role, first, last, settled, state.
  const fields = 1 + uintSize(first) + uintSize(last) + 1 + ACCEPTED_STATE.length;
  const frame = Buffer.allocUnsafe(8 + 6 + fields);
  frame.writeUInt32BE(frame.length, 0);
  frame[4] = 2; // data offset, in 4-byte words
  frame[5] = 0; // an AMQP frame
  frame.writeUInt16BE(channel, 6);
  frame[8] = 0x00; // described by
  frame[9] = 0x53; // smallulong
  frame[10] = 0x15; // disposition
  frame[11] = 0xc0; // list8
  frame[12] = fields + 1; // its size, the count included
  frame[13] = 5; // its count
  let at = 14;
  frame[at++] = 0x41; // role: receiver (true)
  at = writeUint(frame, at, first);
  at = writeUint(frame, at, last);
  frame[at++] = 0x41; // settled
  ACCEPTED_STATE.copy(frame, at);
  return frame;
}

const isSettled = (delivery: TakenDelivery): boolean => delivery.settled;

function hasInternals(connection: unknown): connection is ConnectionInternals {
  const c = connection as Partial<ConnectionInternals>;
  return (
    typeof c.on_transfer === 'function' &&
    typeof c._register === 'function' &&
    typeof c.is_open === 'function' &&
    typeof c.remote_channel_map === 'object'
  );
}

/**
 * The telemetry receive path of one connection.
 *
 * @example
 * const transfers = new TelemetryTransfers(connection);
 * transfers.take(receiver, (payload, settle) => store(payload).then(() => settle(), (e) => settle(rejection(e))));
 */
export class TelemetryTransfers {
  readonly #connection: ConnectionInternals | undefined;
  readonly #links = new WeakMap<object, TakenLink>();
  /** Accepted deliveries not yet written, by session, in the order they were accepted. */
  readonly #accepted = new Map<SessionInternals, number[]>();
  #flushing = false;

  constructor(connection: Connection) {
    if (!hasInternals(connection)) return;
    const internals: ConnectionInternals = connection;
    this.#connection = internals;
    const rheaPath = internals.on_transfer;
    internals.on_transfer = (frame: TransferFrame): void => {
      if (!this.#take(frame)) rheaPath.call(internals, frame);
    };
  }

  /**
   * Takes the transfers `receiver` carries from now on. A receiver in rhea's `second` settle mode is
   * left to rhea (its acceptance would not settle).
   */
  take(receiver: Receiver, handler: TransferHandler): void {
    if (this.#connection === undefined) return;
    const link = receiver as unknown as ReceiverInternals;
    if (link.local.attach.rcv_settle_mode === 1) return;
    this.#links.set(receiver, { handler, window: link.get_option('credit_window', 1000) });
  }

  /** Whether the frame was a transfer this path took (else rhea handles it). */
  #take(frame: TransferFrame): boolean {
    const session = this.#connection?.remote_channel_map[frame.channel];
    if (session === undefined) return false;
    const performative = frame.performative;
    const receiver = session.remote.handles[performative.handle] as ReceiverInternals | undefined;
    const taken = receiver === undefined ? undefined : this.#links.get(receiver);
    if (receiver === undefined || taken === undefined || receiver._incomplete !== undefined) return false;
    const payload = frame.payload;
    const id = performative.delivery_id;
    const incoming = session.incoming;
    if (
      payload === undefined ||
      id === undefined ||
      performative.more === true ||
      performative.aborted === true ||
      performative.settled === true ||
      performative.message_format !== 0 ||
      (incoming.next_delivery_id !== undefined && incoming.next_delivery_id !== id) ||
      !receiver.is_remote_open()
    ) {
      return false;
    }
    // As rhea's Incoming.on_transfer, then its FlowController: the session's and the link's counts.
    incoming.next_transfer_id++;
    const delivery: TakenDelivery = {
      id,
      link: receiver as unknown as Receiver,
      settled: false,
      state: undefined,
      remote_settled: false,
      remote_state: undefined,
      format: 0,
    };
    incoming.deliveries.push(delivery);
    incoming.next_delivery_id = id + 1;
    if (receiver.credit > 0) receiver.credit--;
    receiver.delivery_count++;
    const delta = taken.window - receiver.credit;
    if (delta >= taken.window / 4) receiver.flow(delta);

    let settled = false;
    taken.handler(payload, (rejection) => {
      if (settled) return;
      settled = true;
      this.#settle(session, delivery, rejection);
    });
    return true;
  }

  #settle(session: SessionInternals, delivery: TakenDelivery, rejection: TransferRejection | undefined): void {
    const connection = this.#connection;
    if (connection === undefined) return;
    delivery.settled = true;
    if (rejection !== undefined) {
      // Rare: rhea writes it, as for any delivery it settles.
      delivery.state = REJECTED(rejection);
      session.incoming.updated.push(delivery);
      connection._register();
      return;
    }
    let ids = this.#accepted.get(session);
    if (ids === undefined) {
      ids = [];
      this.#accepted.set(session, ids);
    }
    ids.push(delivery.id);
    if (!this.#flushing) {
      this.#flushing = true;
      process.nextTick(() => this.#flush());
    }
  }

  /** Writes this turn's acceptances, consecutive ids as one range; rhea then drops the settled deliveries. */
  #flush(): void {
    this.#flushing = false;
    const connection = this.#connection;
    if (connection === undefined) return;
    const socket = connection.socket;
    // A closing connection or session sends no more dispositions; its deliveries end with it.
    const open = connection.socket_ready === true && connection.is_open();
    for (const [session, ids] of this.#accepted) {
      if (!open || socket === undefined || !session.is_open()) continue;
      let first = ids[0] as number;
      let last = first;
      for (let i = 1; i <= ids.length; i++) {
        const id = ids[i];
        if (id === last + 1) {
          last = id;
          continue;
        }
        socket.write(acceptedDisposition(session.local.channel, first, last));
        if (id !== undefined) first = last = id;
      }
    }
    // As rhea's session pass: the settled deliveries leave the window, and a session flow goes out
    // when the window runs low (rhea's pass does that, so it runs only then).
    let low = false;
    for (const session of this.#accepted.keys()) {
      const incoming = session.incoming;
      incoming.deliveries.pop_if(isSettled);
      if (incoming.max_transfer_id - incoming.next_transfer_id < incoming.window / 2) low = true;
    }
    this.#accepted.clear();
    if (low) connection._register();
  }
}
