/**
 * IoT Central API tokens: `SharedAccessSignature sr={appId}&sig=…&skn={tokenId}&se={expiry in ms}`, each
 * with its own signing key and roles (admin, builder, operator — Central's role ids), kept in storage.
 * A request's `Authorization` header is checked here: signature, expiry, and that the token still
 * exists (deleting a token revokes it). `plugboard up` creates an admin token on first start.
 */
import { randomBytes } from 'node:crypto';
import { parseSharedAccessSignature } from '@plugboard/protocol';
import type { Storage } from '../storage/port.js';
import { hmacBase64, verifySas } from '../core/sas.js';
import { CentralError } from './errors.js';

/** Central's well-known role ids (what `az iot central api-token create --role` sends). */
export const CENTRAL_ROLES = {
  admin: 'ca310b8d-2f4a-44e0-a36e-957c202cd8d4',
  builder: '344138e9-8de4-4497-8c54-5237e96d6aaf',
  operator: 'ae2c9854-393b-4f97-8c42-479d70ce626e',
} as const;

/** A role name. */
export type CentralRole = keyof typeof CENTRAL_ROLES;

/** The permissions, narrowest first. */
const PERMISSIONS = ['read', 'operate', 'build', 'administer'] as const;

/** What a route needs: `read` any role; `operate` operators and up; `build` builders and admins; `administer` admins. */
export type CentralPermission = (typeof PERMISSIONS)[number];

const GRANTS: Readonly<Record<CentralRole, readonly CentralPermission[]>> = {
  admin: ['read', 'operate', 'build', 'administer'],
  builder: ['read', 'operate', 'build'],
  operator: ['read', 'operate'],
};

/** Who a request's token is: its id, its roles by name and every permission they grant. */
export interface SignedIn {
  tokenId: string;
  roles: CentralRole[];
  permissions: CentralPermission[];
}

/** A stored token (its key never leaves the application except inside the token created with it). */
interface StoredToken {
  id: string;
  roles: { role: string; organization?: string }[];
  /** ISO 8601. */
  expiry: string;
  key: string;
}

/** The REST shape of a token (without its secret). */
export interface ApiTokenView {
  id: string;
  roles: { role: string; organization?: string }[];
  expiry: string;
}

const KIND = 'central-api-token';
const TOKEN_ID = /^[A-Za-z0-9_-]{1,64}$/;
const DEFAULT_LIFETIME_MS = 365 * 86_400_000;

function roleName(roleId: string): CentralRole | undefined {
  return (Object.keys(CENTRAL_ROLES) as CentralRole[]).find((name) => CENTRAL_ROLES[name] === roleId);
}

/**
 * The API tokens of one application.
 *
 * @example
 * const tokens = await ApiTokens.open({ appId: 'plugboard', storage });
 * const { token } = await tokens.create('ci', [{ role: CENTRAL_ROLES.operator }]);
 */
export class ApiTokens {
  readonly #appId: string;
  readonly #storage: Storage;
  readonly #now: () => number;
  readonly #tokens: Map<string, StoredToken>;

  private constructor(appId: string, storage: Storage, now: () => number, tokens: Map<string, StoredToken>) {
    this.#appId = appId;
    this.#storage = storage;
    this.#now = now;
    this.#tokens = tokens;
  }

  /** Loads the application's tokens. */
  static async open(options: { appId: string; storage: Storage; now?: () => number }): Promise<ApiTokens> {
    const stored = (await options.storage.loadDocuments(KIND)) as Map<string, StoredToken>;
    return new ApiTokens(options.appId, options.storage, options.now ?? Date.now, stored);
  }

  /**
   * Creates (or replaces) token `id` with `roles`, valid until `expiry` (default one year). Resolves with
   * its view and the token string, which is shown only now.
   */
  async create(
    id: string,
    roles: readonly { role: string; organization?: string }[],
    expiry?: string,
  ): Promise<ApiTokenView & { token: string }> {
    if (!TOKEN_ID.test(id)) {
      throw new CentralError(
        'CENTRAL_BAD_REQUEST',
        `Token id ${JSON.stringify(id)} must be 1-64 letters, digits, - or _.`,
      );
    }
    if (roles.length === 0) throw new CentralError('CENTRAL_BAD_REQUEST', 'A token needs at least one role.');
    for (const r of roles) {
      if (roleName(r.role) === undefined) {
        throw new CentralError(
          'CENTRAL_BAD_REQUEST',
          `Unknown role ${JSON.stringify(r.role)}: use ${Object.entries(CENTRAL_ROLES)
            .map(([name, roleId]) => `${roleId} (${name})`)
            .join(', ')}.`,
        );
      }
    }
    const expiresAt = expiry === undefined ? this.#now() + DEFAULT_LIFETIME_MS : Date.parse(expiry);
    if (!Number.isFinite(expiresAt) || expiresAt <= this.#now()) {
      throw new CentralError('CENTRAL_BAD_REQUEST', 'expiry must be an ISO 8601 time in the future.');
    }
    const stored: StoredToken = {
      id,
      roles: roles.map((r) => ({
        role: r.role,
        ...(r.organization === undefined ? {} : { organization: r.organization }),
      })),
      expiry: new Date(expiresAt).toISOString(),
      key: randomBytes(32).toString('base64'),
    };
    await this.#storage.saveDocument(KIND, id, stored);
    this.#tokens.set(id, stored);
    const signature = hmacBase64(stored.key, `${this.#appId}\n${expiresAt}`);
    const token = `SharedAccessSignature sr=${this.#appId}&sig=${encodeURIComponent(signature)}&skn=${id}&se=${expiresAt}`;
    return { ...this.view(stored), token };
  }

  /** The REST view of a token. */
  view(token: StoredToken): ApiTokenView {
    return { id: token.id, roles: token.roles, expiry: token.expiry };
  }

  /** Every token, as views. */
  list(): ApiTokenView[] {
    return [...this.#tokens.values()].map((t) => this.view(t));
  }

  /** One token, or `CENTRAL_NOT_FOUND`. */
  get(id: string): ApiTokenView {
    const token = this.#tokens.get(id);
    if (token === undefined) throw new CentralError('CENTRAL_NOT_FOUND', `API token ${id} does not exist.`);
    return this.view(token);
  }

  /** Revokes a token. */
  async delete(id: string): Promise<void> {
    this.get(id);
    await this.#storage.deleteDocument(KIND, id);
    this.#tokens.delete(id);
  }

  /**
   * Checks an `Authorization` header and that its token grants `needed`; resolves with the token id and
   * role. Throws `CENTRAL_UNAUTHORIZED` (missing, malformed, forged, expired, revoked) or
   * `CENTRAL_FORBIDDEN` (the role does not allow it).
   */
  authorize(authorization: string | undefined, needed: CentralPermission): { tokenId: string; role: CentralRole } {
    const { token, roles } = this.#verified(authorization);
    return { tokenId: token.id, role: this.#granting(token, roles, needed) };
  }

  /**
   * Who the token in an `Authorization` header is (any valid token may ask): what a client shows or
   * hides by role, as Central's UI hides template editing from operators.
   *
   * @example
   * tokens.signedIn(authorization); // { tokenId: 'operator-1', roles: ['operator'], permissions: ['read', 'operate'] }
   */
  signedIn(authorization: string | undefined): SignedIn {
    const { token, roles } = this.#verified(authorization);
    this.#granting(token, roles, 'read');
    const granted = new Set(roles.flatMap((r) => GRANTS[r]));
    return { tokenId: token.id, roles, permissions: PERMISSIONS.filter((p) => granted.has(p)) };
  }

  /** The stored token an `Authorization` header carries, checked, with its roles by name. */
  #verified(authorization: string | undefined): { token: StoredToken; roles: CentralRole[] } {
    if (authorization === undefined || authorization === '') {
      throw new CentralError('CENTRAL_UNAUTHORIZED', 'Missing Authorization header: send an API token.');
    }
    let sas;
    try {
      sas = parseSharedAccessSignature(authorization);
    } catch (cause) {
      throw new CentralError('CENTRAL_UNAUTHORIZED', 'The Authorization header is not an API token.', { cause });
    }
    const token = sas.keyName === undefined ? undefined : this.#tokens.get(sas.keyName);
    if (token === undefined || sas.resource !== this.#appId || !verifySas(sas, token.key)) {
      throw new CentralError('CENTRAL_UNAUTHORIZED', 'The API token is not valid for this application.');
    }
    if (sas.expiry <= this.#now()) throw new CentralError('CENTRAL_UNAUTHORIZED', 'The API token has expired.');
    const roles = token.roles.map((r) => roleName(r.role)).filter((r): r is CentralRole => r !== undefined);
    return { token, roles };
  }

  /** The first of `roles` that grants `needed`, or `CENTRAL_FORBIDDEN`. */
  #granting(token: StoredToken, roles: readonly CentralRole[], needed: CentralPermission): CentralRole {
    const role = roles.find((r) => GRANTS[r].includes(needed));
    if (role === undefined) {
      throw new CentralError(
        'CENTRAL_FORBIDDEN',
        `Token ${token.id} (${roles.join(', ')}) may not do this: it needs the ${needed} permission.`,
      );
    }
    return role;
  }
}
