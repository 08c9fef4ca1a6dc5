/** The UI's pages, by the address's hash: `#/devices`, `#/devices/{id}` and its views (`/raw`, …), `#/application`. */
import { useEffect, useState } from 'preact/hooks';

/** A device page's views: its overview with the charts, raw messages, properties, commands and timeline. */
export type DeviceView = 'overview' | 'raw' | 'properties' | 'commands' | 'timeline';

const VIEWS: readonly DeviceView[] = ['raw', 'properties', 'commands', 'timeline'];

export type Route =
  { page: 'devices' } | { page: 'application' } | { page: 'device'; deviceId: string; view: DeviceView };

/** The route an address hash names (the device list for anything else). */
export function routeOf(hash: string): Route {
  const device = /^#\/devices\/([^/]+)(?:\/([a-z]+))?$/.exec(hash);
  if (device !== null) {
    const view = VIEWS.find((v) => v === device[2]) ?? 'overview';
    return { page: 'device', deviceId: decodeURIComponent(device[1] ?? ''), view };
  }
  if (hash === '#/application') return { page: 'application' };
  return { page: 'devices' };
}

/** The hash of a device's page (its overview, or another view). */
export function deviceHref(deviceId: string, view: DeviceView = 'overview'): string {
  return `#/devices/${encodeURIComponent(deviceId)}${view === 'overview' ? '' : `/${view}`}`;
}

/** The current route, following the address. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(location.hash));
  useEffect(() => {
    const follow = (): void => setRoute(routeOf(location.hash));
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  return route;
}
