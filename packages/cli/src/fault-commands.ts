/**
 * `plugboard fault add|list|clear`: inject the connection-time conditions of protocol.md §7.5 into the
 * running platform — scoped to a device, a hub or every device, for a number of attempts, a duration
 * or until cleared — and see what each fault matched.
 */
import { FAULT_CONDITIONS, FAULT_OPTIONS, THROTTLE_PROFILES, UNREACHABLE_ANSWERS } from '@plugboard/server';
import { Option, type Command } from 'commander';
import { CentralClient, type JsonRecord } from './central-client.js';
import { CliError } from './client.js';
import { centralCommand, output, type TargetOptions } from './central-device-commands.js';

function positive(name: string, integer: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0) || (integer && !Number.isInteger(n))) {
      throw new CliError('CLI_INVALID_ARGUMENT', `${name} must be a ${integer ? 'whole ' : ''}number above 0.`);
    }
    return n;
  };
}

function faultLine(f: JsonRecord): string {
  const scope = [f['deviceId'] === undefined ? 'every device' : `device ${String(f['deviceId'])}`];
  if (f['hub'] !== undefined) scope.push(`hub ${String(f['hub'])}`);
  const state = f['endedAt'] === undefined ? 'active' : `ended ${String(f['endedAt'])}`;
  const throttled =
    f['refused'] === undefined ? '' : `  (shaped ${String(f['shaped'])}, refused ${String(f['refused'])})`;
  return `${String(f['id'])}  ${String(f['condition'])}  ${scope.join(', ')}  matched ${String(f['matched'])}${throttled}  ${state}`;
}

/**
 * Registers `fault` and its subcommands.
 *
 * @example
 * registerFaultCommands(program, process.stdout);
 */
export function registerFaultCommands(program: Command, out: NodeJS.WritableStream): void {
  const fault = program
    .command('fault')
    .description('Inject connection faults (token expired, device disabled, 500, 429, unreachable, DPS errors…).');
  const client = (opts: TargetOptions): CentralClient => CentralClient.connect(opts);

  centralCommand(fault, 'add', 'Add a fault; without --attempts or --duration-seconds it lasts until cleared.')
    .addOption(new Option('--condition <condition>', 'what happens').choices(FAULT_CONDITIONS).makeOptionMandatory())
    .option('--device-id <id>', 'only this device (default: every device)')
    .option('--hub <name>', 'only connections to this hub')
    .option('--attempts <n>', 'end after this many matching attempts', positive('--attempts', true))
    .option('--duration-seconds <s>', 'end after this long', positive('--duration-seconds', false))
    .option('--latency-ms <ms>', 'latency and dpsLatency: how long answers wait', positive('--latency-ms', true))
    .addOption(
      new Option('--profile <profile>', 'throttling: the rate profile (default iotHubS1)').choices(
        Object.keys(THROTTLE_PROFILES),
      ),
    )
    .option(
      '--rate-per-second <n>',
      "throttling: messages per second instead of the profile's",
      positive('--rate-per-second', false),
    )
    .option(
      '--backlog-seconds <s>',
      'throttling: seconds of traffic that may wait before 429 (default 5)',
      positive('--backlog-seconds', false),
    )
    .addOption(
      new Option(
        '--answer <answer>',
        'unreachable: close each connection at once (default), or leave it silent and open',
      ).choices(UNREACHABLE_ANSWERS),
    )
    .action(
      async (
        opts: TargetOptions & {
          condition: string;
          deviceId?: string;
          hub?: string;
          attempts?: number;
          durationSeconds?: number;
          latencyMs?: number;
          profile?: string;
          ratePerSecond?: number;
          backlogSeconds?: number;
          answer?: string;
        },
      ) => {
        const body: JsonRecord = { condition: opts.condition };
        for (const name of FAULT_OPTIONS) {
          if (opts[name] !== undefined) body[name] = opts[name];
        }
        const added = await client(opts).addFault(body);
        output(out, opts.json, added, () => faultLine(added));
      },
    );

  centralCommand(fault, 'list', 'Active faults, then ended ones, with what each matched.').action(
    async (opts: TargetOptions) => {
      const faults = await client(opts).listFaults();
      output(out, opts.json, faults, () => (faults.length === 0 ? '(no faults)' : faults.map(faultLine).join('\n')));
    },
  );

  centralCommand(fault, 'clear', 'End one fault (--fault-id) or all of them; service is back at once.')
    .option('--fault-id <id>', 'only this fault')
    .action(async (opts: TargetOptions & { faultId?: string }) => {
      const api = client(opts);
      if (opts.faultId !== undefined) {
        await api.removeFault(opts.faultId);
        output(out, opts.json, { cleared: 1 }, () => `cleared ${String(opts.faultId)}`);
        return;
      }
      const result = await api.clearFaults();
      output(out, opts.json, result, () => `cleared ${String(result['cleared'])} fault(s)`);
    });
}
