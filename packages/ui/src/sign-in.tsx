/**
 * Sign-in: an API token (`plugboard.json`'s `api.token`, or one made with `plugboard api-token create`),
 * checked against the API before it is kept.
 */
import { useState } from 'preact/hooks';
import { Api, ApiError } from './api.js';

export function SignIn({ onSignedIn }: { onSignedIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const value = token.trim();
    if (value === '') {
      setError('Paste an API token: plugboard.json has one under api.token.');
      return;
    }
    setBusy(true);
    try {
      await new Api(value).get('/plugboard/devices?top=1');
      onSignedIn(value);
    } catch (e) {
      setError(
        e instanceof ApiError ? `The token was refused: ${e.message}` : `The application did not answer: ${String(e)}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <h1>Sign in to Plugboard</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          aria-describedby={error === undefined ? 'token-help' : 'token-error'}
        />
        <p id="token-help" class="help">
          The admin token is in <code>.plugboard/plugboard.json</code> under <code>api.token</code>.
        </p>
        {error === undefined ? null : (
          <p id="token-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
