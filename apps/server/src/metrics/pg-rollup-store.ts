import { sql, type Kysely, type Transaction } from 'kysely';
import { openQueueConnection } from '../store/queue-connection.js';
import type { MetricsDatabase, RollupRow } from './metrics-tables.js';
import { RollupAgg } from './rollup-agg.js';
import {
  HOUR,
  MAX_HOURS_PER_FLUSH,
  RETENTION_CHUNK,
  RollupStore,
  type FlushBatch,
  type RetentionCutoffs,
} from './rollup-store.js';

/** Advisory lock key that serialises flushes of all replicas (read-merge-write of rows). */
const FLUSH_LOCK = 0x77617264_6d74; // "wardmt"
/** Rows per multi-row INSERT (9 parameters each, far below PostgreSQL's 65,535). */
const INSERT_CHUNK = 1000;

type Tier = 'metric_rollups_1m' | 'metric_rollups_1h';

/**
 * The rollups on PostgreSQL, on a small pool of their own. A flush is one transaction that
 * first takes a transaction-scoped advisory lock, so replicas flushing the same minute merge
 * one after the other instead of overwriting each other's share.
 */
export class PgRollupStore extends RollupStore {
  constructor(db: Kysely<MetricsDatabase>) {
    super(db);
  }

  static open(databaseUrl: string): PgRollupStore {
    const { db } = openQueueConnection<MetricsDatabase>(databaseUrl, {
      applicationName: 'warden:metrics',
      poolSize: 2,
    });
    return new PgRollupStore(db);
  }

  /** Ids for these series, made where missing (each insert commits on its own). */
  private async resolve(batch: FlushBatch): Promise<void> {
    const missing = new Map<string, { agentId: string; name: string }>();
    for (const d of batch.minutes) {
      const k = RollupStore.key(d.agentId, d.name);
      if (!this.ids.has(k)) missing.set(k, { agentId: d.agentId, name: d.name });
    }
    if (missing.size === 0) return;
    const list = [...missing.values()];
    for (let i = 0; i < list.length; i += INSERT_CHUNK) {
      const part = list.slice(i, i + INSERT_CHUNK);
      await this.db
        .insertInto('metric_series')
        .values(part.map((m) => ({ agent_id: m.agentId, name: m.name })))
        .onConflict((oc) => oc.columns(['agent_id', 'name']).doNothing())
        .execute();
      const rows = await this.db
        .selectFrom('metric_series')
        .select(['id', 'agent_id', 'name'])
        .where((eb) =>
          eb(
            eb.refTuple('agent_id', 'name'),
            'in',
            part.map((m) => eb.tuple(m.agentId, m.name)),
          ),
        )
        .execute();
      for (const r of rows) this.ids.set(RollupStore.key(r.agent_id, r.name), Number(r.id));
    }
  }

  async flush(batch: FlushBatch): Promise<void> {
    await this.resolve(batch);
    await this.db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${FLUSH_LOCK})`.execute(trx);
      const marked = await trx
        .selectFrom('projection_state')
        .select('seq')
        .where('name', '=', 'metrics_hour')
        .executeTakeFirst();
      const hourMark = marked ? Number(marked.seq) : batch.closeHoursBefore;
      const minutes = new Map<string, { id: number; bucket: number; agg: RollupAgg }>();
      const late = new Map<string, { id: number; bucket: number; agg: RollupAgg }>();
      for (const d of batch.minutes) {
        const id = this.ids.get(RollupStore.key(d.agentId, d.name))!;
        add(minutes, id, d.bucket, d.agg);
        const hour = Math.floor(d.bucket / HOUR) * HOUR;
        if (hour < hourMark) add(late, id, hour, d.agg);
      }
      await mergeRows(trx, 'metric_rollups_1m', [...minutes.values()]);
      await mergeRows(trx, 'metric_rollups_1h', [...late.values()]);
      const end = Math.min(batch.closeHoursBefore, hourMark + MAX_HOURS_PER_FLUSH * HOUR);
      if (end > hourMark) {
        // The series-id list lets the primary key serve the range (no index on bucket alone).
        const ids = (await trx.selectFrom('metric_series').select('id').execute()).map((r) =>
          Number(r.id),
        );
        const hours = new Map<string, { id: number; bucket: number; agg: RollupAgg }>();
        for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
          const rows = await trx
            .selectFrom('metric_rollups_1m')
            .selectAll()
            .where('series_id', 'in', ids.slice(i, i + INSERT_CHUNK))
            .where('bucket', '>=', hourMark)
            .where('bucket', '<', end)
            .execute();
          for (const r of rows) {
            const hour = Math.floor(Number(r.bucket) / HOUR) * HOUR;
            add(hours, Number(r.series_id), hour, RollupAgg.fromRow(r));
          }
        }
        await putRows(trx, 'metric_rollups_1h', [...hours.values()]);
      }
      if (end > hourMark || !marked) {
        await trx
          .insertInto('projection_state')
          .values({ name: 'metrics_hour', seq: Math.max(end, hourMark) })
          .onConflict((oc) => oc.column('name').doUpdateSet({ seq: Math.max(end, hourMark) }))
          .execute();
      }
      if (batch.checkpoint > 0) {
        await sql`INSERT INTO projection_state (name, seq) VALUES ('metrics', ${batch.checkpoint})
          ON CONFLICT (name) DO UPDATE SET seq = GREATEST(projection_state.seq, excluded.seq)`.execute(
          trx,
        );
      }
    });
  }

  async retain(c: RetentionCutoffs): Promise<Record<string, number>> {
    const checkpoint = await this.checkpoint();
    const b = await sql<{ lo: string | null; hi: string | null }>`
      SELECT min(seq) AS lo, max(seq) AS hi FROM events`.execute(this.db);
    let raw = 0;
    const { lo, hi } = b.rows[0]!;
    if (lo !== null && hi !== null) {
      let left = Number(lo);
      let right = Math.min(Number(hi), checkpoint);
      let boundary = left - 1;
      while (left <= right) {
        const mid = Math.floor((left + right) / 2);
        const row = await this.db
          .selectFrom('events')
          .select(['seq', 'received_at'])
          .where('seq', '>=', mid)
          .orderBy('seq')
          .limit(1)
          .executeTakeFirst();
        if (row && Number(row.seq) <= checkpoint && Number(row.received_at) < c.raw) {
          boundary = Number(row.seq);
          left = boundary + 1;
        } else {
          right = mid - 1;
        }
      }
      // Each range is its own statement; received_at is checked too, as replicas' stamps may
      // interleave by a few milliseconds (see PgEventStore.deleteEventsBefore).
      for (let from = Number(lo); from <= boundary; from += RETENTION_CHUNK) {
        const r = await this.db
          .deleteFrom('events')
          .where('seq', '>=', from)
          .where('seq', '<=', Math.min(boundary, from + RETENTION_CHUNK - 1))
          .where('type', '=', 'metric_update')
          .where('received_at', '<', c.raw)
          .executeTakeFirst();
        raw += Number(r.numDeletedRows);
      }
    }
    const ids = (await this.db.selectFrom('metric_series').select('id').execute()).map((r) =>
      Number(r.id),
    );
    let minute = 0;
    let hour = 0;
    for (let i = 0; i < ids.length; i += INSERT_CHUNK) {
      const part = ids.slice(i, i + INSERT_CHUNK);
      const m = await this.db
        .deleteFrom('metric_rollups_1m')
        .where('series_id', 'in', part)
        .where('bucket', '<', c.minute)
        .executeTakeFirst();
      minute += Number(m.numDeletedRows);
      const h = await this.db
        .deleteFrom('metric_rollups_1h')
        .where('series_id', 'in', part)
        .where('bucket', '<', c.hour)
        .executeTakeFirst();
      hour += Number(h.numDeletedRows);
    }
    // VACUUM (outside a transaction) makes the space reusable, as the event store does.
    if (raw > 0) await sql`VACUUM events`.execute(this.db);
    if (minute > 0) await sql`VACUUM metric_rollups_1m`.execute(this.db);
    if (hour > 0) await sql`VACUUM metric_rollups_1h`.execute(this.db);
    return { metric_samples: raw, rollups_1m: minute, rollups_1h: hour };
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}

function add(
  into: Map<string, { id: number; bucket: number; agg: RollupAgg }>,
  id: number,
  bucket: number,
  agg: RollupAgg,
): void {
  const k = `${id}:${bucket}`;
  let e = into.get(k);
  if (!e) into.set(k, (e = { id, bucket, agg: new RollupAgg() }));
  e.agg.merge(agg);
}

/** Merges each delta into its stored row (read under the flush lock, then written back). */
async function mergeRows(
  trx: Transaction<MetricsDatabase>,
  table: Tier,
  deltas: Array<{ id: number; bucket: number; agg: RollupAgg }>,
): Promise<void> {
  for (let i = 0; i < deltas.length; i += INSERT_CHUNK) {
    const part = deltas.slice(i, i + INSERT_CHUNK);
    const had = await trx
      .selectFrom(table)
      .selectAll()
      .where((eb) =>
        eb(
          eb.refTuple('series_id', 'bucket'),
          'in',
          part.map((d) => eb.tuple(d.id, d.bucket)),
        ),
      )
      .execute();
    const byKey = new Map<string, RollupRow>();
    for (const r of had) byKey.set(`${Number(r.series_id)}:${Number(r.bucket)}`, r);
    for (const d of part) {
      const row = byKey.get(`${d.id}:${d.bucket}`);
      if (row) d.agg = RollupAgg.fromRow(row).merge(d.agg);
    }
    await putRows(trx, table, part);
  }
}

/** Writes rows as given (insert, or replace the stored values). */
async function putRows(
  trx: Transaction<MetricsDatabase>,
  table: Tier,
  rows: Array<{ id: number; bucket: number; agg: RollupAgg }>,
): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await trx
      .insertInto(table)
      .values(
        rows.slice(i, i + INSERT_CHUNK).map((r) => ({
          series_id: r.id,
          bucket: r.bucket,
          ...r.agg.toRow(),
        })),
      )
      .onConflict((oc) =>
        oc.columns(['series_id', 'bucket']).doUpdateSet((eb) => ({
          count: eb.ref('excluded.count'),
          sum: eb.ref('excluded.sum'),
          min: eb.ref('excluded.min'),
          max: eb.ref('excluded.max'),
          last: eb.ref('excluded.last'),
          last_ts: eb.ref('excluded.last_ts'),
          sketch: eb.ref('excluded.sketch'),
        })),
      )
      .execute();
  }
}
