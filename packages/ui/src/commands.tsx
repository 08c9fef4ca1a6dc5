/**
 * A device's commands: for each one of its template, a form built from the request's schema that runs
 * it (`POST …/commands/{name}`), the device's response and code, and the command's history.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.js';
import type { CommandCapability } from './capabilities.js';
import { SchemaForm } from './schema-form-view.js';

interface DeviceCommand {
  id?: string;
  request?: unknown;
  response?: unknown;
  responseCode?: number;
  status?: string;
  error?: string;
}

function commandPath(deviceId: string, c: CommandCapability): string {
  const device = `/api/devices/${encodeURIComponent(deviceId)}`;
  const where = c.component === undefined ? device : `${device}/components/${encodeURIComponent(c.component)}`;
  return `${where}/commands/${encodeURIComponent(c.name)}`;
}

function Command({ api, deviceId, command }: { api: Api; deviceId: string; command: CommandCapability }) {
  const [history, setHistory] = useState<DeviceCommand[]>([]);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    api
      .get<{ value: DeviceCommand[] }>(commandPath(deviceId, command))
      .then((answer) => setHistory(answer.value))
      .catch(() => setHistory([]));
  }, [api, deviceId, command, tick]);
  const run = async (request: unknown): Promise<void> => {
    await api.request<DeviceCommand>('POST', commandPath(deviceId, command), request === undefined ? {} : { request });
    setTick((t) => t + 1);
  };
  const key = `${command.component ?? ''}-${command.name}`;
  const latest = history[0];
  return (
    <section class="command" data-command={command.name} aria-labelledby={`command-${key}`}>
      <h3 id={`command-${key}`}>
        {command.component === undefined ? command.displayName : `${command.component} / ${command.displayName}`}
      </h3>
      {command.request === undefined ? (
        <form onSubmit={(e) => (e.preventDefault(), void run(undefined))}>
          <button type="submit">Run</button>
        </form>
      ) : (
        <SchemaForm
          id={`command-${key}-form`}
          schema={command.request.schema}
          label={command.request.displayName}
          submitLabel="Run"
          onSubmit={run}
        />
      )}
      {latest === undefined ? null : (
        <div class="response" aria-live="polite">
          <p>
            Latest: <strong class="response-code">{latest.responseCode ?? latest.status ?? '—'}</strong>
            {latest.error === undefined ? null : <span class="error"> {latest.error}</span>}
          </p>
          <pre class="response-body">{JSON.stringify(latest.response ?? null, null, 2)}</pre>
        </div>
      )}
      {history.length > 1 ? (
        <details>
          <summary>History ({history.length})</summary>
          <ol>
            {history.map((h) => (
              <li>
                {JSON.stringify(h.request ?? null)} → {h.responseCode ?? h.status ?? '—'}{' '}
                {JSON.stringify(h.response ?? null)}
              </li>
            ))}
          </ol>
        </details>
      ) : null}
    </section>
  );
}

export function Commands({
  api,
  deviceId,
  capabilities,
}: {
  api: Api;
  deviceId: string;
  capabilities: CommandCapability[];
}) {
  if (capabilities.length === 0) return <p>The template models no commands.</p>;
  return (
    <>
      {capabilities.map((c) => (
        <Command api={api} deviceId={deviceId} command={c} />
      ))}
    </>
  );
}
