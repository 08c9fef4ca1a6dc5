/**
 * The UI's client of the application's REST API, on the page's own origin: JSON requests with the
 * signed-in API token (`Authorization`, as every client sends it), the coded errors the API answers,
 * and the live event stream (`GET /plugboard/events`, server-sent events) read through `fetch`, since
 * `EventSource` cannot send the token.
 */

/** The Central API version the UI speaks. */
export const API_VERSION = '2022-07-31';

/** A refusal of the API: its HTTP status, the error code and the message that says why. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** One live application event: its type (`telemetry`, `properties`, `connected`, …) and its data. */
export interface LiveEvent {
  type: string;
  data: Record<string, unknown>;
}

/**
 * Where a failed request goes: a refused token (401) signs the user out, anything else is shown.
 *
 * @example
 * api.get('/plugboard/devices').catch(onFailure(onUnauthorized, setError));
 */
export function onFailure(onUnauthorized: () => void, show: (message: string) => void): (error: unknown) => void {
  return (error) => {
    if (error instanceof ApiError && error.status === 401) onUnauthorized();
    else show(error instanceof Error ? error.message : String(error));
  };
}

async function errorOf(response: Response): Promise<ApiError> {
  let code: string | undefined;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code;
    if (body.error?.message !== undefined) message = body.error.message;
  } catch {
    // Not JSON: the status says it.
  }
  return new ApiError(response.status, code, message);
}

/**
 * The API as one signed-in user reaches it.
 *
 * @example
 * const api = new Api(token);
 * const { value } = await api.get<{ value: unknown[] }>('/plugboard/devices?top=50');
 */
export class Api {
  constructor(readonly token: string) {}

  /** `path` with the API version added for `/api/…` routes. */
  #url(path: string): string {
    if (!path.startsWith('/api/')) return path;
    return `${path}${path.includes('?') ? '&' : '?'}api-version=${API_VERSION}`;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: this.token };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(this.#url(path), {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw await errorOf(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /**
   * Follows the live event stream (`query`: `deviceId`, `types`) and calls `onEvent` for each event;
   * reconnects after a drop. Returns the function that stops it.
   */
  events(query: Record<string, string>, onEvent: (event: LiveEvent) => void): () => void {
    const controller = new AbortController();
    const url = `/plugboard/events?${new URLSearchParams(query).toString()}`;
    const follow = async (): Promise<void> => {
      while (!controller.signal.aborted) {
        try {
          const response = await fetch(url, { headers: { authorization: this.token }, signal: controller.signal });
          if (!response.ok || response.body === null) throw await errorOf(response);
          await readEvents(response.body, onEvent);
        } catch {
          if (controller.signal.aborted) return;
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    };
    follow().catch(() => undefined);
    return () => controller.abort();
  }
}

/** Reads server-sent events (`event:` and `data:` lines, a blank line ends each) until the stream ends. */
async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (event: LiveEvent) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    let end = buffered.indexOf('\n\n');
    while (end >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let type = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      if (data !== '') {
        try {
          onEvent({ type, data: JSON.parse(data) as Record<string, unknown> });
        } catch {
          // A line that is not JSON (a comment, a heartbeat) carries no event.
        }
      }
      end = buffered.indexOf('\n\n');
    }
  }
}
