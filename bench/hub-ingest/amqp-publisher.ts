/**
 * A publishing device over AMQP 1.0/TLS, as azure-iot-device-amqp connects and sends (protocol.md §5):
 * one rhea connection (no SASL layer), a `$cbs` put-token with the device's SAS, then a sender link to
 * `/devices/{id}/messages/events` carrying each message as `AmqpMessage.fromMessage` builds it (`to`,
 * `content_type`, `content_encoding`, application properties, `dt-subject` as a message annotation, the
 * body as one data section). A message counts as acknowledged when the hub settles it `accepted`.
 */
import { isIP } from 'node:net';
import rhea, { type Connection, type Delivery, type EventContext, type Message, type Sender } from 'rhea';
import { sdkMessageProperties, type Publisher, type PublisherOptions } from './publisher.js';

/** Resolves when `wait` says so; rejects when `wait` fails or the connection errs or drops first. */
function until(connection: Connection, wait: (resolve: () => void, reject: (e: Error) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (context: EventContext): void => {
      const error = context.connection.error ?? context.error;
      reject(new Error(`AMQP connection failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`));
    };
    connection.once('connection_error', fail);
    connection.once('disconnected', fail);
    wait(() => {
      connection.removeListener('connection_error', fail);
      connection.removeListener('disconnected', fail);
      resolve();
    }, reject);
  });
}

/** `$cbs` put-token for `audience`; resolves on status 200. */
function putToken(connection: Connection, audience: string, token: string): Promise<void> {
  const replies = connection.open_receiver({ source: { address: '$cbs' } });
  const requests = connection.open_sender({ target: { address: '$cbs' } });
  return until(connection, (resolve, reject) => {
    replies.on('message', (context) => {
      const status = context.message?.application_properties?.['status-code'] as unknown;
      if (status === 200) resolve();
      else reject(new Error(`put-token answered ${String(status)}`));
    });
    requests.once('sendable', () => {
      requests.send({
        message_id: rhea.generate_uuid(),
        reply_to: 'cbs',
        to: '$cbs',
        application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: audience },
        body: token,
      });
    });
  });
}

export async function connectAmqp(options: PublisherOptions): Promise<Publisher> {
  const { target, ca, device, shape, onBroken } = options;
  if (target.amqpPort === undefined || target.hostName === undefined) throw new Error('the hub has no AMQP port');
  const container = rhea.create_container({ id: device.deviceId });
  const connection = container.connect({
    host: target.host,
    port: target.amqpPort,
    transport: 'tls',
    hostname: target.hostName,
    ...(isIP(target.hostName) === 0 ? { servername: target.hostName } : {}),
    reconnect: false,
    ca,
    idle_time_out: options.keepaliveSeconds * 1000,
  } as unknown as Parameters<typeof container.connect>[0]);
  await until(connection, (resolve) => connection.once('connection_open', () => resolve()));
  await putToken(connection, `${target.hostName}/devices/${encodeURIComponent(device.deviceId)}`, device.password);

  const to = `/devices/${encodeURIComponent(device.deviceId)}/messages/events`;
  const sender: Sender = connection.open_sender({ target: { address: to } });
  await until(connection, (resolve, reject) => {
    sender.once('sender_open', () => resolve());
    sender.once('sender_error', (context) =>
      reject(new Error(`D2C link refused: ${JSON.stringify(context.sender?.error)}`)),
    );
  });

  // As the SDK's SenderLink: messages wait for link credit, each settled delivery calls its sender back.
  const waiting: Array<{ body: string; createdAt: string; done: (error?: Error) => void }> = [];
  const pending = new Map<Delivery, (error?: Error) => void>();
  const settle = (context: EventContext, error?: Error): void => {
    const delivery = context.delivery;
    if (delivery === undefined) return;
    const done = pending.get(delivery);
    pending.delete(delivery);
    done?.(error);
  };
  const flush = (): void => {
    while (waiting.length > 0 && sender.sendable()) {
      const next = waiting.shift() as (typeof waiting)[number];
      const message: Message = {
        to,
        body: rhea.message.data_section(Buffer.from(next.body, 'utf8')),
      };
      const sdk = sdkMessageProperties(shape, next.createdAt);
      if (sdk !== undefined) {
        message.content_type = sdk.contentType;
        message.content_encoding = sdk.contentEncoding;
        message.application_properties = sdk.application;
        if (sdk.component !== undefined) message.message_annotations = { 'dt-subject': sdk.component };
      }
      pending.set(sender.send(message), next.done);
    }
  };
  sender.on('sendable', flush);
  sender.on('accepted', (context) => settle(context));
  sender.on('rejected', (context) =>
    settle(context, new Error(`rejected: ${JSON.stringify(context.delivery?.remote_state)}`)),
  );
  sender.on('released', (context) => settle(context, new Error('released')));

  let closing = false;
  connection.on('disconnected', () => {
    if (!closing) onBroken(new Error(`${device.deviceId} lost its AMQP connection`));
  });
  connection.on('connection_error', (context) => {
    if (!closing) onBroken(new Error(`${device.deviceId}: ${JSON.stringify(context.connection.error)}`));
  });

  return {
    deviceId: device.deviceId,
    send(body, createdAt, done) {
      waiting.push({ body, createdAt, done });
      flush();
    },
    close() {
      closing = true;
      return new Promise((resolve) => {
        connection.once('connection_close', () => resolve());
        connection.once('disconnected', () => resolve());
        connection.close();
      });
    },
  };
}
