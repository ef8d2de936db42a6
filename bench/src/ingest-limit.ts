/**
 * The storage limit, run in its own process by ingest.ts: raw better-sqlite3 batched inserts
 * into Warden's own `events` table (created by Warden's migrations), WAL with
 * `synchronous=FULL` exactly as Warden opens it, one transaction (one fsync) per batch, back to
 * back on one connection. No network, no validation, no projections: what the disk and SQLite
 * allow for this schema.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { SqliteEventStore } from '@warden/server';
import {
  LatencyHistogram,
  selfCpuSec,
  serveGenerator,
  type LatencySummary,
} from './bench-support.js';

export interface LimitTask {
  dataDir: string;
  batchSizes: number[];
  secondsEach: number;
}

export interface LimitRun {
  batch: number;
  eventsPerSec: number;
  commit: LatencySummary;
  cpuSec: number;
  wallSec: number;
}

async function run(task: LimitTask): Promise<LimitRun[]> {
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

  const out: LimitRun[] = [];
  for (const batch of task.batchSizes) {
    const hist = new LatencyHistogram();
    const cpu0 = selfCpuSec();
    const t0 = performance.now();
    const end = t0 + task.secondsEach * 1000;
    let events = 0;
    for (let t = t0; t < end;) {
      tx(batch);
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
  db.close();
  return out;
}

serveGenerator<LimitTask, LimitRun[]>(run);
