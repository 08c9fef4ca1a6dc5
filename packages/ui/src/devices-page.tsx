/**
 * The device list: each device's status, template, connection state and last activity, a page at a time
 * (`GET /plugboard/devices`, searched and filtered on the server, so 10,000 devices list as fast as ten);
 * connects and disconnects refresh it live. An operator creates devices here.
 */
import { useEffect, useState } from 'preact/hooks';
import { onFailure, type Api } from './api.js';
import { useLiveRefresh } from './live.js';
import { deviceHref } from './routes.js';
import { ErrorNote } from './error-note.js';
import { NewDeviceForm } from './new-device-form.js';
import { templateChoices } from './templates-page.js';

/** A device as `/plugboard/devices` lists it. */
export interface DeviceDetails {
  id: string;
  displayName: string;
  status: string;
  template?: string;
  connected: boolean;
  lastActivityTime?: string;
  connectionStateUpdatedTime?: string;
  hub?: string;
  modelId?: string;
  registration?: { assignedHub: string; initialHub?: string; status: string; substatus?: string };
}

const STATUSES = ['provisioned', 'registered', 'unassociated', 'waitingForApproval', 'blocked'];
const PAGE = 50;

/** Local time to the millisecond: device developers compare creation and enqueued times. */
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  fractionalSecondDigits: 3,
  hour12: false,
});

export function formatTime(time: string | undefined): string {
  if (time === undefined || time === '' || time.startsWith('0001-')) return '—';
  const at = new Date(time);
  return Number.isNaN(at.getTime()) ? time : TIME_FORMAT.format(at);
}

/** A labelled drop-down filter whose first choice is "any". */
function Choice(props: {
  label: string;
  value: string;
  any: string;
  options: { value: string; text: string }[];
  onChange: (value: string) => void;
}) {
  return (
    <label>
      {props.label}
      <select value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        <option value="">{props.any}</option>
        {props.options.map((o) => (
          <option value={o.value}>{o.text}</option>
        ))}
      </select>
    </label>
  );
}

interface Props {
  api: Api;
  /** Whether the signed-in role may create devices. */
  canOperate: boolean;
  onUnauthorized: () => void;
}

export function DevicesPage({ api, canOperate, onUnauthorized }: Props) {
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState('');
  const [template, setTemplate] = useState('');
  /** The `after` of each page shown so far (the first page has none). */
  const [pages, setPages] = useState<(string | undefined)[]>([undefined]);
  const [devices, setDevices] = useState<DeviceDetails[] | undefined>(undefined);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [templates, setTemplates] = useState<{ id: string; name: string }[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  // Connects and disconnects change the list: refresh it, at most once a second.
  const tick = useLiveRefresh(api, { types: 'connected,disconnected' }, 1000);
  const after = pages.at(-1);

  const fail = onFailure(onUnauthorized, setError);

  useEffect(() => {
    templateChoices(api).then(setTemplates).catch(fail);
  }, [api]);

  useEffect(() => {
    const query = new URLSearchParams({ top: String(PAGE) });
    if (search.trim() !== '') query.set('search', search.trim());
    if (status !== '') query.set('status', status);
    if (template !== '') query.set('template', template);
    if (after !== undefined) query.set('after', after);
    let current = true;
    api
      .get<{ value: DeviceDetails[]; next?: string }>(`/plugboard/devices?${query.toString()}`)
      .then((page) => {
        if (!current) return;
        setDevices(page.value);
        setNext(page.next);
        setError(undefined);
      })
      .catch(fail);
    return () => {
      current = false;
    };
  }, [api, search, status, template, after, tick]);

  const templateName = (id: string | undefined): string =>
    id === undefined ? 'Unassigned' : (templates.find((t) => t.id === id)?.name ?? id);
  const restart = (): void => setPages([undefined]);

  return (
    <section aria-labelledby="devices-heading">
      <h1 id="devices-heading">Devices</h1>
      {canOperate ? <NewDeviceForm api={api} templates={templates} onUnauthorized={onUnauthorized} /> : null}
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input
            type="search"
            value={search}
            placeholder="Device id or name"
            onInput={(e) => {
              setSearch((e.target as HTMLInputElement).value);
              restart();
            }}
          />
        </label>
        <Choice
          label="Status"
          value={status}
          any="Any status"
          options={STATUSES.map((s) => ({ value: s, text: s }))}
          onChange={(value) => {
            setStatus(value);
            restart();
          }}
        />
        <Choice
          label="Template"
          value={template}
          any="Any template"
          options={templates.map((t) => ({ value: t.id, text: t.name }))}
          onChange={(value) => {
            setTemplate(value);
            restart();
          }}
        />
      </form>
      <ErrorNote message={error} />
      {devices === undefined ? (
        <p>Loading devices…</p>
      ) : devices.length === 0 ? (
        <p>No devices match.</p>
      ) : (
        <table class="devices">
          <caption class="visually-hidden">Devices, {devices.length} on this page</caption>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Status</th>
              <th scope="col">Template</th>
              <th scope="col">Connection</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {devices.map((d) => (
              <tr key={d.id} data-device-id={d.id}>
                <td>
                  <a href={deviceHref(d.id)}>{d.displayName === '' ? d.id : d.displayName}</a>
                  {d.displayName !== '' && d.displayName !== d.id ? <span class="muted"> {d.id}</span> : null}
                </td>
                <td class="status">{d.status}</td>
                <td>{templateName(d.template)}</td>
                <td class="connection">{d.connected ? 'Connected' : 'Disconnected'}</td>
                <td>{formatTime(d.lastActivityTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Device pages">
        <button type="button" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>
          Previous page
        </button>
        <span>Page {pages.length}</span>
        <button type="button" disabled={next === undefined} onClick={() => setPages([...pages, next])}>
          Next page
        </button>
      </nav>
    </section>
  );
}
