/**
 * The application shell: sign-in until a token works, then the header (the application's name, sign
 * out) and the page the address names.
 */
import { useState } from 'preact/hooks';
import { Api } from './api.js';
import { ApplicationPage } from './application-page.js';
import { DevicePage } from './device-page.js';
import { DevicesPage } from './devices-page.js';
import { useRoute } from './routes.js';
import { forgetToken, keepToken, startingToken } from './session.js';
import { SignIn } from './sign-in.js';

export function App() {
  const [api, setApi] = useState<Api | undefined>(() => {
    const token = startingToken();
    return token === undefined ? undefined : new Api(token);
  });
  const route = useRoute();
  if (api === undefined) {
    return (
      <SignIn
        onSignedIn={(token) => {
          keepToken(token);
          setApi(new Api(token));
        }}
      />
    );
  }
  return (
    <>
      <header class="top">
        <a class="brand" href="#/devices">
          Plugboard
        </a>
        <nav aria-label="Main">
          <a href="#/devices" aria-current={route.page === 'devices' ? 'page' : undefined}>
            Devices
          </a>
          <a href="#/application" aria-current={route.page === 'application' ? 'page' : undefined}>
            Application
          </a>
        </nav>
        <button
          type="button"
          onClick={() => {
            forgetToken();
            setApi(undefined);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        {route.page === 'application' ? (
          <ApplicationPage api={api} onUnauthorized={() => setApi(undefined)} />
        ) : route.page === 'device' ? (
          <DevicePage api={api} deviceId={route.deviceId} view={route.view} onUnauthorized={() => setApi(undefined)} />
        ) : (
          <DevicesPage api={api} onUnauthorized={() => setApi(undefined)} />
        )}
      </main>
    </>
  );
}
