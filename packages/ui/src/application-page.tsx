/**
 * The application as its devices reach it: the ID scope and provisioning host, the enrollment groups
 * with their keys (copy buttons), and the internal hubs with their registered devices and connections.
 * An administrator adds a hub (`POST /plugboard/hubs`) and removes one (`DELETE /plugboard/hubs/{name}`
 * after a confirmation, with a drain period in which it refuses devices so they reprovision).
 */
import { useEffect, useState } from 'preact/hooks';
import { useAction } from './action.js';
import { ApiError, onFailure, type Api } from './api.js';
import { CopyButton } from './copy-button.js';
import { ErrorNote } from './error-note.js';

interface Application {
  idScope: string;
  provisioningHost: string;
  hubs: { name: string; hostName: string; devices: number; connections: number; state: string }[];
}

interface EnrollmentGroup {
  id: string;
  displayName?: string;
  type?: string;
  enabled?: boolean;
  attestation?: { type: string; symmetricKey?: { primaryKey?: string; secondaryKey?: string } };
}

interface HubRemoval {
  name: string;
  moved: Record<string, number>;
  closesAt: string;
}

interface Props {
  api: Api;
  /** Whether the signed-in role may change the hubs (administrators). */
  canAdminister: boolean;
  onUnauthorized: () => void;
}

export function ApplicationPage({ api, canAdminister, onUnauthorized }: Props) {
  const [app, setApp] = useState<Application | undefined>(undefined);
  /** The enrollment groups; undefined when the role may not read them. */
  const [groups, setGroups] = useState<EnrollmentGroup[] | undefined>([]);
  const [reload, setReload] = useState(0);
  const [removing, setRemoving] = useState<string | undefined>(undefined);
  const [drain, setDrain] = useState('30');
  const [done, setDone] = useState<string | undefined>(undefined);
  // Loading and the hub buttons report through the same action state.
  const action = useAction(onUnauthorized);
  const busy = action.busy;

  const act = (change: () => Promise<string>): Promise<void> => {
    setDone(undefined);
    return action.run(change, (message) => {
      setDone(message);
      setRemoving(undefined);
      setReload((n) => n + 1);
    });
  };
  const addHub = (): Promise<void> =>
    act(async () => {
      const hub = await api.request<{ name: string; hostName: string }>('POST', '/plugboard/hubs', {});
      return `Added ${hub.name} (${hub.hostName}).`;
    });
  const removeHub = (name: string): Promise<void> =>
    act(async () => {
      const seconds = /^\d+$/.test(drain.trim()) ? drain.trim() : '30';
      const removal = await api.request<HubRemoval>(
        'DELETE',
        `/plugboard/hubs/${encodeURIComponent(name)}?drainSeconds=${seconds}`,
      );
      const moved = Object.entries(removal.moved)
        .map(([hub, n]) => `${n} to ${hub}`)
        .join(', ');
      return `Removing ${removal.name}: devices moved ${moved === '' ? 'nowhere (it had none)' : moved}; it closes at ${new Date(removal.closesAt).toLocaleTimeString()}.`;
    });

  useEffect(() => {
    const fail = onFailure(onUnauthorized, action.setError);
    api.get<Application>('/plugboard/application').then(setApp, fail);
    // The groups hold the keys: a role that may not read them (403) sees that said instead.
    api.get<{ value: EnrollmentGroup[] }>('/api/enrollmentGroups').then(
      (list) => setGroups(list.value),
      (cause: unknown) => (cause instanceof ApiError && cause.status === 403 ? setGroups(undefined) : fail(cause)),
    );
  }, [api, reload]);

  return (
    <section aria-labelledby="application-heading">
      <h1 id="application-heading">Application</h1>
      <ErrorNote message={action.error} />
      {app === undefined ? (
        <p>Loading the application…</p>
      ) : (
        <>
          <dl class="facts">
            <dt>ID scope</dt>
            <dd>
              <code class="id-scope">{app.idScope}</code> <CopyButton value={app.idScope} what="ID scope" />
            </dd>
            <dt>Provisioning host</dt>
            <dd>
              <code>{app.provisioningHost}</code>
            </dd>
          </dl>
          <h2>Enrollment groups</h2>
          {groups === undefined ? (
            <p class="muted">Your role may not see the enrollment groups and their keys.</p>
          ) : (
            <table class="groups">
              <thead>
                <tr>
                  <th scope="col">Group</th>
                  <th scope="col">Attestation</th>
                  <th scope="col">Primary key</th>
                  <th scope="col">Secondary key</th>
                </tr>
              </thead>
              <tbody>
                {groups.map((g) => {
                  const keys = g.attestation?.symmetricKey;
                  return (
                    <tr key={g.id} data-group={g.id}>
                      <th scope="row">{g.displayName ?? g.id}</th>
                      <td>{g.attestation?.type ?? '—'}</td>
                      {[keys?.primaryKey, keys?.secondaryKey].map((key, i) => (
                        <td>
                          {key === undefined ? (
                            '—'
                          ) : (
                            <>
                              <code class="key">{key}</code>{' '}
                              <CopyButton value={key} what={`${g.id} ${i === 0 ? 'primary' : 'secondary'} key`} />
                            </>
                          )}
                        </td>
                      ))}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
          <h2>Internal hubs</h2>
          <table class="hubs">
            <thead>
              <tr>
                <th scope="col">Hub</th>
                <th scope="col">Host name</th>
                <th scope="col">Devices</th>
                <th scope="col">Connections</th>
                <th scope="col">State</th>
                {canAdminister ? <th scope="col">Remove</th> : null}
              </tr>
            </thead>
            <tbody>
              {app.hubs.map((h) => (
                <tr key={h.name} data-hub={h.name}>
                  <th scope="row">{h.name}</th>
                  <td>
                    <code>{h.hostName}</code>
                  </td>
                  <td class="devices">{h.devices}</td>
                  <td>{h.connections}</td>
                  <td>{h.state}</td>
                  {canAdminister ? (
                    <td>
                      <button
                        type="button"
                        disabled={busy || app.hubs.length < 2}
                        aria-label={`Remove ${h.name}`}
                        onClick={() => setRemoving(h.name)}
                      >
                        Remove
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
          {removing === undefined ? null : (
            <div class="confirm" role="alertdialog" aria-labelledby="remove-hub-question">
              <p id="remove-hub-question">
                Remove {removing}? Its devices move to the other hubs; for the drain period it refuses them (CONNACK 3),
                so they go back to DPS, which sends them to their new hub.
              </p>
              <label>
                Drain seconds
                <input
                  inputMode="numeric"
                  value={drain}
                  onInput={(e) => setDrain((e.target as HTMLInputElement).value)}
                />
              </label>{' '}
              <button type="button" disabled={busy} onClick={() => void removeHub(removing)}>
                Remove {removing}
              </button>{' '}
              <button type="button" disabled={busy} onClick={() => setRemoving(undefined)}>
                Cancel
              </button>
            </div>
          )}
          {canAdminister ? (
            <p>
              <button type="button" disabled={busy} onClick={() => void addHub()}>
                Add a hub
              </button>
            </p>
          ) : null}
          {done === undefined ? null : (
            <p class="done" role="status">
              {done}
            </p>
          )}
        </>
      )}
    </section>
  );
}
