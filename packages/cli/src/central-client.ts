/**
 * The one typed client of the Central REST API the CLI's Central commands use: where the application
 * is (`plugboard.json` in the data directory, or `--app-url` and `--token`), the API token, the CA to
 * trust, and one method per route — each answers the parsed body or throws a {@link CliError} with the
 * application's error code and message.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { CliError, readManifest } from './client.js';

/** Where to find the application: a data directory, or an explicit URL and token. */
export interface CentralTarget {
  dataDir: string;
  appUrl?: string;
  token?: string;
}

/** A device as the REST API shows it. */
export interface CentralDevice {
  id: string;
  etag: string;
  displayName: string;
  template?: string;
  enabled: boolean;
  provisioned: boolean;
  simulated: boolean;
  organizations: string[];
}

/** The body of an answer that is a JSON object. */
export type JsonRecord = Record<string, unknown>;

const GA = 'api-version=2022-07-31';

function segment(value: string): string {
  // Template ids keep their `:` and `;` raw, as az sends them.
  return encodeURIComponent(value).replace(/%3A/gi, ':').replace(/%3B/gi, ';');
}

/**
 * A connection to one application.
 *
 * @example
 * const client = CentralClient.connect({ dataDir: './.plugboard' });
 * const devices = await client.listDevices();
 */
export class CentralClient {
  readonly #url: URL;
  readonly #address: string;
  readonly #token: string;
  readonly #ca: string | undefined;

  private constructor(url: URL, address: string, token: string, ca: string | undefined) {
    this.#url = url;
    this.#address = address;
    this.#token = token;
    this.#ca = ca;
  }

  /**
   * From `--app-url`/`--token` when given (trusting the data directory's CA if there is one, else the
   * system's and NODE_EXTRA_CA_CERTS), else from `plugboard.json` in the data directory.
   */
  static connect(target: CentralTarget): CentralClient {
    if (target.appUrl !== undefined) {
      if (target.token === undefined) {
        throw new CliError('CLI_INVALID_ARGUMENT', '--app-url needs --token (an API token of the application).');
      }
      let url: URL;
      try {
        url = new URL(target.appUrl);
      } catch (cause) {
        throw new CliError('CLI_INVALID_ARGUMENT', `--app-url ${target.appUrl} is not a URL.`, { cause });
      }
      let ca: string | undefined;
      try {
        ca = readFileSync(readManifest(target.dataDir).caCertificate, 'utf8');
      } catch {
        ca = undefined;
      }
      return new CentralClient(url, url.hostname, target.token, ca);
    }
    const manifest = readManifest(target.dataDir);
    if (manifest.api === undefined || manifest.central === undefined) {
      throw new CliError('CLI_NOT_RUNNING', 'plugboard.json has no Central application: restart `plugboard up`.');
    }
    return new CentralClient(
      new URL(manifest.api.baseUrl),
      manifest.central.address,
      target.token ?? manifest.api.token,
      readFileSync(manifest.caCertificate, 'utf8'),
    );
  }

  /** Where and how a request goes: the application's address, its host name for TLS and `Host`, the token. */
  #connection(method: string, path: string, headers: Record<string, string>): RequestOptions {
    return {
      host: this.#address,
      servername: /^[\d.]+$|:/.test(this.#url.hostname) ? undefined : this.#url.hostname,
      port: this.#url.port === '' ? 443 : Number(this.#url.port),
      method,
      path,
      headers: { host: this.#url.host, authorization: this.#token, ...headers },
      ...(this.#ca === undefined ? {} : { ca: this.#ca }),
    };
  }

  /** One call; `path` is below the application URL and carries its own query (api-version included). */
  request(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          ...this.#connection(method, path, payload === undefined ? {} : { 'content-type': 'application/json' }),
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              parsed = text;
            }
            if ((res.statusCode ?? 500) >= 400) {
              const error =
                (parsed as { error?: { code?: string; message?: string }; code?: string } | undefined) ?? {};
              reject(
                new CliError(
                  'CLI_REQUEST_FAILED',
                  `${method} ${path.split('?')[0] ?? path} failed (${res.statusCode}${error.code === undefined ? '' : ` ${error.code}`}): ${error.error?.message ?? text}`,
                ),
              );
              return;
            }
            resolve(parsed);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (cause) =>
        reject(
          new CliError(
            'CLI_NOT_RUNNING',
            `Cannot reach the application at ${this.#url.origin}: is \`plugboard up\` running?`,
            {
              cause,
            },
          ),
        ),
      );
      req.end(payload);
    });
  }

  /**
   * Streams the application's events (`GET /plugboard/events`) to `onEvent` until `signal` aborts or
   * the application closes the stream; resolves then.
   */
  events(
    query: { deviceId?: string; types?: string[] },
    onEvent: (event: JsonRecord) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const params = new URLSearchParams();
    if (query.deviceId !== undefined) params.set('deviceId', query.deviceId);
    if (query.types !== undefined) params.set('types', query.types.join(','));
    const path = `/plugboard/events${params.size > 0 ? `?${params.toString()}` : ''}`;
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ ...this.#connection('GET', path, { accept: 'text/event-stream' }), signal }, (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('end', () => {
            let message = text;
            try {
              message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
            } catch {
              // Not JSON: keep the text.
            }
            reject(new CliError('CLI_REQUEST_FAILED', `GET /plugboard/events failed (${res.statusCode}): ${message}`));
          });
          return;
        }
        let buffer = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block
              .split('\n')
              .filter((line) => line.startsWith('data: '))
              .map((line) => line.slice(6))
              .join('\n');
            if (data === '') continue;
            let event: JsonRecord;
            try {
              event = JSON.parse(data) as JsonRecord;
            } catch {
              continue; // Not an event this client understands.
            }
            onEvent(event);
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      req.on('error', (cause) => {
        if (signal.aborted) resolve();
        else reject(new CliError('CLI_NOT_RUNNING', `Cannot reach the application at ${this.#url.origin}.`, { cause }));
      });
      req.end();
    });
  }

  /** Every item of a collection, following `nextLink` to the end. */
  async #all(path: string): Promise<JsonRecord[]> {
    const items: JsonRecord[] = [];
    let next: string | undefined = path;
    for (let pages = 0; next !== undefined && pages < 10_000; pages++) {
      const page = (await this.request('GET', next)) as { value?: JsonRecord[]; nextLink?: string };
      items.push(...(page.value ?? []));
      next =
        page.nextLink === undefined
          ? undefined
          : (() => {
              const url = new URL(page.nextLink);
              return `${url.pathname}${url.search}`;
            })();
    }
    return items;
  }

  // ---- devices
  listDevices(): Promise<CentralDevice[]> {
    return this.#all(`/api/devices?${GA}`) as unknown as Promise<CentralDevice[]>;
  }
  getDevice(id: string): Promise<CentralDevice> {
    return this.request('GET', `/api/devices/${segment(id)}?${GA}`) as Promise<CentralDevice>;
  }
  /** Plugboard's device details (status, hub, connection). */
  deviceDetails(id: string): Promise<JsonRecord> {
    return this.request('GET', `/plugboard/devices/${segment(id)}`) as Promise<JsonRecord>;
  }
  putDevice(id: string, body: JsonRecord): Promise<CentralDevice> {
    return this.request('PUT', `/api/devices/${segment(id)}?${GA}`, body) as Promise<CentralDevice>;
  }
  patchDevice(id: string, body: JsonRecord): Promise<CentralDevice> {
    return this.request('PATCH', `/api/devices/${segment(id)}?${GA}`, body) as Promise<CentralDevice>;
  }
  async deleteDevice(id: string): Promise<void> {
    await this.request('DELETE', `/api/devices/${segment(id)}?${GA}`);
  }
  credentials(id: string): Promise<JsonRecord> {
    return this.request('GET', `/api/devices/${segment(id)}/credentials?${GA}`) as Promise<JsonRecord>;
  }
  properties(id: string, at: CapabilityPath = {}): Promise<JsonRecord> {
    return this.request('GET', `${devicePath(id, at)}/properties?${GA}`) as Promise<JsonRecord>;
  }
  updateProperties(id: string, body: JsonRecord, at: CapabilityPath = {}): Promise<JsonRecord> {
    return this.request('PATCH', `${devicePath(id, at)}/properties?${GA}`, body) as Promise<JsonRecord>;
  }
  runCommand(id: string, name: string, body: JsonRecord, at: CapabilityPath = {}): Promise<JsonRecord> {
    return this.request('POST', `${devicePath(id, at)}/commands/${segment(name)}?${GA}`, body) as Promise<JsonRecord>;
  }
  commandHistory(id: string, name: string, at: CapabilityPath = {}): Promise<JsonRecord[]> {
    return this.#all(`${devicePath(id, at)}/commands/${segment(name)}?${GA}`);
  }
  telemetry(id: string, name: string, at: CapabilityPath = {}): Promise<JsonRecord> {
    return this.request('GET', `${devicePath(id, at)}/telemetry/${segment(name)}?${GA}`) as Promise<JsonRecord>;
  }

  /** A capability's values over a time range (Plugboard's view), following `next` to the end or `max`. */
  async telemetryHistory(
    id: string,
    name: string,
    query: CapabilityPath & { from?: string; to?: string; max?: number },
  ): Promise<JsonRecord[]> {
    const params = new URLSearchParams();
    if (query.component !== undefined) params.set('component', query.component);
    if (query.module !== undefined) params.set('module', query.module);
    if (query.from !== undefined) params.set('from', query.from);
    if (query.to !== undefined) params.set('to', query.to);
    return this.#pages(`/plugboard/devices/${segment(id)}/telemetry/${segment(name)}`, params, query.max);
  }
  /** Stored messages with their modeled and unmodeled values (Plugboard's raw view). */
  rawMessages(id: string, query: { from?: string; to?: string; max?: number }): Promise<JsonRecord[]> {
    const params = new URLSearchParams();
    if (query.from !== undefined) params.set('from', query.from);
    if (query.to !== undefined) params.set('to', query.to);
    return this.#pages(`/plugboard/devices/${segment(id)}/rawMessages`, params, query.max);
  }
  async #pages(path: string, params: URLSearchParams, max = 10_000): Promise<JsonRecord[]> {
    const items: JsonRecord[] = [];
    for (;;) {
      params.set('top', String(Math.min(1000, max - items.length)));
      const page = (await this.request('GET', `${path}?${params.toString()}`)) as {
        value: JsonRecord[];
        next?: number;
      };
      items.push(...page.value);
      if (page.next === undefined || items.length >= max) return items;
      params.set('after', String(page.next));
    }
  }

  /** `POST /system/iothub/devices/{id}/manual-failover` with `{"ttl"}` (or `{}` for the default). */
  manualFailover(id: string, ttlMinutes?: number): Promise<JsonRecord> {
    return this.request(
      'POST',
      `/system/iothub/devices/${segment(id)}/manual-failover`,
      ttlMinutes === undefined ? {} : { ttl: ttlMinutes },
    ) as Promise<JsonRecord>;
  }
  /** `POST /system/iothub/devices/{id}/manual-failback`. */
  manualFailback(id: string): Promise<JsonRecord> {
    return this.request('POST', `/system/iothub/devices/${segment(id)}/manual-failback`) as Promise<JsonRecord>;
  }

  /** The device twin as its hub has it (`GET /system/iothub/devices/{id}/get-twin`). */
  twin(id: string): Promise<JsonRecord> {
    return this.request(
      'GET',
      `/system/iothub/devices/${segment(id)}/get-twin?extendedInfo=true`,
    ) as Promise<JsonRecord>;
  }
  /** A device's timeline after sequence `after`, with its retry summary (Plugboard's view). */
  timeline(id: string, after = 0): Promise<{ value: JsonRecord[]; summary: JsonRecord }> {
    return this.request('GET', `/plugboard/devices/${segment(id)}/timeline?after=${after}`) as Promise<{
      value: JsonRecord[];
      summary: JsonRecord;
    }>;
  }

  // ---- fault injection (Plugboard's own routes)
  listFaults(): Promise<JsonRecord[]> {
    return (this.request('GET', '/plugboard/faults') as Promise<{ value: JsonRecord[] }>).then((r) => r.value);
  }
  addFault(body: JsonRecord): Promise<JsonRecord> {
    return this.request('POST', '/plugboard/faults', body) as Promise<JsonRecord>;
  }
  clearFaults(): Promise<JsonRecord> {
    return this.request('DELETE', '/plugboard/faults') as Promise<JsonRecord>;
  }
  async removeFault(id: string): Promise<void> {
    await this.request('DELETE', `/plugboard/faults/${segment(id)}`);
  }

  // ---- internal hubs (Plugboard's own routes)
  listHubs(): Promise<JsonRecord[]> {
    return (this.request('GET', '/plugboard/hubs') as Promise<{ value: JsonRecord[] }>).then((r) => r.value);
  }
  addHub(body: JsonRecord): Promise<JsonRecord> {
    return this.request('POST', '/plugboard/hubs', body) as Promise<JsonRecord>;
  }
  removeHub(name: string, drainSeconds?: number): Promise<JsonRecord> {
    const query = drainSeconds === undefined ? '' : `?drainSeconds=${drainSeconds}`;
    return this.request('DELETE', `/plugboard/hubs/${segment(name)}${query}`) as Promise<JsonRecord>;
  }

  // ---- device templates
  listTemplates(): Promise<JsonRecord[]> {
    return this.#all(`/api/deviceTemplates?${GA}`);
  }
  getTemplate(id: string): Promise<JsonRecord> {
    return this.request('GET', `/api/deviceTemplates/${segment(id)}?${GA}`) as Promise<JsonRecord>;
  }
  putTemplate(id: string, body: unknown): Promise<JsonRecord> {
    return this.request('PUT', `/api/deviceTemplates/${segment(id)}?${GA}`, body) as Promise<JsonRecord>;
  }
  patchTemplate(id: string, body: unknown): Promise<JsonRecord> {
    return this.request('PATCH', `/api/deviceTemplates/${segment(id)}?${GA}`, body) as Promise<JsonRecord>;
  }
  async deleteTemplate(id: string): Promise<void> {
    await this.request('DELETE', `/api/deviceTemplates/${segment(id)}?${GA}`);
  }

  // ---- enrollment groups
  listEnrollmentGroups(): Promise<JsonRecord[]> {
    return this.#all(`/api/enrollmentGroups?${GA}`);
  }
  getEnrollmentGroup(id: string): Promise<JsonRecord> {
    return this.request('GET', `/api/enrollmentGroups/${segment(id)}?${GA}`) as Promise<JsonRecord>;
  }
  putEnrollmentGroup(id: string, body: JsonRecord): Promise<JsonRecord> {
    return this.request('PUT', `/api/enrollmentGroups/${segment(id)}?${GA}`, body) as Promise<JsonRecord>;
  }
  putEnrollmentCertificate(id: string, entry: string, certificate: string): Promise<JsonRecord> {
    return this.request('PUT', `/api/enrollmentGroups/${segment(id)}/certificates/${segment(entry)}?${GA}`, {
      certificate,
    }) as Promise<JsonRecord>;
  }
  async deleteEnrollmentGroup(id: string): Promise<void> {
    await this.request('DELETE', `/api/enrollmentGroups/${segment(id)}?${GA}`);
  }

  // ---- API tokens
  listApiTokens(): Promise<JsonRecord[]> {
    return this.#all(`/api/apiTokens?${GA}`);
  }
  getApiToken(id: string): Promise<JsonRecord> {
    return this.request('GET', `/api/apiTokens/${segment(id)}?${GA}`) as Promise<JsonRecord>;
  }
  putApiToken(id: string, body: JsonRecord): Promise<JsonRecord> {
    return this.request('PUT', `/api/apiTokens/${segment(id)}?${GA}`, body) as Promise<JsonRecord>;
  }
  async deleteApiToken(id: string): Promise<void> {
    await this.request('DELETE', `/api/apiTokens/${segment(id)}?${GA}`);
  }
}

/** Where a capability is: in a component (absent: the root), of an IoT Edge module (absent: the device). */
export interface CapabilityPath {
  component?: string;
  module?: string;
}

/** `/api/devices/{id}[/modules/{m}][/components/{c}]`. */
function devicePath(id: string, at: CapabilityPath): string {
  const module = at.module === undefined ? '' : `/modules/${segment(at.module)}`;
  const component = at.component === undefined ? '' : `/components/${segment(at.component)}`;
  return `/api/devices/${segment(id)}${module}${component}`;
}
