/**
 * The application as its devices reach it: the ID scope and provisioning host, the enrollment groups
 * with their keys (copy buttons), and the internal hubs with their registered devices and connections.
 */
import { useEffect, useState } from 'preact/hooks';
import { onFailure, type Api } from './api.js';
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

export function ApplicationPage({ api, onUnauthorized }: { api: Api; onUnauthorized: () => void }) {
  const [app, setApp] = useState<Application | undefined>(undefined);
  const [groups, setGroups] = useState<EnrollmentGroup[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    Promise.all([
      api.get<Application>('/plugboard/application'),
      api.get<{ value: EnrollmentGroup[] }>('/api/enrollmentGroups'),
    ])
      .then(([application, list]) => {
        setApp(application);
        setGroups(list.value);
      })
      .catch(onFailure(onUnauthorized, setError));
  }, [api]);

  return (
    <section aria-labelledby="application-heading">
      <h1 id="application-heading">Application</h1>
      <ErrorNote message={error} />
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
          <h2>Internal hubs</h2>
          <table class="hubs">
            <thead>
              <tr>
                <th scope="col">Hub</th>
                <th scope="col">Host name</th>
                <th scope="col">Devices</th>
                <th scope="col">Connections</th>
                <th scope="col">State</th>
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
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
