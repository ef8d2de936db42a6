import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { openSqlite } from '../store/sqlite-writer.js';
import type { MetricsDatabase } from './metrics-tables.js';
import { RollupAgg, type RollupValues } from './rollup-agg.js';
import {
  HOUR,
  MAX_HOURS_PER_FLUSH,
  RETENTION_CHUNK,
  RollupStore,
  type FlushBatch,
  type RetentionCutoffs,
} from './rollup-store.js';

type Db = BetterSqlite3.Database;
type Stmt = BetterSqlite3.Statement;

/** Free pages given back per incremental-vacuum step (8 MiB of 4 KiB pages). */
const VACUUM_STEP_PAGES = 2048;

const VALUE_COLUMNS = '"count", "sum", "min", "max", "last", "last_ts", "sketch"';

/**
 * The rollups on SQLite, on a connection of its own to the hub's file. A flush is one
 * synchronous `BEGIN IMMEDIATE` transaction (it never yields while it holds the file's write
 * lock: see SqliteTaskQueueStore); the event writer thread waits for it briefly, as it does
 * for the queue. Retention deletes in short steps and yields between them, so the writer is
 * never held for long either.
 */
export class SqliteRollupStore extends RollupStore {
  private readonly s: ReturnType<SqliteRollupStore['prepare']>;
  private readonly flushTx: (batch: FlushBatch) => Map<string, number>;

  constructor(private readonly handle: Db) {
    super(new Kysely<MetricsDatabase>({ dialect: new SqliteDialect({ database: handle }) }));
    this.s = this.prepare();
    const tx = handle.transaction((batch: FlushBatch) => this.flushInTx(batch));
    this.flushTx = (batch) => tx.immediate(batch);
  }

  /** Opens `sqlite:PATH` with Warden's pragmas (the event store has migrated the file). */
  static open(url: string): SqliteRollupStore {
    return new SqliteRollupStore(openSqlite(url.replace(/^sqlite:(\/\/)?/, '')));
  }

  private prepare() {
    const db = this.handle;
    const tier = (t: string) => ({
      get: db.prepare(`SELECT ${VALUE_COLUMNS} FROM ${t} WHERE series_id = ? AND bucket = ?`),
      put: db.prepare(
        `INSERT INTO ${t} (series_id, bucket, ${VALUE_COLUMNS})
         VALUES (@series_id, @bucket, @count, @sum, @min, @max, @last, @last_ts, @sketch)
         ON CONFLICT (series_id, bucket) DO UPDATE SET "count" = excluded."count",
           "sum" = excluded."sum", "min" = excluded."min", "max" = excluded."max",
           "last" = excluded."last", "last_ts" = excluded."last_ts", "sketch" = excluded."sketch"`,
      ),
      range: db.prepare(
        `SELECT bucket, ${VALUE_COLUMNS} FROM ${t}
         WHERE series_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket`,
      ),
      prune: db.prepare(`DELETE FROM ${t} WHERE series_id = ? AND bucket < ?`),
    });
    return {
      m: tier('metric_rollups_1m'),
      h: tier('metric_rollups_1h'),
      seriesId: db.prepare('SELECT id FROM metric_series WHERE agent_id = ? AND name = ?'),
      addSeries: db.prepare(
        'INSERT INTO metric_series (agent_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING',
      ),
      allSeries: db.prepare('SELECT id FROM metric_series ORDER BY id'),
      getState: db.prepare('SELECT seq FROM projection_state WHERE name = ?'),
      setState: db.prepare(
        `INSERT INTO projection_state (name, seq) VALUES (?, ?)
         ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`,
      ),
      raiseState: db.prepare(
        `INSERT INTO projection_state (name, seq) VALUES (?, ?)
         ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)`,
      ),
      bounds: db.prepare('SELECT min(seq) AS lo, max(seq) AS hi FROM events'),
      seqAt: db.prepare('SELECT seq, received_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1'),
      deleteRaw: db.prepare(
        "DELETE FROM events WHERE seq >= ? AND seq <= ? AND type = 'metric_update'",
      ),
    };
  }

  flush(batch: FlushBatch): Promise<void> {
    try {
      // Ids of series made in this transaction are cached only once it committed.
      for (const [k, id] of this.flushTx(batch)) this.ids.set(k, id);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private flushInTx(batch: FlushBatch): Map<string, number> {
    const s = this.s;
    const made = new Map<string, number>();
    const idOf = (agentId: string, name: string): number => {
      const k = RollupStore.key(agentId, name);
      let id = this.ids.get(k) ?? made.get(k);
      if (id === undefined) {
        s.addSeries.run(agentId, name);
        id = (s.seriesId.get(agentId, name) as { id: number }).id;
        made.set(k, id);
      }
      return id;
    };
    const marked = s.getState.get('metrics_hour') as { seq: number } | undefined;
    const hourMark = marked?.seq ?? batch.closeHoursBefore;
    // Samples of hours already rolled up go into the hour rows too.
    const lateHours = new Map<string, { id: number; bucket: number; agg: RollupAgg }>();
    for (const d of batch.minutes) {
      const id = idOf(d.agentId, d.name);
      mergeRow(s.m.get, s.m.put, id, d.bucket, d.agg);
      const hour = Math.floor(d.bucket / HOUR) * HOUR;
      if (hour < hourMark) {
        const k = `${id}:${hour}`;
        let h = lateHours.get(k);
        if (!h) lateHours.set(k, (h = { id, bucket: hour, agg: new RollupAgg() }));
        h.agg.merge(d.agg);
      }
    }
    for (const h of lateHours.values()) mergeRow(s.h.get, s.h.put, h.id, h.bucket, h.agg);
    const end = Math.min(batch.closeHoursBefore, hourMark + MAX_HOURS_PER_FLUSH * HOUR);
    if (end > hourMark) {
      // Close the hours [hourMark, end): each hour row is its minute rows merged.
      for (const { id } of s.allSeries.all() as Array<{ id: number }>) {
        const rows = s.m.range.all(id, hourMark, end) as Array<RollupValues & { bucket: number }>;
        let hour = -1;
        let agg: RollupAgg | undefined;
        for (const r of rows) {
          const h = Math.floor(r.bucket / HOUR) * HOUR;
          if (h !== hour) {
            if (agg) s.h.put.run({ series_id: id, bucket: hour, ...agg.toRow() });
            hour = h;
            agg = new RollupAgg();
          }
          agg!.merge(RollupAgg.fromRow(r));
        }
        if (agg) s.h.put.run({ series_id: id, bucket: hour, ...agg.toRow() });
      }
    }
    if (end > hourMark || !marked) s.setState.run('metrics_hour', Math.max(end, hourMark));
    if (batch.checkpoint > 0) s.raiseState.run('metrics', batch.checkpoint);
    return made;
  }

  async retain(c: RetentionCutoffs): Promise<Record<string, number>> {
    const s = this.s;
    // Raw samples: metric_update events received before the cutoff, never past the rollups'
    // checkpoint (a replay after a crash still needs those).
    const checkpoint = (s.getState.get('metrics') as { seq: number } | undefined)?.seq ?? 0;
    let raw = 0;
    const { lo, hi } = s.bounds.get() as { lo: number | null; hi: number | null };
    if (lo !== null && hi !== null) {
      // received_at grows with seq (see SqliteWriter.deleteBefore): binary search the boundary.
      let left = lo;
      let right = Math.min(hi, checkpoint);
      let boundary = lo - 1;
      while (left <= right) {
        const mid = Math.floor((left + right) / 2);
        const row = s.seqAt.get(mid) as { seq: number; received_at: number } | undefined;
        if (row && row.seq <= checkpoint && row.received_at < c.raw) {
          boundary = row.seq;
          left = row.seq + 1;
        } else {
          right = mid - 1;
        }
      }
      for (let from = lo; from <= boundary; from += RETENTION_CHUNK) {
        raw += s.deleteRaw.run(from, Math.min(boundary, from + RETENTION_CHUNK - 1)).changes;
        await yieldTurn();
      }
    }
    let minute = 0;
    let hour = 0;
    const ids = s.allSeries.all() as Array<{ id: number }>;
    for (let i = 0; i < ids.length; i++) {
      minute += s.m.prune.run(ids[i]!.id, c.minute).changes;
      hour += s.h.prune.run(ids[i]!.id, c.hour).changes;
      if (i % 100 === 99) await yieldTurn();
    }
    if (raw + minute + hour > 0) await this.giveSpaceBack();
    return { metric_samples: raw, rollups_1m: minute, rollups_1h: hour };
  }

  /**
   * Incremental vacuum in steps (each a short write transaction, so the event writer never
   * waits long), then a checkpoint that truncates the WAL, so the file itself shrinks.
   */
  private async giveSpaceBack(): Promise<void> {
    for (let i = 0; i < 100_000; i++) {
      const free = this.handle.pragma('freelist_count', { simple: true }) as number;
      if (free === 0) break;
      this.handle.pragma(`incremental_vacuum(${VACUUM_STEP_PAGES})`);
      await yieldTurn();
    }
    this.handle.pragma('wal_checkpoint(TRUNCATE)');
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

/** Reads the row at (id, bucket), merges `delta` into it and writes it back. */
function mergeRow(get: Stmt, put: Stmt, id: number, bucket: number, delta: RollupAgg): void {
  const had = get.get(id, bucket) as RollupValues | undefined;
  const agg = had ? RollupAgg.fromRow(had).merge(delta) : delta;
  put.run({ series_id: id, bucket, ...agg.toRow() });
}

function yieldTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
