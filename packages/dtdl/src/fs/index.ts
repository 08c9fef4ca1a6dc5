// The only part of @plugboard/dtdl that touches the file system (subpath export '@plugboard/dtdl/fs').
// Everything else in the package is pure.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { createDmrResolver, type DtmiResolver } from '../resolver.js';

/** Options of {@link createFsDmrResolver}. */
export interface FsDmrResolverOptions {
  /** Try `*.expanded.json` files first. */
  readonly expanded?: boolean;
}

/**
 * A resolver over a Device Models Repository checked out on disk (`<repoDir>/dtmi/com/example/thermostat-1.json`).
 *
 * @example
 * ```ts
 * import { parseWithResolver } from '@plugboard/dtdl';
 * import { createFsDmrResolver } from '@plugboard/dtdl/fs';
 * const r = await parseWithResolver([text], { resolver: createFsDmrResolver('./models') });
 * ```
 */
export function createFsDmrResolver(repoDir: string, options: FsDmrResolverOptions = {}): DtmiResolver {
  return createDmrResolver({
    ...(options.expanded === undefined ? {} : { expanded: options.expanded }),
    read: async (path, { signal }) => {
      try {
        return await readFile(join(repoDir, path), { encoding: 'utf8', signal });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
  });
}
