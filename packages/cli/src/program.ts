import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { deriveDeviceKey, isBase64Key } from '@plugboard/protocol';
import { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from '@plugboard/server';
import { CliError, dpsServiceRequest, readManifest } from './client.js';
import { registerCentralAppCommands } from './central-app-commands.js';
import { registerCentralDeviceCommands } from './central-device-commands.js';
import { registerCentralDiagnosticsCommands } from './central-diagnostics-commands.js';
import { registerCentralFailoverCommands } from './central-failover-commands.js';
import { registerFaultCommands } from './fault-commands.js';
import { registerHubCommands } from './hub-commands.js';
import { registerCheckCommands } from './check-commands.js';
import { registerSimulateCommands } from './simulate-commands.js';
import { registerCentralTimelineCommands } from './central-timeline-commands.js';
import { registerModelCommands } from './model-commands.js';
import { startDemoDevices } from './demo.js';
import { up, type UpOptions } from './up.js';

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** `--limit name=ms`, repeatable: one listener time limit (docs/architecture.md#limits). */
function limit(value: string, previous: Partial<ListenerLimits> = {}): Partial<ListenerLimits> {
  const match = /^(\w+)=(\d+)$/.exec(value);
  const names = Object.keys(DEFAULT_LISTENER_LIMITS);
  if (match === null || !names.includes(match[1] ?? '') || Number(match[2]) <= 0) {
    throw new InvalidArgumentError(`expected name=milliseconds with a name among ${names.join(', ')}`);
  }
  return { ...previous, [match[1] as keyof ListenerLimits]: Number(match[2]) };
}

/** A symmetric-key attestation from `--primary-key`/`--secondary-key`, generating what is not given. */
function symmetricKeyAttestation(opts: { primaryKey?: string; secondaryKey?: string }) {
  for (const key of [opts.primaryKey, opts.secondaryKey]) {
    if (key !== undefined && !isBase64Key(key)) throw new CliError('CLI_INVALID_ARGUMENT', 'Keys must be base64.');
  }
  return {
    type: 'symmetricKey',
    symmetricKey: {
      primaryKey: opts.primaryKey ?? randomBytes(32).toString('base64'),
      secondaryKey: opts.secondaryKey ?? randomBytes(32).toString('base64'),
    },
  };
}

/**
 * A certificate file as the DPS API takes it: PEM text as is, DER bytes as base64 (az iot dps reads
 * `--certificate-path` the same way).
 */
function certificateFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new CliError('CLI_INVALID_ARGUMENT', `Cannot read the certificate file ${path}.`, { cause });
  }
  const text = bytes.toString('utf8');
  return text.includes('-----BEGIN') ? text : bytes.toString('base64');
}

function print(out: NodeJS.WritableStream, json: boolean, value: unknown, text: () => string): void {
  out.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/**
 * Builds the `plugboard` command line. Only this package reads argv and the environment.
 *
 * @example
 * await buildProgram().parseAsync(process.argv);
 */
export function buildProgram(out: NodeJS.WritableStream = process.stdout): Command {
  const program = new Command('plugboard')
    .description('Local, wire-compatible Azure IoT Central device connectivity: DPS, IoT hubs and the Central app.')
    .showHelpAfterError();

  program
    .command('up')
    .description(
      'Start the platform (DPS, the IoT hubs and the Central application) with embedded storage; runs until SIGINT/SIGTERM.',
    )
    .option('--data-dir <dir>', 'data directory (database, TLS material, plugboard.json)', './.plugboard')
    .option('--hubs <n>', 'number of internal IoT hubs', integer(1, 200), 2)
    .option('--demo', 'print demo device credentials (registration id and device key)', false)
    .option('--mqtt-port <port>', 'MQTT over TLS port', integer(0, 65535), 8883)
    .option('--amqp-port <port>', 'AMQP over TLS port (hubs)', integer(0, 65535), 5671)
    .option('--https-port <port>', 'HTTPS and WebSockets port', integer(0, 65535), 443)
    .option('--loopback-prefix <a.b.c>', 'DPS listens on a.b.c.1, hubs on a.b.c.2, a.b.c.3, ...', '127.0.0')
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info'),
    )
    .addOption(
      new Option('--log-format <format>', 'pretty (readable lines) or json (one JSON object a line)')
        .choices(['pretty', 'json'])
        .default(process.stdout.isTTY ? 'pretty' : 'json', 'pretty on a terminal, else json'),
    )
    .addOption(
      new Option('--durability <mode>', 'normal: survives a process crash; full: fsync each commit')
        .choices(['normal', 'full'])
        .default('normal'),
    )
    .addOption(
      new Option('--dps-quotas <profile>', 'DPS throttling: off, iotCentral (200 registrations/min), dps (1,000/min)')
        .choices(['off', 'iotCentral', 'dps'])
        .default('off'),
    )
    .option(
      '--limit <name=ms>',
      `a listener time limit, repeatable (${Object.entries(DEFAULT_LISTENER_LIMITS)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`,
      limit,
    )
    .option(
      '--model-repository <dir>',
      'a DTDL model repository folder (dtmi/com/example/thermostat-1.json, ...): templates for announced model ids and for the models templates reference',
    )
    .option('--no-auto-approve', 'devices registering for the first time wait for approval (device approve)')
    .option('--json', 'print the manifest as JSON instead of a summary', false)
    .action(async (opts: UpOptions) => {
      if (!/^127\.\d{1,3}\.\d{1,3}$/.test(opts.loopbackPrefix)) {
        throw new InvalidArgumentError('--loopback-prefix must look like 127.0.0');
      }
      const { platform, manifest } = await up(opts, out);
      const fleet = opts.demo
        ? await startDemoDevices(manifest, opts.dataDir, (deviceId, error) =>
            platform.logger.warn({ err: error, deviceId }, 'demo device did not start'),
          )
        : undefined;
      if (fleet !== undefined && !opts.json) {
        out.write(`Demo devices running: ${fleet.devices.map((d) => d.deviceId).join(', ') || 'none'}\n`);
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          platform.logger.info({ signal }, 'stopping');
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await fleet?.stop();
      await platform.close();
    });

  const device = program
    .command('device')
    .description('Devices of the Central application (as `az iot central device`).');
  device
    .command('compute-device-key')
    .description('Derive a device key from an enrollment group key: base64(HMAC-SHA256(groupKey, deviceId)).')
    .requiredOption('--primary-key <key>', 'the enrollment group key (base64)')
    .requiredOption('--device-id <id>', 'the device (registration) id')
    .option('--json', 'JSON output', false)
    .action(async (opts: { primaryKey: string; deviceId: string; json: boolean }) => {
      if (!isBase64Key(opts.primaryKey)) throw new CliError('CLI_INVALID_ARGUMENT', '--primary-key must be base64.');
      const key = await deriveDeviceKey(opts.primaryKey, opts.deviceId);
      print(out, opts.json, { deviceId: opts.deviceId, primaryKey: key }, () => key);
    });

  const dps = program.command('dps').description('Manage the provisioning service of a running platform.');
  const dataDirOption = (): Option =>
    new Option('--data-dir <dir>', 'data directory of `plugboard up`').default('./.plugboard');

  const group = dps.command('enrollment-group').description('Enrollment groups.');
  group
    .command('list')
    .addOption(dataDirOption())
    .option('--json', 'JSON output', false)
    .action(async (opts: { dataDir: string; json: boolean }) => {
      const groups = (await dpsServiceRequest(readManifest(opts.dataDir), 'GET', '/enrollmentGroups')) as {
        enrollmentGroupId: string;
        attestation: { type: string };
        provisioningStatus: string;
        allocationPolicy: string;
      }[];
      print(out, opts.json, groups, () =>
        groups
          .map((g) => `${g.enrollmentGroupId}\t${g.attestation.type}\t${g.provisioningStatus}\t${g.allocationPolicy}`)
          .join('\n'),
      );
    });
  group
    .command('show')
    .requiredOption('--group-id <id>', 'enrollment group id')
    .addOption(dataDirOption())
    .option('--json', 'JSON output', true)
    .action(async (opts: { groupId: string; dataDir: string; json: boolean }) => {
      const value = await dpsServiceRequest(
        readManifest(opts.dataDir),
        'GET',
        `/enrollmentGroups/${encodeURIComponent(opts.groupId)}`,
      );
      print(out, true, value, () => '');
    });
  group
    .command('create')
    .description('Create (or replace) an enrollment group with symmetric keys (generated unless given) or an X.509 CA.')
    .requiredOption('--group-id <id>', 'enrollment group id')
    .option('--primary-key <key>', 'symmetric primary key (base64)')
    .option('--secondary-key <key>', 'symmetric secondary key (base64)')
    .option('--certificate-path <file>', 'the X.509 CA that signs the devices (PEM or DER), as az iot dps')
    .option('--ca-certificate <file>', 'same as --certificate-path')
    .addOption(
      new Option('--allocation-policy <policy>', 'hub allocation')
        .choices(['hashed', 'static', 'weighted'])
        .default('hashed'),
    )
    .option('--iot-hubs <names>', 'comma-separated hub names the group may use (default: all)')
    .option('--static-hub <name>', 'the hub for --allocation-policy static')
    .option('--disabled', 'create the group disabled', false)
    .addOption(dataDirOption())
    .option('--json', 'JSON output', false)
    .action(
      async (opts: {
        groupId: string;
        primaryKey?: string;
        secondaryKey?: string;
        certificatePath?: string;
        caCertificate?: string;
        allocationPolicy: string;
        iotHubs?: string;
        staticHub?: string;
        disabled: boolean;
        dataDir: string;
        json: boolean;
      }) => {
        const caPath = opts.certificatePath ?? opts.caCertificate;
        const attestation =
          caPath !== undefined
            ? { type: 'x509', x509: { signingCertificates: { primary: { certificate: certificateFile(caPath) } } } }
            : symmetricKeyAttestation(opts);
        const body: Record<string, unknown> = {
          attestation,
          allocationPolicy: opts.allocationPolicy,
          provisioningStatus: opts.disabled ? 'disabled' : 'enabled',
        };
        if (opts.iotHubs !== undefined) body['iotHubs'] = opts.iotHubs.split(',').map((h) => h.trim());
        if (opts.staticHub !== undefined) body['staticHub'] = opts.staticHub;
        const created = (await dpsServiceRequest(
          readManifest(opts.dataDir),
          'PUT',
          `/enrollmentGroups/${encodeURIComponent(opts.groupId)}`,
          body,
        )) as { enrollmentGroupId: string };
        print(out, opts.json, created, () => `created enrollment group ${created.enrollmentGroupId}`);
      },
    );
  group
    .command('delete')
    .requiredOption('--group-id <id>', 'enrollment group id')
    .addOption(dataDirOption())
    .action(async (opts: { groupId: string; dataDir: string }) => {
      await dpsServiceRequest(
        readManifest(opts.dataDir),
        'DELETE',
        `/enrollmentGroups/${encodeURIComponent(opts.groupId)}`,
      );
      out.write(`deleted enrollment group ${opts.groupId}\n`);
    });

  const enrollment = dps.command('enrollment').description('Individual enrollments.');
  enrollment
    .command('list')
    .addOption(dataDirOption())
    .option('--json', 'JSON output', false)
    .action(async (opts: { dataDir: string; json: boolean }) => {
      const list = (await dpsServiceRequest(readManifest(opts.dataDir), 'GET', '/enrollments')) as {
        registrationId: string;
        attestation: { type: string };
        provisioningStatus: string;
      }[];
      print(out, opts.json, list, () =>
        list.map((e) => `${e.registrationId}\t${e.attestation.type}\t${e.provisioningStatus}`).join('\n'),
      );
    });
  enrollment
    .command('create')
    .description('Create (or replace) an individual enrollment with symmetric keys or an X.509 thumbprint.')
    .requiredOption('--registration-id <id>', 'registration id')
    .option('--device-id <id>', 'device id in the hub (default: the registration id)')
    .option('--primary-key <key>', 'symmetric primary key (base64; generated unless given)')
    .option('--secondary-key <key>', 'symmetric secondary key (base64)')
    .option('--thumbprint <sha1>', 'X.509 certificate thumbprint (instead of keys)')
    .option('--certificate-path <file>', "the device's X.509 certificate (PEM or DER; instead of keys), as az iot dps")
    .option('--disabled', 'create the enrollment disabled', false)
    .addOption(dataDirOption())
    .option('--json', 'JSON output', false)
    .action(
      async (opts: {
        registrationId: string;
        deviceId?: string;
        primaryKey?: string;
        secondaryKey?: string;
        thumbprint?: string;
        certificatePath?: string;
        disabled: boolean;
        dataDir: string;
        json: boolean;
      }) => {
        const attestation =
          opts.certificatePath !== undefined
            ? {
                type: 'x509',
                x509: { clientCertificates: { primary: { certificate: certificateFile(opts.certificatePath) } } },
              }
            : opts.thumbprint !== undefined
              ? { type: 'x509', x509: { clientCertificates: { primaryThumbprint: opts.thumbprint } } }
              : symmetricKeyAttestation(opts);
        const body: Record<string, unknown> = {
          attestation,
          provisioningStatus: opts.disabled ? 'disabled' : 'enabled',
        };
        if (opts.deviceId !== undefined) body['deviceId'] = opts.deviceId;
        const created = (await dpsServiceRequest(
          readManifest(opts.dataDir),
          'PUT',
          `/enrollments/${encodeURIComponent(opts.registrationId)}`,
          body,
        )) as { registrationId: string };
        print(out, opts.json, created, () => `created enrollment ${created.registrationId}`);
      },
    );
  enrollment
    .command('delete')
    .requiredOption('--registration-id <id>', 'registration id')
    .addOption(dataDirOption())
    .action(async (opts: { registrationId: string; dataDir: string }) => {
      await dpsServiceRequest(
        readManifest(opts.dataDir),
        'DELETE',
        `/enrollments/${encodeURIComponent(opts.registrationId)}`,
      );
      out.write(`deleted enrollment ${opts.registrationId}\n`);
    });

  dps
    .command('registration')
    .description('Show a device registration (assigned hub, status, substatus).')
    .requiredOption('--registration-id <id>', 'registration id')
    .addOption(dataDirOption())
    .option('--json', 'JSON output', false)
    .action(async (opts: { registrationId: string; dataDir: string; json: boolean }) => {
      const state = (await dpsServiceRequest(
        readManifest(opts.dataDir),
        'GET',
        `/registrations/${encodeURIComponent(opts.registrationId)}`,
      )) as { registrationId: string; assignedHub: string; status: string; substatus: string };
      print(
        out,
        opts.json,
        state,
        () => `${state.registrationId}\t${state.status}\t${state.substatus}\t${state.assignedHub}`,
      );
    });

  registerCentralDeviceCommands(device, out);
  registerCentralFailoverCommands(device, out);
  registerCentralTimelineCommands(device, out);
  registerCheckCommands(device, out);
  registerSimulateCommands(device, out);
  registerCentralAppCommands(program, out);
  registerCentralDiagnosticsCommands(program, out);
  registerFaultCommands(program, out);
  registerHubCommands(program, out);
  registerModelCommands(program, out);

  return program;
}
