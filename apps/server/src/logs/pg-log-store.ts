import { sql, type Kysely } from 'kysely';
import { openQueueConnection } from '../store/queue-connection.js';
import {
  DELETE_CHUNK,
  boundaryFor,
  levelOf,
  levelRank,
  likePattern,
  rowBytes,
  type LogQuery,
  type LogRow,
  type LogStore,
  type LogStoreState,
} from './log-store.js';

/** The tables this store touches (migration 0009, and 0002's projection_state). */
export interface LogsDatabase {
  logs: {
    seq: number;
    agent_id: string;
    ts: number;
    level: number;
    stream: string | null;
    message: string;
    correlation_id: string | null;
    cum_bytes: number;
  };
  projection_state: { name: string; seq: number };
}

type Db = Kysely<LogsDatabase>;

/** Rows per INSERT statement (8 parameters each, far below PostgreSQL's 65,535). */
const INSERT_CHUNK = 1000;

/**
 * The logs table on PostgreSQL, on a small pool of its own. A flush is one transaction; rows
 * another replica wrote already are skipped (`ON CONFLICT DO NOTHING`), and the position only
 * moves forward (`GREATEST`). Space freed by retention is reused by the table (autovacuum);
 * PostgreSQL does not shrink the files without `VACUUM FULL`, which would lock the table.
 */
export class PgLogStore implements LogStore {
  private cum: number | undefined;

  constructor(private readonly db: Db) {}

  static open(databaseUrl: string): PgLogStore {
    return new PgLogStore(
      openQueueConnection<LogsDatabase>(databaseUrl, {
        applicationName: 'warden:logs',
        poolSize: 3,
      }).db,
    );
  }

  private async newestCum(): Promise<number> {
    if (this.cum === undefined) {
      const r = await this.db
        .selectFrom('logs')
        .select('cum_bytes')
        .orderBy('seq', 'desc')
        .limit(1)
        .executeTakeFirst();
      this.cum = r ? Number(r.cum_bytes) : 0;
    }
    return this.cum;
  }

  async readState(): Promise<LogStoreState> {
    const p = await this.db
      .selectFrom('projection_state')
      .select('seq')
      .where('name', '=', 'logs')
      .executeTakeFirst();
    return { seq: p ? Number(p.seq) : 0, cumBytes: await this.newestCum() };
  }

  async insert(rows: readonly LogRow[], appliedSeq: number): Promise<void> {
    let cum = await this.newestCum();
    const values = rows.map((r) => {
      cum += rowBytes(r);
      return {
        seq: r.seq,
        agent_id: r.agentId,
        ts: r.ts,
        level: levelRank(r.level),
        stream: r.stream ?? null,
        message: r.message,
        correlation_id: r.correlationId ?? null,
        cum_bytes: cum,
      };
    });
    await this.db.transaction().execute(async (tx) => {
      for (let i = 0; i < values.length; i += INSERT_CHUNK) {
        await tx
          .insertInto('logs')
          .values(values.slice(i, i + INSERT_CHUNK))
          .onConflict((oc) => oc.column('seq').doNothing())
          .execute();
      }
      await tx
        .insertInto('projection_state')
        .values({ name: 'logs', seq: appliedSeq })
        .onConflict((oc) =>
          oc.column('name').doUpdateSet({
            seq: sql<number>`greatest(projection_state.seq, excluded.seq)`,
          }),
        )
        .execute();
    });
    this.cum = cum;
  }

  async query(q: LogQuery): Promise<LogRow[]> {
    let b = this.db
      .selectFrom('logs')
      .select(['seq', 'agent_id', 'ts', 'level', 'stream', 'message', 'correlation_id']);
    if (q.agentId !== undefined) b = b.where('agent_id', '=', q.agentId);
    if (q.minLevel !== undefined && q.minLevel > 0) b = b.where('level', '>=', q.minLevel);
    if (q.since !== undefined) b = b.where('ts', '>=', q.since);
    if (q.until !== undefined) b = b.where('ts', '<', q.until);
    if (q.correlationId !== undefined) b = b.where('correlation_id', '=', q.correlationId);
    if (q.q !== undefined && q.q !== '') b = b.where('message', 'ilike', likePattern(q.q));
    if (q.cursor !== undefined) b = b.where('seq', q.order === 'desc' ? '<' : '>', q.cursor);
    if (q.maxSeq !== undefined) b = b.where('seq', '<=', q.maxSeq);
    const rows = await b.orderBy('seq', q.order).limit(q.limit).execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      agentId: r.agent_id,
      ts: Number(r.ts),
      level: levelOf(Number(r.level)),
      ...(r.stream === 'stdout' || r.stream === 'stderr' ? { stream: r.stream } : {}),
      message: r.message,
      ...(r.correlation_id !== null ? { correlationId: r.correlation_id } : {}),
    }));
  }

  async deleteOlderThan(cutoff: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const r = await sql`DELETE FROM logs WHERE seq IN
        (SELECT seq FROM logs WHERE ts < ${cutoff} LIMIT ${DELETE_CHUNK})`.execute(this.db);
      const n = Number(r.numAffectedRows ?? 0);
      deleted += n;
      if (n < DELETE_CHUNK) return deleted;
    }
  }

  private async ends(): Promise<
    | { newest: { seq: number; cum: number }; oldest: { seq: number; cum: number; bytes: number } }
    | undefined
  > {
    const r = await sql<{ nseq: string; ncum: string; oseq: string; ocum: string; obytes: string }>`
      SELECT n.seq AS nseq, n.cum_bytes AS ncum, o.seq AS oseq, o.cum_bytes AS ocum,
        octet_length(o.message) + 2 * length(o.agent_id) + coalesce(length(o.correlation_id), 0) + 64 AS obytes
      FROM (SELECT seq, cum_bytes FROM logs ORDER BY seq DESC LIMIT 1) n,
        (SELECT * FROM logs ORDER BY seq ASC LIMIT 1) o`.execute(this.db);
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      newest: { seq: Number(row.nseq), cum: Number(row.ncum) },
      oldest: { seq: Number(row.oseq), cum: Number(row.ocum), bytes: Number(row.obytes) },
    };
  }

  async estimatedBytes(): Promise<number> {
    const e = await this.ends();
    return e ? e.newest.cum - e.oldest.cum + e.oldest.bytes : 0;
  }

  async shrinkTo(maxBytes: number): Promise<number> {
    const e = await this.ends();
    if (!e || e.newest.cum - e.oldest.cum + e.oldest.bytes <= maxBytes) return 0;
    const boundary = await boundaryFor(
      e.oldest.seq,
      e.newest.seq,
      e.newest.cum - maxBytes,
      async (seq) => {
        const r = await this.db
          .selectFrom('logs')
          .select(['seq', 'cum_bytes'])
          .where('seq', '>=', seq)
          .orderBy('seq')
          .limit(1)
          .executeTakeFirst();
        return r && { seq: Number(r.seq), cumBytes: Number(r.cum_bytes) };
      },
    );
    if (boundary === undefined) return 0;
    let deleted = 0;
    for (;;) {
      const r = await sql`DELETE FROM logs WHERE seq IN
        (SELECT seq FROM logs WHERE seq <= ${boundary} ORDER BY seq LIMIT ${DELETE_CHUNK})`.execute(
        this.db,
      );
      const n = Number(r.numAffectedRows ?? 0);
      deleted += n;
      if (n < DELETE_CHUNK) return deleted;
    }
  }

  reclaim(): Promise<void> {
    // Autovacuum makes the freed space reusable; see the class comment.
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
