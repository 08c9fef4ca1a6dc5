/**
 * The one way a view runs something the user asked for (a PATCH, a DELETE, an import): one at a time
 * (`busy` disables the buttons meanwhile), its refusal shown (`error`, for an ErrorNote) or a refused
 * token signing out, and what follows a success.
 */
import { useState } from 'preact/hooks';
import { onFailure } from './api.js';

/** A view's action runner. */
export interface Action {
  busy: boolean;
  error: string | undefined;
  /** Shows a refusal found before anything was sent (or clears it with undefined). */
  setError: (message: string | undefined) => void;
  /** Runs `action`; on success hands its result to `then`. */
  run<T>(action: () => Promise<T>, then?: (result: T) => void): Promise<void>;
}

/**
 * @example
 * const action = useAction(onUnauthorized);
 * <button disabled={action.busy} onClick={() => void action.run(() => api.request('DELETE', path), onDeleted)}>
 */
export function useAction(onUnauthorized: () => void): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  return {
    busy,
    error,
    setError,
    async run<T>(action: () => Promise<T>, then?: (result: T) => void): Promise<void> {
      setBusy(true);
      setError(undefined);
      try {
        const result = await action();
        then?.(result);
      } catch (cause) {
        onFailure(onUnauthorized, setError)(cause);
      } finally {
        setBusy(false);
      }
    },
  };
}
