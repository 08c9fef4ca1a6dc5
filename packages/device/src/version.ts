/** The package version, sent in the user agent (`plugboard-device/{VERSION}`). */
export const VERSION = '0.1.0';
