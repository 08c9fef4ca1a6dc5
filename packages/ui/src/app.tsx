/**
 * The application shell: sign-in until a token works, then the header (the application's name, who is
 * signed in with which role, sign out) and the page the address names. What the token's role may not
 * do (`GET /plugboard/me`: an operator may not build templates) is not offered.
 */
import { useEffect, useState } from 'preact/hooks';
import { Api, onFailure } from './api.js';
import { ApplicationPage } from './application-page.js';
import { DevicePage } from './device-page.js';
import { DevicesPage } from './devices-page.js';
import { useRoute } from './routes.js';
import { forgetToken, keepToken, startingToken } from './session.js';
import { SignIn } from './sign-in.js';
import { TemplatePage } from './template-page.js';
import { TemplatesPage } from './templates-page.js';

/** The signed-in token as `GET /plugboard/me` answers. */
export interface SignedIn {
  tokenId: string;
  roles: string[];
  permissions: string[];
}

export function App() {
  const [api, setApi] = useState<Api | undefined>(() => {
    const token = startingToken();
    return token === undefined ? undefined : new Api(token);
  });
  const [me, setMe] = useState<SignedIn | undefined>(undefined);
  const route = useRoute();
  useEffect(() => {
    setMe(undefined);
    api?.get<SignedIn>('/plugboard/me').then(
      setMe,
      onFailure(
        () => setApi(undefined),
        () => undefined,
      ),
    );
  }, [api]);
  const may = (permission: string): boolean => me?.permissions.includes(permission) === true;
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
          <a
            href="#/templates"
            aria-current={route.page === 'templates' || route.page === 'template' ? 'page' : undefined}
          >
            Templates
          </a>
          <a href="#/application" aria-current={route.page === 'application' ? 'page' : undefined}>
            Application
          </a>
        </nav>
        {me === undefined ? null : (
          <span class="signed-in">
            {me.tokenId} ({me.roles.join(', ')})
          </span>
        )}
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
          <ApplicationPage api={api} canAdminister={may('administer')} onUnauthorized={() => setApi(undefined)} />
        ) : route.page === 'templates' ? (
          <TemplatesPage api={api} canBuild={may('build')} onUnauthorized={() => setApi(undefined)} />
        ) : route.page === 'template' ? (
          <TemplatePage api={api} templateId={route.templateId} onUnauthorized={() => setApi(undefined)} />
        ) : route.page === 'device' ? (
          <DevicePage
            api={api}
            deviceId={route.deviceId}
            view={route.view}
            canOperate={may('operate')}
            onUnauthorized={() => setApi(undefined)}
          />
        ) : (
          <DevicesPage api={api} canOperate={may('operate')} onUnauthorized={() => setApi(undefined)} />
        )}
      </main>
    </>
  );
}
