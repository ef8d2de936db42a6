/**
 * The storage limit, run in its own process by ingest.ts: raw batched inserts into Warden's
 * own `events` table (created by Warden's migrations, with the same indexes), one transaction
 * (one fsync) per batch, back to back on one connection. No network to Warden, no validation,
 * no projections: what the disk and the engine allow for this schema.
 *
 * - SQLite: better-sqlite3 prepared INSERTs, WAL with `synchronous=FULL` exactly as Warden
 *   opens it.
 * - PostgreSQL: one multi-row `INSERT … SELECT * FROM unnest(…)` per batch through `pg`,
 *   autocommitted, with the server's own durability settings (the same ones Warden gets);
 *   seqs are numbered by this process, as nothing else writes the schema.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { loadConfig, openStore, SqliteEventStore } from '@warden/server';
import {
  LatencyHistogram,
  selfCpuSec,
  serveGenerator,
  withSchema,
  type LatencySummary,
} from './bench-support.js';

export interface LimitTask {
  dataDir: string;
  batchSizes: number[];
  secondsEach: number;
  /** Measure PostgreSQL at this URL, in this (fresh) schema, instead of SQLite. */
  postgres?: { url: string; schema: string };
}

export interface LimitRun {
  batch: number;
  eventsPerSec: number;
  commit: LatencySummary;
  cpuSec: number;
  wallSec: number;
}

/** Times `insert(batch)` back to back for `secondsEach` per batch size. */
async function measure(
  task: LimitTask,
  insert: (count: number) => void | Promise<void>,
): Promise<LimitRun[]> {
  const out: LimitRun[] = [];
  for (const batch of task.batchSizes) {
    const hist = new LatencyHistogram();
    const cpu0 = selfCpuSec();
    const t0 = performance.now();
    const end = t0 + task.secondsEach * 1000;
    let events = 0;
    for (let t = t0; t < end;) {
      await insert(batch);
      const t1 = performance.now();
      hist.record(t1 - t);
      t = t1;
      events += batch;
    }
    const wallSec = (performance.now() - t0) / 1000;
    out.push({
      batch,
      eventsPerSec: events / wallSec,
      commit: hist.summary(),
      cpuSec: selfCpuSec() - cpu0,
      wallSec,
    });
  }
  return out;
}

async function runPostgres(task: LimitTask, target: { url: string; schema: string }) {
  // Warden's own store code creates the schema, tables and indexes, as `warden serve` would.
  const store = openStore(
    loadConfig(
      { databaseUrl: withSchema(target.url, target.schema), dataDir: task.dataDir },
      {},
      task.dataDir,
    ),
  );
  await store.migrate();
  await store.close();

  const client = new pg.Client({
    connectionString: target.url,
    options: `-c search_path=${target.schema}`,
  });
  await client.connect();
  const insert = {
    name: 'limit_insert',
    text: `INSERT INTO events (seq, id, type, agent_id, ts, received_at, correlation_id, data)
      SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[],
        $6::bigint[], $7::text[], $8::text[])`,
  };
  const run = Date.now().toString(36);
  let n = 0;
  try {
    return await measure(task, async (count) => {
      const now = Date.now();
      const t = performance.now().toFixed(3);
      const cols: unknown[][] = [[], [], [], [], [], [], [], []];
      for (let i = 0; i < count; i++, n++) {
        const conn = n % 100;
        cols[0]!.push(n + 1);
        cols[1]!.push(`${run}-${conn}-${n}`);
        cols[2]!.push('metric_update');
        cols[3]!.push(`bench-${conn}`);
        cols[4]!.push(now);
        cols[5]!.push(now);
        cols[6]!.push(null);
        cols[7]!.push(`{"metrics":{"cpu_percent":${n % 100},"sent_at":${t}}}`);
      }
      await client.query({ ...insert, values: cols });
    });
  } finally {
    await client.end();
  }
}

async function run(task: LimitTask): Promise<LimitRun[]> {
  if (task.postgres) return runPostgres(task, task.postgres);
  const file = join(task.dataDir, 'limit.db');
  const store = new SqliteEventStore(file);
  await store.migrate();
  await store.close();

  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const insert = db.prepare(
    `INSERT INTO events (id, type, agent_id, ts, received_at, correlation_id, data)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const run = Date.now().toString(36);
  let n = 0;
  const tx = db.transaction((count: number) => {
    const now = Date.now();
    const t = performance.now().toFixed(3);
    for (let i = 0; i < count; i++, n++) {
      const conn = n % 100;
      insert.run(
        `${run}-${conn}-${n}`,
        'metric_update',
        `bench-${conn}`,
        now,
        now,
        null,
        `{"metrics":{"cpu_percent":${n % 100},"sent_at":${t}}}`,
      );
    }
  });

  const out = await measure(task, (count) => tx(count));
  db.close();
  return out;
}

serveGenerator<LimitTask, LimitRun[]>(run);
