/**
 * A device's timeline and high availability: where DPS has it registered (and a failover's original hub
 * and revert time), the manual failover and failback buttons (`POST /system/iothub/devices/{id}/
 * manual-failover|manual-failback`, as `az iot central device manual-failover` sends them), and what
 * the server saw the device do — provisioning, connects, refusals with their codes, disconnects — with
 * the time since each previous attempt and the retry summary. Connects and disconnects refresh it live.
 */
import { useEffect, useState } from 'preact/hooks';
import { onFailure, type Api } from './api.js';
import { formatTime, type DeviceDetails } from './devices-page.js';
import { useLiveRefresh } from './live.js';
import { ErrorNote } from './error-note.js';

interface TimelineEntry {
  sequence: number;
  at: string;
  kind: string;
  outcome?: string;
  hub?: string;
  transport?: string;
  code?: string;
  reason?: string;
  sincePreviousAttemptMs?: number;
}

interface RetrySummary {
  attempts: number;
  refusals: number;
  retryIntervalsMs: number[];
}

type Details = DeviceDetails & { failover?: { originalHub?: string; revertAt?: string } };

function seconds(ms: number | undefined): string {
  return ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`;
}

interface Props {
  api: Api;
  deviceId: string;
  onUnauthorized: () => void;
}

export function Timeline({ api, deviceId, onUnauthorized }: Props) {
  const [details, setDetails] = useState<Details | undefined>(undefined);
  const [entries, setEntries] = useState<TimelineEntry[]>([]);
  const [summary, setSummary] = useState<RetrySummary | undefined>(undefined);
  const [ttl, setTtl] = useState('30');
  const [answer, setAnswer] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const live = useLiveRefresh(api, { deviceId, types: 'connected,disconnected' }, 300);
  const [tick, setTick] = useState(0);
  const device = `/plugboard/devices/${encodeURIComponent(deviceId)}`;

  const fail = onFailure(onUnauthorized, setError);

  useEffect(() => {
    let current = true;
    Promise.all([
      api.get<Details>(device),
      api.get<{ value: TimelineEntry[]; summary: RetrySummary }>(`${device}/timeline`),
    ])
      .then(([d, t]) => {
        if (!current) return;
        setDetails(d);
        setEntries([...t.value].reverse());
        setSummary(t.summary);
      })
      .catch(fail);
    return () => {
      current = false;
    };
  }, [api, deviceId, tick, live]);

  const act = async (path: string, body?: unknown): Promise<void> => {
    setError(undefined);
    setAnswer(undefined);
    try {
      const result = await api.request<{ message?: string }>('POST', path, body);
      setAnswer(result.message ?? 'Done.');
      setTick((t) => t + 1);
    } catch (e) {
      fail(e);
    }
  };
  const failover = (event: Event): void => {
    event.preventDefault();
    const minutes = Number(ttl);
    if (!Number.isFinite(minutes) || minutes <= 0) {
      setError('Revert after must be a number of minutes above 0.');
      return;
    }
    void act(`/system/iothub/devices/${encodeURIComponent(deviceId)}/manual-failover`, { ttl: minutes });
  };

  const registration = details?.registration;
  return (
    <>
      <h3>Registration</h3>
      <dl class="facts registration">
        <dt>Assigned hub</dt>
        <dd class="assigned-hub">{registration?.assignedHub ?? '—'}</dd>
        <dt>First hub</dt>
        <dd>{registration?.initialHub ?? '—'}</dd>
        <dt>DPS status</dt>
        <dd class="substatus">
          {registration === undefined
            ? '—'
            : `${registration.status}${registration.substatus === undefined ? '' : ` (${registration.substatus})`}`}
        </dd>
        <dt>Failover</dt>
        <dd>
          {details?.failover === undefined
            ? 'none'
            : `from ${details.failover.originalHub ?? '?'}, reverts at ${formatTime(details.failover.revertAt)}`}
        </dd>
      </dl>
      <form class="failover" onSubmit={failover}>
        <label>
          Revert after (minutes)
          <input
            type="text"
            inputMode="decimal"
            value={ttl}
            onInput={(e) => setTtl((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" disabled={registration === undefined || details?.failover !== undefined}>
          Fail over
        </button>
        <button
          type="button"
          disabled={details?.failover === undefined}
          onClick={() => void act(`/system/iothub/devices/${encodeURIComponent(deviceId)}/manual-failback`)}
        >
          Fail back
        </button>
      </form>
      {answer === undefined ? null : (
        <p class="answer" role="status">
          {answer}
        </p>
      )}
      <ErrorNote message={error} />
      <h3>What the server saw</h3>
      {summary === undefined ? null : (
        <p class="summary">
          {summary.attempts} attempts, {summary.refusals} refused
          {summary.retryIntervalsMs.length === 0
            ? ''
            : `; retried after ${summary.retryIntervalsMs.map((ms) => seconds(ms)).join(', ')}`}
        </p>
      )}
      <table class="timeline">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Hub</th>
            <th scope="col">Transport</th>
            <th scope="col">Code and reason</th>
            <th scope="col">Since previous attempt</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.sequence} data-kind={e.kind} data-outcome={e.outcome}>
              <td>{formatTime(e.at)}</td>
              <td>{e.outcome === undefined ? e.kind : `${e.kind}: ${e.outcome}`}</td>
              <td>{e.hub ?? '—'}</td>
              <td>{e.transport ?? '—'}</td>
              <td>{[e.code, e.reason].filter((p) => p !== undefined).join(' — ') || '—'}</td>
              <td>{seconds(e.sincePreviousAttemptMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
