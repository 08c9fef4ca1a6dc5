/**
 * Child-process plumbing the benchmarks share: each server and each load generator runs in its own process,
 * started with `fork` and driven over its IPC channel.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Waits for the next message of `type` from a child; rejects if the child fails or exits first, or on timeout. */
export function nextMessage<T extends { type: string }>(
  child: ChildProcess,
  type: T['type'],
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: unknown): void => {
      const m = message as { type?: string; message?: string };
      if (m.type === 'failed') {
        cleanup();
        reject(new Error(`child failed: ${m.message ?? 'unknown error'}`));
      } else if (m.type === type) {
        cleanup();
        resolve(message as T);
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`child exited (${signal ?? code}) while waiting for ${type}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${type}`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Asks a child to exit with `goodbye`; SIGKILL after 10 s. */
export async function stopChild(child: ChildProcess, goodbye: object): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send(goodbye);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Runs `task` over `items` with at most `limit` running at once; the first failure rejects. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * The child processes of one orchestrator. Every child is SIGKILLed when the orchestrator exits, is
 * interrupted, or runs past its global deadline — a benchmark never leaves load running behind it.
 */
export class Children {
  readonly #children = new Set<ChildProcess>();
  readonly #base: URL;

  /** `base`: the orchestrator's `import.meta.url`, against which child files are resolved. */
  constructor(base: string) {
    this.#base = new URL(base);
  }

  /** Forks `file` (relative to the orchestrator) with the given Node options. */
  start(file: string, args: string[], execArgv: string[]): ChildProcess {
    const child = fork(fileURLToPath(new URL(file, this.#base)), args, {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#children.add(child);
    child.on('exit', () => this.#children.delete(child));
    return child;
  }

  killAll(): void {
    for (const child of this.#children) child.kill('SIGKILL');
  }

  /**
   * Kills every child on exit and on SIGINT/SIGTERM, and stops everything after `timeoutMs`. Returns the
   * deadline timer (clear it when done).
   */
  guard(timeoutMs: number, onTimeout: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      onTimeout();
      this.killAll();
      process.exit(1);
    }, timeoutMs);
    process.on('exit', () => this.killAll());
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        this.killAll();
        process.exit(130);
      });
    }
    return timer;
  }
}
