/**
 * Where a device keeps its DPS assignment between runs, so a restart connects straight to its hub instead
 * of registering again (DPS registrations are rate-limited and slow). The device drops the cached
 * assignment when the hub stops accepting it. A file store by default; any `{ load, save, clear }` will do.
 */

import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Assignment } from './provisioning.js';

/**
 * A pluggable assignment cache, keyed by ID scope and registration id.
 *
 * @example
 * ```ts
 * const store: AssignmentStore = memoryAssignmentStore();
 * await store.save('0ne00ABCDEF', 'dev1', { assignedHub: '127.0.0.2', deviceId: 'dev1', registrationId: 'dev1' });
 * ```
 */
export interface AssignmentStore {
  load(idScope: string, registrationId: string): Promise<Assignment | undefined>;
  save(idScope: string, registrationId: string, assignment: Assignment): Promise<void>;
  clear(idScope: string, registrationId: string): Promise<void>;
}

function key(idScope: string, registrationId: string): string {
  return `${idScope.toLowerCase()}/${registrationId}`;
}

function isAssignment(value: unknown): value is Assignment {
  const v = value as Partial<Assignment> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.assignedHub === 'string' &&
    typeof v.deviceId === 'string' &&
    typeof v.registrationId === 'string'
  );
}

/**
 * An in-memory store (a process that restarts registers again).
 *
 * @example
 * ```ts
 * createDevice({ ..., assignmentStore: memoryAssignmentStore() });
 * ```
 */
export function memoryAssignmentStore(): AssignmentStore {
  const entries = new Map<string, Assignment>();
  return {
    load: (idScope, registrationId) => Promise.resolve(entries.get(key(idScope, registrationId))),
    save(idScope, registrationId, assignment) {
      entries.set(key(idScope, registrationId), { ...assignment });
      return Promise.resolve();
    },
    clear(idScope, registrationId) {
      entries.delete(key(idScope, registrationId));
      return Promise.resolve();
    },
  };
}

/**
 * A JSON file holding the assignments of every device that uses it (`{ "<idScope>/<registrationId>":
 * assignment }`), written atomically (temporary file, then rename) and readable only by its owner. A
 * missing or unreadable file is an empty store: the device registers again.
 *
 * @example
 * ```ts
 * createDevice({ ..., assignmentStore: fileAssignmentStore('.plugboard-device/assignments.json') });
 * ```
 */
export function fileAssignmentStore(path: string): AssignmentStore {
  const read = (): Record<string, unknown> => {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : {};
    } catch {
      return {};
    }
  };
  const write = (entries: Record<string, unknown>): void => {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, path);
  };
  return {
    load(idScope, registrationId) {
      const value = read()[key(idScope, registrationId)];
      return Promise.resolve(isAssignment(value) ? value : undefined);
    },
    save(idScope, registrationId, assignment) {
      const entries = read();
      entries[key(idScope, registrationId)] = assignment;
      write(entries);
      return Promise.resolve();
    },
    clear(idScope, registrationId) {
      const entries = read();
      if (!(key(idScope, registrationId) in entries)) return Promise.resolve();
      delete entries[key(idScope, registrationId)];
      if (Object.keys(entries).length === 0) rmSync(path, { force: true });
      else write(entries);
      return Promise.resolve();
    },
  };
}
