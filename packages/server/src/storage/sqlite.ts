import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  identityKey,
  type C2dFeedbackRecord,
  type C2dRecord,
  type SessionSubscription,
  type TelemetryRecord,
} from '../core/model.js';
import { ensurePrivateDirectory, ensurePrivateFile, tightenPrivateFiles } from '../secret-files.js';
import type { HubConfigRecord, Storage, StoredIdentity, TelemetryQuery } from './port.js';
import {
  decodeTelemetry,
  sameSource,
  sourceColumn,
  sourceFromRow,
  sourceKeyOf,
  sourceOf,
  telemetryColumns,
  type TelemetrySource,
} from './telemetry-rows.js';

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
CREATE TABLE IF NOT EXISTS telemetry_sources (
  id INTEGER PRIMARY KEY, hub TEXT NOT NULL, device_id TEXT NOT NULL, module_id TEXT, system TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS telemetry (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, source INTEGER NOT NULL, enqueued_time TEXT NOT NULL, meta TEXT,
  body BLOB NOT NULL, created TEXT
);
CREATE TABLE IF NOT EXISTS telemetry_by_source (
  source INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (source, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS c2d (hub TEXT NOT NULL, id TEXT NOT NULL, record TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (hub, id));
CREATE TABLE IF NOT EXISTS feedback (seq INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (hub TEXT NOT NULL, client_id TEXT NOT NULL, subscriptions TEXT NOT NULL, PRIMARY KEY (hub, client_id));
CREATE TABLE IF NOT EXISTS documents (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id));
`;

interface SourceRow {
  id: number;
  hub: string;
  device_id: string;
  module_id: string | null;
  system: string;
}

interface TelemetryRow {
  seq: number;
  source: number;
  enqueued_time: string;
  meta: string | null;
  body: Buffer;
  created: string | null;
}

/** Rows per multi-row INSERT: fewer statement executions per group commit. */
const ROWS_PER_INSERT = 32;

/** Rows per group commit; more wait for the next turn. */
const MAX_BATCH_ROWS = 512;

interface PendingBatch {
  records: TelemetryRecord[];
  waiters: { resolve: (seq: number) => void; reject: (error: unknown) => void }[];
}

/** The `meta` key of the device index's high-water mark. */
const INDEX_MARK = 'telemetry_by_source_seq';

/** Telemetry rows behind the device index before an append schedules indexing them. */
const INDEX_LAG_ROWS = 4096;
/** Rows indexed per transaction, so one step holds the event loop for a few milliseconds only. */
const INDEX_STEP_ROWS = 8192;

/**
 * The embedded storage adapter: one SQLite file in WAL mode. Telemetry appends from the same event-loop turn
 * are grouped into one transaction (group commit), so each message is durable before its PUBACK without a
 * commit per message.
 *
 * Telemetry rows are appended in sequence order, which keeps each commit to the last few pages of one
 * B-tree. The per-device index (`telemetry_by_source`: a device's rows are those of its sources) is not
 * written by the appends: an index kept in step
 * would touch one page per device in every commit. It is filled behind them in steps of thousands of rows
 * (sorted, so each index page is written once per step), and its high-water mark is stored with it. A query
 * by device first brings the index up to date, so results never miss a row; after a crash the next step
 * resumes from the mark.
 *
 * @example
 * const storage = SqliteStorage.open({ path: '.plugboard/plugboard.db' });
 */
export class SqliteStorage implements Storage {
  readonly #db: Database.Database;
  readonly #appendBatch: (records: readonly TelemetryRecord[]) => number[];
  readonly #batches: PendingBatch[] = [];
  #closed = false;
  readonly #statements = new Map<string, Database.Statement>();
  /** Telemetry sources by number, and their numbers by source key. */
  readonly #sources = new Map<number, TelemetrySource>();
  readonly #sourceIds = new Map<string, number>();
  /** The source of each device id's latest message (any hub or module). */
  readonly #lastSourceOf = new Map<string, { id: number; source: TelemetrySource }>();
  /** Sequence number of the last telemetry row written. */
  #lastSeq: number;
  /** Telemetry rows up to this sequence number are in `telemetry_by_source`. */
  #indexedSeq: number;
  #indexScheduled = false;
  readonly #indexStep: (from: number, to: number) => void;
  readonly #insertSource: Database.Statement;

  private constructor(db: Database.Database) {
    this.#db = db;
    const insert = (rows: number): Database.Statement =>
      db.prepare(
        `INSERT INTO telemetry (source, enqueued_time, meta, created, body) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?)').join(', ')}`,
      );
    // One statement per row count up to ROWS_PER_INSERT, compiled when first needed.
    const inserts: Database.Statement[] = [];
    this.#insertSource = db.prepare(
      'INSERT INTO telemetry_sources (hub, device_id, module_id, system) VALUES (?, ?, ?, ?)',
    );
    for (const row of db.prepare('SELECT * FROM telemetry_sources').all() as SourceRow[]) {
      const source = sourceFromRow(row);
      this.#remember(row.id, source, sourceKeyOf(source));
    }
    // Rows of one INSERT get consecutive rowids (one writer, AUTOINCREMENT), so the last id gives them all.
    const appendBatch = db.transaction((records: readonly TelemetryRecord[], added: string[]) => {
      const seqs = new Array<number>(records.length);
      const params: unknown[] = [];
      for (let i = 0; i < records.length; i += ROWS_PER_INSERT) {
        const rows = Math.min(ROWS_PER_INSERT, records.length - i);
        params.length = 0;
        for (let j = i; j < i + rows; j++) {
          const record = records[j]!;
          const { meta, created } = telemetryColumns(record);
          params.push(this.#sourceId(record, added), record.enqueuedTime, meta, created, record.body);
        }
        const last = Number((inserts[rows] ??= insert(rows)).run(params).lastInsertRowid);
        for (let k = 0; k < rows; k++) seqs[i + k] = last - rows + 1 + k;
      }
      return seqs;
    });
    this.#appendBatch = (records) => {
      const added: string[] = [];
      try {
        return appendBatch(records, added);
      } catch (error) {
        // The transaction rolled back, and with it the sources it added.
        for (const key of added) {
          const id = this.#sourceIds.get(key);
          this.#sourceIds.delete(key);
          if (id !== undefined) this.#sources.delete(id);
        }
        this.#lastSourceOf.clear();
        throw error;
      }
    };
    if (hasTable(db, 'telemetry_v1')) this.#migrateTelemetryV1();
    this.#lastSeq = (db.prepare('SELECT MAX(seq) AS seq FROM telemetry').get() as { seq: number | null }).seq ?? 0;
    this.#indexedSeq =
      (db.prepare(`SELECT value FROM meta WHERE key = '${INDEX_MARK}'`).get() as { value: number } | undefined)
        ?.value ?? 0;
    const fill = db.prepare(
      `INSERT OR IGNORE INTO telemetry_by_source (source, seq)
         SELECT source, seq FROM telemetry WHERE seq > ? AND seq <= ? ORDER BY 1, 2`,
    );
    const mark = db.prepare(
      `INSERT INTO meta (key, value) VALUES ('${INDEX_MARK}', ?)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
    );
    this.#indexStep = db.transaction((from: number, to: number) => {
      fill.run(from, to);
      mark.run(to);
    });
    // Rows left unindexed by a crash or a migration are indexed in the background from the start.
    this.#scheduleIndexing();
  }

  /** The number of a record's source, adding the source (and noting its key in `added`) when it is new. */
  #sourceId(record: TelemetryRecord, added: string[]): number {
    // Most messages come from the same source as the device's previous one: compare with it (hub, module and
    // properties included) before building and looking up the full key.
    const last = this.#lastSourceOf.get(record.deviceId);
    if (last !== undefined && sameSource(record, last.source)) return last.id;
    const source = sourceOf(record);
    const key = sourceKeyOf(source);
    let id = this.#sourceIds.get(key);
    if (id === undefined) {
      const { hub, deviceId, moduleId } = source;
      id = Number(this.#insertSource.run(hub, deviceId, moduleId ?? null, sourceColumn(source)).lastInsertRowid);
      this.#remember(id, source, key);
      added.push(key);
    }
    this.#lastSourceOf.set(record.deviceId, { id, source: this.#sources.get(id)! });
    return id;
  }

  /**
   * The numbers of the sources of a hub, of one of its devices (its own rows and its modules'), or of one
   * module, from the sources in memory.
   */
  #sourcesOf(hub: string | undefined, deviceId: string | undefined, moduleId: string | undefined): number[] {
    const ids: number[] = [];
    for (const [id, source] of this.#sources) {
      if (hub !== undefined && source.hub !== hub) continue;
      if (deviceId !== undefined && source.deviceId !== deviceId) continue;
      if (moduleId !== undefined && source.moduleId !== moduleId) continue;
      ids.push(id);
    }
    return ids;
  }

  #remember(id: number, source: TelemetrySource, key: string): void {
    this.#sources.set(id, source);
    this.#sourceIds.set(key, id);
  }

  /**
   * Moves the rows of the first telemetry layout (renamed `telemetry_v1` by {@link SqliteStorage.open}) into the
   * current one, keeping their sequence numbers, in one transaction that drops the old table at the end: after
   * a crash the next open starts again.
   */
  #migrateTelemetryV1(): void {
    const db = this.#db;
    const insert = db.prepare(
      'INSERT INTO telemetry (seq, source, enqueued_time, meta, created, body) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const page = db.prepare('SELECT * FROM telemetry_v1 WHERE seq > ? ORDER BY seq LIMIT 1000');
    db.transaction(() => {
      // Pages of rows: the connection cannot insert while a statement still iterates.
      for (
        let rows = page.all(0) as Record<string, unknown>[];
        rows.length > 0;
        rows = page.all(rows.at(-1)!['seq']) as Record<string, unknown>[]
      ) {
        for (const row of rows) {
          const record = telemetryV1Record(row);
          const { meta, created } = telemetryColumns(record);
          insert.run(row['seq'], this.#sourceId(record, []), record.enqueuedTime, meta, created, record.body);
        }
      }
      db.exec('DROP TABLE telemetry_v1');
    })();
  }

  #decode(row: TelemetryRow): TelemetryRecord {
    const source = this.#sources.get(row.source);
    if (source === undefined) throw new Error(`telemetry row ${row.seq} names unknown source ${row.source}`);
    return decodeTelemetry(row, source);
  }

  /** Indexes up to {@link INDEX_STEP_ROWS} rows behind the mark; `true` when the index is then complete. */
  #indexSomeRows(): boolean {
    if (this.#indexedSeq >= this.#lastSeq) return true;
    const to = Math.min(this.#lastSeq, this.#indexedSeq + INDEX_STEP_ROWS);
    this.#indexStep(this.#indexedSeq, to);
    this.#indexedSeq = to;
    return to >= this.#lastSeq;
  }

  /** Brings the device index up to the last row (before a query that reads it). */
  #indexAllRows(): void {
    while (!this.#indexSomeRows());
  }

  /** Indexes in the background, one step per turn, while the index lags far enough behind. */
  #scheduleIndexing(): void {
    if (this.#indexScheduled || this.#lastSeq - this.#indexedSeq < INDEX_LAG_ROWS) return;
    this.#indexScheduled = true;
    setImmediate(() => {
      this.#indexScheduled = false;
      if (this.#closed) return;
      try {
        this.#indexSomeRows();
      } catch {
        // Indexing is retried by the next append or query; the rows themselves are already stored.
        return;
      }
      this.#scheduleIndexing();
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
    const files = options.path === ':memory:' ? [] : [options.path, `${options.path}-wal`, `${options.path}-shm`];
    if (options.path !== ':memory:') {
      // Every key is in here: 0600 in a 0700 directory, and the WAL and SHM files SQLite derives from it.
      ensurePrivateDirectory(dirname(options.path));
      ensurePrivateFile(options.path);
      tightenPrivateFiles(files);
    }
    const db = new Database(options.path);
    db.pragma('journal_mode = WAL');
    tightenPrivateFiles(files);
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('busy_timeout = 5000');
    // Checkpoint the WAL in smaller steps than the default 1,000 pages: each one blocks a commit.
    db.pragma('wal_autocheckpoint = 256');
    db.transaction(() => {
      // A first-layout table is set aside here and moved into the current layout by the constructor.
      if (isTelemetryV1(db)) {
        db.exec('DROP INDEX IF EXISTS telemetry_device; ALTER TABLE telemetry RENAME TO telemetry_v1;');
      }
      db.exec(SCHEMA);
      // The first device index keyed rows by hub and device id; its replacement is filled in the background.
      db.exec("DROP TABLE IF EXISTS telemetry_by_device; DELETE FROM meta WHERE key = 'telemetry_indexed_seq'");
      // Databases from before the `created` column get it; their rows keep creation times in `meta`.
      if (!hasColumn(db, 'telemetry', 'created')) db.exec('ALTER TABLE telemetry ADD COLUMN created TEXT');
    })();
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

  async deleteHub(hub: string): Promise<void> {
    this.#db.transaction(() => {
      for (const table of ['identities', 'sessions', 'c2d', 'feedback']) {
        this.#prepare(`DELETE FROM ${table} WHERE hub = ?`).run(hub);
      }
      this.#prepare('DELETE FROM hubs WHERE name = ?').run(hub);
    })();
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
    this.#lastSeq = seqs.at(-1) ?? this.#lastSeq;
    for (let i = 0; i < batch.waiters.length; i++) batch.waiters[i]!.resolve(seqs[i]!);
    this.#scheduleIndexing();
  }

  async queryTelemetry(query: TelemetryQuery): Promise<TelemetryRecord[]> {
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? 100) || 100, 1), 10_000);
    const after = query.afterSequenceNumber ?? 0;
    const { hub, deviceId, moduleId } = query;
    if (deviceId !== undefined) {
      // A device's messages (on every hub it was on, or on one) are read through the narrow index.
      this.#indexAllRows();
      const sources = this.#sourcesOf(hub, deviceId, moduleId);
      if (sources.length === 0) return [];
      const rows = this.#prepare(
        `SELECT t.* FROM telemetry_by_source d JOIN telemetry t ON t.seq = d.seq
           WHERE d.source IN (${sources.map(() => '?').join(', ')}) AND d.seq > ? ORDER BY d.seq LIMIT ?`,
      ).all(...sources, after, limit) as TelemetryRow[];
      return rows.map((row) => this.#decode(row));
    }
    const { where, params } = sourceWhere(query);
    const sql = `SELECT * FROM telemetry WHERE seq > ? ${where} ORDER BY seq LIMIT ?`;
    const rows = this.#prepare(sql).all(after, ...params, limit) as TelemetryRow[];
    return rows.map((row) => this.#decode(row));
  }

  async countTelemetry(query: Omit<TelemetryQuery, 'limit' | 'afterSequenceNumber'> = {}): Promise<number> {
    if (query.hub !== undefined || query.deviceId !== undefined) {
      // Counts by hub, device or module read the narrow index.
      this.#indexAllRows();
      const sources = this.#sourcesOf(query.hub, query.deviceId, query.moduleId);
      if (sources.length === 0) return 0;
      const sql = `SELECT COUNT(*) AS n FROM telemetry_by_source WHERE source IN (${sources.map(() => '?').join(', ')})`;
      return (this.#prepare(sql).get(...sources) as { n: number }).n;
    }
    const { where, params } = sourceWhere(query);
    const sql = `SELECT COUNT(*) AS n FROM telemetry WHERE 1 ${where}`;
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

  async saveDocuments(kind: string, documents: readonly (readonly [id: string, body: unknown])[]): Promise<void> {
    const upsert = this.#prepare(
      `INSERT INTO documents (kind, id, body) VALUES (?, ?, ?)
         ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body`,
    );
    this.#db.transaction(() => {
      for (const [id, body] of documents) upsert.run(kind, id, JSON.stringify(body));
    })();
  }

  async deleteDocument(kind: string, id: string): Promise<void> {
    this.#prepare('DELETE FROM documents WHERE kind = ? AND id = ?').run(kind, id);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#batches.length > 0) this.#flush();
    this.#closed = true;
    this.#indexAllRows();
    this.#db.close();
  }
}

/** An `AND source IN (...)` clause for the hub, device and module of a query ('' when it names none). */
function sourceWhere(query: Omit<TelemetryQuery, 'limit' | 'afterSequenceNumber'>): {
  where: string;
  params: string[];
} {
  const where: string[] = [];
  const params: string[] = [];
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
  if (where.length === 0) return { where: '', params };
  return { where: `AND source IN (SELECT id FROM telemetry_sources WHERE ${where.join(' AND ')})`, params };
}

/** Whether the telemetry table has the first layout (one column per field, no sources). */
function isTelemetryV1(db: Database.Database): boolean {
  const columns = db.prepare('PRAGMA table_info(telemetry)').all() as { name: string }[];
  return columns.some((column) => column.name === 'system_properties');
}

function hasColumn(db: Database.Database, table: string, column: string): boolean {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
}

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** First-layout columns that hold optional record fields. */
const V1_OPTIONAL_COLUMNS = [
  ['module_id', 'moduleId'],
  ['creation_time', 'creationTime'],
  ['component', 'component'],
  ['message_id', 'messageId'],
  ['correlation_id', 'correlationId'],
  ['user_id', 'userId'],
  ['content_type', 'contentType'],
  ['content_encoding', 'contentEncoding'],
] as const;

/** The record a first-layout telemetry row holds. */
function telemetryV1Record(row: Record<string, unknown>): TelemetryRecord {
  const record: TelemetryRecord = {
    hub: String(row['hub']),
    deviceId: String(row['device_id']),
    enqueuedTime: String(row['enqueued_time']),
    properties: JSON.parse(String(row['properties'])) as Record<string, string | null>,
    systemProperties: JSON.parse(String(row['system_properties'])) as Record<string, string>,
    body: row['body'] as Buffer,
  };
  for (const [column, field] of V1_OPTIONAL_COLUMNS) {
    const value = row[column];
    if (typeof value === 'string') record[field] = value;
  }
  return record;
}
