import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { TelemetryRecord } from '../src/core/model.js';
import { SqliteStorage } from '../src/storage/sqlite.js';

function message(i: number): TelemetryRecord {
  return {
    hub: 'hub-1',
    deviceId: `dev-${i % 3}`,
    enqueuedTime: new Date(1_700_000_000_000 + i).toISOString(),
    messageId: `m-${i}`,
    properties: { i: String(i) },
    systemProperties: { 'iothub-connection-device-id': `dev-${i % 3}` },
    body: Buffer.from(`{"i":${i}}`),
  };
}

it('[storage: group commit] appends of one turn resolve in order with the sequence numbers of their rows', async () => {
  const storage = SqliteStorage.open({ path: ':memory:' });
  try {
    // 1,000 appends in one turn: several full batches, multi-row and single-row inserts.
    const seqs = await Promise.all(Array.from({ length: 1000 }, (_, i) => storage.appendTelemetry(message(i))));
    assert.deepEqual(
      seqs,
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 37 }, (_, i) => storage.appendTelemetry(message(1000 + i)).then(() => order.push(i))),
    );
    assert.deepEqual(
      order,
      Array.from({ length: 37 }, (_, i) => i),
      'resolution order is append order',
    );
    const rows = await storage.queryTelemetry({ hub: 'hub-1', limit: 10_000 });
    assert.equal(rows.length, 1037);
    for (const row of rows) {
      assert.equal(row.messageId, `m-${(row.sequenceNumber ?? 0) - 1}`, 'each sequence number names its own row');
      assert.equal(Buffer.from(row.body).toString(), `{"i":${(row.sequenceNumber ?? 0) - 1}}`);
    }
    assert.equal(await storage.countTelemetry({ hub: 'hub-1', deviceId: 'dev-1' }), 346);
  } finally {
    await storage.close();
  }
});

it('[storage: durability] everything appended before close is on disk after reopening', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plugboard-storage-'));
  try {
    const path = join(dir, 'p.db');
    const first = SqliteStorage.open({ path });
    for (let i = 0; i < 20; i++) void first.appendTelemetry(message(i));
    await first.saveDocument('kind', 'a', { x: 1 });
    await first.close();
    const second = SqliteStorage.open({ path });
    assert.equal(await second.countTelemetry(), 20);
    assert.deepEqual((await second.loadDocuments('kind')).get('a'), { x: 1 });
    await assert.rejects(first.appendTelemetry(message(99)), /closed/);
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('[storage: device index] queries by device see every row, whether or not the index has caught up, also after a crash', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plugboard-storage-'));
  const path = join(dir, 'p.db');
  const crashed = SqliteStorage.open({ path });
  const reopened: SqliteStorage[] = [];
  try {
    // 10,000 rows: the background indexer runs behind the appends; the last rows stay unindexed.
    for (let start = 0; start < 10_000; start += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => crashed.appendTelemetry(message(start + i))));
    }
    const expected = Array.from({ length: 10_000 }, (_, i) => i + 1).filter((seq) => (seq - 1) % 3 === 1);
    const all = await crashed.queryTelemetry({ hub: 'hub-1', deviceId: 'dev-1', limit: 10_000 });
    assert.deepEqual(
      all.map((r) => r.sequenceNumber),
      expected,
    );
    const page = await crashed.queryTelemetry({
      hub: 'hub-1',
      deviceId: 'dev-1',
      afterSequenceNumber: 9_000,
      limit: 5,
    });
    assert.deepEqual(
      page.map((r) => r.sequenceNumber),
      expected.filter((seq) => seq > 9_000).slice(0, 5),
    );
    assert.equal(await crashed.countTelemetry({ hub: 'hub-1' }), 10_000);
    assert.equal(await crashed.countTelemetry({ hub: 'hub-1', deviceId: 'dev-2' }), 3_333);
    assert.equal(await crashed.countTelemetry({ hub: 'hub-2' }), 0);

    // More rows that are never indexed by this instance, which is then abandoned without close() as a
    // killed process would leave it; a new instance on the same file finds them through the index.
    await Promise.all(Array.from({ length: 300 }, (_, i) => crashed.appendTelemetry(message(10_000 + i))));
    const second = SqliteStorage.open({ path });
    reopened.push(second);
    const after = await second.queryTelemetry({
      hub: 'hub-1',
      deviceId: 'dev-0',
      afterSequenceNumber: 9_990,
      limit: 1_000,
    });
    assert.deepEqual(
      after.map((r) => r.sequenceNumber),
      Array.from({ length: 310 }, (_, i) => 9_991 + i).filter((seq) => (seq - 1) % 3 === 0),
    );
    assert.equal(await second.countTelemetry({ hub: 'hub-1' }), 10_300);
    assert.equal(after[0]?.messageId, `m-${(after[0]?.sequenceNumber ?? 0) - 1}`);
  } finally {
    for (const storage of reopened) await storage.close();
    await crashed.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

const optionalText = fc.option(fc.string({ maxLength: 20 }), { nil: undefined });

/** Records as the hub builds them, with every optional field and property shape. */
const telemetryRecord = fc
  .record({
    hub: fc.constantFrom('hub-1', 'hub-2'),
    deviceId: fc.constantFrom('a', 'b', 'dev\u0000x', 'ü'),
    moduleId: fc.option(fc.constantFrom('m1', 'm2'), { nil: undefined }),
    enqueuedTime: fc.constantFrom('2026-11-26T12:00:00.000Z', '2026-11-26T12:00:00.001Z'),
    creationTime: fc.oneof(
      optionalText,
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')),
    ),
    component: optionalText,
    messageId: optionalText,
    correlationId: optionalText,
    userId: optionalText,
    contentType: fc.oneof(optionalText, fc.constant('application/json')),
    contentEncoding: fc.oneof(optionalText, fc.constant('utf-8')),
    properties: fc.dictionary(
      fc.oneof(fc.string({ maxLength: 8 }), fc.constant('iothub-creation-time-utc')),
      fc.option(fc.string({ maxLength: 8 }), { nil: null }),
      { maxKeys: 3 },
    ),
    // As the SDKs send it: the creation time is also the iothub-creation-time-utc property.
    creationFromProperty: fc.boolean(),
    system: fc.dictionary(
      fc.constantFrom('iothub-connection-auth-method', 'dt-dataschema', 'dt-subject', 'iothub-outputname', 'x-other'),
      fc.string({ maxLength: 12 }),
    ),
    ownEnqueuedTime: fc.boolean(),
    body: fc.uint8Array({ maxLength: 40 }),
  })
  .map(({ system, ownEnqueuedTime, creationFromProperty, ...r }) => {
    const record: TelemetryRecord = {
      hub: r.hub,
      deviceId: r.deviceId,
      enqueuedTime: r.enqueuedTime,
      properties: { ...r.properties },
      systemProperties: {
        'iothub-connection-device-id': r.deviceId,
        ...system,
        'iothub-enqueuedtime': ownEnqueuedTime ? r.enqueuedTime : '1999-01-01T00:00:00.000Z',
      },
      body: r.body,
    };
    for (const key of [
      'moduleId',
      'creationTime',
      'component',
      'messageId',
      'correlationId',
      'userId',
      'contentType',
      'contentEncoding',
    ] as const) {
      if (r[key] !== undefined) record[key] = r[key];
    }
    if (creationFromProperty && r.creationTime !== undefined) {
      record.properties['iothub-creation-time-utc'] = r.creationTime;
    }
    return record;
  });

it('[storage: telemetry rows] every field of a record reads back as it was appended, also after reopening', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plugboard-rows-'));
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(telemetryRecord, { minLength: 1, maxLength: 40 }), async (records) => {
      const path = join(dir, `rows-${++run}.db`);
      const writer = SqliteStorage.open({ path });
      const seqs = await Promise.all(records.map((r) => writer.appendTelemetry(r)));
      const expected = records.map((r, i) => ({ ...r, sequenceNumber: seqs[i], body: new Uint8Array(r.body) }));
      assert.deepEqual(await writer.queryTelemetry({ limit: 1000 }), expected);
      await writer.close();
      // Sources are read back from their rows: the same records come out of a new instance.
      const storage = SqliteStorage.open({ path });
      try {
        const read = await storage.queryTelemetry({ limit: 1000 });
        assert.deepEqual(read, expected);
        const first = records[0]!;
        const byDevice = await storage.queryTelemetry({ hub: first.hub, deviceId: first.deviceId, limit: 1000 });
        assert.deepEqual(
          byDevice.map((r) => r.sequenceNumber),
          seqs.filter((_, i) => records[i]!.hub === first.hub && records[i]!.deviceId === first.deviceId),
        );
        if (first.moduleId !== undefined) {
          const byModule = await storage.queryTelemetry({
            hub: first.hub,
            deviceId: first.deviceId,
            moduleId: first.moduleId,
            limit: 1000,
          });
          assert.deepEqual(
            byModule.map((r) => r.sequenceNumber),
            seqs.filter((_, i) => {
              const r = records[i]!;
              return r.hub === first.hub && r.deviceId === first.deviceId && r.moduleId === first.moduleId;
            }),
          );
        }
      } finally {
        await storage.close();
      }
    }),
    { numRuns: 60 },
  );
  rmSync(dir, { recursive: true, force: true });
});

it('[storage: migration] a database with the first telemetry layout opens with its rows and numbers kept', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plugboard-storage-'));
  try {
    const path = join(dir, 'p.db');
    const old = new Database(path);
    old.exec(`
      CREATE TABLE telemetry (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        hub TEXT NOT NULL, device_id TEXT NOT NULL, module_id TEXT,
        enqueued_time TEXT NOT NULL, creation_time TEXT, component TEXT,
        message_id TEXT, correlation_id TEXT, user_id TEXT, content_type TEXT, content_encoding TEXT,
        properties TEXT NOT NULL, system_properties TEXT NOT NULL, body BLOB NOT NULL
      );
      CREATE INDEX telemetry_device ON telemetry (hub, device_id, seq);`);
    const insert = old.prepare(
      `INSERT INTO telemetry (seq, hub, device_id, module_id, enqueued_time, creation_time, component, message_id,
         correlation_id, user_id, content_type, content_encoding, properties, system_properties, body)
       VALUES (?, 'hub-1', ?, ?, '2026-01-01T00:00:00.000Z', ?, ?, ?, NULL, NULL, ?, NULL, ?, ?, ?)`,
    );
    insert.run(
      5,
      'dev-a',
      null,
      '2025-12-31T23:59:59.000Z',
      'thermostat1',
      'm-5',
      'application/json',
      '{"k":"v"}',
      '{"iothub-connection-device-id":"dev-a","dt-subject":"thermostat1","iothub-enqueuedtime":"2026-01-01T00:00:00.000Z"}',
      Buffer.from('{"t":1}'),
    );
    insert.run(
      9,
      'dev-b',
      'mod',
      null,
      null,
      null,
      null,
      '{}',
      '{"iothub-connection-device-id":"dev-b","iothub-connection-module-id":"mod","iothub-enqueuedtime":"2026-01-01T00:00:00.000Z"}',
      Buffer.from('x'),
    );
    old.close();

    const storage = SqliteStorage.open({ path });
    try {
      const rows = await storage.queryTelemetry({});
      assert.deepEqual(rows, [
        {
          sequenceNumber: 5,
          hub: 'hub-1',
          deviceId: 'dev-a',
          enqueuedTime: '2026-01-01T00:00:00.000Z',
          creationTime: '2025-12-31T23:59:59.000Z',
          component: 'thermostat1',
          messageId: 'm-5',
          contentType: 'application/json',
          properties: { k: 'v' },
          systemProperties: {
            'iothub-connection-device-id': 'dev-a',
            'dt-subject': 'thermostat1',
            'iothub-enqueuedtime': '2026-01-01T00:00:00.000Z',
          },
          body: new Uint8Array(Buffer.from('{"t":1}')),
        },
        {
          sequenceNumber: 9,
          hub: 'hub-1',
          deviceId: 'dev-b',
          moduleId: 'mod',
          enqueuedTime: '2026-01-01T00:00:00.000Z',
          properties: {},
          systemProperties: {
            'iothub-connection-device-id': 'dev-b',
            'iothub-connection-module-id': 'mod',
            'iothub-enqueuedtime': '2026-01-01T00:00:00.000Z',
          },
          body: new Uint8Array(Buffer.from('x')),
        },
      ]);
      assert.equal(await storage.countTelemetry({ hub: 'hub-1', deviceId: 'dev-b' }), 1);
      assert.equal(await storage.appendTelemetry(message(1)), 10, 'numbering continues after the migrated rows');
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('[storage: layout] a database from before the created column opens, keeps its rows and takes new ones', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plugboard-created-'));
  const path = join(dir, 'plugboard.db');
  const stamped = (i: number): TelemetryRecord => {
    const creationTime = new Date(1_700_000_000_000 + i).toISOString();
    return { ...message(i), creationTime, properties: { 'iothub-creation-time-utc': creationTime, i: String(i) } };
  };
  try {
    const first = SqliteStorage.open({ path });
    await first.appendTelemetry(stamped(1));
    await first.close();
    // The earlier layout: no created column; a row keeps its creation time and properties in meta.
    const old = stamped(1);
    const db = new Database(path);
    db.prepare('UPDATE telemetry SET meta = ?').run(
      JSON.stringify({ creationTime: old.creationTime, messageId: old.messageId, properties: old.properties }),
    );
    db.exec('ALTER TABLE telemetry DROP COLUMN created');
    db.close();
    const reopened = SqliteStorage.open({ path });
    try {
      await reopened.appendTelemetry(stamped(2));
      const rows = await reopened.queryTelemetry({ limit: 10 });
      assert.equal(rows.length, 2);
      const expected = (i: number, seq: number): TelemetryRecord => {
        const record = stamped(i);
        return {
          ...record,
          sequenceNumber: seq,
          systemProperties: { ...record.systemProperties, 'iothub-enqueuedtime': record.enqueuedTime },
          body: new Uint8Array(record.body),
        };
      };
      assert.deepEqual(rows, [expected(1, 1), expected(2, 2)]);
    } finally {
      await reopened.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('[storage: layout] the first device index (by hub and device id) is replaced and rebuilt when opened', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plugboard-index-'));
  const path = join(dir, 'plugboard.db');
  try {
    const first = SqliteStorage.open({ path });
    for (let i = 0; i < 30; i++) await first.appendTelemetry(message(i));
    await first.close();
    const db = new Database(path);
    db.exec(`DROP TABLE telemetry_by_source; DELETE FROM meta;
      CREATE TABLE telemetry_by_device (hub TEXT NOT NULL, device_id TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (hub, device_id, seq)) WITHOUT ROWID;
      INSERT INTO meta (key, value) VALUES ('telemetry_indexed_seq', 30);`);
    db.close();
    const reopened = SqliteStorage.open({ path });
    try {
      const rows = await reopened.queryTelemetry({ hub: 'hub-1', deviceId: 'dev-1', limit: 100 });
      assert.deepEqual(
        rows.map((r) => r.messageId),
        Array.from({ length: 30 }, (_, i) => i)
          .filter((i) => i % 3 === 1)
          .map((i) => `m-${i}`),
      );
      assert.equal(await reopened.countTelemetry({ hub: 'hub-1', deviceId: 'dev-2' }), 10);
    } finally {
      await reopened.close();
    }
    const check = new Database(path);
    const tables = check.prepare("SELECT name FROM sqlite_master WHERE name = 'telemetry_by_device'").all();
    check.close();
    assert.deepEqual(tables, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
