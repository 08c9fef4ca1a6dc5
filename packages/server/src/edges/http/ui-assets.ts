/**
 * The web UI's files on the Central application's origin: `GET /ui/…` from the built UI's folder (the
 * `@plugboard/ui` package's `dist`, which the composition root passes in), through `@fastify/static`
 * (ADR 0023). The UI reads the same REST API as any client, with the API token the user signs in with,
 * so nothing here is private; the files themselves need no token.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where the UI is served on the Central origin. */
export const UI_PATH = '/ui/';

/**
 * Serves the built UI in `root` at {@link UI_PATH}. Throws when `root` holds no `index.html` (the UI
 * was not built), so a missing build is said at start, not found by a user.
 *
 * @example
 * registerUiAssets(app, '/path/to/packages/ui/dist');
 */
export function registerUiAssets(app: FastifyInstance, root: string): void {
  if (!existsSync(join(root, 'index.html'))) {
    throw new Error(`The web UI is not built: ${root} has no index.html (run \`npm run build\`).`);
  }
  void app.register(fastifyStatic, {
    root,
    prefix: UI_PATH,
    index: 'index.html',
    // Hashed asset names change with their content; the page itself is always asked for again.
    setHeaders(response, path) {
      void response.header(
        'cache-control',
        path.endsWith('index.html') ? 'no-cache' : 'public, max-age=31536000, immutable',
      );
    },
  });
  app.get('/ui', (_request, reply) => reply.redirect(UI_PATH));
}
