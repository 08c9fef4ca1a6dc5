/**
 * `plugboard device …`: the application's devices, with the names and flags of `az iot central device`
 * — list, show, create, update, delete, show-credentials, approve, block, unblock, migrate, `twin
 * show|update`, `command run|history`, `telemetry show` — and Plugboard's `telemetry history` and
 * `raw-messages`. Each talks to the REST API through
 * {@link CentralClient}; `--json` prints the answer as JSON.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import {
  CentralClient,
  type CapabilityPath,
  type CentralDevice,
  type CentralTarget,
  type JsonRecord,
} from './central-client.js';
import { CliError } from './client.js';

/** Options every Central command takes. */
export interface TargetOptions extends CentralTarget {
  json: boolean;
}

/** Adds `--data-dir`, `--app-url`, `--token` and `--json` to a command. */
export function centralCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .addOption(
      new Option('--data-dir <dir>', 'data directory of `plugboard up` (its plugboard.json)').default('./.plugboard'),
    )
    .option('--app-url <url>', 'the application URL instead of plugboard.json (needs --token)')
    .option('--token <token>', 'an API token (default: the admin token in plugboard.json)')
    .option('--json', 'JSON output', false);
}

/** `--content`: JSON text, or the path of a file holding it (as az's `-k`). */
export function readContent(value: string): unknown {
  const text = existsSync(value) ? readFileSync(value, 'utf8') : value;
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new CliError(
      'CLI_INVALID_ARGUMENT',
      `--content is neither JSON nor a file holding JSON: ${value.slice(0, 80)}`,
      {
        cause,
      },
    );
  }
}

/** Writes `value` as JSON, or the human text. */
export function output(out: NodeJS.WritableStream, json: boolean, value: unknown, text: () => string): void {
  out.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/** `--component-name` and `--module-name`, as az's device commands take them. */
type At = { componentName?: string; moduleName?: string };

function at(opts: At): CapabilityPath {
  return {
    ...(opts.componentName === undefined ? {} : { component: opts.componentName }),
    ...(opts.moduleName === undefined ? {} : { module: opts.moduleName }),
  };
}

function bool(name: string) {
  return (value: string): boolean => {
    if (value !== 'true' && value !== 'false')
      throw new CliError('CLI_INVALID_ARGUMENT', `${name} must be true or false.`);
    return value === 'true';
  };
}

/** The status `az iot central device registration-info` derives (protocol.md §7.4). */
export function statusOf(device: CentralDevice): string {
  if (!device.enabled) return device.provisioned ? 'blocked' : 'blocked or waiting for approval';
  if (device.template === undefined || device.template === '') return 'unassociated';
  return device.provisioned ? 'provisioned' : 'registered';
}

function deviceLine(d: CentralDevice): string {
  return `${d.id}\t${d.displayName}\t${d.template ?? '(unassigned)'}\t${statusOf(d)}`;
}

/**
 * Registers the device subcommands on `device`.
 *
 * @example
 * registerCentralDeviceCommands(program.command('device'), process.stdout);
 */
export function registerCentralDeviceCommands(device: Command, out: NodeJS.WritableStream): void {
  const client = (opts: TargetOptions): CentralClient => CentralClient.connect(opts);

  centralCommand(device, 'list', 'List the devices (id, name, template, status).').action(
    async (opts: TargetOptions) => {
      const devices = await client(opts).listDevices();
      output(out, opts.json, devices, () => devices.map(deviceLine).join('\n'));
    },
  );
  centralCommand(device, 'show', 'Show a device.')
    .requiredOption('--device-id <id>', 'device id')
    .action(async (opts: TargetOptions & { deviceId: string }) => {
      const details = await client(opts).deviceDetails(opts.deviceId);
      output(out, opts.json, details, () =>
        Object.entries(details)
          .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
          .join('\n'),
      );
    });
  centralCommand(device, 'create', 'Create a device (it can then provision with show-credentials).')
    .requiredOption('--device-id <id>', 'device id')
    .option('--device-name <name>', 'display name (default: the id)')
    .option('--template <id>', 'device template id')
    .option('--simulated <bool>', 'simulated device', bool('--simulated'), false)
    .action(
      async (
        opts: TargetOptions & { deviceId: string; deviceName?: string; template?: string; simulated: boolean },
      ) => {
        const body: JsonRecord = {
          displayName: opts.deviceName ?? opts.deviceId,
          enabled: true,
          simulated: opts.simulated,
        };
        if (opts.template !== undefined) body['template'] = opts.template;
        const created = await client(opts).putDevice(opts.deviceId, body);
        output(out, opts.json, created, () => `created device ${created.id}`);
      },
    );
  centralCommand(device, 'update', 'Change a device: name, enabled, template, simulated.')
    .requiredOption('--device-id <id>', 'device id')
    .option('--device-name <name>', 'display name')
    .option('--enable <bool>', 'enabled (false blocks it)', bool('--enable'))
    .option('--template <id>', 'device template id')
    .option('--simulated <bool>', 'simulated device', bool('--simulated'))
    .action(
      async (
        opts: TargetOptions & {
          deviceId: string;
          deviceName?: string;
          enable?: boolean;
          template?: string;
          simulated?: boolean;
        },
      ) => {
        const body: JsonRecord = {};
        if (opts.deviceName !== undefined) body['displayName'] = opts.deviceName;
        if (opts.enable !== undefined) body['enabled'] = opts.enable;
        if (opts.template !== undefined) body['template'] = opts.template;
        if (opts.simulated !== undefined) body['simulated'] = opts.simulated;
        const updated = await client(opts).patchDevice(opts.deviceId, body);
        output(out, opts.json, updated, () => deviceLine(updated));
      },
    );
  const toggle = (name: string, description: string, body: JsonRecord, verb: string): void => {
    centralCommand(device, name, description)
      .requiredOption('--device-id <id>', 'device id')
      .action(async (opts: TargetOptions & { deviceId: string }) => {
        const updated = await client(opts).patchDevice(opts.deviceId, body);
        output(out, opts.json, updated, () => `${verb} ${updated.id} (${statusOf(updated)})`);
      });
  };
  toggle('approve', 'Approve a device waiting for approval (auto-approve off).', { enabled: true }, 'approved');
  toggle(
    'block',
    'Block a device: its connections are dropped and it cannot provision or connect.',
    { enabled: false },
    'blocked',
  );
  toggle('unblock', 'Unblock a device.', { enabled: true }, 'unblocked');
  centralCommand(device, 'migrate', 'Assign a device to a template (an unassigned one, or move it to another).')
    .requiredOption('--device-id <id>', 'device id')
    .requiredOption('--template <id>', 'device template id')
    .action(async (opts: TargetOptions & { deviceId: string; template: string }) => {
      const updated = await client(opts).patchDevice(opts.deviceId, { template: opts.template });
      output(out, opts.json, updated, () => `migrated ${updated.id} to ${opts.template}`);
    });
  centralCommand(device, 'delete', 'Delete a device, its registration and its hub identity.')
    .requiredOption('--device-id <id>', 'device id')
    .action(async (opts: TargetOptions & { deviceId: string }) => {
      await client(opts).deleteDevice(opts.deviceId);
      output(out, opts.json, { result: 'success' }, () => `deleted device ${opts.deviceId}`);
    });
  centralCommand(device, 'show-credentials', 'The ID scope and the device keys derived from the SAS enrollment group.')
    .requiredOption('--device-id <id>', 'device id')
    .action(async (opts: TargetOptions & { deviceId: string }) => {
      const credentials = await client(opts).credentials(opts.deviceId);
      output(out, true, credentials, () => '');
    });

  const twin = device.command('twin').description('Device properties (reported and writable).');
  centralCommand(twin, 'show', 'Show the properties with their $metadata (sync state of writable ones).')
    .requiredOption('--device-id <id>', 'device id')
    .option('--component-name <name>', 'component')
    .option('--module-name <name>', 'IoT Edge module')
    .action(async (opts: TargetOptions & At & { deviceId: string }) => {
      output(out, true, await client(opts).properties(opts.deviceId, at(opts)), () => '');
    });
  centralCommand(twin, 'update', 'Set writable properties, e.g. --content \'{"targetTemperature": 22}\'.')
    .requiredOption('--device-id <id>', 'device id')
    .requiredOption('--content <json|file>', 'property values')
    .option('--component-name <name>', 'component')
    .option('--module-name <name>', 'IoT Edge module')
    .action(async (opts: TargetOptions & At & { deviceId: string; content: string }) => {
      const body = readContent(opts.content) as JsonRecord;
      output(out, true, await client(opts).updateProperties(opts.deviceId, body, at(opts)), () => '');
    });

  const command = device.command('command').description('Device commands.');
  centralCommand(command, 'run', 'Run a command and print the device response.')
    .requiredOption('--device-id <id>', 'device id')
    .requiredOption('--command-name <name>', 'command name')
    .option('--component-name <name>', 'component')
    .option('--module-name <name>', 'IoT Edge module')
    .option('--content <json|file>', 'the body, e.g. \'{"request": "2026-01-01T00:00:00Z"}\'', '{}')
    .action(async (opts: TargetOptions & At & { deviceId: string; commandName: string; content: string }) => {
      const body = readContent(opts.content) as JsonRecord;
      const result = await client(opts).runCommand(opts.deviceId, opts.commandName, body, at(opts));
      output(out, opts.json, result, () => JSON.stringify(result, null, 2));
    });
  centralCommand(command, 'history', "A command's invocations, newest first.")
    .requiredOption('--device-id <id>', 'device id')
    .requiredOption('--command-name <name>', 'command name')
    .option('--component-name <name>', 'component')
    .option('--module-name <name>', 'IoT Edge module')
    .action(async (opts: TargetOptions & At & { deviceId: string; commandName: string }) => {
      const history = await client(opts).commandHistory(opts.deviceId, opts.commandName, at(opts));
      output(out, opts.json, history, () =>
        history
          .map((h) => `${String(h['invokedAt'])}\t${String(h['status'])}\t${String(h['responseCode'] ?? '')}`)
          .join('\n'),
      );
    });

  const telemetry = device.command('telemetry').description('Device telemetry.');
  centralCommand(telemetry, 'show', 'The last value of a telemetry capability.')
    .requiredOption('--device-id <id>', 'device id')
    .requiredOption('--telemetry-name <name>', 'telemetry name')
    .option('--component-name <name>', 'component')
    .option('--module-name <name>', 'IoT Edge module')
    .action(async (opts: TargetOptions & At & { deviceId: string; telemetryName: string }) => {
      const last = await client(opts).telemetry(opts.deviceId, opts.telemetryName, at(opts));
      output(out, opts.json, last, () =>
        last['value'] === undefined
          ? '(no value yet)'
          : `${String(last['timestamp'])}\t${JSON.stringify(last['value'])}`,
      );
    });

  type Range = TargetOptions & { deviceId: string; from?: string; to?: string; max: number };
  const max = (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new CliError('CLI_INVALID_ARGUMENT', '--max must be an integer >= 1.');
    return n;
  };
  centralCommand(telemetry, 'history', "A capability's values over a time range, oldest first.")
    .requiredOption('--device-id <id>', 'device id')
    .requiredOption('--telemetry-name <name>', 'telemetry name')
    .option('--component-name <name>', 'component')
    .option('--module-name <name>', 'IoT Edge module')
    .option('--from <time>', 'ISO 8601 start (displayed time)')
    .option('--to <time>', 'ISO 8601 end')
    .option('--max <n>', 'at most this many values', max, 1000)
    .action(async (opts: Range & At & { telemetryName: string }) => {
      const values = await client(opts).telemetryHistory(opts.deviceId, opts.telemetryName, {
        ...at(opts),
        ...(opts.from === undefined ? {} : { from: opts.from }),
        ...(opts.to === undefined ? {} : { to: opts.to }),
        max: opts.max,
      });
      output(out, opts.json, values, () =>
        values.map((v) => `${String(v['timestamp'])}\t${JSON.stringify(v['value'])}`).join('\n'),
      );
    });
  centralCommand(device, 'raw-messages', 'Stored messages with their modeled and unmodeled values and the reasons.')
    .requiredOption('--device-id <id>', 'device id')
    .option('--from <time>', 'ISO 8601 start (displayed time)')
    .option('--to <time>', 'ISO 8601 end')
    .option('--max <n>', 'at most this many messages', max, 100)
    .action(async (opts: Range) => {
      const messages = await client(opts).rawMessages(opts.deviceId, {
        ...(opts.from === undefined ? {} : { from: opts.from }),
        ...(opts.to === undefined ? {} : { to: opts.to }),
        max: opts.max,
      });
      output(out, opts.json, messages, () =>
        messages
          .map((m) => {
            const unmodeled = (m['unmodeled'] as { name: string; reason: string }[]).map(
              (u) => `${u.name}: ${u.reason}`,
            );
            const problems = typeof m['invalid'] === 'string' ? [m['invalid']] : unmodeled;
            const module = typeof m['module'] === 'string' ? ` ${m['module']}` : '';
            const component = typeof m['component'] === 'string' ? ` [${m['component']}]` : '';
            return `${String(m['timestamp'])}${module}${component} ${JSON.stringify(m['modeled'])}${problems.length > 0 ? `  unmodeled: ${problems.join('; ')}` : ''}`;
          })
          .join('\n'),
      );
    });
}
