import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintError } from '@warden/protocol';
import { createMigrationProvider } from '../store/migrations.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-eg-mig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('migration 0008_error_groups', () => {
  it('fingerprints and groups the errors stored before it', async () => {
    const raw = new BetterSqlite3(join(dir, 'w.db'));
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: raw }) });
    const migrator = new Migrator({ db, provider: createMigrationProvider('sqlite') });
    const to7 = await migrator.migrateTo('0007_alerts');
    expect(to7.error).toBeUndefined();
    const insert = raw.prepare(
      `INSERT INTO errors (id, event_id, agent_id, error_type, message, stack, task_id, fatal, fingerprint, ts)
       VALUES (?, ?, ?, ?, ?, NULL, NULL, 0, ?, ?)`,
    );
    insert.run(1, 'e1', 'a1', 'Timeout', 'timed out after 3000 ms', null, 3_600_000);
    insert.run(2, 'e2', 'a2', 'Timeout', 'timed out after 5000 ms', null, 3_700_000);
    insert.run(3, 'e3', 'a1', 'Other', 'x', 'given-fp', 7_300_000);
    const latest = await migrator.migrateToLatest();
    expect(latest.error).toBeUndefined();

    const fp = fingerprintError({ errorType: 'Timeout', message: 'timed out after 1 ms' });
    expect(raw.prepare('SELECT fingerprint FROM errors ORDER BY id').pluck().all()).toEqual([
      fp,
      fp,
      'given-fp',
    ]);
    expect(
      raw
        .prepare(
          'SELECT fingerprint, count, first_seen, last_seen, last_agent_id FROM error_groups ORDER BY fingerprint',
        )
        .all(),
    ).toEqual(
      [
        {
          fingerprint: fp,
          count: 2,
          first_seen: 3_600_000,
          last_seen: 3_700_000,
          last_agent_id: 'a2',
        },
        {
          fingerprint: 'given-fp',
          count: 1,
          first_seen: 7_300_000,
          last_seen: 7_300_000,
          last_agent_id: 'a1',
        },
      ].sort((a, b) => a.fingerprint.localeCompare(b.fingerprint)),
    );
    expect(raw.prepare('SELECT count(*) FROM error_group_agents').pluck().get()).toBe(3);
    expect(
      raw.prepare('SELECT hour, count FROM error_group_hours WHERE fingerprint = ?').all(fp),
    ).toEqual([{ hour: 3_600_000, count: 2 }]);
    await db.destroy();
  });
});
