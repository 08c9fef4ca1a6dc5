/** The UI's pages, by the address's hash: `#/devices` and `#/devices/{id}`. */
import { useEffect, useState } from 'preact/hooks';

export type Route = { page: 'devices' } | { page: 'device'; deviceId: string };

/** The route an address hash names (the device list for anything else). */
export function routeOf(hash: string): Route {
  const device = /^#\/devices\/([^/]+)$/.exec(hash);
  if (device !== null) return { page: 'device', deviceId: decodeURIComponent(device[1] ?? '') };
  return { page: 'devices' };
}

/** The hash of a device's page. */
export function deviceHref(deviceId: string): string {
  return `#/devices/${encodeURIComponent(deviceId)}`;
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
