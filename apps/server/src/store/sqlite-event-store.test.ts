import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { WardenEvent } from '@warden/protocol';
import { describeEventStoreConformance } from './event-store.conformance.js';
import { SqliteEventStore } from './sqlite-event-store.js';

async function fresh(file = join(mkdtempSync(join(tmpdir(), 'warden-sqlite-')), 'w.db')) {
  const store = new SqliteEventStore(file);
  await store.migrate();
  return store;
}

describeEventStoreConformance('SqliteEventStore (writer thread)', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'warden-sqlite-')), 'w.db');
  return { store: await fresh(file), reopen: () => fresh(file) };
});

describeEventStoreConformance('SqliteEventStore (inline writer)', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'warden-sqlite-')), 'w.db');
  const open = async () => {
    const s = new SqliteEventStore(file, { writerThread: false });
    await s.migrate();
    return s;
  };
  return { store: await open(), reopen: open };
});

describe('SqliteEventStore on disk', () => {
  it('runs in WAL mode with synchronous=FULL and incremental auto-vacuum', async () => {
    const store = await fresh();
    expect(store.pragma('journal_mode')).toBe('wal');
    expect(store.pragma('synchronous')).toBe(2);
    expect(store.pragma('auto_vacuum')).toBe(2);
    await store.close();
  });

  it('gives the space of deleted events back to the file system', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-sqlite-'));
    const file = join(dir, 'w.db');
    const store = await fresh(file);
    const blob = 'x'.repeat(2000);
    for (let b = 0; b < 20; b++) {
      const events = Array.from(
        { length: 500 },
        (_, i) =>
          ({
            id: `v${b}-${i}`,
            type: 'error_occurred',
            agentId: 'v',
            ts: 1,
            data: { errorType: 'E', message: blob },
          }) as WardenEvent,
      );
      await store.append(events, 1000);
    }
    const before = store.fileStats();
    const sizeBefore = statSync(file).size;
    expect(await store.deleteEventsBefore(2000)).toBe(10_000);
    const after = store.fileStats();
    expect(after.freePages).toBe(0);
    expect(after.pageCount).toBeLessThan(before.pageCount / 2);
    expect(statSync(file).size).toBeLessThan(sizeBefore / 2);
    await store.close();
  });
});
