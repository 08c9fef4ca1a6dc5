/**
 * DPS over AMQP (protocol.md §3.5), for `azure-iot-provisioning-device-amqp` and the other SDKs' AMQP
 * provisioning transports: one `rhea` container whose connections arrive over TLS on 5671 or over
 * WebSockets at `/$iothub/websocket` (subprotocol `AMQPWSB10`). A symmetric-key device authenticates in
 * the SASL PLAIN exchange (user `{idScope}/registrations/{registrationId}`, password its SAS token) and
 * is refused there — SASL outcome `auth` — when the token proves no enrollment; an X.509 device skips
 * SASL and is checked by its TLS client certificate at `iotdps-register`. Requests arrive on the
 * client's sender link and are answered, by correlation id, on its receiver link, both at
 * `{idScope}/registrations/{registrationId}`; a refused request's delivery is rejected with the
 * condition of {@link DPS_AMQP_CONDITIONS} (retried by the SDK for `amqp:internal-error` and
 * `com.microsoft:device-container-throttled`, with `retry-after` in the error info).
 */
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import rhea, { type Connection, type Container, type Delivery, type Message, type Receiver, type Sender } from 'rhea';
import type { WebSocket } from 'ws';
import { readJson } from '@plugboard/protocol';
import { DPS_MAX_BODY_BYTES, DpsError, dpsJsonError, type DpsErrorCode } from '../../core/dps-errors.js';
import type { ProvisioningService } from '../../core/dps.js';
import type { DpsCredentials } from '../../core/dps-types.js';
import { bodyBytes, dataSection, idText } from '../amqp/messages.js';
import { acceptAmqpWebSocket } from '../amqp/frame-guard.js';
import { peerCertificateChain } from '../../tls/peer.js';
import { logRefusal } from '../log-fields.js';

/**
 * The AMQP condition a refused DPS request's delivery is rejected with, per DPS error (the Node SDK
 * retries `amqp:internal-error` and `com.microsoft:device-container-throttled`, fails on the others).
 */
export const DPS_AMQP_CONDITIONS: Readonly<Record<DpsErrorCode, string>> = {
  DPS_BAD_REQUEST: 'com.microsoft:argument-error',
  DPS_INVALID_REGISTRATION_ID: 'com.microsoft:argument-error',
  DPS_INVALID_CERTIFICATE: 'com.microsoft:argument-error',
  DPS_UNAUTHORIZED: 'amqp:unauthorized-access',
  DPS_DEVICE_BLOCKED: 'amqp:unauthorized-access',
  DPS_NOT_FOUND: 'amqp:not-found',
  DPS_ENROLLMENT_NOT_FOUND: 'amqp:not-found',
  DPS_REGISTRATION_NOT_FOUND: 'amqp:not-found',
  DPS_CONFLICT: 'amqp:not-allowed',
  DPS_PRECONDITION_FAILED: 'com.microsoft:precondition-failed',
  DPS_PAYLOAD_TOO_LARGE: 'amqp:link:message-size-exceeded',
  DPS_THROTTLED: 'com.microsoft:device-container-throttled',
  DPS_INTERNAL: 'amqp:internal-error',
};

/** The operation types of a request's `iotdps-operation-type` application property. */
const REGISTER = 'iotdps-register';
const OPERATION_STATUS = 'iotdps-get-operationstatus';

/** A registration link address: `{idScope}/registrations/{registrationId}`. */
export interface RegistrationAddress {
  idScope: string;
  registrationId: string;
}

/**
 * Reads a registration link address (also the SASL PLAIN user name); `undefined` when it is not one.
 *
 * @example
 * parseRegistrationAddress('0ne00ABCDEF/registrations/dev1'); // { idScope: '0ne00ABCDEF', registrationId: 'dev1' }
 */
export function parseRegistrationAddress(address: unknown): RegistrationAddress | undefined {
  if (typeof address !== 'string') return undefined;
  const parts = address.split('/');
  if (parts.length !== 3 || parts[1] !== 'registrations') return undefined;
  const [idScope = '', , registrationId = ''] = parts;
  return idScope === '' || registrationId === '' ? undefined : { idScope, registrationId };
}

function sameAddress(a: RegistrationAddress, b: RegistrationAddress): boolean {
  return (
    a.idScope.toLowerCase() === b.idScope.toLowerCase() &&
    a.registrationId.toLowerCase() === b.registrationId.toLowerCase()
  );
}

/**
 * SASL PLAIN that keeps what a client proved (user name and token) for the connection's requests; rhea
 * calls `start` with the initial response and reads `outcome`.
 */
class PlainCredentials {
  outcome: boolean | undefined;
  username: string | undefined;
  address: RegistrationAddress | undefined;
  token: string | undefined;
  readonly #check: (address: RegistrationAddress, token: string) => Promise<boolean>;

  constructor(check: (address: RegistrationAddress, token: string) => Promise<boolean>) {
    this.#check = check;
  }

  async start(response: Buffer | undefined): Promise<void> {
    // PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616).
    const fields = (response ?? Buffer.alloc(0)).toString('utf8').split('\0');
    const address = fields.length === 3 ? parseRegistrationAddress(fields[1]) : undefined;
    const token = fields[2] ?? '';
    this.outcome = address !== undefined && (await this.#check(address, token).catch(() => false));
    if (this.outcome) {
      this.username = fields[1];
      this.address = address;
      this.token = token;
    }
  }
}

/**
 * What the client proved in SASL PLAIN on `connection`, if it used PLAIN. rhea keeps the mechanism on
 * its SASL transport (`Selective.selected` when the client could also skip SASL, else the server itself).
 */
function plainCredentials(connection: Connection): PlainCredentials | undefined {
  type SaslServer = { mechanism?: unknown };
  const transport = (connection as unknown as { sasl_transport?: SaslServer & { selected?: SaslServer } })
    .sasl_transport;
  const mechanism = transport?.selected?.mechanism ?? transport?.mechanism;
  return mechanism instanceof PlainCredentials ? mechanism : undefined;
}

/**
 * The client certificate chain of the TLS socket under the connection: its own, or — over WebSockets —
 * the HTTPS connection's (the `tls_socket` option).
 */
function certificatesOf(connection: Connection): Uint8Array[] | undefined {
  const c = connection as unknown as { socket?: TLSSocket; options?: { tls_socket?: TLSSocket } };
  const socket = c.options?.tls_socket ?? c.socket;
  return socket === undefined ? undefined : peerCertificateChain(socket);
}

/**
 * The DPS AMQP endpoint.
 *
 * @example
 * const endpoint = new DpsAmqpEndpoint({ dps, logger });
 * await listenAmqp({ ...listen, port: 5671, endpoint });
 */
export class DpsAmqpEndpoint {
  readonly container: Container;
  readonly #dps: ProvisioningService;
  readonly #log: Logger;
  /** Each registration address's reply link (the client's receiver), per connection. */
  readonly #replies = new WeakMap<Connection, Map<string, Sender>>();

  constructor(options: { dps: ProvisioningService; logger: Logger }) {
    this.#dps = options.dps;
    this.#log = options.logger;
    this.container = rhea.create_container({ id: 'plugboard-dps' });
    const mechanisms = this.container.sasl_server_mechanisms as unknown as Record<string, () => unknown>;
    // ANONYMOUS too: with it rhea lets a client skip SASL (X.509 devices do), §5.1.
    this.container.sasl_server_mechanisms.enable_anonymous();
    mechanisms['PLAIN'] = () => new PlainCredentials((address, token) => this.#checkToken(address, token));
    this.container.on('sender_open', (context) => {
      if (context.sender !== undefined) this.#senderOpened(context.sender);
    });
    this.container.on('receiver_open', (context) => {
      if (context.receiver !== undefined) this.#receiverOpened(context.receiver);
    });
    this.container.on('message', (context) => {
      const { receiver, message, delivery } = context;
      if (receiver === undefined || message === undefined || delivery === undefined) return;
      this.#request(receiver, message, delivery).catch((error: unknown) => {
        this.#log.error({ err: error }, 'DPS AMQP request failed');
      });
    });
    // A connection's state goes with it (weakly held); handled so that rhea does not print the event.
    this.container.on('disconnected', (context) =>
      this.#log.debug({ err: context.error }, 'DPS AMQP connection ended'),
    );
    this.container.on('protocol_error', (error: unknown) => this.#log.debug({ err: error }, 'AMQP protocol error'));
    this.container.on('error', (error: unknown) => this.#log.debug({ err: error }, 'AMQP error'));
  }

  /** Serves an AMQP connection over an accepted WebSocket whose HTTPS connection is `tlsSocket`. */
  acceptWebSocket(ws: WebSocket, tlsSocket: TLSSocket): void {
    acceptAmqpWebSocket(this.container, ws, tlsSocket, this.#log);
  }

  async #checkToken(address: RegistrationAddress, token: string): Promise<boolean> {
    try {
      await this.#dps.authenticate({ ...address, credentials: { token } });
      return true;
    } catch (error) {
      const refusal = error instanceof DpsError ? error : new DpsError('DPS_INTERNAL', 'Internal error.');
      if (refusal.code === 'DPS_INTERNAL') this.#log.error({ err: error }, 'DPS SASL check failed');
      else
        logRefusal(this.#log, 'DPS SASL authentication refused', refusal, { registrationId: address.registrationId });
      return false;
    }
  }

  /**
   * The registration a link is for, when the connection may use it: its address names a registration and,
   * after SASL PLAIN, the one the client authenticated as. Otherwise the link is closed and `undefined`.
   */
  #allowed(link: Sender | Receiver, address: unknown): RegistrationAddress | undefined {
    const registration = parseRegistrationAddress(address);
    const plain = plainCredentials(link.connection);
    let refusal: DpsError | undefined;
    if (registration === undefined) {
      refusal = new DpsError('DPS_NOT_FOUND', `DPS serves no link at ${String(address)}.`);
    } else if (plain?.address !== undefined && !sameAddress(plain.address, registration)) {
      refusal = new DpsError('DPS_UNAUTHORIZED', `The connection authenticated as ${String(plain.username)}.`);
    } else if (plain === undefined && certificatesOf(link.connection) === undefined) {
      refusal = new DpsError('DPS_UNAUTHORIZED', 'No SAS token (SASL PLAIN) and no client certificate.');
    }
    if (refusal === undefined) return registration;
    logRefusal(this.#log, 'DPS AMQP link refused', refusal, { address: String(address) });
    link.close({ condition: DPS_AMQP_CONDITIONS[refusal.code], description: refusal.message });
    return undefined;
  }

  /** The client attached its receiver: the link responses go out on. */
  #senderOpened(sender: Sender): void {
    const address = sender.source?.address;
    sender.set_source({ address });
    if (this.#allowed(sender, address) === undefined) return;
    let replies = this.#replies.get(sender.connection);
    if (replies === undefined) {
      replies = new Map();
      this.#replies.set(sender.connection, replies);
    }
    replies.set(String(address).toLowerCase(), sender);
  }

  /** The client attached its sender: the link requests come in on. */
  #receiverOpened(receiver: Receiver): void {
    const address = receiver.target?.address;
    receiver.set_target({ address });
    this.#allowed(receiver, address);
  }

  async #request(receiver: Receiver, message: Message, delivery: Delivery): Promise<void> {
    const address = receiver.target?.address;
    const registration = parseRegistrationAddress(address);
    if (registration === undefined) return;
    const plain = plainCredentials(receiver.connection);
    const credentials: DpsCredentials = {};
    if (plain?.token !== undefined) credentials.token = plain.token;
    else {
      const chain = certificatesOf(receiver.connection);
      if (chain !== undefined) credentials.clientCertificates = chain;
    }
    const base = { ...registration, credentials };
    const properties = message.application_properties ?? {};
    const operation: unknown = properties['iotdps-operation-type'];
    const correlationId = message.correlation_id;
    try {
      let status: unknown;
      let retryAfter: number | undefined;
      if (operation === REGISTER) {
        const bytes = bodyBytes(message.body);
        if (bytes.length > DPS_MAX_BODY_BYTES) {
          throw new DpsError('DPS_PAYLOAD_TOO_LARGE', `A register request is limited to ${DPS_MAX_BODY_BYTES} bytes.`);
        }
        let body: unknown;
        try {
          body = bytes.toString('utf8').trim() === '' ? undefined : readJson(bytes, { maxBytes: DPS_MAX_BODY_BYTES });
        } catch (cause) {
          throw dpsJsonError(cause, 'The register request body');
        }
        const forced = properties['iotdps-forceRegistration'];
        const result = await this.#dps.register({
          ...base,
          body,
          forceRegistration: forced === true || forced === 'true',
        });
        status = result.operation;
        retryAfter = result.retryAfter;
      } else if (operation === OPERATION_STATUS) {
        const operationId: unknown = properties['iotdps-operation-id'];
        if (typeof operationId !== 'string' || operationId === '') {
          throw new DpsError('DPS_BAD_REQUEST', 'A status query needs the iotdps-operation-id property.');
        }
        const result = await this.#dps.operationStatus({ ...base, operationId });
        status = result;
        if (result.status === 'assigning') retryAfter = this.#dps.retryAfterSeconds;
      } else {
        throw new DpsError('DPS_BAD_REQUEST', `Unknown iotdps-operation-type ${String(operation)}.`);
      }
      delivery.accept();
      this.#replies
        .get(receiver.connection)
        ?.get(String(address).toLowerCase())
        ?.send({
          ...(correlationId === undefined ? {} : { correlation_id: correlationId }),
          ...(retryAfter === undefined ? {} : { application_properties: { 'retry-after': String(retryAfter) } }),
          body: dataSection(Buffer.from(JSON.stringify(status))),
        });
    } catch (error) {
      const refusal =
        error instanceof DpsError ? error : new DpsError('DPS_INTERNAL', 'Internal error.', { cause: error });
      if (refusal.code === 'DPS_INTERNAL') this.#log.error({ err: error }, 'DPS request failed');
      else
        logRefusal(this.#log, 'DPS request refused', refusal, {
          registrationId: registration.registrationId,
          correlationId: idText(correlationId),
        });
      delivery.reject({
        condition: DPS_AMQP_CONDITIONS[refusal.code],
        description: refusal.message,
        info: {
          errorCode: refusal.errorCode,
          ...(refusal.retryAfter === undefined ? {} : { 'retry-after': String(refusal.retryAfter) }),
        },
      });
    }
  }
}
