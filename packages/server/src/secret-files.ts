/**
 * File modes for what holds secrets — the database (every policy and device key), its WAL and shared
 * memory files, the TLS keys: directories 0700 and files 0600, created so and tightened when found
 * looser (a data directory from an earlier version, a copy made with another umask). POSIX only: on
 * Windows the modes are not enforced and these calls change nothing there.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

const PRIVATE_DIRECTORY = 0o700;
const PRIVATE_FILE = 0o600;

function tighten(path: string, mode: number): void {
  const current = statSync(path).mode & 0o777;
  if ((current & ~mode) !== 0) chmodSync(path, current & mode);
}

/**
 * Creates `directory` (and its parents) if missing, and makes it accessible to its owner only.
 *
 * @example
 * ensurePrivateDirectory('.plugboard');
 */
export function ensurePrivateDirectory(directory: string): void {
  mkdirSync(directory, { recursive: true, mode: PRIVATE_DIRECTORY });
  tighten(directory, PRIVATE_DIRECTORY);
}

/**
 * Creates `path` empty if it is missing (mode 0600, whatever the umask), and tightens it to 0600.
 *
 * @example
 * ensurePrivateFile('.plugboard/plugboard.db'); // before SQLite opens it, so its WAL inherits 0600
 */
export function ensurePrivateFile(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', PRIVATE_FILE));
  tighten(path, PRIVATE_FILE);
}

/**
 * Tightens each existing path to 0600; missing paths are skipped.
 *
 * @example
 * tightenPrivateFiles(['plugboard.db-wal', 'plugboard.db-shm']);
 */
export function tightenPrivateFiles(paths: readonly string[]): void {
  for (const path of paths) if (existsSync(path)) tighten(path, PRIVATE_FILE);
}
