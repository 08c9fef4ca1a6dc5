/**
 * One device template: its model id, and the capabilities of its root interface and of each component
 * (kind, name, schema, unit, whether a property is writable), with the template's export.
 */
import { useEffect, useState } from 'preact/hooks';
import { onFailure, type Api } from './api.js';
import { displayText, templateComponents, unitSymbol } from './capabilities.js';
import { ErrorNote } from './error-note.js';
import { exportTemplate, type DeviceTemplate } from './templates-page.js';

interface Props {
  api: Api;
  templateId: string;
  onUnauthorized: () => void;
}

export function TemplatePage({ api, templateId, onUnauthorized }: Props) {
  const [template, setTemplate] = useState<DeviceTemplate | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);

  useEffect(() => {
    setTemplate(undefined);
    api
      .get<DeviceTemplate>(`/api/deviceTemplates/${encodeURIComponent(templateId)}`)
      .then(setTemplate, onFailure(onUnauthorized, setError));
  }, [api, templateId]);

  if (template === undefined) {
    return (
      <section aria-labelledby="template-heading">
        <h1 id="template-heading">{templateId}</h1>
        <ErrorNote message={error} />
        {error === undefined ? <p>Loading the template…</p> : null}
      </section>
    );
  }
  const name = displayText(template.displayName, template['@id']);
  return (
    <section aria-labelledby="template-heading">
      <p>
        <a href="#/templates">All templates</a>
      </p>
      <h1 id="template-heading">{name}</h1>
      <dl class="facts">
        <dt>Template id</dt>
        <dd>
          <code>{template['@id']}</code>
        </dd>
        <dt>Model id</dt>
        <dd>
          <code>{template.capabilityModel?.['@id'] ?? '—'}</code>
        </dd>
      </dl>
      <p>
        <button type="button" onClick={() => exportTemplate(template)}>
          Export {name}
        </button>
      </p>
      {templateComponents(template).map((component) => {
        const title = component.name === undefined ? 'Root interface' : `Component ${component.name}`;
        return (
          <section class="component" data-component={component.name ?? ''} aria-label={title}>
            <h2>
              {title}
              {component.displayName !== component.name ? <span class="muted"> {component.displayName}</span> : null}
            </h2>
            <p class="muted">
              <code>{component.interfaceId}</code>
            </p>
            {component.capabilities.length === 0 ? (
              <p>No capabilities.</p>
            ) : (
              <table class="capabilities">
                <thead>
                  <tr>
                    <th scope="col">Capability</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Schema</th>
                    <th scope="col">Unit</th>
                    <th scope="col">Writable</th>
                  </tr>
                </thead>
                <tbody>
                  {component.capabilities.map((c) => (
                    <tr data-capability={c.name}>
                      <th scope="row">
                        {c.displayName}
                        {c.displayName === c.name ? null : <span class="muted"> {c.name}</span>}
                      </th>
                      <td>{c.kind}</td>
                      <td>{c.schema}</td>
                      <td>{c.unit === undefined ? '—' : <abbr title={c.unit}>{unitSymbol(c.unit)}</abbr>}</td>
                      <td>{c.writable === undefined ? '—' : c.writable ? 'Yes' : 'No'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        );
      })}
    </section>
  );
}
