import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileAssignmentStore, memoryAssignmentStore } from '../src/index.js';
import type { Assignment } from '../src/index.js';

const DEV1: Assignment = {
  assignedHub: '127.0.0.2',
  deviceId: 'dev1',
  registrationId: 'dev1',
  substatus: 'initialAssignment',
};
const DEV2: Assignment = { assignedHub: '127.0.0.3', deviceId: 'dev2', registrationId: 'dev2' };

describe('memoryAssignmentStore', () => {
  it('[Best practices: cache the assignment] save, load and clear', async () => {
    const store = memoryAssignmentStore();
    assert.equal(await store.load('0ne00ABCDEF', 'dev1'), undefined);
    await store.save('0ne00ABCDEF', 'dev1', DEV1);
    await store.save('0ne00ABCDEF', 'dev2', DEV2);
    assert.deepEqual(await store.load('0ne00ABCDEF', 'dev1'), DEV1);
    assert.deepEqual(await store.load('0ne00ABCDEF', 'dev2'), DEV2);
    await store.clear('0ne00ABCDEF', 'dev1');
    assert.equal(await store.load('0ne00ABCDEF', 'dev1'), undefined);
    assert.deepEqual(await store.load('0ne00ABCDEF', 'dev2'), DEV2);
    await store.clear('0ne00ABCDEF', 'dev1'); // clearing twice is harmless
  });

  it('[protocol §3.1] the ID scope is case-insensitive', async () => {
    const store = memoryAssignmentStore();
    await store.save('0ne00ABCDEF', 'dev1', DEV1);
    assert.deepEqual(await store.load('0NE00abcdef', 'dev1'), DEV1);
    await store.clear('0ne00abcdef', 'dev1');
    assert.equal(await store.load('0ne00ABCDEF', 'dev1'), undefined);
  });

  it('keeps its own copy of a saved assignment', async () => {
    const store = memoryAssignmentStore();
    const assignment = { ...DEV1 };
    await store.save('0ne00ABCDEF', 'dev1', assignment);
    assignment.assignedHub = 'changed';
    assert.equal((await store.load('0ne00ABCDEF', 'dev1'))?.assignedHub, '127.0.0.2');
  });

  it('keeps ID scopes apart', async () => {
    const store = memoryAssignmentStore();
    await store.save('0ne00AAAAAA', 'dev1', DEV1);
    assert.equal(await store.load('0ne00BBBBBB', 'dev1'), undefined);
  });
});

describe('fileAssignmentStore', () => {
  let dir = '';
  let path = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'plugboard-assignments-'));
    path = join(dir, 'nested', 'assignments.json');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('[Best practices: cache the assignment] round trip, creating the directory', async () => {
    const store = fileAssignmentStore(path);
    assert.equal(await store.load('0ne00ABCDEF', 'dev1'), undefined, 'a missing file is an empty store');
    await store.save('0ne00ABCDEF', 'dev1', DEV1);
    await store.save('0ne00ABCDEF', 'dev2', DEV2);
    assert.deepEqual(await store.load('0ne00ABCDEF', 'dev1'), DEV1);
    assert.deepEqual(await store.load('0NE00abcdef', 'dev2'), DEV2);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { '0ne00abcdef/dev1': DEV1, '0ne00abcdef/dev2': DEV2 });
    assert.deepEqual(readdirSync(join(dir, 'nested')), ['assignments.json'], 'no temporary file is left behind');
  });

  it('[Best practices: cache the assignment] survives a restart (a new store on the same file)', async () => {
    await fileAssignmentStore(path).save('0ne00ABCDEF', 'dev1', DEV1);
    assert.deepEqual(await fileAssignmentStore(path).load('0ne00ABCDEF', 'dev1'), DEV1);
  });

  it('a corrupt file is an empty store, and the next save replaces it', async () => {
    const store = fileAssignmentStore(join(dir, 'assignments.json'));
    writeFileSync(join(dir, 'assignments.json'), '{"0ne00abcdef/dev1": {"assignedHub": ');
    assert.equal(await store.load('0ne00ABCDEF', 'dev1'), undefined);
    await store.save('0ne00ABCDEF', 'dev2', DEV2);
    assert.deepEqual(await store.load('0ne00ABCDEF', 'dev2'), DEV2);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'assignments.json'), 'utf8')), { '0ne00abcdef/dev2': DEV2 });
  });

  it('entries that are not assignments load as undefined; a JSON array is an empty store', async () => {
    const file = join(dir, 'assignments.json');
    writeFileSync(file, JSON.stringify({ '0ne00abcdef/dev1': { assignedHub: '127.0.0.2' } }));
    assert.equal(await fileAssignmentStore(file).load('0ne00ABCDEF', 'dev1'), undefined);
    writeFileSync(file, '[1,2]');
    assert.equal(await fileAssignmentStore(file).load('0ne00ABCDEF', 'dev1'), undefined);
  });

  it(
    '[STYLE: secrets] the file is readable by its owner only (0600)',
    { skip: process.platform === 'win32' },
    async () => {
      await fileAssignmentStore(path).save('0ne00ABCDEF', 'dev1', DEV1);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      await fileAssignmentStore(path).save('0ne00ABCDEF', 'dev2', DEV2);
      assert.equal(statSync(path).mode & 0o777, 0o600, 'still 0600 after a rewrite');
    },
  );

  it('clearing the last entry removes the file; clearing an unknown entry writes nothing', async () => {
    const store = fileAssignmentStore(path);
    await store.clear('0ne00ABCDEF', 'dev1');
    assert.equal(existsSync(path), false);
    await store.save('0ne00ABCDEF', 'dev1', DEV1);
    await store.save('0ne00ABCDEF', 'dev2', DEV2);
    await store.clear('0ne00ABCDEF', 'dev1');
    assert.equal(await store.load('0ne00ABCDEF', 'dev1'), undefined);
    assert.deepEqual(await store.load('0ne00ABCDEF', 'dev2'), DEV2);
    await store.clear('0NE00ABCDEF', 'dev2');
    assert.equal(existsSync(path), false);
    assert.equal(await store.load('0ne00ABCDEF', 'dev2'), undefined);
  });
});
