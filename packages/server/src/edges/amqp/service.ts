/**
 * The service side of an AMQP connection (protocol.md §9.4), as `azure-iothub`'s `Client` uses it: a
 * hub-policy SAS token put on `$cbs` (audience = the hub's host name, `ServiceConnect` permission), then
 * C2D sends on `/messages/devicebound` (each message addressed by its `to`; accepted once queued,
 * rejected with the error's condition) and feedback records on `/messages/serviceBound/feedback`, sent
 * in batches of up to 64 as IoT Hub's `application/vnd.microsoft.iothub.feedback.json` messages.
 */
import type { Logger } from 'pino';
import type { Delivery, Message, Sender } from 'rhea';
import type { Hub } from '../../core/hub.js';
import { HubError } from '../../errors.js';
import { logRefusal } from '../log-fields.js';
import { AMQP_CONDITIONS, c2dFromAmqp, dataSection, parseDeviceAddress } from './messages.js';

/** Where a service sends C2D messages. */
export const SERVICE_C2D_ADDRESS = '/messages/devicebound';
/** Where a service receives C2D feedback. */
export const SERVICE_FEEDBACK_ADDRESS = '/messages/serviceBound/feedback';
/** The content type of a feedback batch. */
const FEEDBACK_CONTENT_TYPE = 'application/vnd.microsoft.iothub.feedback.json';
/** How often pending feedback is looked for while a feedback receiver is attached [I]. */
const FEEDBACK_POLL_MS = 500;

function rejection(error: unknown): { condition: string; description: string } {
  const hubError =
    error instanceof HubError ? error : new HubError('HUB_INTERNAL', 'Sending failed.', { cause: error });
  return { condition: AMQP_CONDITIONS[hubError.code], description: hubError.message };
}

/**
 * The service links of one AMQP connection.
 *
 * @example
 * await service.authorize(hub, token); // the put-token of `azure-iothub`
 * service.send(message, delivery);     // a message on /messages/devicebound
 */
export class ServiceLinks {
  readonly #log: Logger;
  #hub: Hub | undefined;
  readonly #feedback = new Set<Sender>();
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** Whether a service token was accepted on this connection. */
  get authorized(): boolean {
    return this.#hub !== undefined;
  }

  /** Checks a hub-policy token (`ServiceConnect`); throws the refusal. */
  async authorize(hub: Hub, token: string): Promise<void> {
    await hub.authorizeService(token, 'ServiceConnect');
    this.#hub = hub;
  }

  /** A C2D message from the service: queued for the device its `to` names, then accepted. */
  send(message: Message, delivery: Delivery): void {
    const hub = this.#hub;
    const target = parseDeviceAddress(message.to);
    if (hub === undefined) {
      delivery.reject(rejection(new HubError('HUB_UNAUTHORIZED', 'Put a service token on $cbs first.')));
      return;
    }
    if (target === undefined || target.kind !== 'c2d') {
      delivery.reject(
        rejection(new HubError('HUB_INVALID_ARGUMENT', `"to" must be /devices/{id}/messages/devicebound.`)),
      );
      return;
    }
    let outgoing;
    try {
      outgoing = c2dFromAmqp(message);
    } catch (error) {
      delivery.reject(rejection(error));
      return;
    }
    hub.sendC2d(target.identity, outgoing).then(
      () => delivery.accept(),
      (error: unknown) => {
        if (error instanceof HubError) logRefusal(this.#log, 'C2D send refused', error);
        else this.#log.error({ err: error }, 'C2D send failed');
        delivery.reject(rejection(error));
      },
    );
  }

  /** The service attached a feedback receiver: pending records are sent to it. */
  feedbackOpened(sender: Sender): void {
    this.#feedback.add(sender);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => {
        this.#deliverFeedback().catch(() => undefined);
      }, FEEDBACK_POLL_MS);
      this.#timer.unref();
    }
  }

  async #deliverFeedback(): Promise<void> {
    const hub = this.#hub;
    const sender = [...this.#feedback].find((s) => s.sendable());
    if (hub === undefined || sender === undefined || this.#polling) return;
    this.#polling = true;
    try {
      const records = await hub.takeFeedback(64);
      if (records.length === 0) return;
      if (!sender.sendable()) {
        // The link closed (or ran out of credit) meanwhile: the records wait for the next receiver.
        for (const record of records) await hub.restoreFeedback(record);
        return;
      }
      sender.send({
        content_type: FEEDBACK_CONTENT_TYPE,
        user_id: hub.name,
        body: dataSection(Buffer.from(JSON.stringify(records))),
      });
    } catch (error) {
      this.#log.error({ err: error }, 'C2D feedback could not be sent');
    } finally {
      this.#polling = false;
    }
  }

  /** A link closed: a feedback receiver no longer takes records. */
  linkClosed(link: unknown): void {
    this.#feedback.delete(link as Sender);
    if (this.#feedback.size === 0) this.close();
  }

  /** The connection ended. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
