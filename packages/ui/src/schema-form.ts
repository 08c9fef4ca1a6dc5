/**
 * Forms from DTDL schemas (../shared/reference/dtdl.md): what fields a writable property's or a
 * command request's schema asks for, and the JSON value the filled-in texts make — or, before anything
 * is sent, the schema's reason each text is refused. Primitive schemas and enums get one field, objects
 * one field per member (DTDL has no optional object fields, so each is required); any other schema
 * (arrays, maps, nested objects) is one JSON text checked as JSON. Pure.
 */

/** One input of a form: where its value goes (`path`), its label, and how it is entered. */
export interface FormField {
  /** Member names from the schema's root; empty for a primitive schema. */
  path: string[];
  label: string;
  kind: 'number' | 'integer' | 'boolean' | 'text' | 'enum' | 'json';
  /** The schema name (`double`, `dateTime`, …) the value must be. */
  schema: string;
  /** For enums: the values and their names. */
  choices?: { value: string | number; label: string }[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const NUMBERS = new Set(['double', 'float']);
const INTEGERS = new Set(['integer', 'long']);
const TEXTS = new Set(['string', 'date', 'dateTime', 'time', 'duration']);

function nameOf(value: unknown, fallback: string): string {
  if (typeof value === 'string') return value;
  if (isObject(value)) {
    const text = value['en'] ?? Object.values(value)[0];
    if (typeof text === 'string') return text;
  }
  return fallback;
}

function fieldOf(schema: unknown, path: string[], label: string): FormField {
  if (typeof schema === 'string') {
    if (NUMBERS.has(schema)) return { path, label, kind: 'number', schema };
    if (INTEGERS.has(schema)) return { path, label, kind: 'integer', schema };
    if (schema === 'boolean') return { path, label, kind: 'boolean', schema };
    if (TEXTS.has(schema)) return { path, label, kind: 'text', schema };
  }
  if (isObject(schema) && schema['@type'] === 'Enum' && Array.isArray(schema['enumValues'])) {
    const choices = schema['enumValues']
      .filter(isObject)
      .filter((e) => typeof e['enumValue'] === 'string' || typeof e['enumValue'] === 'number')
      .map((e) => ({ value: e['enumValue'] as string | number, label: nameOf(e['displayName'], String(e['name'])) }));
    return { path, label, kind: 'enum', schema: 'Enum', choices };
  }
  return { path, label, kind: 'json', schema: isObject(schema) ? String(schema['@type'] ?? 'value') : String(schema) };
}

/**
 * The fields of a form for `schema`.
 *
 * @example
 * formFields('double', 'Target temperature'); // [{ path: [], label: 'Target temperature', kind: 'number', schema: 'double' }]
 */
export function formFields(schema: unknown, label: string): FormField[] {
  if (isObject(schema) && schema['@type'] === 'Object' && Array.isArray(schema['fields'])) {
    return schema['fields']
      .filter(isObject)
      .filter((f) => typeof f['name'] === 'string')
      .map((f) => fieldOf(f['schema'], [f['name'] as string], nameOf(f['displayName'], f['name'] as string)));
  }
  return [fieldOf(schema, [], label)];
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME = /^\d{2}:\d{2}:\d{2}(\.\d+)?$/;
const DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

/** The value one field's text makes, or the reason it is refused. */
function valueOf(field: FormField, text: string): { value: unknown } | { error: string } {
  const trimmed = text.trim();
  switch (field.kind) {
    case 'boolean':
      return trimmed === 'true' || trimmed === 'false'
        ? { value: trimmed === 'true' }
        : { error: 'must be true or false' };
    case 'number': {
      const n = Number(trimmed);
      return trimmed !== '' && Number.isFinite(n) ? { value: n } : { error: `must be a number (${field.schema})` };
    }
    case 'integer': {
      const n = Number(trimmed);
      return trimmed !== '' && Number.isSafeInteger(n)
        ? { value: n }
        : { error: `must be a whole number (${field.schema})` };
    }
    case 'enum': {
      const choice = field.choices?.find((c) => String(c.value) === trimmed);
      return choice === undefined ? { error: 'must be one of the listed values' } : { value: choice.value };
    }
    case 'text':
      if (field.schema === 'date' && !DATE.test(trimmed)) return { error: 'must be a date, YYYY-MM-DD' };
      if (field.schema === 'dateTime' && Number.isNaN(Date.parse(trimmed))) {
        return { error: 'must be a date and time (ISO 8601)' };
      }
      if (field.schema === 'time' && !TIME.test(trimmed)) return { error: 'must be a time, hh:mm:ss' };
      if (field.schema === 'duration' && !DURATION.test(trimmed))
        return { error: 'must be an ISO 8601 duration, e.g. PT5M' };
      return { value: field.schema === 'string' ? text : trimmed };
    case 'json':
      try {
        return { value: JSON.parse(trimmed) as unknown };
      } catch {
        return { error: `must be JSON (${field.schema})` };
      }
  }
}

/** What a filled-in form makes: the value to send, or each refused field's reason (by field label). */
export type FormOutcome = { ok: true; value: unknown } | { ok: false; errors: Record<string, string> };

/**
 * The value of a form's filled-in texts (by field label), or each refusal. An empty required field is
 * refused too.
 *
 * @example
 * formValue(formFields('double', 'Target'), { Target: 'warm' }); // { ok: false, errors: { Target: 'must be a number (double)' } }
 */
export function formValue(fields: readonly FormField[], texts: Readonly<Record<string, string>>): FormOutcome {
  const errors: Record<string, string> = {};
  let root: unknown;
  const object: Json = {};
  for (const field of fields) {
    const text = texts[field.label] ?? '';
    if (text.trim() === '' && !(field.kind === 'text' && field.schema === 'string' && field.path.length === 0)) {
      errors[field.label] = 'is required';
      continue;
    }
    const outcome = valueOf(field, text);
    if ('error' in outcome) errors[field.label] = outcome.error;
    else if (field.path.length === 0) root = outcome.value;
    else object[field.path[0] as string] = outcome.value;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, value: fields.length > 0 && fields[0]?.path.length === 0 ? root : object };
}
