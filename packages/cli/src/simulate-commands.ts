/**
 * `plugboard device simulate --template DTMI | --model FILE --count N [--interval S]`: N simulated Plug
 * and Play devices of one model in this process (`@plugboard/device`'s SimulatedFleet), registering
 * through DPS with the application's SAS-IoT-Devices group key — from plugboard.json, or `--id-scope`,
 * `--group-key` and `--provisioning-host` for an Azure IoT Central application — at a paced rate. A
 * progress line (provisioned / connected / messages per second / errors) is kept up to date on stderr;
 * a summary is printed at the end (`--duration`, or Ctrl+C).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SimulatedFleet, type FleetStats } from '@plugboard/device';
import { parse, type DtdlModel } from '@plugboard/dtdl';
import { CentralClient } from './central-client.js';
import { centralCommand, output, type TargetOptions } from './central-device-commands.js';
import { templateModel } from './check/context.js';
import { CliError, readManifest } from './client.js';
import { modelFiles } from './model-commands.js';

interface SimulateOptions extends TargetOptions {
  template?: string;
  model?: string[];
  count: number;
  interval: number;
  rampRate: number;
  idPrefix?: string;
  duration?: number;
  idScope?: string;
  groupKey?: string;
  provisioningHost?: string;
  seed: number;
}

function positive(name: string, max: number, integer = false) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0 && n <= max) || (integer && !Number.isInteger(n))) {
      throw new CliError(
        'CLI_INVALID_ARGUMENT',
        `${name} must be a ${integer ? 'whole ' : ''}number above 0 (at most ${max}).`,
      );
    }
    return n;
  };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The model to simulate: a template of the application, or DTDL files. */
async function loadModel(opts: SimulateOptions): Promise<{ model: DtdlModel; modelId: string }> {
  if ((opts.template === undefined) === (opts.model === undefined)) {
    throw new CliError('CLI_INVALID_ARGUMENT', 'Give either --template DTMI or --model FILE.');
  }
  if (opts.template !== undefined) {
    const parsed = templateModel(await CentralClient.connect(opts).getTemplate(opts.template));
    if (parsed === undefined) {
      throw new CliError('CLI_INVALID_ARGUMENT', `The template ${opts.template} has no capability model that parses.`);
    }
    return parsed;
  }
  const files = modelFiles(opts.model ?? []);
  const result = parse(files.map((f) => readFileSync(f, 'utf8')));
  if (!result.ok || result.model === undefined) {
    throw new CliError(
      'CLI_INVALID_ARGUMENT',
      `The model is not valid: ${result.errors[0]?.message ?? 'no interface'} (plugboard model validate says more).`,
    );
  }
  // The device's model: the Interface that no other one uses as a component or extends.
  const model = result.model;
  const used = new Set<string>();
  for (const root of model.roots) {
    const element = model.get(root);
    for (const id of element?.extends ?? []) used.add(id);
    for (const id of Object.values(element?.contents ?? {})) {
      const content = model.get(id);
      if (content?.kind === 'Component' && content.schema !== undefined) used.add(content.schema);
    }
  }
  const modelId = model.roots.find((id) => !used.has(id));
  if (modelId === undefined) throw new CliError('CLI_INVALID_ARGUMENT', 'The model has no Interface.');
  return { model, modelId };
}

/** Where the devices connect: plugboard.json's application, or the one named by options. */
function target(opts: SimulateOptions): {
  idScope: string;
  groupKey: string;
  provisioningHost?: string;
  ca?: string;
} {
  if (opts.idScope !== undefined || opts.groupKey !== undefined) {
    if (opts.idScope === undefined || opts.groupKey === undefined) {
      throw new CliError('CLI_INVALID_ARGUMENT', '--id-scope and --group-key go together.');
    }
    return {
      idScope: opts.idScope,
      groupKey: opts.groupKey,
      ...(opts.provisioningHost === undefined ? {} : { provisioningHost: opts.provisioningHost }),
    };
  }
  const manifest = readManifest(opts.dataDir);
  const group = manifest.enrollmentGroups.find((g) => g.id === 'SAS-IoT-Devices' && g.primaryKey !== undefined);
  if (group?.primaryKey === undefined) {
    throw new CliError('CLI_INVALID_ARGUMENT', 'plugboard.json has no SAS-IoT-Devices group key; give --group-key.');
  }
  return {
    idScope: manifest.idScope,
    groupKey: group.primaryKey,
    provisioningHost: opts.provisioningHost ?? manifest.dps.host,
    ca: readFileSync(manifest.caCertificate, 'utf8'),
  };
}

function line(stats: FleetStats): string {
  const error = stats.lastError === undefined ? '' : `  last: ${stats.lastError.slice(0, 80)}`;
  return `provisioned ${stats.provisioned}/${stats.devices}  connected ${stats.connected}  ${stats.messagesPerSecond} msg/s  ${stats.messages} messages  errors ${stats.errors}${error}`;
}

/**
 * Registers `device simulate`.
 *
 * @example
 * registerSimulateCommands(program.command('device'), process.stdout);
 */
export function registerSimulateCommands(device: Command, out: NodeJS.WritableStream): void {
  centralCommand(device, 'simulate', 'Run N simulated Plug and Play devices of a template or DTDL model.')
    .option('--template <dtmi>', 'a device template of the application')
    .option('--model <file>', 'a DTDL file or folder (repeatable) instead of a template', collect)
    .option('--count <n>', 'how many devices', positive('--count', 100_000, true), 1)
    .option('--interval <s>', 'seconds between two telemetry messages of a device', positive('--interval', 3600), 5)
    .option('--ramp-rate <n>', 'devices started per second (DPS quotas)', positive('--ramp-rate', 10_000), 10)
    .option('--id-prefix <prefix>', 'device ids are <prefix>-1 … <prefix>-N (default: sim)')
    .option(
      '--duration <s>',
      'stop after this many seconds (default: until Ctrl+C)',
      positive('--duration', 7 * 86_400),
    )
    .option('--id-scope <scope>', 'an Azure IoT Central application: its ID scope (with --group-key)')
    .option('--group-key <key>', 'the SAS-IoT-Devices group key of that application')
    .option(
      '--provisioning-host <host>',
      'DPS host (default: plugboard.json, else global.azure-devices-provisioning.net)',
    )
    .option('--seed <n>', 'seed of the simulated values', positive('--seed', 2 ** 31, true), 1)
    .action(async (opts: SimulateOptions) => {
      const { model, modelId } = await loadModel(opts);
      const where = target(opts);
      const fleet = new SimulatedFleet({
        model,
        modelId,
        count: opts.count,
        intervalMs: opts.interval * 1000,
        rampPerSecond: opts.rampRate,
        seed: opts.seed,
        ...(opts.idPrefix === undefined ? {} : { idPrefix: opts.idPrefix }),
        connection: {
          idScope: where.idScope,
          credentials: { groupKey: where.groupKey },
          ...(where.provisioningHost === undefined ? {} : { provisioningHost: where.provisioningHost }),
          ...(where.ca === undefined ? {} : { ca: where.ca }),
        },
      });
      const tty = process.stderr.isTTY;
      const progress = setInterval(
        () => {
          if (!opts.json) process.stderr.write(tty ? `\r\x1b[K${line(fleet.stats())}` : `${line(fleet.stats())}\n`);
        },
        tty ? 1000 : 5000,
      );
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const began = Date.now();
      try {
        await Promise.race([
          fleet.start(stop.signal),
          new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true })),
        ]);
        await new Promise<void>((resolve) => {
          if (stop.signal.aborted) resolve();
          stop.signal.addEventListener('abort', () => resolve(), { once: true });
          if (opts.duration !== undefined)
            setTimeout(resolve, Math.max(0, began + opts.duration * 1000 - Date.now())).unref();
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        clearInterval(progress);
        const stats = fleet.stats();
        await fleet.stop();
        if (tty && !opts.json) process.stderr.write('\n');
        const summary = { modelId, seconds: Math.round((Date.now() - began) / 100) / 10, ...stats };
        output(out, opts.json, summary, () =>
          [
            `Simulated ${stats.devices} devices of ${modelId} for ${summary.seconds} s:`,
            `  provisioned ${stats.provisioned}, connected at the end ${stats.connected}`,
            `  ${stats.messages} telemetry messages acknowledged, ${stats.writableAcks} writable properties acknowledged, ${stats.commands} commands answered`,
            `  ${stats.errors} errors${stats.lastError === undefined ? '' : ` (last: ${stats.lastError})`}`,
          ].join('\n'),
        );
      }
    });
}
