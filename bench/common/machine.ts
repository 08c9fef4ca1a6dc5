/**
 * The machine and code a benchmark ran on, stated in every report so figures are never read without it.
 */
import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';

/** The code under test: `git describe --always --dirty`, if git is there. */
export function revision(): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** CPU model and count, memory, Node, OS and revision. */
export function machine(): {
  cpu: string;
  cpus: number;
  memoryGiB: number;
  node: string;
  os: string;
  revision: string;
} {
  const cores = cpus();
  return {
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cpus: cores.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${process.platform} ${release()}`,
    revision: revision(),
  };
}
