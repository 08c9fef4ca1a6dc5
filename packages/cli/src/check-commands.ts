/**
 * `plugboard device check --device-id D`: grades a live device — any SDK, any language — against the
 * rules of device-implementation.md (model id, modeled telemetry, creation times, component-format
 * properties, writable-property acknowledgements, commands, reprovisioning, back-off, failover), prints
 * a scorecard, and writes the run as JSON and JUnit XML for CI. Exits 1 (`CLI_CHECK_FAILED`) when a rule
 * fails. The fault and failover checks disturb the device on purpose, and clear every fault between
 * rules.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CentralClient } from './central-client.js';
import { centralCommand, output, type TargetOptions } from './central-device-commands.js';
import { CliError } from './client.js';
import { junit, scorecard } from './check/report.js';
import { ALL_RULES, checkDevice } from './check/run.js';

function seconds(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0 && n <= 3600))
      throw new CliError('CLI_INVALID_ARGUMENT', `${name} must be seconds above 0 (at most 3600).`);
    return n;
  };
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

interface CheckCommandOptions extends TargetOptions {
  deviceId: string;
  checks?: string[];
  skip?: string[];
  outputJson?: string;
  junit?: string;
  telemetrySeconds: number;
  responseSeconds: number;
  recoverySeconds: number;
  faultSeconds: number;
}

/**
 * Registers `device check`.
 *
 * @example
 * registerCheckCommands(program.command('device'), process.stdout);
 */
export function registerCheckCommands(device: Command, out: NodeJS.WritableStream): void {
  centralCommand(device, 'check', 'Grade a live device against the IoT Central device rules (scorecard, JSON, JUnit).')
    .requiredOption('--device-id <id>', 'device id')
    .option('--checks <ids>', `only these checks, comma-separated (${ALL_RULES.map((r) => r.id).join(', ')})`, list)
    .option('--skip <ids>', 'not these checks, comma-separated', list)
    .option('--output-json <file>', 'write the run, with the evidence of every verdict, as JSON')
    .option('--junit <file>', 'write the run as JUnit XML')
    .option('--telemetry-seconds <s>', 'how long telemetry is watched', seconds('--telemetry-seconds'), 20)
    .option(
      '--response-seconds <s>',
      'how long an acknowledgement or command answer may take',
      seconds('--response-seconds'),
      15,
    )
    .option(
      '--recovery-seconds <s>',
      'how long reprovisioning and reconnecting may take',
      seconds('--recovery-seconds'),
      60,
    )
    .option('--fault-seconds <s>', 'how long each back-off fault lasts', seconds('--fault-seconds'), 15)
    .action(async (opts: CheckCommandOptions) => {
      const report = await checkDevice(CentralClient.connect(opts), opts.deviceId, {
        ...(opts.checks === undefined ? {} : { checks: opts.checks }),
        ...(opts.skip === undefined ? {} : { skip: opts.skip }),
        limits: {
          telemetrySeconds: opts.telemetrySeconds,
          responseSeconds: opts.responseSeconds,
          recoverySeconds: opts.recoverySeconds,
          faultSeconds: opts.faultSeconds,
        },
        progress: (line) => {
          if (!opts.json) process.stderr.write(`${line}\n`);
        },
      });
      if (opts.outputJson !== undefined) writeFileSync(opts.outputJson, `${JSON.stringify(report, null, 2)}\n`);
      if (opts.junit !== undefined) writeFileSync(opts.junit, junit(report));
      output(out, opts.json, report, () => scorecard(report));
      if (report.failed > 0) {
        throw new CliError(
          'CLI_CHECK_FAILED',
          `${report.failed} of ${report.results.length} checks failed for ${report.deviceId}.`,
        );
      }
    });
}
