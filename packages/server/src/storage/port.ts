import type {
  AccessPolicy,
  C2dFeedbackRecord,
  C2dRecord,
  IdentityActivity,
  IdentityRecord,
  SessionSubscription,
  TelemetryRecord,
  TwinRecord,
} from '../core/model.js';

/** Everything stored about one identity. */
export interface StoredIdentity {
  record: IdentityRecord;
  twin: TwinRecord;
  activity: IdentityActivity;
}

/** Hub-level settings that must survive restarts (policy keys, trusted device CAs). */
export interface HubConfigRecord {
  policies: AccessPolicy[];
  /** PEM certificates trusted for `certificateAuthority` device authentication, by name. */
  certificateAuthorities: Record<string, string>;
}

/** A telemetry query. */
export interface TelemetryQuery {
  hub?: string;
  deviceId?: string;
  moduleId?: string;
  /** Only records with a larger sequence number. */
  afterSequenceNumber?: number;
  /** Default 100, at most 10,000. */
  limit?: number;
}

/**
 * The storage port. The core keeps a hub's registry, twins, C2D queues and sessions in memory and writes
 * through this port; it reads them back only at start-up. Telemetry is append-only and read by query.
 * Every method resolves only once the change is durable (it survives a crash of the process).
 *
 * Adapters: {@link SqliteStorage} (embedded default). A PostgreSQL adapter implements the same interface.
 */
export interface Storage {
  loadHubConfig(hub: string): Promise<HubConfigRecord | undefined>;
  saveHubConfig(hub: string, config: HubConfigRecord): Promise<void>;

  /**
   * Forgets a removed hub: its settings, identities, sessions, C2D queues and feedback. Its stored
   * telemetry stays (it belongs to the devices, wherever they went).
   */
  deleteHub(hub: string): Promise<void>;

  loadIdentities(hub: string): Promise<StoredIdentity[]>;
  saveIdentity(hub: string, stored: StoredIdentity): Promise<void>;
  deleteIdentity(hub: string, key: string): Promise<void>;

  /**
   * Appends one message durably; resolves with its sequence number. Appends resolve in the order they
   * were made (the MQTT edge relies on it to acknowledge in order).
   */
  appendTelemetry(record: TelemetryRecord): Promise<number>;
  queryTelemetry(query: TelemetryQuery): Promise<TelemetryRecord[]>;
  countTelemetry(query?: Omit<TelemetryQuery, 'limit' | 'afterSequenceNumber'>): Promise<number>;

  loadC2d(hub: string): Promise<C2dRecord[]>;
  saveC2d(hub: string, record: C2dRecord): Promise<void>;
  deleteC2d(hub: string, id: string): Promise<void>;
  appendFeedback(hub: string, record: C2dFeedbackRecord): Promise<void>;
  /** Removes and returns up to `limit` feedback records, oldest first. */
  takeFeedback(hub: string, limit: number): Promise<C2dFeedbackRecord[]>;

  loadSessions(hub: string): Promise<Map<string, SessionSubscription[]>>;
  /** `undefined` deletes the session. */
  saveSession(hub: string, clientId: string, subscriptions: readonly SessionSubscription[] | undefined): Promise<void>;

  /** Documents of one kind (DPS enrollments and registrations, Central templates, ...), by id. */
  loadDocuments(kind: string): Promise<Map<string, unknown>>;
  saveDocument(kind: string, id: string, body: unknown): Promise<void>;
  /** Saves several documents of one kind in one transaction (a projection's periodic flush). */
  saveDocuments(kind: string, documents: readonly (readonly [id: string, body: unknown])[]): Promise<void>;
  deleteDocument(kind: string, id: string): Promise<void>;

  close(): Promise<void>;
}
