import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '@warden/protocol';
import { WardenError } from '../errors.js';
import { TEST_PG_URL, describeWithServices, needPostgres } from '../test-support/service-gate.js';
import { describeEventStoreConformance } from './event-store.conformance.js';
import { PgEventStore, type PgEventStoreOptions } from './pg-event-store.js';

const URL_ = TEST_PG_URL;
const T0 = 1_763_791_200_000;

/** Plain SQL on the test database, outside any store (setup, checks, sabotage). */
async function admin<T extends pg.QueryResultRow>(text: string, values?: unknown[]) {
  const c = new pg.Client({ connectionString: URL_ });
  await c.connect();
  try {
    return await c.query<T>(text, values);
  } finally {
    await c.end();
  }
}

const schemas: string[] = [];
let schemaCount = 0;
function freshSchema(): string {
  const name = `wt_${process.pid}_${schemaCount++}_${randomBytes(3).toString('hex')}`;
  schemas.push(name);
  return name;
}

async function open(schema: string, options: PgEventStoreOptions = {}): Promise<PgEventStore> {
  const store = PgEventStore.fromUrl(URL_, { schema, ...options });
  await store.migrate();
  return store;
}

const ev = (id: string, agentId: string, data: Record<string, unknown> = { metrics: { n: 1 } }) =>
  ({ id, agentId, type: 'metric_update', ts: T0, data }) as WardenEvent;

describeWithServices('PgEventStore', [await needPostgres()], () => {
  afterAll(async () => {
    for (const s of schemas) await admin(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  });

  describeEventStoreConformance('PgEventStore', async () => {
    const schema = freshSchema();
    return { store: await open(schema), reopen: () => open(schema) };
  });

  describe('PgEventStore on PostgreSQL', () => {
    it('keeps every table and the migrations bookkeeping in its own schema', async () => {
      const schema = freshSchema();
      const store = PgEventStore.fromUrl(`${URL_}?schema=${schema}`);
      expect(store.schema).toBe(schema);
      await store.migrate();
      const tables = await admin<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
        [schema],
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual([
        'agent_state',
        'agents',
        'alert_agent_labels',
        'alert_notification_log',
        'alert_rules',
        'alert_silences',
        'alerts',
        'error_group_agents',
        'error_group_hours',
        'error_groups',
        'errors',
        'events',
        'kysely_migration',
        'kysely_migration_lock',
        'log_head',
        'logs',
        'metric_rollups_1h',
        'metric_rollups_1m',
        'metric_series',
        'projection_state',
        'queue_tasks',
        'retry_policies',
        'sessions',
        'tasks',
      ]);
      // Types are parsed per pool: the process-wide pg parser still returns int8 as a string.
      expect(pg.types.getTypeParser(20, 'text')('5')).toBe('5');
      await store.ping();
      await store.close();
    });

    it('two replicas appending at once get unique, contiguous seqs and store every id once', async () => {
      const schema = freshSchema();
      const [a, b] = await Promise.all([open(schema), open(schema)]);
      const calls = 30;
      const perCall = 40;
      const acks = new Map<string, number[]>();
      const run = async (store: PgEventStore, name: string) => {
        for (let c = 0; c < calls; c++) {
          // Every third call also sends ids the other replica sends: one of them stores each.
          const events = Array.from({ length: perCall }, (_, i) =>
            c % 3 === 0 && i < 10
              ? ev(`shared-${c}-${i}`, 'shared')
              : ev(`${name}-${c}-${i}`, name),
          );
          const results = await store.append(events, T0);
          results.forEach((r, i) => {
            const list = acks.get(events[i]!.id) ?? [];
            list.push(r.seq);
            acks.set(events[i]!.id, list);
          });
        }
      };
      await Promise.all([run(a, 'a'), run(b, 'b')]);

      const stored = [];
      for (let page = await a.readEvents({ since: 0, limit: 1000 }); page.length > 0;) {
        stored.push(...page);
        page = await a.readEvents({ since: page.at(-1)!.seq, limit: 1000 });
      }
      const total = 2 * calls * perCall - 10 * 10; // ten shared calls of ten shared ids
      expect(stored).toHaveLength(total);
      expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(new Set(stored.map((e) => e.id)).size).toBe(total);
      const seqOf = new Map(stored.map((e) => [e.id, e.seq]));
      for (const [id, seqs] of acks) {
        // Both replicas' acks for a shared id carry the one stored seq.
        for (const s of seqs) expect(s).toBe(seqOf.get(id));
      }
      expect(await a.readHead()).toBe(total);
      expect(await b.readHead()).toBe(total);
      // Neither replica's head is past the log; the last one to commit knows all of it.
      expect(Math.max(a.head(), b.head())).toBe(total);
      await Promise.all([a.close(), b.close()]);
    });

    it('a reader polling since its last seq never sees seq N+1 before seq N', async () => {
      const schema = freshSchema();
      const [a, b, reader] = await Promise.all([open(schema), open(schema), open(schema)]);
      const calls = 40;
      let writing = true;
      const write = async (store: PgEventStore, name: string) => {
        for (let c = 0; c < calls; c++) {
          // Varying sizes so the two replicas' commits take different times and interleave.
          const size = 1 + ((c * 7) % 60);
          await store.append(
            Array.from({ length: size }, (_, i) => ev(`${name}-${c}-${i}`, name)),
            T0,
          );
        }
      };
      let last = 0;
      let polls = 0;
      const gaps: string[] = [];
      const poll = async () => {
        while (writing || last < (await reader.readHead())) {
          const page = await reader.readEvents({ since: last, limit: 500 });
          polls++;
          for (const e of page) {
            if (e.seq !== last + 1) gaps.push(`after ${last} came ${e.seq}`);
            last = e.seq;
          }
        }
      };
      const polling = poll();
      await Promise.all([write(a, 'a'), write(b, 'b')]);
      writing = false;
      await polling;
      expect(gaps).toEqual([]);
      expect(last).toBe(await reader.readHead());
      expect(polls).toBeGreaterThan(1);
      await Promise.all([a.close(), b.close(), reader.close()]);
    });

    it('when its connection is killed during an append, that append fails clearly and the next one works', async () => {
      const schema = freshSchema();
      const app = `wt-kill-${randomBytes(4).toString('hex')}`;
      const store = await open(schema, { applicationName: app });
      await store.append([ev('before', 'k')], T0);

      // Hold the log_head lock from outside, so the append waits mid-transaction.
      const holder = new pg.Client({ connectionString: URL_ });
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query(`SELECT seq FROM "${schema}".log_head FOR UPDATE`);
      // Settled into a value at once: the rejection arrives while the test is still polling.
      const outcome = store.append([ev('lost', 'k')], T0).then(
        () => undefined,
        (e: unknown) => e,
      );
      let pid: number | undefined;
      for (let i = 0; i < 200 && pid === undefined; i++) {
        const r = await admin<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [`${app}:writer`],
        );
        pid = r.rows[0]?.pid;
        if (pid === undefined) await new Promise((r) => setTimeout(r, 25));
      }
      expect(pid).toBeDefined();
      await admin('SELECT pg_terminate_backend($1)', [pid]);
      const err = await outcome;
      expect(err).toBeInstanceOf(WardenError);
      expect((err as WardenError).code).toBe('unavailable');
      expect((err as Error).message).toMatch(
        /PostgreSQL connection to .* lost during append of 1 event\(s\) \(lock\).*nothing was stored/,
      );
      await holder.query('ROLLBACK');
      await holder.end();

      const next = await store.append([ev('after', 'k')], T0);
      expect(next[0]).toMatchObject({ seq: 2, duplicate: false });
      expect((await store.readEvents({ since: 0, limit: 10 })).map((e) => e.id)).toEqual([
        'before',
        'after',
      ]);

      // Killed while idle: the loss is noticed and the next append simply reconnects.
      await admin(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [`${app}:writer`],
      );
      await new Promise((r) => setTimeout(r, 100));
      expect((await store.append([ev('again', 'k')], T0))[0]!.seq).toBe(3);
      await store.close();
    });

    it('stores U+0000 in an error message (the projection shows U+FFFD) and refuses it in an id', async () => {
      const store = await open(freshSchema());
      const boom = {
        id: 'nul-1',
        agentId: 'z',
        type: 'error_occurred',
        ts: T0,
        data: { errorType: 'E', message: 'a\u0000b' },
      } as WardenEvent;
      const [r] = await store.append([boom], T0);
      // The JSON made for the row is handed on for frames, not made again.
      expect(r!.dataJson).toBe(JSON.stringify(boom.data));
      expect((await store.readEvents({ since: 0, limit: 1 }))[0]!.data).toEqual(boom.data);
      expect((await store.listErrors({ limit: 1 }))[0]!.message).toBe('a\uFFFDb');
      await expect(store.append([ev('bad\u0000id', 'z')], T0)).rejects.toMatchObject({
        code: 'invalid_event',
      });
      expect(store.head()).toBe(1);
      await store.close();
    });

    it('retention deletes oldest-first in bounded transactions, then vacuums', async () => {
      const schema = freshSchema();
      const store = await open(schema, { retentionChunk: 100 });
      // Records each DELETE statement's transaction and row count, from inside the engine.
      await admin(`
        CREATE TABLE "${schema}".delete_log (xid bigint, n bigint, lo bigint);
        CREATE FUNCTION "${schema}".log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO "${schema}".delete_log
            SELECT txid_current(), count(*), min(seq) FROM gone HAVING count(*) > 0;
          RETURN NULL;
        END $$;
        CREATE TRIGGER log_delete AFTER DELETE ON "${schema}".events
          REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
          EXECUTE FUNCTION "${schema}".log_delete();`);
      for (let b = 0; b < 10; b++) {
        await store.append(
          Array.from({ length: 100 }, (_, i) => ev(`old-${b}-${i}`, 'r')),
          T0 + b,
        );
      }
      await store.append(
        Array.from({ length: 50 }, (_, i) => ev(`new-${i}`, 'r')),
        T0 + 1_000_000,
      );
      expect(await store.deleteEventsBefore(T0 + 1000)).toBe(1000);
      const log = await admin<{ xid: number; n: number; lo: number }>(
        `SELECT xid::int8::float8 AS xid, n::float8 AS n, lo::float8 AS lo FROM "${schema}".delete_log ORDER BY lo`,
      );
      expect(log.rows).toHaveLength(10);
      expect(new Set(log.rows.map((r) => r.xid)).size).toBe(10);
      expect(log.rows.map((r) => r.n)).toEqual(Array<number>(10).fill(100));
      expect(log.rows.map((r) => r.lo)).toEqual(Array.from({ length: 10 }, (_, i) => 1 + i * 100));
      const left = await store.readEvents({ since: 0, limit: 100 });
      expect(left.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 1001 + i));
      const vac = await admin<{ last_vacuum: Date | null }>(
        'SELECT last_vacuum FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2',
        [schema, 'events'],
      );
      expect(vac.rows[0]?.last_vacuum).not.toBeNull();
      await store.close();
    });

    it('sustains the ingest rate Warden needs (measured, printed)', async () => {
      const store = await open(freshSchema());
      const lines: string[] = [];
      let n = 0;
      for (const group of [1000, 5000]) {
        let events = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < 1500) {
          const batch = Array.from({ length: group }, () => {
            const i = n++;
            return ev(`tp-${i}`, `bench-${i % 100}`, {
              metrics: { cpu_percent: i % 100, sent_at: t0 },
            });
          });
          await store.append(batch, Date.now());
          events += group;
        }
        const perSec = events / ((performance.now() - t0) / 1000);
        lines.push(`${group} per append: ${Math.round(perSec)} events/s`);
      }
      console.log(`PgEventStore append throughput: ${lines.join('; ')}`);
      expect(store.head()).toBe(n);
      await store.close();
    });
  });
});
