/**
 * A device's properties as Central shows them: each modeled property's value, when it last changed and,
 * for a writable one, its sync state (`pending`, `accepted`, `rejected`, …) and a form built from its
 * schema that sets it (`PATCH …/properties`). Twin changes refresh the view live.
 */
import { useEffect, useState } from 'preact/hooks';
import { onFailure, type Api } from './api.js';
import type { PropertyCapability } from './capabilities.js';
import { formatTime } from './devices-page.js';
import { SchemaForm } from './schema-form-view.js';
import { ErrorNote } from './error-note.js';

type PropertiesView = Record<string, unknown> & {
  $metadata?: Record<string, { lastUpdateTime?: string; syncState?: string; ackDescription?: string }>;
};

function propertiesPath(deviceId: string, component: string | undefined): string {
  const device = `/api/devices/${encodeURIComponent(deviceId)}`;
  return component === undefined
    ? `${device}/properties`
    : `${device}/components/${encodeURIComponent(component)}/properties`;
}

interface Props {
  api: Api;
  deviceId: string;
  capabilities: PropertyCapability[];
  onUnauthorized: () => void;
}

export function Properties({ api, deviceId, capabilities, onUnauthorized }: Props) {
  const components = [...new Set(capabilities.map((c) => c.component))];
  const [views, setViews] = useState<Map<string | undefined, PropertiesView>>(new Map());
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let current = true;
    Promise.all(components.map((c) => api.get<PropertiesView>(propertiesPath(deviceId, c))))
      .then((answers) => {
        if (current) setViews(new Map(components.map((c, i) => [c, answers[i] ?? {}])));
      })
      .catch(onFailure(onUnauthorized, setError));
    return () => {
      current = false;
    };
  }, [api, deviceId, components.join('/'), tick]);

  useEffect(() => api.events({ deviceId, types: 'properties' }, () => setTick((t) => t + 1)), [api, deviceId]);

  if (capabilities.length === 0) return <p>The template models no properties.</p>;
  return (
    <>
      <ErrorNote message={error} />
      <table class="properties">
        <thead>
          <tr>
            <th scope="col">Property</th>
            <th scope="col">Value</th>
            <th scope="col">Last updated</th>
            <th scope="col">Sync state</th>
            <th scope="col">Set</th>
          </tr>
        </thead>
        <tbody>
          {capabilities.map((c) => {
            const view = views.get(c.component);
            const meta = view?.$metadata?.[c.name];
            const value = view?.[c.name];
            const key = `${c.component ?? ''}-${c.name}`;
            return (
              <tr key={key} data-property={c.component === undefined ? c.name : `${c.component}.${c.name}`}>
                <th scope="row">{c.component === undefined ? c.displayName : `${c.component} / ${c.displayName}`}</th>
                <td class="value">{value === undefined ? '—' : JSON.stringify(value)}</td>
                <td>{formatTime(meta?.lastUpdateTime)}</td>
                <td class="sync-state">
                  {c.writable ? (meta?.syncState ?? '—') : 'read-only'}
                  {meta?.ackDescription === undefined ? null : <span class="muted"> {meta.ackDescription}</span>}
                </td>
                <td>
                  {c.writable ? (
                    <SchemaForm
                      id={`property-${key}`}
                      schema={c.schema}
                      label={c.displayName}
                      submitLabel="Set"
                      onSubmit={async (v) => {
                        await api.request('PATCH', propertiesPath(deviceId, c.component), { [c.name]: v });
                        setTick((t) => t + 1);
                      }}
                    />
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}
