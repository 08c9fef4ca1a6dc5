/**
 * What an operator does to one device (`PATCH /api/devices/{id}`, `DELETE /api/devices/{id}`): approve
 * one waiting for approval, block or unblock it (`enabled`), assign its template, delete it after a
 * confirmation. A token whose role may not operate sees none of it.
 */
import { useState } from 'preact/hooks';
import { useAction } from './action.js';
import type { Api } from './api.js';
import type { DeviceDetails } from './devices-page.js';
import { ErrorNote } from './error-note.js';

interface Props {
  api: Api;
  device: DeviceDetails;
  templates: { id: string; name: string }[];
  onChanged: () => void;
  onDeleted: () => void;
  onUnauthorized: () => void;
}

export function DeviceActions({ api, device, templates, onChanged, onDeleted, onUnauthorized }: Props) {
  const [confirming, setConfirming] = useState(false);
  const [template, setTemplate] = useState(device.template ?? '');
  const { busy, error, run } = useAction(onUnauthorized);
  const path = `/api/devices/${encodeURIComponent(device.id)}`;
  const patch = (changes: Record<string, unknown>): Promise<void> =>
    run(() => api.request('PATCH', path, changes), onChanged);

  const blocked = device.status === 'blocked';
  const waiting = device.status === 'waitingForApproval';
  return (
    <div class="device-actions">
      <div class="actions" role="group" aria-label="Device actions">
        {waiting ? (
          <button type="button" disabled={busy} onClick={() => void patch({ enabled: true })}>
            Approve
          </button>
        ) : null}
        {blocked ? (
          <button type="button" disabled={busy} onClick={() => void patch({ enabled: true })}>
            Unblock
          </button>
        ) : waiting ? null : (
          <button type="button" disabled={busy} onClick={() => void patch({ enabled: false })}>
            Block
          </button>
        )}
        <form
          class="assign-template"
          onSubmit={(e) => {
            e.preventDefault();
            if (template !== '') void patch({ template });
          }}
        >
          <label>
            Template
            <select value={template} onChange={(e) => setTemplate((e.target as HTMLSelectElement).value)}>
              <option value="">Unassigned</option>
              {templates.map((t) => (
                <option value={t.id}>{t.name}</option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={busy || template === '' || template === device.template}>
            Assign template
          </button>
        </form>
        {confirming ? null : (
          <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>
            Delete
          </button>
        )}
      </div>
      {confirming ? (
        <div class="confirm" role="alertdialog" aria-labelledby="delete-question">
          <p id="delete-question">
            Delete {device.id}? Its hub identity (with its twin), its DPS registration and its own enrollment go with
            it; with group credentials it can register again.
          </p>
          <button
            type="button"
            class="danger"
            disabled={busy}
            onClick={() => void run(() => api.request('DELETE', path), onDeleted)}
          >
            Delete {device.id}
          </button>{' '}
          <button type="button" disabled={busy} onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      ) : null}
      <ErrorNote message={error} />
    </div>
  );
}
