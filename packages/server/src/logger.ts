import { pino, type Logger, type LoggerOptions } from 'pino';

/** Paths pino censors in every log line: keys, tokens, passwords and connection strings never reach a log. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  'sharedAccessKey',
  '*.sharedAccessKey',
  'primaryKey',
  'secondaryKey',
  '*.primaryKey',
  '*.secondaryKey',
  '*.*.primaryKey',
  '*.*.secondaryKey',
  'connectionString',
  '*.connectionString',
  'serviceConnectionString',
  '*.serviceConnectionString',
  'eventHubConnectionString',
  '*.eventHubConnectionString',
  'token',
  '*.token',
];

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** pino level (default `info`); `silent` for none. */
  level?: string;
  /** Where to write (default stdout). */
  destination?: NodeJS.WritableStream;
}

/**
 * The server's logger: JSON lines via pino, secrets redacted.
 *
 * @example
 * const logger = createLogger({ level: 'debug' });
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { service: 'plugboard' },
  };
  return options.destination === undefined
    ? pino(config)
    : pino(config, options.destination as unknown as pino.DestinationStream);
}
