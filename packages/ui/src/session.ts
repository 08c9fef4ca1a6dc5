/**
 * The signed-in API token: kept for the browser tab (`sessionStorage`), taken from the address's
 * `#token=…` when the start banner's link opened the page (and removed from the address at once).
 */

const KEY = 'plugboard.apiToken';

/** The token the tab is signed in with, if any; a `#token=` in the address signs in first. */
export function startingToken(): string | undefined {
  const match = /^#token=([^&]*)/.exec(location.hash);
  if (match !== null) {
    const token = decodeURIComponent(match[1] ?? '');
    history.replaceState(null, '', `${location.pathname}${location.search}#/devices`);
    if (token !== '') {
      sessionStorage.setItem(KEY, token);
      return token;
    }
  }
  return sessionStorage.getItem(KEY) ?? undefined;
}

export function keepToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
