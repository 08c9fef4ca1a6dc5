/** The built UI's folder (holds `index.html`). */
export declare const UI_ROOT: string;
