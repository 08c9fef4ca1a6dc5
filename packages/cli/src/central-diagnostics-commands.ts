/**
 * `plugboard diagnostics monitor-events|validate-messages|monitor-properties`: live streams of the
 * application, as `az iot central diagnostics …` watch a real one — each telemetry message (with its
 * verdict against the device template for validate-messages), each property change. They read
 * `GET /plugboard/events` through {@link CentralClient} and stop after `--timeout` seconds or
 * `--max-messages` events (or Ctrl-C).
 */
import { InvalidArgumentError, type Command } from 'commander';
import { CentralClient, type JsonRecord } from './central-client.js';
import { centralCommand, type TargetOptions } from './central-device-commands.js';

interface StreamOptions extends TargetOptions {
  deviceId?: string;
  timeout: number;
  maxMessages?: number;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds >= 0');
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return n;
}

/** Streams events of `types`, printing `line(event)` for each until the timeout or the count. */
async function stream(
  out: NodeJS.WritableStream,
  opts: StreamOptions,
  types: string[],
  line: (event: JsonRecord) => string | undefined,
): Promise<void> {
  const client = CentralClient.connect(opts);
  const abort = new AbortController();
  const timer = opts.timeout > 0 ? setTimeout(() => abort.abort(), opts.timeout * 1000) : undefined;
  const interrupt = (): void => abort.abort();
  process.once('SIGINT', interrupt);
  let seen = 0;
  try {
    await client.events(
      { ...(opts.deviceId === undefined ? {} : { deviceId: opts.deviceId }), types },
      (event) => {
        if (abort.signal.aborted) return;
        if (event['type'] === 'dropped') {
          out.write(opts.json ? `${JSON.stringify(event)}\n` : `(${String(event['count'])} events were dropped)\n`);
          return;
        }
        const text = line(event);
        if (text === undefined) return;
        out.write(`${opts.json ? JSON.stringify(event) : text}\n`);
        seen++;
        if (opts.maxMessages !== undefined && seen >= opts.maxMessages) abort.abort();
      },
      abort.signal,
    );
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    process.off('SIGINT', interrupt);
  }
}

function streamCommand(parent: Command, name: string, description: string): Command {
  return centralCommand(parent, name, description)
    .option('--device-id <id>', 'only this device')
    .option('--timeout <seconds>', 'stop after this many seconds (0: never)', seconds, 300)
    .option('--max-messages <n>', 'stop after this many events', count);
}

/** Who an event is from: `device`, or `device/module` for an IoT Edge module. */
function source(e: Record<string, unknown>): string {
  return typeof e['module'] === 'string' ? `${String(e['deviceId'])}/${e['module']}` : String(e['deviceId']);
}

/**
 * Registers `diagnostics`.
 *
 * @example
 * registerCentralDiagnosticsCommands(program, process.stdout);
 */
export function registerCentralDiagnosticsCommands(program: Command, out: NodeJS.WritableStream): void {
  const diagnostics = program
    .command('diagnostics')
    .description('Watch the application live (as `az iot central diagnostics`).');
  streamCommand(diagnostics, 'monitor-events', 'Print each telemetry message as it arrives.').action(
    async (opts: StreamOptions) =>
      stream(out, opts, ['telemetry'], (e) => {
        const component = typeof e['component'] === 'string' ? ` [${e['component']}]` : '';
        return `${String(e['timestamp'])} ${source(e)}${component} ${String(e['body'])}`;
      }),
  );
  streamCommand(
    diagnostics,
    'validate-messages',
    'Print each telemetry message that does not match its device template, with the reasons.',
  ).action(async (opts: StreamOptions) =>
    stream(out, opts, ['telemetry'], (e) => {
      const unmodeled = e['unmodeled'] as { name: string; reason: string }[];
      if (e['invalid'] === undefined && unmodeled.length === 0) return undefined;
      const reasons =
        typeof e['invalid'] === 'string' ? [e['invalid']] : unmodeled.map((u) => `${u.name}: ${u.reason}`);
      return `${String(e['timestamp'])} ${source(e)}: ${reasons.join('; ')}`;
    }),
  );
  streamCommand(diagnostics, 'monitor-properties', 'Print each reported and desired property change.').action(
    async (opts: StreamOptions) =>
      stream(
        out,
        opts,
        ['properties'],
        (e) => `${source(e)} ${String(e['section'])} v${String(e['version'])} ${JSON.stringify(e['patch'])}`,
      ),
  );
}
