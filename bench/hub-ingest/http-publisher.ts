/**
 * A publishing device over the device HTTPS API, as azure-iot-device-http sends (protocol.md §4): one
 * `POST /devices/{id}/messages/events?api-version=…` per message with `iothub-to`, the SAS in
 * `Authorization`, content type and encoding as `iothub-contenttype`/`iothub-contentencoding`,
 * application properties as `iothub-app-*` headers and `dt-subject` for a component. Requests reuse
 * keep-alive sockets (Node's default agent does since Node 19): as many per device as it keeps messages in
 * flight. 204 = stored.
 */
import { isIP } from 'node:net';
import { Agent, request } from 'node:https';
import { API_VERSION } from './ipc.js';
import { sdkMessageProperties, type Publisher, type PublisherOptions } from './publisher.js';

/** The User-Agent azure-iot-device-http sends (its version and the platform). */
const USER_AGENT = `azure-iot-device/1.18.3 (node ${process.version}; ${process.platform}; ${process.arch})`;

export function connectHttp(options: PublisherOptions): Promise<Publisher> {
  const { target, ca, device, shape } = options;
  if (target.httpsPort === undefined || target.hostName === undefined) throw new Error('the hub has no HTTPS port');
  const agent = new Agent({
    keepAlive: true,
    ca,
    ...(isIP(target.hostName) === 0 ? { servername: target.hostName } : {}),
  });
  const id = encodeURIComponent(device.deviceId);
  const path = `/devices/${id}/messages/events`;
  const base: Record<string, string> = {
    Host: target.hostName,
    'iothub-to': path,
    'User-Agent': USER_AGENT,
    Authorization: device.password,
  };
  const publisher: Publisher = {
    deviceId: device.deviceId,
    send(body, createdAt, done) {
      const headers: Record<string, string | number> = { ...base, 'Content-Length': Buffer.byteLength(body) };
      const sdk = sdkMessageProperties(shape, createdAt);
      if (sdk !== undefined) {
        headers['iothub-contenttype'] = sdk.contentType;
        headers['iothub-contentencoding'] = sdk.contentEncoding;
        for (const [key, value] of Object.entries(sdk.application)) headers[`iothub-app-${key}`] = value;
        if (sdk.component !== undefined) headers['dt-subject'] = sdk.component;
      }
      const req = request(
        {
          host: target.host,
          port: target.httpsPort,
          method: 'POST',
          path: `${path}?api-version=${API_VERSION}`,
          headers,
          agent,
        },
        (response) => {
          response.resume();
          response.once('end', () => {
            if (response.statusCode === 204) done();
            else done(new Error(`${device.deviceId}: HTTP ${response.statusCode ?? '?'}`));
          });
        },
      );
      req.once('error', (error) => done(error));
      req.end(body);
    },
    close() {
      agent.destroy();
      return Promise.resolve();
    },
  };
  // HTTPS is stateless: nothing to open; the warm-up's requests open the device's sockets.
  return Promise.resolve(publisher);
}
