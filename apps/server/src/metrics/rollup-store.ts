import { sql, type Kysely } from 'kysely';
import type { RollupAgg } from './rollup-agg.js';
import type { MetricsDatabase, RollupRow } from './metrics-tables.js';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
/** The fleet's series use this agent id (no agent id can be `*`). */
export const FLEET = '*';
/** Event types the rollups are made from (the replay reads only these). */
export const ROLLUP_EVENT_TYPES = [
  'metric_update',
  'task_completed',
  'error_occurred',
  'agent_lifecycle',
] as const;

export type RollupTier = '1m' | '1h';

/** One series' share of one minute, accumulated since the last flush. */
export interface MinuteDelta {
  agentId: string;
  name: string;
  /** Minute start, epoch ms. */
  bucket: number;
  agg: RollupAgg;
}

/** What one flush writes, in one transaction. */
export interface FlushBatch {
  minutes: readonly MinuteDelta[];
  /** Highest seq whose samples are in this or an earlier flush (0: none). */
  checkpoint: number;
  /**
   * Hours starting before this (an hour boundary) are closed: each not rolled up yet is made
   * from its minute rows, and later samples for it are merged into the hour row directly.
   */
  closeHoursBefore: number;
}

export interface SeriesRef {
  id: number;
  agentId: string;
  name: string;
}

export interface RawEventRow {
  seq: number;
  type: string;
  agentId: string;
  ts: number;
  data: string;
}

export interface RetentionCutoffs {
  /** `metric_update` events received before this go. */
  raw: number;
  /** 1-minute rows with a bucket before this go. */
  minute: number;
  /** 1-hour rows with a bucket before this go. */
  hour: number;
}

/** Hours rolled up per flush at most, so a hub that was down long catches up in steps. */
export const MAX_HOURS_PER_FLUSH = 24;
/** Rows or seqs per retention step; each step is its own short transaction. */
export const RETENTION_CHUNK = 10_000;

/**
 * Where the rollups live: SQLite ({@link SqliteRollupStore}) or PostgreSQL
 * ({@link PgRollupStore}), on a connection of their own. Reads are shared here (single
 * statements through Kysely); the flush and the retention deletes are per dialect.
 */
export abstract class RollupStore {
  /** (agent, name) → series id, filled as series are read or made. */
  protected readonly ids = new Map<string, number>();

  constructor(protected readonly db: Kysely<MetricsDatabase>) {}

  /** Merges a batch into the rollup rows and moves the checkpoint, all in one transaction. */
  abstract flush(batch: FlushBatch): Promise<void>;
  /** Deletes what is past retention and gives the space back; counts by kind. */
  abstract retain(cutoffs: RetentionCutoffs): Promise<Record<string, number>>;
  abstract close(): Promise<void>;

  protected static key(agentId: string, name: string): string {
    return `${agentId}\u0000${name}`;
  }

  /** The last seq folded into the rollups (0 when none). */
  async checkpoint(): Promise<number> {
    const row = await this.db
      .selectFrom('projection_state')
      .select('seq')
      .where('name', '=', 'metrics')
      .executeTakeFirst();
    return row ? Number(row.seq) : 0;
  }

  /** Hours before this (epoch ms) are rolled up into 1-hour rows; 0 before the first flush. */
  async hourMark(): Promise<number> {
    const row = await this.db
      .selectFrom('projection_state')
      .select('seq')
      .where('name', '=', 'metrics_hour')
      .executeTakeFirst();
    return row ? Number(row.seq) : 0;
  }

  /** Events of the rollup types with `after < seq <= until`, ascending. */
  async eventsAfter(after: number, until: number, limit: number): Promise<RawEventRow[]> {
    const rows = await this.db
      .selectFrom('events')
      .select(['seq', 'type', 'agent_id', 'ts', 'data'])
      .where('seq', '>', after)
      .where('seq', '<=', until)
      .where('type', 'in', [...ROLLUP_EVENT_TYPES])
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      type: r.type,
      agentId: r.agent_id,
      ts: Number(r.ts),
      data: r.data,
    }));
  }

  /** Every series, or one agent's (`*`: the fleet's), by agent then name. */
  async listSeries(agentId?: string): Promise<SeriesRef[]> {
    let q = this.db.selectFrom('metric_series').select(['id', 'agent_id', 'name']);
    if (agentId !== undefined) q = q.where('agent_id', '=', agentId);
    const rows = await q.orderBy('agent_id').orderBy('name').execute();
    return rows.map((r) => ({ id: Number(r.id), agentId: r.agent_id, name: r.name }));
  }

  /** The id of a series, or undefined when it was never written. */
  async seriesId(agentId: string, name: string): Promise<number | undefined> {
    const k = RollupStore.key(agentId, name);
    const known = this.ids.get(k);
    if (known !== undefined) return known;
    const row = await this.db
      .selectFrom('metric_series')
      .select('id')
      .where('agent_id', '=', agentId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!row) return undefined;
    this.ids.set(k, Number(row.id));
    return Number(row.id);
  }

  /** Rollup rows of one series with `from <= bucket < to`, ascending. */
  async readRollups(
    tier: RollupTier,
    seriesId: number,
    from: number,
    to: number,
  ): Promise<RollupRow[]> {
    return this.db
      .selectFrom(tier === '1m' ? 'metric_rollups_1m' : 'metric_rollups_1h')
      .selectAll()
      .where('series_id', '=', seriesId)
      .where('bucket', '>=', from)
      .where('bucket', '<', to)
      .orderBy('bucket')
      .execute();
  }

  /** One agent's stored `metric_update` events with `from <= ts < to` (raw samples). */
  async readRaw(
    agentId: string,
    from: number,
    to: number,
    limit: number,
  ): Promise<Array<{ ts: number; data: string }>> {
    const rows = await this.db
      .selectFrom('events')
      .select(['ts', 'data'])
      .where('agent_id', '=', agentId)
      .where('type', '=', 'metric_update')
      .where('ts', '>=', from)
      .where('ts', '<', to)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ts: Number(r.ts), data: r.data }));
  }

  /** Rows per table, for the storage bench and tests. */
  async rowCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const t of [
      'events',
      'metric_series',
      'metric_rollups_1m',
      'metric_rollups_1h',
    ] as const) {
      const r = await sql<{
        n: number | string;
      }>`SELECT count(*) AS n FROM ${sql.table(t)}`.execute(this.db);
      out[t] = Number(r.rows[0]!.n);
    }
    return out;
  }
}
