/**
 * The device templates: the list (`GET /api/deviceTemplates`, every page), importing a DTDL file
 * dropped on the page or picked (`PUT /api/deviceTemplates/{id}`, builders and admins only: an
 * operator sees no import), and each template's export as the JSON file the API answers.
 */
import { useEffect, useState } from 'preact/hooks';
import { useAction } from './action.js';
import { onFailure, type Api } from './api.js';
import { displayText, templateComponents } from './capabilities.js';
import { ErrorNote } from './error-note.js';
import { templateHref } from './routes.js';
import { templateFromDtdl, TemplateImportError } from './template-import.js';

/** A template as the API answers it. */
export interface DeviceTemplate {
  '@id': string;
  displayName?: unknown;
  capabilityModel?: { '@id'?: string };
  [key: string]: unknown;
}

/** Every template, following `nextLink`. */
export async function allTemplates(api: Api): Promise<DeviceTemplate[]> {
  const out: DeviceTemplate[] = [];
  let path: string | undefined = '/api/deviceTemplates';
  while (path !== undefined) {
    const page: { value: DeviceTemplate[]; nextLink?: string } = await api.get(path);
    out.push(...page.value);
    const next = page.nextLink === undefined ? undefined : new URL(page.nextLink);
    path = next === undefined ? undefined : next.pathname + next.search;
  }
  return out;
}

/** Every template as a choice: its id and display name (for the pickers of the device views). */
export async function templateChoices(api: Api): Promise<{ id: string; name: string }[]> {
  return (await allTemplates(api)).map((t) => ({ id: t['@id'], name: displayText(t.displayName, t['@id']) }));
}

/** Saves `template` as a JSON file named after its id. */
export function exportTemplate(template: DeviceTemplate): void {
  const blob = new Blob([`${JSON.stringify(template, null, 2)}\n`], { type: 'application/json' });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = `${template['@id'].replace(/[^A-Za-z0-9_.-]+/g, '_')}.json`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** How many capabilities a template has, over its root and components. */
function capabilityCount(template: DeviceTemplate): number {
  return templateComponents(template).reduce((sum, c) => sum + c.capabilities.length, 0);
}

interface Props {
  api: Api;
  canBuild: boolean;
  onUnauthorized: () => void;
}

export function TemplatesPage({ api, canBuild, onUnauthorized }: Props) {
  const [templates, setTemplates] = useState<DeviceTemplate[] | undefined>(undefined);
  const { busy, error, setError, run } = useAction(onUnauthorized);
  const [imported, setImported] = useState<string | undefined>(undefined);
  const [dragging, setDragging] = useState(false);
  const [reload, setReload] = useState(0);
  const fail = onFailure(onUnauthorized, setError);

  useEffect(() => {
    allTemplates(api).then(setTemplates, fail);
  }, [api, reload]);

  const importFile = async (file: File): Promise<void> => {
    setError(undefined);
    setImported(undefined);
    let template;
    try {
      template = templateFromDtdl(await file.text());
    } catch (cause) {
      setError(`${file.name}: ${cause instanceof TemplateImportError ? cause.message : String(cause)}`);
      return;
    }
    const { id, body } = template;
    await run(
      () => api.request<DeviceTemplate>('PUT', `/api/deviceTemplates/${encodeURIComponent(id)}`, body),
      (saved) => {
        setImported(`Imported ${displayText(saved.displayName, saved['@id'])} (${saved['@id']}).`);
        setReload((n) => n + 1);
      },
    );
  };

  return (
    <section aria-labelledby="templates-heading">
      <h1 id="templates-heading">Device templates</h1>
      {canBuild ? (
        <div
          class={dragging ? 'drop-zone dragging' : 'drop-zone'}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragging(false);
            const file = e.dataTransfer?.files[0];
            if (file !== undefined) void importFile(file);
          }}
        >
          <label>
            Import a DTDL file (an interface, a model with its components, or a template export): drop it here or pick
            it
            <input
              type="file"
              accept=".json,application/json"
              disabled={busy}
              onChange={(e) => {
                const input = e.target as HTMLInputElement;
                const file = input.files?.[0];
                if (file !== undefined) void importFile(file).finally(() => (input.value = ''));
              }}
            />
          </label>
        </div>
      ) : (
        <p class="muted">Your role may not import or change templates: ask a builder or an administrator.</p>
      )}
      {imported === undefined ? null : (
        <p class="done" role="status">
          {imported}
        </p>
      )}
      <ErrorNote message={error} />
      {templates === undefined ? (
        <p>Loading templates…</p>
      ) : templates.length === 0 ? (
        <p>No templates yet.</p>
      ) : (
        <table class="templates">
          <thead>
            <tr>
              <th scope="col">Template</th>
              <th scope="col">Model id</th>
              <th scope="col">Capabilities</th>
              <th scope="col">Export</th>
            </tr>
          </thead>
          <tbody>
            {templates.map((t) => (
              <tr key={t['@id']} data-template-id={t['@id']}>
                <td>
                  <a href={templateHref(t['@id'])}>{displayText(t.displayName, t['@id'])}</a>
                </td>
                <td>
                  <code>{t.capabilityModel?.['@id'] ?? '—'}</code>
                </td>
                <td>{capabilityCount(t)}</td>
                <td>
                  <button
                    type="button"
                    aria-label={`Export ${displayText(t.displayName, t['@id'])}`}
                    onClick={() => exportTemplate(t)}
                  >
                    Export
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
