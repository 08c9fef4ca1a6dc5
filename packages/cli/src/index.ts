/**
 * `@plugboard/cli`: the `plugboard` command line.
 *
 * @example
 * ```ts
 * import { buildProgram } from '@plugboard/cli';
 * await buildProgram().parseAsync(['node', 'plugboard', 'up', '--hubs', '2']);
 * ```
 *
 * @packageDocumentation
 */
export { buildProgram } from './program.js';
export { DEMO_DEVICES, manifestPath, up } from './up.js';
export { CLI_ERROR_CODES, CliError, dpsServiceRequest, readManifest } from './client.js';
export type { Manifest, UpOptions } from './up.js';
