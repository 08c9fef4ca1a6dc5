/**
 * Fault injection for one device (`POST /plugboard/faults` with its `deviceId`; the README's "Break things on purpose"): pick
 * a condition of protocol.md §7.5 — a hub refusing or dropping its connections, a stalled or throttled
 * telemetry path, DPS refusing or delaying its registrations — and how long it lasts (attempts, seconds,
 * or until removed); the device's faults, active and ended, with how often each matched, and a button
 * that ends one. The server checks every field and its refusal is shown as it answers.
 */
import { useEffect, useState } from 'preact/hooks';
import { useAction } from './action.js';
import { onFailure, type Api } from './api.js';
import { formatTime } from './devices-page.js';
import { ErrorNote } from './error-note.js';
import { useLiveRefresh } from './live.js';

/** Each condition and what the device sees (protocol.md §7.5). */
const CONDITIONS: readonly (readonly [string, string])[] = [
  ['unreachable', 'Hub unreachable: connections end without an answer'],
  ['tokenExpired', 'Token expired: 401, CONNACK 5'],
  ['deviceDisabled', 'Device disabled (moved to another hub): CONNACK 3'],
  ['deviceBlocked', 'Device blocked by an operator: CONNACK 3'],
  ['internalError', 'Hub internal error: 500, CONNACK 3'],
  ['throttled', 'Hub throttling connections: 429, CONNACK 3'],
  ['drop', 'Connection accepted, then dropped at once'],
  ['latency', 'Hub answers late (latency)'],
  ['stall', 'Telemetry acknowledged late (stall)'],
  ['throttling', 'Telemetry over the rate shaped, then refused (429002)'],
  ['dpsUnauthorized', 'DPS refuses the registration: 401002'],
  ['dpsBlocked', 'DPS: device blocked, 400209'],
  ['dpsThrottled', 'DPS throttling: 429 with Retry-After'],
  ['dpsInternalError', 'DPS internal error: 500'],
  ['dpsLatency', 'DPS answers late (latency)'],
];
const WITH_LATENCY = new Set(['latency', 'dpsLatency', 'stall']);

/** A fault as `/plugboard/faults` lists it. */
interface Fault {
  id: string;
  condition: string;
  deviceId?: string;
  attempts?: number;
  durationSeconds?: number;
  latencyMs?: number;
  createdAt: string;
  endsAt?: string;
  endedAt?: string;
  matched: number;
}

/** The field's text as a whole number, undefined when empty, NaN when it is not one. */
function wholeNumber(text: string): number | undefined {
  if (text.trim() === '') return undefined;
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
}

interface Props {
  api: Api;
  deviceId: string;
  onUnauthorized: () => void;
}

export function DeviceFaults({ api, deviceId, onUnauthorized }: Props) {
  const [faults, setFaults] = useState<Fault[] | undefined>(undefined);
  const [condition, setCondition] = useState('tokenExpired');
  const [attempts, setAttempts] = useState('1');
  const [seconds, setSeconds] = useState('');
  const [latency, setLatency] = useState('2000');
  const { busy, error, setError, run } = useAction(onUnauthorized);
  const [reload, setReload] = useState(0);
  // A fault matches when the device connects or registers: follow its connections.
  const live = useLiveRefresh(api, { deviceId, types: 'connected,disconnected' }, 500);
  const fail = onFailure(onUnauthorized, setError);

  useEffect(() => {
    api
      .get<{ value: Fault[] }>('/plugboard/faults')
      .then((answer) => setFaults(answer.value.filter((f) => f.deviceId?.toLowerCase() === deviceId.toLowerCase())))
      .catch(fail);
  }, [api, deviceId, reload, live]);

  const act = (action: () => Promise<unknown>): Promise<void> => run(action, () => setReload((n) => n + 1));

  const inject = (): void => {
    const count = wholeNumber(attempts);
    const duration = wholeNumber(seconds);
    const wait = wholeNumber(latency);
    for (const [name, value] of [
      ['Attempts', count],
      ['Seconds', duration],
      ['Latency', WITH_LATENCY.has(condition) ? wait : undefined],
    ] as const) {
      if (value !== undefined && Number.isNaN(value)) {
        setError(`${name} must be a whole number.`);
        return;
      }
    }
    void act(() =>
      api.request('POST', '/plugboard/faults', {
        condition,
        deviceId,
        ...(count === undefined ? {} : { attempts: count }),
        ...(duration === undefined ? {} : { durationSeconds: duration }),
        ...(WITH_LATENCY.has(condition) && wait !== undefined ? { latencyMs: wait } : {}),
      }),
    );
  };

  const describe = (name: string): string => CONDITIONS.find(([c]) => c === name)?.[1] ?? name;
  return (
    <>
      <form
        class="fault-form"
        aria-label="Inject a fault"
        onSubmit={(e) => {
          e.preventDefault();
          inject();
        }}
      >
        <label>
          Condition
          <select value={condition} onChange={(e) => setCondition((e.target as HTMLSelectElement).value)}>
            {CONDITIONS.map(([value, text]) => (
              <option value={value}>{text}</option>
            ))}
          </select>
        </label>
        <label>
          Attempts
          <input
            inputMode="numeric"
            value={attempts}
            placeholder="until removed"
            onInput={(e) => setAttempts((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Seconds
          <input
            inputMode="numeric"
            value={seconds}
            placeholder="until removed"
            onInput={(e) => setSeconds((e.target as HTMLInputElement).value)}
          />
        </label>
        {WITH_LATENCY.has(condition) ? (
          <label>
            Latency (ms)
            <input
              inputMode="numeric"
              value={latency}
              onInput={(e) => setLatency((e.target as HTMLInputElement).value)}
            />
          </label>
        ) : null}
        <button type="submit" disabled={busy}>
          Inject fault
        </button>
      </form>
      <ErrorNote message={error} />
      {faults === undefined ? (
        <p>Loading the faults…</p>
      ) : faults.length === 0 ? (
        <p>No faults for this device.</p>
      ) : (
        <table class="faults">
          <thead>
            <tr>
              <th scope="col">Condition</th>
              <th scope="col">Ends</th>
              <th scope="col">Matched</th>
              <th scope="col">Since</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {faults.map((f) => (
              <tr key={f.id} data-fault-id={f.id}>
                <td>{describe(f.condition)}</td>
                <td>
                  {[
                    f.attempts === undefined ? undefined : `after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}`,
                    f.endsAt === undefined ? undefined : `at ${formatTime(f.endsAt)}`,
                  ]
                    .filter((t) => t !== undefined)
                    .join(', ') || 'when removed'}
                </td>
                <td class="matched">{f.matched}</td>
                <td>{formatTime(f.createdAt)}</td>
                <td class="state">
                  {f.endedAt === undefined ? (
                    <>
                      Active{' '}
                      <button
                        type="button"
                        disabled={busy}
                        aria-label={`Remove the ${f.condition} fault`}
                        onClick={() =>
                          void act(() => api.request('DELETE', `/plugboard/faults/${encodeURIComponent(f.id)}`))
                        }
                      >
                        Remove
                      </button>
                    </>
                  ) : (
                    `Ended ${formatTime(f.endedAt)}`
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
