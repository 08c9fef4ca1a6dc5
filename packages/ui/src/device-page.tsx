/**
 * A device's page: what it is (status, template, where it is registered, its connection), what an
 * operator may do to it, and its views; the overview charts its telemetry, one chart per numeric
 * capability of its template, from the stored values of the last 24 hours and then live from the
 * event stream.
 */
import { useEffect, useState } from 'preact/hooks';
import { onFailure, type Api } from './api.js';
import {
  commandCapabilities,
  displayText,
  propertyCapabilities,
  telemetryCapabilities,
  type TelemetryCapability,
  unitSymbol,
} from './capabilities.js';
import { Commands } from './commands.js';
import { DeviceActions } from './device-actions.js';
import { DeviceConnect } from './device-connect.js';
import { DeviceFaults } from './device-faults.js';
import { templateChoices } from './templates-page.js';
import { Properties } from './properties.js';
import { Timeline } from './timeline.js';
import { formatTime, type DeviceDetails } from './devices-page.js';
import { RawData } from './raw-data.js';
import { deviceHref, type DeviceView } from './routes.js';
import { TelemetryChart } from './telemetry-chart.js';
import { after, appendValue, EMPTY_SERIES, joinPages, type ChartSeries, type SeriesPage } from './chart-series.js';
import { ErrorNote } from './error-note.js';

/** Stored values per request, and requests per capability. */
const HISTORY_PAGE = 10_000;
const MAX_HISTORY_PAGES = 20;
/** Points a chart keeps; older ones leave as new ones come. */
const MAX_POINTS = 100_000;

/** A live telemetry event's value as a point of the chart, if it is one it can draw. */
function livePoint(
  value: unknown,
  timestamp: string,
  enqueuedTime: string,
  creationTime?: string,
): { time: number; value: number; enqueuedTime: number; creationTime: number | null } | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  const time = Date.parse(timestamp);
  if (Number.isNaN(time)) return undefined;
  const created = creationTime === undefined ? NaN : Date.parse(creationTime);
  return { time, value, enqueuedTime: Date.parse(enqueuedTime), creationTime: Number.isNaN(created) ? null : created };
}

const VIEW_NAMES: readonly (readonly [DeviceView, string])[] = [
  ['overview', 'Overview'],
  ['raw', 'Raw data'],
  ['properties', 'Properties'],
  ['commands', 'Commands'],
  ['timeline', 'Timeline and failover'],
  ['faults', 'Faults'],
  ['connect', 'Connect'],
];

/** The capability model id of a template, if it has one. */
function modelIdOf(template: Record<string, unknown> | undefined): string | undefined {
  const model = template?.['capabilityModel'] as { '@id'?: unknown } | undefined;
  return typeof model?.['@id'] === 'string' ? model['@id'] : undefined;
}

const keyOf = (c: TelemetryCapability): string => `${c.component ?? ''}/${c.name}`;

/** A capability's stored values of the last 24 hours, as columns (`…/series`, a page at a time). */
async function history(api: Api, deviceId: string, capability: TelemetryCapability): Promise<ChartSeries> {
  const pages: SeriesPage[] = [];
  const from = new Date(Date.now() - 24 * 3600_000).toISOString();
  let after: number | undefined;
  for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
    const query = new URLSearchParams({ from, top: String(HISTORY_PAGE) });
    if (capability.component !== undefined) query.set('component', capability.component);
    if (after !== undefined) query.set('after', String(after));
    const answer = await api.get<SeriesPage>(
      `/plugboard/devices/${encodeURIComponent(deviceId)}/telemetry/${encodeURIComponent(capability.name)}/series?${query.toString()}`,
    );
    pages.push(answer);
    if (answer.next === undefined) break;
    after = answer.next;
  }
  return joinPages(pages);
}

interface Props {
  api: Api;
  deviceId: string;
  view: DeviceView;
  /** Whether the signed-in role may manage devices (approve, block, delete, see credentials). */
  canOperate: boolean;
  onUnauthorized: () => void;
}

export function DevicePage({ api, deviceId, view, canOperate, onUnauthorized }: Props) {
  const [device, setDevice] = useState<DeviceDetails | undefined>(undefined);
  const [capabilities, setCapabilities] = useState<TelemetryCapability[]>([]);
  const [template, setTemplate] = useState<Record<string, unknown> | undefined>(undefined);
  const [templateName, setTemplateName] = useState<string | undefined>(undefined);
  const [series, setSeries] = useState<Record<string, ChartSeries>>({});
  const [error, setError] = useState<string | undefined>(undefined);
  /** Raised after an action changed the device, to read it (and its template) again. */
  const [revision, setRevision] = useState(0);
  const [templates, setTemplates] = useState<{ id: string; name: string }[]>([]);

  const fail = onFailure(onUnauthorized, setError);

  useEffect(() => {
    if (!canOperate) return;
    templateChoices(api).then(setTemplates).catch(fail);
  }, [api, canOperate]);

  useEffect(() => {
    let current = true;
    setSeries({});
    (async () => {
      const details = await api.get<DeviceDetails>(`/plugboard/devices/${encodeURIComponent(deviceId)}`);
      if (!current) return;
      setDevice(details);
      if (details.template === undefined) return;
      const template = await api.get<Record<string, unknown>>(
        `/api/deviceTemplates/${encodeURIComponent(details.template)}`,
      );
      if (!current) return;
      setTemplate(template);
      setTemplateName(displayText(template['displayName'], details.template));
      const telemetry = telemetryCapabilities(template).filter((c) => c.numeric);
      setCapabilities(telemetry);
      const stored = await Promise.all(telemetry.map((c) => history(api, deviceId, c)));
      if (!current) return;
      // Live values that came while the stored ones loaded stay, after them.
      setSeries((live) => {
        const out: Record<string, ChartSeries> = {};
        telemetry.forEach((c, i) => {
          out[keyOf(c)] = after(stored[i] ?? EMPTY_SERIES, live[keyOf(c)] ?? EMPTY_SERIES);
        });
        return out;
      });
    })().catch(fail);
    return () => {
      current = false;
    };
  }, [api, deviceId, revision]);

  useEffect(() => {
    if (capabilities.length === 0) return undefined;
    return api.events({ deviceId, types: 'telemetry,connected,disconnected' }, (event) => {
      if (event.type !== 'telemetry') {
        api
          .get<DeviceDetails>(`/plugboard/devices/${encodeURIComponent(deviceId)}`)
          .then(setDevice)
          .catch(fail);
        return;
      }
      const data = event.data as {
        component?: string;
        module?: string;
        modeled?: Record<string, unknown>;
        timestamp: string;
        enqueuedTime: string;
        creationTime?: string;
      };
      if (data.module !== undefined) return;
      setSeries((now) => {
        let changed = false;
        const out = { ...now };
        for (const c of capabilities) {
          if (c.component !== data.component) continue;
          const point = livePoint(data.modeled?.[c.name], data.timestamp, data.enqueuedTime, data.creationTime);
          if (point === undefined) continue;
          const key = keyOf(c);
          out[key] = appendValue(out[key] ?? EMPTY_SERIES, point, MAX_POINTS);
          changed = true;
        }
        return changed ? out : now;
      });
    });
  }, [api, deviceId, capabilities]);

  if (error !== undefined) {
    return (
      <section>
        <h1>{deviceId}</h1>
        <ErrorNote message={error} />
      </section>
    );
  }
  if (device === undefined) return <p>Loading {deviceId}…</p>;
  return (
    <section aria-labelledby="device-heading">
      <p>
        <a href="#/devices">← All devices</a>
      </p>
      <h1 id="device-heading">{device.displayName === '' ? device.id : device.displayName}</h1>
      <dl class="facts">
        <dt>Device id</dt>
        <dd>{device.id}</dd>
        <dt>Status</dt>
        <dd class="status">{device.status}</dd>
        <dt>Template</dt>
        <dd>{device.template === undefined ? 'Unassigned' : (templateName ?? device.template)}</dd>
        <dt>Connection</dt>
        <dd class="connection">
          {device.connected ? 'Connected' : 'Disconnected'} since {formatTime(device.connectionStateUpdatedTime)}
        </dd>
        <dt>Last seen</dt>
        <dd>{formatTime(device.lastActivityTime)}</dd>
        <dt>Registered to</dt>
        <dd>{device.registration?.assignedHub ?? '—'}</dd>
      </dl>
      {canOperate ? (
        <DeviceActions
          api={api}
          device={device}
          templates={templates}
          onChanged={() => setRevision((n) => n + 1)}
          onDeleted={() => (location.hash = '#/devices')}
          onUnauthorized={onUnauthorized}
        />
      ) : null}
      <nav class="views" aria-label="Device views">
        {VIEW_NAMES.filter(([v]) => canOperate || (v !== 'connect' && v !== 'faults')).map(([v, name]) => (
          <a href={deviceHref(device.id, v)} aria-current={view === v ? 'page' : undefined}>
            {name}
          </a>
        ))}
      </nav>
      {view === 'raw' ? (
        <>
          <h2>Raw data</h2>
          <RawData api={api} deviceId={device.id} onUnauthorized={onUnauthorized} />
        </>
      ) : view === 'properties' ? (
        <>
          <h2>Properties</h2>
          <Properties
            api={api}
            deviceId={device.id}
            capabilities={propertyCapabilities(template)}
            onUnauthorized={onUnauthorized}
          />
        </>
      ) : view === 'timeline' ? (
        <>
          <h2>Timeline and failover</h2>
          <Timeline api={api} deviceId={device.id} onUnauthorized={onUnauthorized} />
        </>
      ) : view === 'faults' && canOperate ? (
        <>
          <h2>Faults</h2>
          <DeviceFaults api={api} deviceId={device.id} onUnauthorized={onUnauthorized} />
        </>
      ) : view === 'connect' && canOperate ? (
        <>
          <h2>Connect</h2>
          <DeviceConnect
            api={api}
            deviceId={device.id}
            modelId={modelIdOf(template) ?? device.modelId}
            onUnauthorized={onUnauthorized}
          />
        </>
      ) : view === 'commands' ? (
        <>
          <h2>Commands</h2>
          <Commands api={api} deviceId={device.id} capabilities={commandCapabilities(template)} />
        </>
      ) : (
        <Telemetry capabilities={capabilities} series={series} hasTemplate={device.template !== undefined} />
      )}
    </section>
  );
}

/** The overview's telemetry: one chart per numeric capability. */
function Telemetry(props: {
  capabilities: TelemetryCapability[];
  series: Record<string, ChartSeries>;
  hasTemplate: boolean;
}) {
  const { capabilities, series } = props;
  return (
    <>
      <h2>Telemetry</h2>
      {capabilities.length === 0 ? (
        <p>
          {props.hasTemplate ? 'The template models no numeric telemetry.' : 'No template: nothing is modeled yet.'}
        </p>
      ) : (
        capabilities.map((c) => (
          <TelemetryChart
            key={keyOf(c)}
            title={c.component === undefined ? c.displayName : `${c.component} / ${c.displayName}`}
            unit={c.unit === undefined ? undefined : unitSymbol(c.unit)}
            series={series[keyOf(c)] ?? EMPTY_SERIES}
          />
        ))
      )}
    </>
  );
}
