import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
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
