/**
 * A hub's access control: its shared access policies and the service tokens signed with them, the CA
 * certificates it trusts for `certificateAuthority` devices, and the authentication of connecting devices
 * (SAS tokens with the device key or a `DeviceConnect` policy; X.509 by thumbprint or by chain).
 */
import { X509Certificate, createHmac } from 'node:crypto';
import { ProtocolError, decodeResource, parseSharedAccessSignature, resourceCovers } from '@plugboard/protocol';
import { HubError } from '../../errors.js';
import type { StoredIdentity } from '../../storage/port.js';
import { certificateThumbprints, verifyCertificateChain } from '../../tls/index.js';
import { identityKey, identityOf, type AccessPolicy, type HubPermission, type Identity } from '../model.js';
import { verifySas } from '../sas.js';
import type { HubContext } from './context.js';
import type { Registry } from './registry.js';
import type { Authenticated, ConnectCredentials } from './types.js';

/** What a service token must be for: `target` (default the hub's host name), and how it was signed. */
export interface ServiceTokenScope {
  /** The resource the token must cover. */
  target?: string;
  /** An Event Hubs client's token (`sb://…` audience): signed with the key's text, not its bytes. */
  eventHubs?: boolean;
}

/**
 * Policies, trusted CAs and device authentication of one hub.
 *
 * @example
 * const auth = new HubAuthentication(context, registry, config.policies, config.certificateAuthorities);
 * const authenticated = await auth.authenticate({ hostName, deviceId: 'dev1', password: token });
 */
export class HubAuthentication {
  readonly #ctx: HubContext;
  readonly #registry: Registry;
  #policies: AccessPolicy[];
  #certificateAuthorities: Record<string, string>;

  constructor(context: HubContext, registry: Registry, policies: AccessPolicy[], cas: Record<string, string>) {
    this.#ctx = context;
    this.#registry = registry;
    this.#policies = policies;
    this.#certificateAuthorities = cas;
  }

  /** The hub's shared access policies. */
  get policies(): readonly AccessPolicy[] {
    return this.#policies;
  }

  /** `HostName=...;SharedAccessKeyName=...;SharedAccessKey=...` for a policy (default `iothubowner`). */
  serviceConnectionString(keyName = 'iothubowner'): string {
    const policy = this.#policies.find((p) => p.keyName === keyName);
    if (policy === undefined)
      throw new HubError('HUB_INVALID_ARGUMENT', `Hub ${this.#ctx.name} has no policy ${keyName}.`);
    return `HostName=${this.#ctx.hostName};SharedAccessKeyName=${policy.keyName};SharedAccessKey=${policy.primaryKey}`;
  }

  /**
   * The built-in endpoint's Event Hubs connection string for a policy (default `iothubowner`), as the
   * portal shows it: `Endpoint=sb://{host}/;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath={hub name}`.
   */
  eventHubConnectionString(keyName = 'iothubowner'): string {
    const policy = this.#policies.find((p) => p.keyName === keyName);
    if (policy === undefined)
      throw new HubError('HUB_INVALID_ARGUMENT', `Hub ${this.#ctx.name} has no policy ${keyName}.`);
    return `Endpoint=sb://${this.#ctx.hostName}/;SharedAccessKeyName=${policy.keyName};SharedAccessKey=${policy.primaryKey};EntityPath=${this.#ctx.name}`;
  }

  /**
   * A token for the built-in endpoint (`sb://{host}/{hub name}`), signed as Event Hubs clients sign
   * (the key's text as the HMAC key), valid until `expiry` (epoch seconds). Default policy `service`.
   */
  eventHubToken(expiry: number, keyName = 'service'): string {
    const policy = this.#policies.find((p) => p.keyName === keyName);
    if (policy === undefined)
      throw new HubError('HUB_INVALID_ARGUMENT', `Hub ${this.#ctx.name} has no policy ${keyName}.`);
    const resource = encodeURIComponent(`sb://${this.#ctx.hostName}/${this.#ctx.name}`);
    const signature = createHmac('sha256', Buffer.from(policy.primaryKey, 'utf8'))
      .update(`${resource}\n${expiry}`, 'utf8')
      .digest('base64');
    return `SharedAccessSignature sr=${resource}&sig=${encodeURIComponent(signature)}&se=${expiry}&skn=${encodeURIComponent(keyName)}`;
  }

  /** `HostName=...;DeviceId=...;SharedAccessKey=...` for a SAS identity. */
  deviceConnectionString(identity: Identity): string {
    const stored = this.#registry.require(identity);
    const auth = stored.record.authentication;
    const parts = [`HostName=${this.#ctx.hostName}`, `DeviceId=${identity.deviceId}`];
    if (identity.moduleId !== undefined) parts.push(`ModuleId=${identity.moduleId}`);
    if (auth.type === 'sas') parts.push(`SharedAccessKey=${auth.symmetricKey.primaryKey}`);
    else parts.push('x509=true');
    return parts.join(';');
  }

  /** Trusts a CA certificate (PEM) for `certificateAuthority` device authentication. */
  async addCertificateAuthority(name: string, pem: string): Promise<void> {
    try {
      new X509Certificate(pem);
    } catch (cause) {
      throw new HubError('HUB_INVALID_ARGUMENT', `Certificate ${name} is not a valid PEM certificate.`, { cause });
    }
    this.#certificateAuthorities = { ...this.#certificateAuthorities, [name]: pem };
    await this.#ctx.storage.saveHubConfig(this.#ctx.name, {
      policies: this.#policies,
      certificateAuthorities: this.#certificateAuthorities,
    });
  }

  /**
   * Checks a service token (`Authorization: SharedAccessSignature ...`) whose resource covers
   * `scope.target` (the hub's host name unless given) and returns the policy's rights. Throws
   * `HUB_UNAUTHORIZED` / `HUB_TOKEN_EXPIRED`.
   */
  async authorizeService(
    authorization: string | undefined,
    needed: HubPermission,
    scope: ServiceTokenScope = {},
  ): Promise<AccessPolicy> {
    const target = scope.target ?? this.#ctx.hostName;
    const encoding = scope.eventHubs === true ? 'utf8' : 'base64';
    if (authorization === undefined) throw new HubError('HUB_UNAUTHORIZED', 'Missing Authorization header.');
    let sas;
    try {
      sas = parseSharedAccessSignature(authorization);
    } catch (cause) {
      throw new HubError('HUB_UNAUTHORIZED', 'The Authorization header is not a SharedAccessSignature.', { cause });
    }
    const policy = this.#policies.find((p) => p.keyName === sas.keyName);
    if (policy === undefined) {
      throw new HubError('HUB_UNAUTHORIZED', `Unknown shared access policy ${JSON.stringify(sas.keyName ?? '')}.`);
    }
    const resource = decodeResource(sas.resource);
    if (!resourceCovers(resource.toLowerCase(), target.toLowerCase())) {
      throw new HubError('HUB_UNAUTHORIZED', `The token's resource ${resource} does not cover ${target}.`);
    }
    if (!this.#verifyEither(sas, policy.primaryKey, policy.secondaryKey, encoding)) {
      throw new HubError('HUB_UNAUTHORIZED', 'The token signature is invalid.');
    }
    if (sas.expiry * 1000 <= this.#ctx.now()) throw new HubError('HUB_TOKEN_EXPIRED', 'The token has expired.');
    if (!policy.rights.includes(needed)) {
      throw new HubError('HUB_UNAUTHORIZED', `Policy ${policy.keyName} lacks the ${needed} permission.`);
    }
    return policy;
  }

  #verifyEither(
    sas: ReturnType<typeof parseSharedAccessSignature>,
    primary: string,
    secondary: string,
    encoding: 'base64' | 'utf8' = 'base64',
  ): boolean {
    return verifySas(sas, primary, encoding) || verifySas(sas, secondary, encoding);
  }

  /**
   * Authenticates a connecting device. Throws a {@link HubError}: `HUB_BAD_CREDENTIALS` (unparsable
   * token), `HUB_UNAUTHORIZED` (wrong key, unknown device, token for another identity, wrong method),
   * `HUB_TOKEN_EXPIRED`, `HUB_DEVICE_DISABLED`.
   */
  async authenticate(credentials: ConnectCredentials): Promise<Authenticated> {
    const identity = identityOf(credentials);
    if (credentials.hostName.toLowerCase() !== this.#ctx.hostName.toLowerCase()) {
      throw new HubError(
        'HUB_UNAUTHORIZED',
        `Host name ${credentials.hostName} is not this hub (${this.#ctx.hostName}).`,
      );
    }
    const stored = this.#registry.get(identityKey(identity));
    if (credentials.password !== undefined && credentials.password !== '') {
      let sas;
      try {
        sas = parseSharedAccessSignature(credentials.password);
      } catch (cause) {
        throw new HubError(
          'HUB_BAD_CREDENTIALS',
          'The password is not a SharedAccessSignature token.',
          cause instanceof ProtocolError ? { cause } : {},
        );
      }
      if (stored === undefined) {
        throw new HubError('HUB_UNAUTHORIZED', `Identity ${identityKey(identity)} is not registered in this hub.`);
      }
      const target =
        `${this.#ctx.hostName}/devices/${identity.deviceId}` +
        (identity.moduleId === undefined ? '' : `/modules/${identity.moduleId}`);
      if (!resourceCovers(decodeResource(sas.resource), target)) {
        throw new HubError('HUB_UNAUTHORIZED', `The token's resource does not cover ${target}.`);
      }
      let valid: boolean;
      if (sas.keyName !== undefined) {
        const policy = this.#policies.find((p) => p.keyName === sas.keyName && p.rights.includes('DeviceConnect'));
        valid = policy !== undefined && this.#verifyEither(sas, policy.primaryKey, policy.secondaryKey);
      } else {
        const auth = stored.record.authentication;
        valid =
          auth.type === 'sas' && this.#verifyEither(sas, auth.symmetricKey.primaryKey, auth.symmetricKey.secondaryKey);
      }
      if (!valid) throw new HubError('HUB_UNAUTHORIZED', 'The token signature does not match the identity key.');
      const expiresAt = sas.expiry * 1000;
      if (expiresAt <= this.#ctx.now())
        throw new HubError('HUB_TOKEN_EXPIRED', 'The SAS token has expired; create a new one.');
      this.requireEnabled(stored);
      return { identity, expiresAt, method: 'sas' };
    }
    const chain = credentials.clientCertificates ?? [];
    const leaf = chain[0];
    if (leaf === undefined) {
      throw new HubError('HUB_BAD_CREDENTIALS', 'No SAS token and no client certificate were presented.');
    }
    if (stored === undefined) {
      throw new HubError('HUB_UNAUTHORIZED', `Identity ${identityKey(identity)} is not registered in this hub.`);
    }
    const auth = stored.record.authentication;
    if (auth.type === 'selfSigned') {
      const { sha1, sha256 } = certificateThumbprints(leaf);
      const allowed = [auth.x509Thumbprint.primaryThumbprint, auth.x509Thumbprint.secondaryThumbprint];
      if (!allowed.includes(sha1) && !allowed.includes(sha256)) {
        throw new HubError('HUB_UNAUTHORIZED', 'The client certificate thumbprint does not match the identity.');
      }
      const cert = new X509Certificate(leaf);
      const now = this.#ctx.now();
      if (Date.parse(cert.validTo) <= now || Date.parse(cert.validFrom) > now) {
        throw new HubError('HUB_UNAUTHORIZED', 'The client certificate is outside its validity period.');
      }
    } else if (auth.type === 'certificateAuthority') {
      const verdict = verifyCertificateChain(
        chain,
        Object.values(this.#certificateAuthorities),
        new Date(this.#ctx.now()),
      );
      if (!verdict.ok) {
        throw new HubError(
          'HUB_UNAUTHORIZED',
          `The client certificate chain is not trusted (${verdict.reason ?? 'untrusted'}).`,
        );
      }
      const expectedCn = identity.moduleId === undefined ? identity.deviceId : identity.moduleId;
      if (verdict.commonName !== expectedCn && verdict.commonName !== identityKey(identity)) {
        throw new HubError('HUB_UNAUTHORIZED', `The certificate subject CN must be ${expectedCn}.`);
      }
    } else {
      throw new HubError('HUB_UNAUTHORIZED', 'This identity authenticates with a SAS token, not a certificate.');
    }
    this.requireEnabled(stored);
    return { identity, method: 'x509' };
  }

  /** Throws `HUB_DEVICE_DISABLED` unless the identity (and, for a module, its device) is enabled. */
  requireEnabled(stored: StoredIdentity): void {
    if (stored.record.status !== 'enabled') {
      throw new HubError('HUB_DEVICE_DISABLED', `Identity ${identityKey(stored.record)} is disabled in this hub.`);
    }
    if (stored.record.moduleId !== undefined) {
      const device = this.#registry.get(stored.record.deviceId);
      if (device !== undefined && device.record.status !== 'enabled') {
        throw new HubError('HUB_DEVICE_DISABLED', `Device ${stored.record.deviceId} is disabled in this hub.`);
      }
    }
  }
}
