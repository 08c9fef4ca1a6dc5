import { ProtocolError } from './errors.js';

/**
 * A parsed connection string: field name (case-sensitive, as Azure writes it) to value.
 *
 * @example
 * ```ts
 * const cs: ConnectionString = { HostName: 'myhub.local', DeviceId: 'dev1', SharedAccessKey: 'a2V5' };
 * ```
 */
export type ConnectionString = Readonly<Record<string, string>>;

function connectionStringError(message: string): ProtocolError {
  return new ProtocolError('PROTOCOL_CONNECTION_STRING_MALFORMED', message);
}

/**
 * Parses `Key=value;Key=value` text. Each `;`-separated part is split on its FIRST `=`, so values may
 * contain `=` (base64 keys do). Surrounding whitespace and empty parts (a trailing `;`) are ignored; keys
 * are case-sensitive and never decoded. The result is frozen.
 *
 * @throws {@link ProtocolError} `PROTOCOL_CONNECTION_STRING_MALFORMED` on empty text, a part without `=`,
 * an empty key or a repeated key.
 * @example
 * ```ts
 * parseConnectionString('HostName=myhub.local;DeviceId=dev1;SharedAccessKey=a2V5a2V5==');
 * // { HostName: 'myhub.local', DeviceId: 'dev1', SharedAccessKey: 'a2V5a2V5==' }
 * ```
 */
export function parseConnectionString(text: string): ConnectionString {
  const entries = new Map<string, string>();
  for (const part of text.trim().split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) throw connectionStringError(`connection string part '${part}' has no '='`);
    const key = part.slice(0, eq);
    if (key === '') throw connectionStringError('connection string has a part with an empty key');
    if (entries.has(key)) throw connectionStringError(`connection string repeats '${key}'`);
    entries.set(key, part.slice(eq + 1));
  }
  if (entries.size === 0) throw connectionStringError('connection string is empty');
  return Object.freeze(Object.fromEntries(entries));
}

/**
 * Formats fields as a connection string in insertion order, skipping `undefined` values.
 *
 * @throws {@link ProtocolError} `PROTOCOL_CONNECTION_STRING_MALFORMED` if a key is empty or contains
 * `=`/`;`, or a value contains `;` (the result could not be parsed back).
 * @example
 * ```ts
 * formatConnectionString({ HostName: 'myhub.local', DeviceId: 'dev1', ModuleId: undefined, SharedAccessKey: 'a2V5' });
 * // 'HostName=myhub.local;DeviceId=dev1;SharedAccessKey=a2V5'
 * ```
 */
export function formatConnectionString(fields: Record<string, string | undefined>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (key === '' || key.includes('=') || key.includes(';')) {
      throw connectionStringError(`connection string key '${key}' cannot be written`);
    }
    if (value.includes(';')) throw connectionStringError(`connection string value of '${key}' contains ';'`);
    parts.push(`${key}=${value}`);
  }
  return parts.join(';');
}
