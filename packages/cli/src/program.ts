import { Command, InvalidArgumentError, Option } from 'commander';
import { up } from './up.js';

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

/**
 * Builds the `plugboard` command line. Only this package reads argv and the environment.
 *
 * @example
 * await buildProgram().parseAsync(process.argv);
 */
export function buildProgram(): Command {
  const program = new Command('plugboard')
    .description('Local, wire-compatible Azure IoT Central device connectivity: DPS, IoT hubs and the Central app.')
    .showHelpAfterError();

  program
    .command('up')
    .description('Start the platform (IoT hubs) with embedded storage and keep running until SIGINT/SIGTERM.')
    .option('--data-dir <dir>', 'data directory (database, TLS material, plugboard.json)', './.plugboard')
    .option('--hubs <n>', 'number of internal IoT hubs', integer(1, 200), 2)
    .option('--demo', 'create demo devices and print their connection strings', false)
    .option('--mqtt-port <port>', 'MQTT over TLS port', integer(0, 65535), 8883)
    .option('--https-port <port>', 'HTTPS and WebSockets port', integer(0, 65535), 443)
    .option('--loopback-prefix <a.b.c>', 'hubs listen on a.b.c.2, a.b.c.3, ...', '127.0.0')
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info'),
    )
    .addOption(
      new Option('--durability <mode>', 'normal: survives a process crash; full: fsync each commit')
        .choices(['normal', 'full'])
        .default('normal'),
    )
    .option('--json', 'print the manifest as JSON instead of a summary', false)
    .action(
      async (opts: {
        dataDir: string;
        hubs: number;
        demo: boolean;
        mqttPort: number;
        httpsPort: number;
        loopbackPrefix: string;
        logLevel: string;
        durability: 'normal' | 'full';
        json: boolean;
      }) => {
        if (!/^127\.\d{1,3}\.\d{1,3}$/.test(opts.loopbackPrefix)) {
          throw new InvalidArgumentError('--loopback-prefix must look like 127.0.0');
        }
        const { platform } = await up(opts, process.stdout);
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
        await platform.close();
      },
    );

  return program;
}
