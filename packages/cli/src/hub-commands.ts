/**
 * `plugboard hub list|add|remove`: the running application's internal IoT hubs. New registrations are
 * balanced over the current set; removing a hub carries its devices to the others and closes it, so
 * they go back to DPS on their next connection.
 */
import type { Command } from 'commander';
import { CentralClient, type JsonRecord } from './central-client.js';
import { CliError } from './client.js';
import { centralCommand, output, type TargetOptions } from './central-device-commands.js';

function hubLine(h: JsonRecord): string {
  return (
    `${String(h['name']).padEnd(10)} ${String(h['hostName'])}  (mqtts:${String(h['mqttPort'])}  ` +
    `https/wss:${String(h['httpsPort'])})  ${String(h['devices'])} device(s), ${String(h['connections'])} connected` +
    (h['state'] === 'draining' ? `  draining: refuses devices until ${String(h['closesAt'])}` : '')
  );
}

/**
 * Registers `hub` and its subcommands.
 *
 * @example
 * registerHubCommands(program, process.stdout);
 */
export function registerHubCommands(program: Command, out: NodeJS.WritableStream): void {
  const hub = program.command('hub').description("The application's internal IoT hubs: list, add, remove.");
  const client = (opts: TargetOptions): CentralClient => CentralClient.connect(opts);

  centralCommand(hub, 'list', 'Each hub with where it listens, its registered devices and connections.').action(
    async (opts: TargetOptions) => {
      const hubs = await client(opts).listHubs();
      output(out, opts.json, hubs, () => hubs.map(hubLine).join('\n'));
    },
  );

  centralCommand(hub, 'add', 'Add a hub; new registrations are balanced over the enlarged set.')
    .option('--name <name>', 'hub name (default: hub-N, the next free number)')
    .option('--address <ip>', 'address its listeners bind (default: the next free loopback address)')
    .option('--host-name <name>', 'host name devices are given (default: the address)')
    .action(async (opts: TargetOptions & { name?: string; address?: string; hostName?: string }) => {
      const body: JsonRecord = {};
      for (const name of ['name', 'address', 'hostName'] as const) {
        if (opts[name] !== undefined) body[name] = opts[name];
      }
      const added = await client(opts).addHub(body);
      output(out, opts.json, added, () => `added ${hubLine(added)}`);
    });

  centralCommand(hub, 'remove', 'Remove a hub: its devices are carried to the others and go back to DPS.')
    .requiredOption('--name <name>', 'the hub to remove')
    .option('--drain-seconds <s>', 'how long it refuses devices (CONNACK 3) before it closes (0–600)', '30')
    .action(async (opts: TargetOptions & { name: string; drainSeconds: string }) => {
      const drain = Number(opts.drainSeconds);
      if (!Number.isInteger(drain) || drain < 0 || drain > 600) {
        throw new CliError('CLI_INVALID_ARGUMENT', '--drain-seconds must be a whole number from 0 to 600.');
      }
      const removed = await client(opts).removeHub(opts.name, drain);
      const moved = Object.entries((removed['moved'] ?? {}) as Record<string, number>);
      output(out, opts.json, removed, () =>
        [
          `removed ${String(removed['name'])}; it refuses devices until ${String(removed['closesAt'])}, then closes`,
          ...(moved.length === 0 ? ['  (it had no devices)'] : moved.map(([h, n]) => `  ${n} device(s) moved to ${h}`)),
        ].join('\n'),
      );
    });
}
