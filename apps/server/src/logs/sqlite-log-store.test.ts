import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteEventStore } from '../store/sqlite-event-store.js';
import { describeLogStoreConformance } from './log-store.conformance.js';
import { SqliteLogStore } from './sqlite-log-store.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describeLogStoreConformance('SqliteLogStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-logs-'));
  dirs.push(dir);
  const file = join(dir, 'w.db');
  const events = new SqliteEventStore(file, { writerThread: false });
  await events.migrate();
  const opened: SqliteLogStore[] = [SqliteLogStore.open(`sqlite:${file}`)];
  return {
    store: opened[0]!,
    other: () => {
      const s = SqliteLogStore.open(`sqlite:${file}`);
      opened.push(s);
      return Promise.resolve(s);
    },
    close: async () => {
      for (const s of opened) await s.close();
      await events.close();
    },
  };
});
