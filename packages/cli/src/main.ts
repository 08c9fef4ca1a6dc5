#!/usr/bin/env node
import { buildProgram } from './program.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    const e = error as { code?: string; message?: string };
    process.stderr.write(`plugboard: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}\n`);
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
      process.stderr.write(
        'Ports 443 and 8883 need root or CAP_NET_BIND_SERVICE (or sysctl net.ipv4.ip_unprivileged_port_start=443), and must be free; use --https-port/--mqtt-port to choose others.\n',
      );
    }
    process.exitCode = 1;
  });
