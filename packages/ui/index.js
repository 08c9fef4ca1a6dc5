/**
 * Where the built web UI is: the folder `plugboard up` serves at `ui.url` (`vite build` writes it).
 */
import { fileURLToPath } from 'node:url';

/** The built UI's folder (holds `index.html`). */
export const UI_ROOT = fileURLToPath(new URL('./dist/', import.meta.url));
