/**
 * How a device connects: its ID scope, the provisioning host and its keys (`GET
 * /api/devices/{id}/credentials`: the key derived from the enrollment group for the device id, or its
 * own enrollment's), each with a copy button, and ready-to-paste code for the official Node SDK and for
 * `@plugboard/device` with those values filled in.
 */
import { useEffect, useState } from 'preact/hooks';
import { onFailure, type Api } from './api.js';
import { CopyButton } from './copy-button.js';
import { officialSdkSnippet, plugboardDeviceSnippet, type ConnectValues } from './connect-snippets.js';
import { ErrorNote } from './error-note.js';

interface Credentials {
  idScope: string;
  symmetricKey?: { primaryKey: string; secondaryKey: string };
  x509?: unknown;
}

interface Props {
  api: Api;
  deviceId: string;
  modelId: string | undefined;
  onUnauthorized: () => void;
}

export function DeviceConnect({ api, deviceId, modelId, onUnauthorized }: Props) {
  const [credentials, setCredentials] = useState<Credentials | undefined>(undefined);
  const [host, setHost] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    Promise.all([
      api.get<Credentials>(`/api/devices/${encodeURIComponent(deviceId)}/credentials`),
      api.get<{ provisioningHost: string }>('/plugboard/application'),
    ]).then(
      ([c, application]) => {
        setCredentials(c);
        setHost(application.provisioningHost);
      },
      onFailure(onUnauthorized, setError),
    );
  }, [api, deviceId]);

  if (error !== undefined) return <ErrorNote message={error} />;
  if (credentials === undefined || host === undefined) return <p>Loading the credentials…</p>;
  const key = credentials.symmetricKey;
  const values: ConnectValues | undefined =
    key === undefined
      ? undefined
      : {
          provisioningHost: host,
          idScope: credentials.idScope,
          deviceId,
          deviceKey: key.primaryKey,
          ...(modelId === undefined ? {} : { modelId }),
        };
  return (
    <>
      <table class="credentials">
        <tbody>
          {(
            [
              ['ID scope', credentials.idScope],
              ['Provisioning host', host],
              ['Device id', deviceId],
              ['Primary key', key?.primaryKey],
              ['Secondary key', key?.secondaryKey],
            ] as const
          ).map(([what, value]) => (
            <tr>
              <th scope="row">{what}</th>
              <td>{value === undefined ? '—' : <code class="key">{value}</code>}</td>
              <td>{value === undefined ? null : <CopyButton value={value} what={what} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {values === undefined ? (
        <p>This device authenticates with an X.509 certificate: its certificate and key are not kept here.</p>
      ) : (
        <>
          <p class="muted">
            The keys are derived from the enrollment group's for this device id (or are its own enrollment's): keep them
            as secret as the group key.
          </p>
          {(
            [
              ['The official Azure IoT SDK for Node.js', officialSdkSnippet(values)],
              ['@plugboard/device', plugboardDeviceSnippet(values)],
            ] as const
          ).map(([title, code]) => (
            <section class="snippet" aria-label={title}>
              <h3>
                {title} <CopyButton value={code} what={`the ${title} code`} />
              </h3>
              <pre class="snippet">
                <code>{code}</code>
              </pre>
            </section>
          ))}
        </>
      )}
    </>
  );
}
