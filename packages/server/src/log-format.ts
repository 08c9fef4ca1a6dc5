/**
 * Human-readable log lines for a terminal: pino's JSON lines turned into
 * `21:40:01.123 INFO  device connected  hub=hub-1 transport=mqtt deviceId=dev1 auth=sas`. JSON stays the
 * format for files, pipes and log collectors; this is only what `plugboard up` prints on a TTY.
 */
import { Writable } from 'node:stream';

const LEVELS: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO ',
  40: 'WARN ',
  50: 'ERROR',
  60: 'FATAL',
};
/** Fields every line has, shown in its own place or not at all. */
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service']);

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/**
 * One JSON log line as a readable line (returned unchanged when it is not JSON).
 *
 * @example
 * prettyLogLine('{"level":30,"time":0,"msg":"device connected","deviceId":"dev1"}');
 * // '00:00:00.000 INFO  device connected  deviceId=dev1'
 */
export function prettyLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry['time'] === 'number' ? new Date(entry['time']).toISOString().slice(11, 23) : '';
  const level = LEVELS[Number(entry['level'])] ?? String(entry['level']);
  const fields: string[] = [];
  for (const [k, v] of Object.entries(entry)) {
    if (OMITTED.has(k) || v === undefined) continue;
    if (k === 'err' && typeof v === 'object' && v !== null) {
      const err = v as { message?: unknown; stack?: unknown };
      fields.push(`err=${value(err.message)}`);
      if (typeof err.stack === 'string') fields.push(`\n${err.stack}`);
      continue;
    }
    fields.push(`${k}=${value(v)}`);
  }
  return `${time} ${level} ${String(entry['msg'] ?? '')}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}`;
}

/**
 * A destination for pino that writes {@link prettyLogLine}s to `out`.
 *
 * @example
 * createLogger({ destination: prettyLogDestination(process.stdout) });
 */
export function prettyLogDestination(out: NodeJS.WritableStream): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = pending + chunk.toString('utf8');
      const lines = text.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line !== '') out.write(`${prettyLogLine(line)}\n`);
      done();
    },
  });
}
