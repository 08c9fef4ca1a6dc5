/**
 * Live refreshes: a counter that steps when events of the given types arrive on the event stream, at
 * most once per `delayMs`, so a view that reloads on it follows the device without a request per event.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.js';

/**
 * A number that changes after matching live events; put it in a loading effect's dependencies.
 *
 * @example
 * const refresh = useLiveRefresh(api, { deviceId, types: 'connected,disconnected' }, 300);
 * useEffect(() => { load(); }, [api, deviceId, refresh]);
 */
export function useLiveRefresh(api: Api, query: Record<string, string>, delayMs: number): number {
  const [tick, setTick] = useState(0);
  const key = new URLSearchParams(query).toString();
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stop = api.events(query, () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        setTick((t) => t + 1);
      }, delayMs);
    });
    return () => {
      stop();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [api, key, delayMs]);
  return tick;
}
