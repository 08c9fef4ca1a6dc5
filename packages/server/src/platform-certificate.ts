/**
 * The one server certificate every listener of the platform presents (DPS, the hubs, the Central app),
 * and the names it covers. A hub added while running brings a new address: {@link ServerCertificate.cover}
 * has the certificate re-issued for it by the local CA and hands it to every listener, so devices that
 * trust the CA connect to the new hub at once (open connections keep the certificate they started with).
 */
import type { Logger } from 'pino';
import type { Listener } from './edges/listeners.js';
import { ensureTlsMaterial, type TlsMaterial } from './tls/index.js';

/** Splits host names and IP addresses (an IPv4 dotted quad or anything with a colon is an address). */
function isAddress(host: string): boolean {
  return /^[\d.]+$|:/.test(host);
}

/**
 * The platform's server certificate.
 *
 * @example
 * const certificate = await ServerCertificate.open({ directory, hosts: ['localhost', '127.0.0.2'], logger });
 * certificate.track(await listenMqtt({ tls: certificate.material, ... }));
 * await certificate.cover(['127.0.0.4']); // re-issued; every tracked listener serves the new one
 */
export class ServerCertificate {
  readonly #directory: string;
  readonly #logger: Logger;
  readonly #hostNames = new Set<string>();
  readonly #ipAddresses = new Set<string>();
  readonly #listeners = new Set<Listener>();
  #material: TlsMaterial;

  private constructor(directory: string, logger: Logger, material: TlsMaterial) {
    this.#directory = directory;
    this.#logger = logger;
    this.#material = material;
  }

  /** Loads the CA and server certificate from `directory`, issuing what is missing for `hosts`. */
  static async open(options: {
    directory: string;
    hosts: Iterable<string>;
    logger: Logger;
  }): Promise<ServerCertificate> {
    const hostNames = new Set<string>();
    const ipAddresses = new Set<string>();
    for (const host of options.hosts) (isAddress(host) ? ipAddresses : hostNames).add(host);
    const material = await ensureTlsMaterial({
      directory: options.directory,
      hostNames: [...hostNames],
      ipAddresses: [...ipAddresses],
      logger: options.logger,
    });
    const certificate = new ServerCertificate(options.directory, options.logger, material);
    for (const name of hostNames) certificate.#hostNames.add(name);
    for (const address of ipAddresses) certificate.#ipAddresses.add(address);
    return certificate;
  }

  /** The CA and the current server certificate. */
  get material(): TlsMaterial {
    return this.#material;
  }

  /** A listener to hand re-issued certificates to (until it is {@link untrack}ed). */
  track(listener: Listener): void {
    this.#listeners.add(listener);
  }

  untrack(listener: Listener): void {
    this.#listeners.delete(listener);
  }

  /** Makes the certificate cover `hosts` too, re-issuing it when one is new. */
  async cover(hosts: Iterable<string>): Promise<void> {
    let added = false;
    for (const host of hosts) {
      const set = isAddress(host) ? this.#ipAddresses : this.#hostNames;
      if (!set.has(host)) {
        set.add(host);
        added = true;
      }
    }
    if (!added) return;
    const material = await ensureTlsMaterial({
      directory: this.#directory,
      hostNames: [...this.#hostNames],
      ipAddresses: [...this.#ipAddresses],
      logger: this.#logger,
    });
    this.#material = material;
    if (material.created.server) for (const listener of this.#listeners) listener.useCertificate(material);
  }
}
