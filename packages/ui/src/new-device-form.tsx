/**
 * Creating a device (`PUT /api/devices/{id}`, enabled, with a display name and template if given),
 * as an operator does before the device first registers; then its connect view, with the keys and
 * code it needs. The id is checked here as Central checks it, so a bad one is refused before sending.
 */
import { useState } from 'preact/hooks';
import { useAction } from './action.js';
import type { Api } from './api.js';
import { ErrorNote } from './error-note.js';
import { deviceHref } from './routes.js';

/**
 * A device id is its DPS registration id (the server's `REGISTRATION_ID_PATTERN`, packages/server/src/core/dps.ts):
 * up to 128 letters, digits, `-`, `.`, `_` and `:`, starting with a letter or digit, ending with one or `-`.
 */
const DEVICE_ID = /^[a-z0-9](?:[a-z0-9\-._:]{0,126}[a-z0-9-])?$/i;

/** Why `id` is not a device id, or undefined when it is. */
export function deviceIdProblem(id: string): string | undefined {
  if (id === '') return 'Enter a device id.';
  if (!DEVICE_ID.test(id)) {
    return 'A device id has up to 128 letters, digits and - . _ :, starts with a letter or digit and ends with a letter, digit or -.';
  }
  return undefined;
}

interface Props {
  api: Api;
  templates: { id: string; name: string }[];
  onUnauthorized: () => void;
}

export function NewDeviceForm({ api, templates, onUnauthorized }: Props) {
  const [open, setOpen] = useState(false);
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [template, setTemplate] = useState('');
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const { busy, error, run } = useAction(onUnauthorized);

  if (!open) {
    return (
      <p>
        <button type="button" onClick={() => setOpen(true)}>
          New device
        </button>
      </p>
    );
  }
  const submit = async (): Promise<void> => {
    const trimmed = id.trim();
    const why = deviceIdProblem(trimmed);
    setProblem(why);
    if (why !== undefined) return;
    await run(
      () =>
        api.request('PUT', `/api/devices/${encodeURIComponent(trimmed)}`, {
          displayName: name.trim() === '' ? trimmed : name.trim(),
          enabled: true,
          ...(template === '' ? {} : { template }),
        }),
      () => (location.hash = deviceHref(trimmed, 'connect')),
    );
  };
  return (
    <form
      class="new-device"
      aria-label="New device"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2>New device</h2>
      <label>
        Device id
        <input
          value={id}
          aria-required="true"
          aria-invalid={problem === undefined ? undefined : 'true'}
          aria-describedby={problem === undefined ? undefined : 'device-id-problem'}
          onInput={(e) => setId((e.target as HTMLInputElement).value)}
        />
      </label>
      {problem === undefined ? null : (
        <p id="device-id-problem" class="error">
          {problem}
        </p>
      )}
      <label>
        Display name
        <input
          value={name}
          placeholder="The device id"
          onInput={(e) => setName((e.target as HTMLInputElement).value)}
        />
      </label>
      <label>
        Template
        <select value={template} onChange={(e) => setTemplate((e.target as HTMLSelectElement).value)}>
          <option value="">Assigned when it registers with a model id</option>
          {templates.map((t) => (
            <option value={t.id}>{t.name}</option>
          ))}
        </select>
      </label>
      <div class="actions">
        <button type="submit" disabled={busy}>
          Create device
        </button>
        <button type="button" disabled={busy} onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
      <ErrorNote message={error} />
    </form>
  );
}
