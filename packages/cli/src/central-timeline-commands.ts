/**
 * `plugboard device timeline --device-id D [--follow]`: what the server saw a device do — provisioning
 * attempts, connects, refused connections with their error codes, disconnects with the reason — with
 * the time before each retry and a verdict on how it retries (eager: a tight loop after refusals).
 * `--follow` keeps printing new entries until interrupted.
 */
import type { Command } from 'commander';
import { CentralClient, type JsonRecord } from './central-client.js';
import { centralCommand, output, type TargetOptions } from './central-device-commands.js';

function entryLine(e: JsonRecord): string {
  const parts = [String(e['at']), String(e['kind'])];
  if (e['outcome'] !== undefined) parts.push(String(e['outcome']));
  if (e['hub'] !== undefined) parts.push(`hub ${String(e['hub'])}`);
  if (e['module'] !== undefined) parts.push(`module ${String(e['module'])}`);
  if (e['code'] !== undefined) parts.push(String(e['code']));
  if (e['reason'] !== undefined) parts.push(`(${String(e['reason'])})`);
  if (e['sincePreviousAttemptMs'] !== undefined) parts.push(`+${String(e['sincePreviousAttemptMs'])} ms`);
  return parts.join('  ');
}

function summaryLine(s: JsonRecord): string {
  const shortest = s['shortestRetryMs'] === undefined ? '' : `, shortest retry ${String(s['shortestRetryMs'])} ms`;
  return `${String(s['attempts'])} attempts, ${String(s['refusals'])} refused${shortest}${s['eager'] === true ? ' — retries too eagerly' : ''}`;
}

/**
 * Registers `device timeline`.
 *
 * @example
 * registerCentralTimelineCommands(program.command('device'), process.stdout);
 */
export function registerCentralTimelineCommands(device: Command, out: NodeJS.WritableStream): void {
  centralCommand(device, 'timeline', 'What the server saw a device do, with the time before each retry.')
    .requiredOption('--device-id <id>', 'device id')
    .option('--follow', 'keep printing new entries (Ctrl-C ends)', false)
    .action(async (opts: TargetOptions & { deviceId: string; follow: boolean }) => {
      const client = CentralClient.connect(opts);
      const first = await client.timeline(opts.deviceId);
      if (!opts.follow) {
        output(out, opts.json, first, () => [...first.value.map(entryLine), summaryLine(first.summary)].join('\n'));
        return;
      }
      let after = 0;
      const print = (entries: JsonRecord[]): void => {
        for (const e of entries) {
          out.write(opts.json ? `${JSON.stringify(e)}\n` : `${entryLine(e)}\n`);
          after = Math.max(after, Number(e['sequence']));
        }
      };
      print(first.value);
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        print((await client.timeline(opts.deviceId, after)).value);
      }
    });
}
