import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { WardenEvent } from '@warden/protocol';
import { SqliteEventStore } from './sqlite-event-store.js';
import { SqliteWriter } from './sqlite-writer.js';

/** A database file with the schema in place and nothing else. */
async function migratedFile(): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'warden-writer-')), 'w.db');
  const migrated = new SqliteEventStore(file, { writerThread: false });
  await migrated.migrate();
  await migrated.close();
  return file;
}

describe('SqliteWriter agents projection', () => {
  it('rebuilds agent state (check verdicts too) from the log when the process died before writing it', async () => {
    const file = await migratedFile();
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

  it('writes waiting agent deltas within the flush interval with no further event, then again for the next event', async () => {
    const file = await migratedFile();
    const writer = new SqliteWriter(file);
    const raw = new BetterSqlite3(file, { readonly: true });
    const row = () => raw.prepare("SELECT status FROM agents WHERE agent_id = 'kite'").get();
    try {
      writer.append(
        [
          {
            id: 'k1',
            type: 'agent_status_update',
            agentId: 'kite',
            ts: 5,
            data: { status: 'busy' },
          },
        ],
        1000,
      );
      expect(row()).toBeUndefined();
      await new Promise((r) => setTimeout(r, 600));
      expect(row()).toEqual({ status: 'busy' });
      // Past the interval since that flush, the next event is written at once; one right
      // after it waits for a timer armed anew.
      const status = (id: string, ts: number, st: string): WardenEvent =>
        ({
          id,
          type: 'agent_status_update',
          agentId: 'kite',
          ts,
          data: { status: st },
        }) as WardenEvent;
      writer.append([status('k2', 6, 'idle')], 2000);
      expect(row()).toEqual({ status: 'idle' });
      writer.append([status('k3', 7, 'needs_input')], 2001);
      expect(row()).toEqual({ status: 'idle' });
      await new Promise((r) => setTimeout(r, 600));
      expect(row()).toEqual({ status: 'needs_input' });
    } finally {
      raw.close();
      writer.close();
    }
  });
});
