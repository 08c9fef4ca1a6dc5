/**
 * One AMQP device connection (protocol.md §5): claims-based security on the `$cbs` links (a device SAS
 * token per identity, renewed on the live connection), or the TLS client certificate; then the device's
 * links — telemetry in (each delivery accepted once stored, rejected with the error's condition
 * otherwise), C2D out (accepted / rejected / released = complete / reject / abandon), twin requests and
 * desired notifications, method requests and responses. Each authorized identity is one live connection
 * of the core (`hub.attach`), whose endpoint is the identity's links here.
 */
import type { TLSSocket } from 'node:tls';
import rhea, { type Connection, type Delivery, type Message, type Receiver, type Sender } from 'rhea';
import type { Logger } from 'pino';
import { decodeResource } from '@plugboard/protocol';
import type { ConnectionHandle, DeviceEndpoint, Hub, MethodRequest } from '../../core/hub.js';
import { identityKey, type C2dRecord, type Identity, type JsonObject } from '../../core/model.js';
import { HubError } from '../../errors.js';
import { peerCertificateChain } from '../../tls/peer.js';
import { logRefusal } from '../log-fields.js';
import { answerTwinRequest } from './twin-requests.js';
import { readTelemetryMessage } from './message-reader.js';
import { TelemetryTransfers, type SettleTransfer } from './telemetry-transfers.js';
import { EventHubLinks, MANAGEMENT_ADDRESS, isEventHubAudience, parsePartitionAddress } from './event-hub.js';
import { SERVICE_C2D_ADDRESS, SERVICE_FEEDBACK_ADDRESS, ServiceLinks } from './service.js';
import {
  AMQP_CONDITIONS,
  asHubError,
  bodyBytes,
  c2dToAmqp,
  dataSection,
  idText,
  parseDeviceAddress,
  telemetryFromAmqp,
  type DeviceAddress,
} from './messages.js';

/** Finds the hub a host name names. */
export type AmqpHubResolver = (hostName: string) => Hub | undefined;

/** Largest telemetry or twin message body (IoT Hub's 256 KB). */
const MAX_MESSAGE_BYTES = 256 * 1024;

const CBS = '$cbs';

function condition(error: HubError): { condition: string; description: string } {
  return { condition: AMQP_CONDITIONS[error.code], description: error.message };
}

/** The links one identity holds on the connection: the core's endpoint for it. */
class DeviceLinks implements DeviceEndpoint {
  readonly transport = 'amqp';
  handle: ConnectionHandle | undefined;
  c2d: Sender | undefined;
  methodRequests: Sender | undefined;
  twinReplies: Sender | undefined;
  desired = false;
  /** C2D deliveries out on the link, by the hub's message id. */
  readonly c2dDeliveries = new WeakMap<Delivery, string>();
  readonly #close: (error: HubError) => void;

  constructor(
    readonly hub: Hub,
    readonly identity: Identity,
    close: (error: HubError) => void,
  ) {
    this.#close = close;
  }

  get wantsMethods(): boolean {
    return this.methodRequests !== undefined;
  }
  get wantsDesired(): boolean {
    return this.desired && this.twinReplies !== undefined;
  }
  get wantsC2d(): boolean {
    return this.c2d !== undefined;
  }

  sendMethodRequest(request: MethodRequest): void {
    this.methodRequests?.send({
      correlation_id: request.rid,
      application_properties: { 'IoThub-methodname': request.methodName },
      body: dataSection(Buffer.from(request.payload)),
    });
  }

  sendDesiredPatch(patch: JsonObject, version: number): void {
    this.twinReplies?.send({ body: dataSection(Buffer.from(JSON.stringify({ ...patch, $version: version }))) });
  }

  deliverC2d(message: C2dRecord): void {
    const delivery = this.c2d?.send(c2dToAmqp(message));
    if (delivery !== undefined) this.c2dDeliveries.set(delivery, message.id);
  }

  close(error: HubError): void {
    this.#close(error);
  }
}

/**
 * The state of one AMQP connection.
 *
 * @example
 * const session = new AmqpDeviceConnection(connection, { resolveHub, logger });
 */
export class AmqpDeviceConnection {
  readonly #connection: Connection;
  readonly #resolveHub: AmqpHubResolver;
  readonly #log: Logger;
  readonly #devices = new Map<string, DeviceLinks>();
  /** Authentications under way, by identity key (so concurrent attaches share one). */
  readonly #pending = new Map<string, Promise<DeviceLinks | HubError>>();
  /** The service side (`azure-iothub`), once a hub-policy token is put. */
  readonly #service: ServiceLinks;
  /** The Event Hub-compatible endpoint's links, once a token for it is put. */
  readonly #eventHub: EventHubLinks;
  /** The lean receive path of the telemetry links. */
  readonly #transfers: TelemetryTransfers;
  #cbsReplies: Sender | undefined;
  #closed = false;

  constructor(connection: Connection, options: { resolveHub: AmqpHubResolver; logger: Logger }) {
    this.#connection = connection;
    this.#transfers = new TelemetryTransfers(connection);
    this.#resolveHub = options.resolveHub;
    this.#log = options.logger;
    this.#service = new ServiceLinks(options.logger);
    this.#eventHub = new EventHubLinks(options.logger);
  }

  /**
   * The TLS socket under the connection (its client certificate authenticates X.509 devices): the
   * connection's own, or — over WebSockets — the HTTPS connection's, passed as the `tls_socket` option.
   */
  get #socket(): TLSSocket | undefined {
    const connection = this.#connection as unknown as { socket?: TLSSocket; options?: { tls_socket?: TLSSocket } };
    return connection.options?.tls_socket ?? connection.socket;
  }

  /** The host name the client opened the connection to (the hub). */
  get #hostName(): string {
    const open = (this.#connection as unknown as { remote?: { open?: { hostname?: string } } }).remote?.open;
    return open?.hostname ?? '';
  }

  // ---------------------------------------------------------------- links

  /** The client attached a sender: the server's receiver (`$cbs`, telemetry, twin requests, method responses). */
  async receiverOpened(receiver: Receiver): Promise<void> {
    const address = receiver.target?.address;
    receiver.set_target({ address });
    if (address === CBS) return;
    if (address === MANAGEMENT_ADDRESS) {
      if (!this.#eventHub.authorized)
        this.#refuseLink(receiver, new HubError('HUB_UNAUTHORIZED', 'Put an Event Hub token on $cbs first.'));
      return;
    }
    if (address === SERVICE_C2D_ADDRESS) {
      if (!this.#service.authorized)
        this.#refuseLink(receiver, new HubError('HUB_UNAUTHORIZED', 'Put a service token on $cbs first.'));
      return;
    }
    const parsed = parseDeviceAddress(address);
    if (parsed === undefined || parsed.kind === 'c2d') {
      return this.#refuseLink(
        receiver,
        new HubError('HUB_TOPIC_NOT_ALLOWED', `No device sends to ${String(address)}.`),
      );
    }
    const device = await this.#authorized(receiver, parsed);
    if (device !== undefined && parsed.kind === 'events') {
      this.#transfers.take(receiver, (payload, settle) => this.#telemetryTransfer(device, payload, settle));
    }
  }

  /** The client attached a receiver: the server's sender (`$cbs`, C2D, twin replies, method requests). */
  async senderOpened(sender: Sender): Promise<void> {
    const address = sender.source?.address;
    sender.set_source({ address });
    if (address === CBS) {
      this.#cbsReplies = sender;
      return;
    }
    if (address === MANAGEMENT_ADDRESS) {
      if (this.#eventHub.authorized) this.#eventHub.managementOpened(sender);
      else this.#refuseLink(sender, new HubError('HUB_UNAUTHORIZED', 'Put an Event Hub token on $cbs first.'));
      return;
    }
    const partition = parsePartitionAddress(address);
    if (partition !== undefined) {
      this.#eventHub.partitionOpened(sender, partition);
      return;
    }
    if (address === SERVICE_FEEDBACK_ADDRESS) {
      if (this.#service.authorized) this.#service.feedbackOpened(sender);
      else this.#refuseLink(sender, new HubError('HUB_UNAUTHORIZED', 'Put a service token on $cbs first.'));
      return;
    }
    const parsed = parseDeviceAddress(address);
    if (parsed === undefined) {
      return this.#refuseLink(
        sender,
        new HubError('HUB_TOPIC_NOT_ALLOWED', `No device receives from ${String(address)}.`),
      );
    }
    const device = await this.#authorized(sender, parsed);
    if (device === undefined) return;
    // Modules receive their input messages on their events address (§5.3); they take C2D as a device's.
    if (parsed.kind === 'c2d' || (parsed.kind === 'events' && parsed.identity.moduleId !== undefined))
      device.c2d = sender;
    else if (parsed.kind === 'methods') device.methodRequests = sender;
    else if (parsed.kind === 'twin') device.twinReplies = sender;
    if (device.handle !== undefined) device.hub.endpointChanged(device.handle);
  }

  /** The client detached a link: what it carried stops. */
  linkClosed(link: Sender | Receiver): void {
    this.#service.linkClosed(link);
    this.#eventHub.linkClosed(link);
    for (const device of this.#devices.values()) {
      let changed = false;
      if (device.c2d === link) {
        device.c2d = undefined;
        changed = true;
        // What was out on the link and not settled goes back to the queue.
        const handle = device.handle;
        if (handle !== undefined)
          for (const id of [...handle.inflight]) device.hub.settleDeliveredC2d(handle, id, 'abandon');
      }
      if (device.methodRequests === link) {
        device.methodRequests = undefined;
        changed = true;
      }
      if (device.twinReplies === link) {
        device.twinReplies = undefined;
        changed = true;
      }
      if (changed && device.handle !== undefined) device.hub.endpointChanged(device.handle);
    }
  }

  /** The client ended a session without detaching its links: they end with it. */
  sessionClosed(session: unknown): void {
    const links: (Sender | Receiver)[] = [];
    this.#connection.each_link((link: Sender | Receiver) => {
      if (link.session === session) links.push(link);
    });
    for (const link of links) this.linkClosed(link);
  }

  /**
   * The identity a device link is for, once it is authorized on this connection (a CBS token, or the
   * TLS client certificate, checked here); the link is closed with the refusal otherwise.
   */
  async #authorized(link: Sender | Receiver, address: DeviceAddress): Promise<DeviceLinks | undefined> {
    const key = identityKey(address.identity);
    const known = this.#devices.get(key);
    if (known !== undefined) return known;
    // Links attached together (twin sender and receiver) wait for the one authentication.
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#authenticateCertificate(address).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    const outcome = await pending;
    if (outcome instanceof HubError) {
      this.#refused(outcome, (e) => this.#refuseLink(link, e));
      return undefined;
    }
    return outcome;
  }

  /** Authenticates an identity by the TLS client certificate and attaches it; the refusal otherwise. */
  async #authenticateCertificate(address: DeviceAddress): Promise<DeviceLinks | HubError> {
    const key = identityKey(address.identity);
    const certificates = this.#socket === undefined ? undefined : peerCertificateChain(this.#socket);
    const hub = this.#resolveHub(this.#hostName);
    if (certificates === undefined || hub === undefined) {
      return new HubError('HUB_UNAUTHORIZED', `${key} has not put a token on $cbs.`);
    }
    try {
      const auth = await hub.authenticate({
        hostName: hub.hostName,
        ...address.identity,
        clientCertificates: certificates,
      });
      if (this.#closed) return new HubError('HUB_SERVICE_UNAVAILABLE', 'The connection ended.');
      return this.#attach(hub, auth);
    } catch (error) {
      return asHubError(error, 'Authentication');
    }
  }

  #refuseLink(link: Sender | Receiver, error: HubError): void {
    logRefusal(this.#log, 'AMQP link refused', error, { address: link.source?.address ?? link.target?.address });
    link.close(condition(error));
  }

  /** Handles a refusal: no answer at all for an unreachable hub, else `answer(error)`. */
  #refused(error: HubError, answer: (error: HubError) => void): void {
    if (error.code === 'HUB_NO_ANSWER') {
      this.#socket?.destroy();
      return;
    }
    if (error.code === 'HUB_SILENT') return;
    answer(error);
  }

  #attach(hub: Hub, auth: Awaited<ReturnType<Hub['authenticate']>>): DeviceLinks {
    const key = identityKey(auth.identity);
    const device = new DeviceLinks(hub, auth.identity, (error) => this.close(error));
    this.#devices.set(key, device);
    device.handle = hub.attach(auth, device);
    return device;
  }

  // ---------------------------------------------------------------- messages

  /** A message arrived on one of the server's receivers. */
  message(receiver: Receiver, message: Message, delivery: Delivery): void {
    const address = receiver.target?.address;
    if (address === CBS) {
      delivery.accept();
      this.#putToken(message).catch((error: unknown) => this.#log.error({ err: error }, 'CBS request failed'));
      return;
    }
    if (address === SERVICE_C2D_ADDRESS) {
      this.#service.send(message, delivery);
      return;
    }
    if (address === MANAGEMENT_ADDRESS) {
      this.#eventHub
        .managementRequest(message, delivery)
        .catch((error: unknown) => this.#log.error({ err: error }, '$management request failed'));
      return;
    }
    const parsed = parseDeviceAddress(address);
    const device = parsed === undefined ? undefined : this.#devices.get(identityKey(parsed.identity));
    if (parsed === undefined || device?.handle === undefined) {
      delivery.reject(condition(new HubError('HUB_UNAUTHORIZED', 'This link is not authorized.')));
      return;
    }
    if (parsed.kind === 'events') {
      this.#ingest(device, message, (rejection) =>
        rejection === undefined ? delivery.accept() : delivery.reject(rejection),
      );
      return;
    }
    const handle = device.handle;
    const bytes = bodyBytes(message.body);
    if (bytes.length > MAX_MESSAGE_BYTES) {
      delivery.reject(condition(new HubError('HUB_MESSAGE_TOO_LARGE', 'Messages are limited to 256 KB.')));
      return;
    }
    delivery.accept();
    if (parsed.kind === 'twin') answerTwinRequest(device, handle, message, bytes, this.#log);
    else if (parsed.kind === 'methods') {
      const status = Number(message.application_properties?.['IoThub-status']);
      const rid = idText(message.correlation_id);
      if (rid !== undefined) device.hub.completeMethod(handle, rid, Number.isInteger(status) ? status : 500, bytes);
    }
  }

  /** A telemetry transfer taken from rhea's path: read lean (or by rhea when unusual), stored, settled. */
  #telemetryTransfer(device: DeviceLinks, payload: Buffer, settle: SettleTransfer): void {
    if (device.handle === undefined) {
      settle(condition(new HubError('HUB_UNAUTHORIZED', 'This link is not authorized.')));
      return;
    }
    this.#ingest(device, readTelemetryMessage(payload) ?? (rhea.message.decode(payload) as unknown as Message), settle);
  }

  /** Stores a telemetry message; settles it accepted once stored, rejected with the refusal otherwise. */
  #ingest(device: DeviceLinks, message: Message, settle: SettleTransfer): void {
    const handle = device.handle;
    if (handle === undefined) {
      settle(condition(new HubError('HUB_UNAUTHORIZED', 'This link is not authorized.')));
      return;
    }
    let telemetry;
    try {
      telemetry = telemetryFromAmqp(message);
    } catch (error) {
      settle(condition(asHubError(error, 'Reading telemetry')));
      return;
    }
    if (telemetry.body.length > MAX_MESSAGE_BYTES) {
      settle(condition(new HubError('HUB_MESSAGE_TOO_LARGE', 'Messages are limited to 256 KB.')));
      return;
    }
    device.hub.ingestTelemetry(handle, telemetry).then(
      () => settle(),
      (error: unknown) => {
        const hubError = asHubError(error, 'Storing telemetry');
        if (hubError.code === 'HUB_INTERNAL') this.#log.error({ err: error }, 'telemetry could not be stored');
        else logRefusal(this.#log, 'telemetry refused', hubError);
        settle(condition(hubError));
      },
    );
  }

  /** The client gave credit on one of the server's senders (an Event Hub partition receiver reads on). */
  sendable(sender: Sender): void {
    this.#eventHub.sendable(sender);
  }

  /** A C2D delivery was settled by the device. */
  c2dSettled(sender: Sender, delivery: Delivery, outcome: 'complete' | 'reject' | 'abandon'): void {
    for (const device of this.#devices.values()) {
      if (device.c2d !== sender || device.handle === undefined) continue;
      const id = device.c2dDeliveries.get(delivery);
      this.#log.debug({ id, outcome }, 'C2D delivery settled');
      if (id !== undefined) device.hub.settleDeliveredC2d(device.handle, id, outcome);
    }
  }

  async #putToken(request: Message): Promise<void> {
    const reply = (status: number, description: string): void => {
      this.#cbsReplies?.send({
        ...(request.message_id === undefined ? {} : { correlation_id: request.message_id }),
        ...(request.reply_to === undefined ? {} : { to: request.reply_to }),
        application_properties: { 'status-code': status, 'status-description': description },
        body: null,
      });
    };
    const properties = request.application_properties ?? {};
    const audience = typeof properties['name'] === 'string' ? decodeResource(properties['name']) : '';
    const token = bodyBytes(request.body).toString('utf8');
    /** A hub-policy token: 200, or the refusal's status. */
    const policyToken = async (authorize: () => Promise<void>): Promise<void> => {
      try {
        await authorize();
        reply(200, 'OK');
      } catch (error) {
        const hubError = asHubError(error, 'Authorization');
        logRefusal(this.#log, 'CBS put-token refused', hubError);
        reply(hubError.status, hubError.message);
      }
    };
    if (properties['operation'] === 'put-token' && isEventHubAudience(audience)) {
      // The hub's Event Hub-compatible endpoint: `sb://{host}/{hub name}…`, a hub policy's token.
      const hub = this.#resolveHub(audience.slice('sb://'.length).split('/')[0] ?? '');
      await policyToken(async () => {
        if (hub === undefined) throw new HubError('HUB_UNAUTHORIZED', `No hub serves ${audience}.`);
        await this.#eventHub.authorize(hub, audience, token);
      });
      return;
    }
    if (properties['operation'] === 'put-token' && !audience.includes('/')) {
      // A service: the audience is the hub's host name, the token a hub policy's.
      const hub = this.#resolveHub(audience);
      await policyToken(async () => {
        if (hub === undefined) throw new HubError('HUB_UNAUTHORIZED', `No hub is named ${JSON.stringify(audience)}.`);
        await this.#service.authorize(hub, token);
      });
      return;
    }
    // `{host}/devices/{id}` or `{host}/devices/{id}/modules/{m}`.
    const match = /^([^/]+)\/devices\/([^/]+)(?:\/modules\/([^/]+))?$/.exec(audience);
    const hub = match === null ? undefined : this.#resolveHub(match[1] ?? '');
    if (properties['operation'] !== 'put-token' || match === null || hub === undefined) {
      reply(401, `Unsupported CBS request for ${JSON.stringify(audience)}: put a device SAS token.`);
      return;
    }
    const identity: Identity =
      match[3] === undefined ? { deviceId: match[2] ?? '' } : { deviceId: match[2] ?? '', moduleId: match[3] };
    const opened = this.#resolveHub(this.#hostName);
    if (opened !== undefined && opened !== hub) {
      reply(401, `This connection is to ${opened.hostName}; the token is for ${hub.hostName}.`);
      return;
    }
    const credentials = { hostName: hub.hostName, ...identity, password: token };
    const known = this.#devices.get(identityKey(identity));
    try {
      if (known?.handle !== undefined) {
        await hub.renewToken(known.handle, credentials);
      } else {
        const auth = await hub.authenticate(credentials);
        if (this.#closed) return;
        const raced = this.#devices.get(identityKey(identity));
        if (raced?.handle !== undefined) hub.renewToken(raced.handle, credentials).catch(() => undefined);
        else this.#attach(hub, auth);
      }
      if (this.#closed) return;
      reply(200, 'OK');
    } catch (error) {
      const hubError = asHubError(error, 'Authentication');
      logRefusal(this.#log, 'CBS put-token refused', hubError);
      this.#refused(hubError, (e) => reply(e.status, e.message));
    }
  }

  // ---------------------------------------------------------------- closing

  /** Closes the connection because of `error` (the core asked: replaced, disabled, token expired…). */
  close(error: HubError): void {
    if (this.#closed) return;
    logRefusal(this.#log, 'AMQP connection closed by the hub', error);
    this.#release(error.code);
    // Sessions first: the Node SDK answers a bare connection close by detaching each link and waiting for
    // replies a closing connection never sends; after a session end it drops its links at once.
    const sessions = new Set<{ close(error?: unknown): void }>();
    this.#connection.each_link((link: Sender | Receiver) => sessions.add(link.session));
    for (const session of sessions) session.close(condition(error));
    this.#connection.close(condition(error));
    const socket = this.#socket;
    if (socket !== undefined) setTimeout(() => socket.destroy(), 2000).unref();
  }

  /** The connection ended (either side, or the network). */
  ended(reason: string): void {
    this.#release(reason);
  }

  #release(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#service.close();
    this.#eventHub.close();
    for (const device of this.#devices.values())
      if (device.handle !== undefined) device.hub.detach(device.handle, reason);
    this.#devices.clear();
  }
}
