/**
 * A form built from a DTDL schema (`schema-form.ts`): one labelled input per field, each refusal shown
 * under its field with the schema's reason before anything is sent, then `onSubmit` with the value.
 */
import { useMemo, useState } from 'preact/hooks';
import { formFields, formValue, type FormField } from './schema-form.js';

interface Props {
  /** Unique on the page: the inputs' ids start with it. */
  id: string;
  schema: unknown;
  label: string;
  submitLabel: string;
  onSubmit: (value: unknown) => Promise<void>;
}

function Input(props: {
  id: string;
  field: FormField;
  text: string;
  error?: string | undefined;
  onText: (t: string) => void;
}) {
  const { id, field, text, error } = props;
  const described = error === undefined ? undefined : `${id}-error`;
  const common = { id, 'aria-invalid': error === undefined ? undefined : true, 'aria-describedby': described };
  const set = (e: Event): void => props.onText((e.target as HTMLInputElement).value);
  return (
    <div class="field">
      <label for={id}>
        {field.label} <span class="muted">({field.schema})</span>
      </label>
      {field.kind === 'boolean' || field.kind === 'enum' ? (
        <select {...common} value={text} onChange={set}>
          <option value="">Choose…</option>
          {(field.kind === 'boolean'
            ? [
                { value: 'true', label: 'true' },
                { value: 'false', label: 'false' },
              ]
            : (field.choices ?? []).map((c) => ({ value: String(c.value), label: c.label }))
          ).map((c) => (
            <option value={c.value}>{c.label}</option>
          ))}
        </select>
      ) : field.kind === 'json' ? (
        <textarea {...common} rows={3} value={text} onInput={set} />
      ) : (
        <input
          {...common}
          type="text"
          inputMode={field.kind === 'text' ? 'text' : 'decimal'}
          value={text}
          onInput={set}
        />
      )}
      {error === undefined ? null : (
        <p id={described} class="error">
          {field.label} {error}.
        </p>
      )}
    </div>
  );
}

export function SchemaForm({ id, schema, label, submitLabel, onSubmit }: Props) {
  const fields = useMemo(() => formFields(schema, label), [schema, label]);
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const outcome = formValue(fields, texts);
    if (!outcome.ok) {
      setErrors(outcome.errors);
      return;
    }
    setErrors({});
    setFailure(undefined);
    setBusy(true);
    try {
      await onSubmit(outcome.value);
    } catch (e) {
      setFailure(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="schema-form" onSubmit={(e) => void submit(e)} aria-label={`${submitLabel}: ${label}`} noValidate>
      {fields.map((field, i) => (
        <Input
          id={`${id}-${i}`}
          field={field}
          text={texts[field.label] ?? ''}
          error={errors[field.label]}
          onText={(t) => setTexts({ ...texts, [field.label]: t })}
        />
      ))}
      {failure === undefined ? null : (
        <p class="error" role="alert">
          {failure}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {submitLabel}
      </button>
    </form>
  );
}
