/**
 * The Central telemetry projection when storage fails while it saves: the flush reports the failure,
 * keeps the changed device states to save again and does not move the checkpoint, so the next flush
 * saves them and nothing judged is lost (before, one failure stopped every later save).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { createLogger } from '../src/logger.js';
import { startPlatform } from '../src/platform.js';
import type { Storage } from '../src/storage/port.js';
import { SqliteStorage } from '../src/storage/sqlite.js';

const TEMPLATE = 'dtmi:plugboard:test:flushTemplate;1';

it(
  'a failed flush keeps the device states dirty; the next flush saves them and they survive a restart',
  { timeout: 60_000 },
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'plugboard-flush-'));
    const path = join(dataDir, 'plugboard.db');
    let failDocumentSaves = false;
    const sqlite = SqliteStorage.open({ path });
    const storage = new Proxy(sqlite, {
      get(target, name, receiver) {
        if (name === 'saveDocuments') {
          return (...args: Parameters<Storage['saveDocuments']>) =>
            failDocumentSaves
              ? Promise.reject(new Error('SQLITE_FULL: database or disk is full'))
              : target.saveDocuments(...args);
        }
        const value: unknown = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const options = {
      dataDir,
      hubs: 1,
      loopbackPrefix: '127.0.0',
      ports: { mqtt: 0, https: 0 },
      logger: createLogger({ level: 'silent' }),
    };
    try {
      const platform = await startPlatform({
        ...options,
        storage,
        central: { address: '127.0.0.1' },
        dps: { address: '127.0.0.1' },
      });
      await platform.central.templates.put(TEMPLATE, {
        capabilityModel: {
          '@context': 'dtmi:dtdl:context;2',
          '@id': 'dtmi:plugboard:test:Flush;1',
          '@type': 'Interface',
          contents: [{ '@type': 'Telemetry', name: 'temperature', schema: 'double' }],
        },
      });
      await platform.central.devices.put('flush-1', { template: TEMPLATE });
      const hub = platform.hubs[0]!;
      platform.central.telemetry.apply({
        sequenceNumber: 7,
        hub: hub.name,
        deviceId: 'flush-1',
        enqueuedTime: '2026-12-01T00:00:00.000Z',
        properties: {},
        systemProperties: {},
        body: Buffer.from('{"temperature": 21.5}'),
      });
      failDocumentSaves = true;
      await assert.rejects(platform.central.telemetry.flush(), /SQLITE_FULL/);
      failDocumentSaves = false;
      await platform.central.telemetry.flush();
      await platform.close();
      await sqlite.close();

      const reopened = SqliteStorage.open({ path });
      const again = await startPlatform({
        ...options,
        storage: reopened,
        central: { address: '127.0.0.1' },
        dps: { address: '127.0.0.1' },
      });
      try {
        assert.equal(again.central.telemetry.lastValue('flush-1', undefined, 'temperature')?.value, 21.5);
        assert.equal(again.central.telemetry.sequence, 7, 'the checkpoint was saved after the states');
      } finally {
        await again.close();
        await reopened.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
