/**
 * The UI's pages, by the address's hash: `#/devices`, `#/devices/{id}` and its views (`/raw`, …),
 * `#/templates`, `#/templates/{id}`, `#/application`.
 */
import { useEffect, useState } from 'preact/hooks';

/** A device page's views: its overview with the charts, raw messages, properties, commands, timeline, fault injection and how it connects. */
export type DeviceView = 'overview' | 'raw' | 'properties' | 'commands' | 'timeline' | 'faults' | 'connect';

const VIEWS: readonly DeviceView[] = ['raw', 'properties', 'commands', 'timeline', 'faults', 'connect'];

export type Route =
  | { page: 'devices' }
  | { page: 'application' }
  | { page: 'templates' }
  | { page: 'template'; templateId: string }
  | { page: 'device'; deviceId: string; view: DeviceView };

/** The route an address hash names (the device list for anything else). */
export function routeOf(hash: string): Route {
  const device = /^#\/devices\/([^/]+)(?:\/([a-z]+))?$/.exec(hash);
  if (device !== null) {
    const view = VIEWS.find((v) => v === device[2]) ?? 'overview';
    return { page: 'device', deviceId: decodeURIComponent(device[1] ?? ''), view };
  }
  const template = /^#\/templates\/([^/]+)$/.exec(hash);
  if (template !== null) return { page: 'template', templateId: decodeURIComponent(template[1] ?? '') };
  if (hash === '#/templates') return { page: 'templates' };
  if (hash === '#/application') return { page: 'application' };
  return { page: 'devices' };
}

/** The hash of a device's page (its overview, or another view). */
export function deviceHref(deviceId: string, view: DeviceView = 'overview'): string {
  return `#/devices/${encodeURIComponent(deviceId)}${view === 'overview' ? '' : `/${view}`}`;
}

/** The hash of a template's page. */
export function templateHref(templateId: string): string {
  return `#/templates/${encodeURIComponent(templateId)}`;
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
