import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { WardenEvent } from '@warden/protocol';
import { SqliteEventStore } from './sqlite-event-store.js';
import { SqliteWriter } from './sqlite-writer.js';

describe('SqliteWriter agents projection', () => {
  it('rebuilds agent state (check verdicts too) from the log when the process died before writing it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'warden-writer-')), 'w.db');
    const migrated = new SqliteEventStore(file, { writerThread: false });
    await migrated.migrate();
    await migrated.close();

    const first = new SqliteWriter(file);
    const ev = (id: string, data: Record<string, unknown>, type = 'agent_status_update') =>
      ({ id, type, agentId: 'phoenix', ts: 5, data }) as WardenEvent;
    // Within one flush interval of the start: logged, not yet projected.
    first.append(
      [ev('1', { status: 'busy' }), ev('2', { metrics: { memory_mb: 7 } }, 'metric_update')],
      1000,
    );
    first.append([ev('3', { status: 'needs_input' })], 2000);
    const verdict = { check: 'memory', health: 'critical', previous: 'healthy', reason: 'leak' };
    first.append([ev('4', verdict, 'health_changed')], 2500);
    const raw = new BetterSqlite3(file, { readonly: true });
    expect(
      raw.prepare("SELECT count(*) AS n FROM agents WHERE agent_id = 'phoenix'").get(),
    ).toEqual({ n: 0 });

    // A second writer on the same file is what a restart after kill -9 sees.
    const second = new SqliteWriter(file);
    expect(
      raw
        .prepare('SELECT status, metrics, checks, first_seen, last_seen, last_seq FROM agents')
        .get(),
    ).toEqual({
      status: 'needs_input',
      metrics: '{"memory_mb":7}',
      checks: '{"memory":{"health":"critical","reason":"leak","at":5}}',
      first_seen: 1000,
      last_seen: 2500,
      last_seq: 4,
    });
    expect(raw.prepare("SELECT seq FROM projection_state WHERE name = 'agents'").get()).toEqual({
      seq: 4,
    });
    raw.close();
    second.close();
    first.close();
  });
});
