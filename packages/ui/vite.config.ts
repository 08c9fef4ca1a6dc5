/**
 * Builds the web UI into `dist/` for `plugboard up` to serve at `/ui/` (ADR 0023): Preact's JSX, hashed
 * asset names, source maps.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/ui/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
});
