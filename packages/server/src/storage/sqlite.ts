import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  identityKey,
  type C2dFeedbackRecord,
  type C2dRecord,
  type SessionSubscription,
  type TelemetryRecord,
} from '../core/model.js';
import type { HubConfigRecord, Storage, StoredIdentity, TelemetryQuery } from './port.js';

/** Options for {@link SqliteStorage.open}. */
export interface SqliteStorageOptions {
  /** Database file path, or `:memory:`. */
  path: string;
  /**
   * `normal` (default): WAL with synchronous=NORMAL — a commit survives a crash or kill of the process,
   * not a power loss. `full`: fsync on every commit, survives power loss, slower.
   */
  synchronous?: 'normal' | 'full';
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS hubs (name TEXT PRIMARY KEY, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
  hub TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, twin TEXT NOT NULL, activity TEXT NOT NULL,
  PRIMARY KEY (hub, key)
);
CREATE TABLE IF NOT EXISTS telemetry (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  hub TEXT NOT NULL, device_id TEXT NOT NULL, module_id TEXT,
  enqueued_time TEXT NOT NULL, creation_time TEXT, component TEXT,
  message_id TEXT, correlation_id TEXT, user_id TEXT, content_type TEXT, content_encoding TEXT,
  properties TEXT NOT NULL, system_properties TEXT NOT NULL, body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS telemetry_device ON telemetry (hub, device_id, seq);
CREATE TABLE IF NOT EXISTS c2d (hub TEXT NOT NULL, id TEXT NOT NULL, record TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (hub, id));
CREATE TABLE IF NOT EXISTS feedback (seq INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (hub TEXT NOT NULL, client_id TEXT NOT NULL, subscriptions TEXT NOT NULL, PRIMARY KEY (hub, client_id));
CREATE TABLE IF NOT EXISTS documents (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id));
`;

interface TelemetryRow {
  seq: number;
  hub: string;
  device_id: string;
  module_id: string | null;
  enqueued_time: string;
  creation_time: string | null;
  component: string | null;
  message_id: string | null;
  correlation_id: string | null;
  user_id: string | null;
  content_type: string | null;
  content_encoding: string | null;
  properties: string;
  system_properties: string;
  body: Buffer;
}

/** Columns of a telemetry row, as bound by {@link pushTelemetryParams}. */
const TELEMETRY_COLUMNS = 14;
/** Rows per multi-row INSERT: fewer statement executions per group commit. */
const ROWS_PER_INSERT = 16;

function pushTelemetryParams(params: unknown[], r: TelemetryRecord): void {
  params.push(
    r.hub,
    r.deviceId,
    r.moduleId ?? null,
    r.enqueuedTime,
    r.creationTime ?? null,
    r.component ?? null,
    r.messageId ?? null,
    r.correlationId ?? null,
    r.userId ?? null,
    r.contentType ?? null,
    r.contentEncoding ?? null,
    JSON.stringify(r.properties),
    JSON.stringify(r.systemProperties),
    r.body,
  );
}

/** Rows per group commit; more wait for the next turn. */
const MAX_BATCH_ROWS = 512;

interface PendingBatch {
  records: TelemetryRecord[];
  waiters: { resolve: (seq: number) => void; reject: (error: unknown) => void }[];
}

/**
 * The embedded storage adapter: one SQLite file in WAL mode. Telemetry appends from the same event-loop turn
 * are grouped into one transaction (group commit), so each message is durable before its PUBACK without a
 * commit per message.
 *
 * @example
 * const storage = SqliteStorage.open({ path: '.plugboard/plugboard.db' });
 */
export class SqliteStorage implements Storage {
  readonly #db: Database.Database;
  readonly #insertTelemetry: Database.Statement;
  readonly #appendBatch: (records: readonly TelemetryRecord[]) => number[];
  readonly #batches: PendingBatch[] = [];
  #closed = false;
  readonly #statements = new Map<string, Database.Statement>();

  private constructor(db: Database.Database) {
    this.#db = db;
    const columns = `hub, device_id, module_id, enqueued_time, creation_time, component, message_id,
      correlation_id, user_id, content_type, content_encoding, properties, system_properties, body`;
    const row = `(${Array.from({ length: TELEMETRY_COLUMNS }, () => '?').join(', ')})`;
    const insert = (rows: number): Database.Statement =>
      db.prepare(`INSERT INTO telemetry (${columns}) VALUES ${Array.from({ length: rows }, () => row).join(', ')}`);
    this.#insertTelemetry = insert(1);
    const insertMany = insert(ROWS_PER_INSERT);
    // Rows of one INSERT get consecutive rowids (one writer, AUTOINCREMENT), so the last id gives them all.
    this.#appendBatch = db.transaction((records: readonly TelemetryRecord[]) => {
      const seqs = new Array<number>(records.length);
      const params: unknown[] = [];
      let i = 0;
      for (; i + ROWS_PER_INSERT <= records.length; i += ROWS_PER_INSERT) {
        params.length = 0;
        for (let j = i; j < i + ROWS_PER_INSERT; j++) pushTelemetryParams(params, records[j]!);
        const last = Number(insertMany.run(params).lastInsertRowid);
        for (let k = 0; k < ROWS_PER_INSERT; k++) seqs[i + k] = last - ROWS_PER_INSERT + 1 + k;
      }
      for (; i < records.length; i++) {
        params.length = 0;
        pushTelemetryParams(params, records[i]!);
        seqs[i] = Number(this.#insertTelemetry.run(params).lastInsertRowid);
      }
      return seqs;
    });
  }

  /** Statements are compiled once and reused. */
  #prepare(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Opens (and creates if needed) the database. */
  static open(options: SqliteStorageOptions): SqliteStorage {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    const db = new Database(options.path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    // Checkpoint the WAL in smaller steps than the default 1,000 pages: each one blocks a commit.
    db.pragma('wal_autocheckpoint = 256');
    db.exec(SCHEMA);
    return new SqliteStorage(db);
  }

  async loadHubConfig(hub: string): Promise<HubConfigRecord | undefined> {
    const row = this.#prepare('SELECT config FROM hubs WHERE name = ?').get(hub) as { config: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.config) as HubConfigRecord);
  }

  async saveHubConfig(hub: string, config: HubConfigRecord): Promise<void> {
    this.#prepare(
      'INSERT INTO hubs (name, config) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET config = excluded.config',
    ).run(hub, JSON.stringify(config));
  }

  async loadIdentities(hub: string): Promise<StoredIdentity[]> {
    const rows = this.#prepare('SELECT record, twin, activity FROM identities WHERE hub = ?').all(hub) as {
      record: string;
      twin: string;
      activity: string;
    }[];
    return rows.map((row) => ({
      record: JSON.parse(row.record) as StoredIdentity['record'],
      twin: JSON.parse(row.twin) as StoredIdentity['twin'],
      activity: JSON.parse(row.activity) as StoredIdentity['activity'],
    }));
  }

  async saveIdentity(hub: string, stored: StoredIdentity): Promise<void> {
    const key = identityKey(stored.record);
    this.#prepare(
      `INSERT INTO identities (hub, key, record, twin, activity) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(hub, key) DO UPDATE SET record = excluded.record, twin = excluded.twin, activity = excluded.activity`,
    ).run(hub, key, JSON.stringify(stored.record), JSON.stringify(stored.twin), JSON.stringify(stored.activity));
  }

  async deleteIdentity(hub: string, key: string): Promise<void> {
    this.#prepare('DELETE FROM identities WHERE hub = ? AND key = ?').run(hub, key);
    this.#prepare('DELETE FROM sessions WHERE hub = ? AND client_id = ?').run(hub, key);
  }

  appendTelemetry(record: TelemetryRecord): Promise<number> {
    if (this.#closed) return Promise.reject(new Error('storage is closed'));
    return new Promise((resolve, reject) => {
      let batch = this.#batches.at(-1);
      if (batch === undefined || batch.records.length >= MAX_BATCH_ROWS) {
        // A full batch is committed on its own, so no single commit holds the event loop for long.
        batch = { records: [], waiters: [] };
        this.#batches.push(batch);
        setImmediate(() => this.#flush());
      }
      batch.records.push(record);
      batch.waiters.push({ resolve, reject });
    });
  }

  /** Commits the oldest batch; appends resolve in the order they were made. */
  #flush(): void {
    const batch = this.#batches.shift();
    if (batch === undefined) return;
    let seqs: number[];
    try {
      seqs = this.#appendBatch(batch.records);
    } catch (error) {
      for (const w of batch.waiters) w.reject(error);
      return;
    }
    for (let i = 0; i < batch.waiters.length; i++) batch.waiters[i]!.resolve(seqs[i]!);
  }

  async queryTelemetry(query: TelemetryQuery): Promise<TelemetryRecord[]> {
    const { where, params } = telemetryWhere(query);
    if (query.afterSequenceNumber !== undefined) {
      where.push('seq > ?');
      params.push(query.afterSequenceNumber);
    }
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? 100) || 100, 1), 10_000);
    const sql = `SELECT * FROM telemetry ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`;
    const rows = this.#prepare(sql).all(...params, limit) as TelemetryRow[];
    return rows.map(rowToTelemetry);
  }

  async countTelemetry(query: Omit<TelemetryQuery, 'limit' | 'afterSequenceNumber'> = {}): Promise<number> {
    const { where, params } = telemetryWhere(query);
    const sql = `SELECT COUNT(*) AS n FROM telemetry ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}`;
    return (this.#prepare(sql).get(...params) as { n: number }).n;
  }

  async loadC2d(hub: string): Promise<C2dRecord[]> {
    const rows = this.#prepare('SELECT record, body FROM c2d WHERE hub = ? ORDER BY rowid').all(hub) as {
      record: string;
      body: Buffer;
    }[];
    return rows.map((row) => ({
      ...(JSON.parse(row.record) as Omit<C2dRecord, 'body'>),
      body: new Uint8Array(row.body),
    }));
  }

  async saveC2d(hub: string, record: C2dRecord): Promise<void> {
    const { body, ...rest } = record;
    this.#prepare(
      `INSERT INTO c2d (hub, id, record, body) VALUES (?, ?, ?, ?)
         ON CONFLICT(hub, id) DO UPDATE SET record = excluded.record`,
    ).run(hub, record.id, JSON.stringify(rest), body);
  }

  async deleteC2d(hub: string, id: string): Promise<void> {
    this.#prepare('DELETE FROM c2d WHERE hub = ? AND id = ?').run(hub, id);
  }

  async appendFeedback(hub: string, record: C2dFeedbackRecord): Promise<void> {
    this.#prepare('INSERT INTO feedback (hub, record) VALUES (?, ?)').run(hub, JSON.stringify(record));
  }

  async takeFeedback(hub: string, limit: number): Promise<C2dFeedbackRecord[]> {
    const take = this.#db.transaction(() => {
      const rows = this.#prepare('SELECT seq, record FROM feedback WHERE hub = ? ORDER BY seq LIMIT ?').all(
        hub,
        limit,
      ) as { seq: number; record: string }[];
      const del = this.#prepare('DELETE FROM feedback WHERE seq = ?');
      for (const row of rows) del.run(row.seq);
      return rows.map((row) => JSON.parse(row.record) as C2dFeedbackRecord);
    });
    return take();
  }

  async loadSessions(hub: string): Promise<Map<string, SessionSubscription[]>> {
    const rows = this.#prepare('SELECT client_id, subscriptions FROM sessions WHERE hub = ?').all(hub) as {
      client_id: string;
      subscriptions: string;
    }[];
    return new Map(rows.map((row) => [row.client_id, JSON.parse(row.subscriptions) as SessionSubscription[]]));
  }

  async saveSession(
    hub: string,
    clientId: string,
    subscriptions: readonly SessionSubscription[] | undefined,
  ): Promise<void> {
    if (subscriptions === undefined) {
      this.#prepare('DELETE FROM sessions WHERE hub = ? AND client_id = ?').run(hub, clientId);
      return;
    }
    this.#prepare(
      `INSERT INTO sessions (hub, client_id, subscriptions) VALUES (?, ?, ?)
         ON CONFLICT(hub, client_id) DO UPDATE SET subscriptions = excluded.subscriptions`,
    ).run(hub, clientId, JSON.stringify(subscriptions));
  }

  async loadDocuments(kind: string): Promise<Map<string, unknown>> {
    const rows = this.#prepare('SELECT id, body FROM documents WHERE kind = ?').all(kind) as {
      id: string;
      body: string;
    }[];
    return new Map(rows.map((row) => [row.id, JSON.parse(row.body) as unknown]));
  }

  async saveDocument(kind: string, id: string, body: unknown): Promise<void> {
    this.#prepare(
      `INSERT INTO documents (kind, id, body) VALUES (?, ?, ?)
         ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body`,
    ).run(kind, id, JSON.stringify(body));
  }

  async deleteDocument(kind: string, id: string): Promise<void> {
    this.#prepare('DELETE FROM documents WHERE kind = ? AND id = ?').run(kind, id);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#batches.length > 0) this.#flush();
    this.#closed = true;
    this.#db.close();
  }
}

function telemetryWhere(query: Omit<TelemetryQuery, 'limit' | 'afterSequenceNumber'>): {
  where: string[];
  params: (string | number)[];
} {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (query.hub !== undefined) {
    where.push('hub = ?');
    params.push(query.hub);
  }
  if (query.deviceId !== undefined) {
    where.push('device_id = ?');
    params.push(query.deviceId);
  }
  if (query.moduleId !== undefined) {
    where.push('module_id = ?');
    params.push(query.moduleId);
  }
  return { where, params };
}

function rowToTelemetry(row: TelemetryRow): TelemetryRecord {
  const record: TelemetryRecord = {
    sequenceNumber: row.seq,
    hub: row.hub,
    deviceId: row.device_id,
    enqueuedTime: row.enqueued_time,
    properties: JSON.parse(row.properties) as Record<string, string | null>,
    systemProperties: JSON.parse(row.system_properties) as Record<string, string>,
    body: new Uint8Array(row.body),
  };
  if (row.module_id !== null) record.moduleId = row.module_id;
  if (row.creation_time !== null) record.creationTime = row.creation_time;
  if (row.component !== null) record.component = row.component;
  if (row.message_id !== null) record.messageId = row.message_id;
  if (row.correlation_id !== null) record.correlationId = row.correlation_id;
  if (row.user_id !== null) record.userId = row.user_id;
  if (row.content_type !== null) record.contentType = row.content_type;
  if (row.content_encoding !== null) record.contentEncoding = row.content_encoding;
  return record;
}
