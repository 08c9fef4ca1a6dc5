/**
 * `plugboard device manual-failover|manual-failback|registration-info`, as `az iot central device`
 * names them: fail a device over to another internal hub for a time to live and back (protocol.md
 * §7.6), and show where it is registered and why — az's registration-info answer
 * (`@device_id`, `device_registration_info`, `dps_state`), with the hub, the DPS sub-status and any
 * pending failover beside it.
 */
import type { Command } from 'commander';
import { CentralClient, type CentralDevice, type JsonRecord } from './central-client.js';
import { CliError } from './client.js';
import { centralCommand, output, type TargetOptions } from './central-device-commands.js';

/** A device's status as `az iot central device registration-info` derives it. */
function registrationStatus(device: CentralDevice): 'blocked' | 'unassociated' | 'registered' | 'provisioned' {
  if (!device.enabled) return 'blocked';
  if (device.template === undefined || device.template === '') return 'unassociated';
  return device.provisioned ? 'provisioned' : 'registered';
}

/** The `dps_state.error` text of each status, as az writes it. */
const STATUS_TEXT = {
  provisioned: 'None.',
  registered: 'Device is not yet provisioned.',
  blocked: 'Device is blocked from connecting to IoT Central application. Unblock the device in IoT Central and retry.',
  unassociated: 'Device does not have a valid template associated with it.',
} as const;

function ttlMinutes(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 30) {
    throw new CliError('CLI_INVALID_ARGUMENT', '--ttl-minutes must be a number of minutes above 0 and at most 30.');
  }
  return n;
}

/**
 * Registers the failover commands under `device`.
 *
 * @example
 * registerCentralFailoverCommands(program.command('device'), process.stdout);
 */
export function registerCentralFailoverCommands(device: Command, out: NodeJS.WritableStream): void {
  const client = (opts: TargetOptions): CentralClient => CentralClient.connect(opts);

  centralCommand(
    device,
    'manual-failover',
    'Move a device to another internal hub for a while: its connection drops, its old hub refuses it, and it must go back to DPS.',
  )
    .requiredOption('--device-id <id>', 'device id')
    .option('--ttl-minutes <minutes>', 'when the device reverts to its original hub (default 30)', ttlMinutes)
    .action(async (opts: TargetOptions & { deviceId: string; ttlMinutes?: number }) => {
      const answer = await client(opts).manualFailover(opts.deviceId, opts.ttlMinutes);
      output(out, opts.json, answer, () => String(answer['message']));
    });

  centralCommand(device, 'manual-failback', 'Return a failed-over device to its original hub now.')
    .requiredOption('--device-id <id>', 'device id')
    .action(async (opts: TargetOptions & { deviceId: string }) => {
      const answer = await client(opts).manualFailback(opts.deviceId);
      output(out, opts.json, answer, () => String(answer['message']));
    });

  centralCommand(device, 'registration-info', 'Where a device is registered and why (status, hub, failover).')
    .requiredOption('--device-id <id>', 'device id')
    .action(async (opts: TargetOptions & { deviceId: string }) => {
      const api = client(opts);
      const found = await api.getDevice(opts.deviceId);
      const details = await api.deviceDetails(opts.deviceId);
      const status = registrationStatus(found);
      const registration = details['registration'] as JsonRecord | undefined;
      const dpsState: JsonRecord = {
        status: status === 'provisioned' ? (registration?.['status'] ?? null) : null,
        error: STATUS_TEXT[status],
      };
      if (registration !== undefined) {
        dpsState['assignedHub'] = registration['assignedHub'] ?? null;
        dpsState['substatus'] = registration['substatus'] ?? null;
      }
      const info: JsonRecord = {
        '@device_id': found.id,
        device_registration_info: {
          device_status: status,
          display_name: found.displayName ?? null,
          id: found.id,
          simulated: found.simulated ?? false,
          template: found.template ?? null,
        },
        dps_state: dpsState,
      };
      if (details['failover'] !== undefined) info['failover'] = details['failover'];
      output(out, opts.json, info, () => {
        const lines = [`${found.id}: ${status} — ${STATUS_TEXT[status]}`];
        if (registration !== undefined) {
          lines.push(
            `  hub ${String(registration['hub'])} (${String(registration['substatus'])}; first hub ${String(registration['initialHub'])})`,
          );
        }
        const failover = details['failover'] as JsonRecord | undefined;
        if (failover !== undefined) {
          lines.push(
            `  failed over from ${String(failover['originalHub'])}; reverts at ${String(failover['revertAt'])}`,
          );
        }
        return lines.join('\n');
      });
    });
}
