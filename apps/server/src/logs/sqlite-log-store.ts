import type BetterSqlite3 from 'better-sqlite3';
import { openSqlite } from '../store/sqlite-writer.js';
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

type Db = BetterSqlite3.Database;

interface DbRow {
  seq: number;
  agent_id: string;
  ts: number;
  level: number;
  stream: string | null;
  message: string;
  correlation_id: string | null;
}

/** Free pages given back per `incremental_vacuum` step; other writers go between steps. */
const VACUUM_STEP = 2000;

function toRow(r: DbRow): LogRow {
  return {
    seq: r.seq,
    agentId: r.agent_id,
    ts: r.ts,
    level: levelOf(r.level),
    ...(r.stream === 'stdout' || r.stream === 'stderr' ? { stream: r.stream } : {}),
    message: r.message,
    ...(r.correlation_id !== null ? { correlationId: r.correlation_id } : {}),
  };
}

const yieldToLoop = () => new Promise((r) => setImmediate(r));

/**
 * The logs table on SQLite, on a connection of its own to the hub's file. A flush is one
 * synchronous `BEGIN IMMEDIATE` transaction of prepared inserts: it never yields while it
 * holds the file's one write lock (see SqliteTaskQueueStore for why that matters).
 */
export class SqliteLogStore implements LogStore {
  private readonly s: ReturnType<SqliteLogStore['prepare']>;
  private readonly queries = new Map<string, BetterSqlite3.Statement>();
  private cum: number | undefined;

  constructor(private readonly db: Db) {
    this.s = this.prepare();
  }

  static open(url: string): SqliteLogStore {
    return new SqliteLogStore(openSqlite(url.replace(/^sqlite:(\/\/)?/, '')));
  }

  private prepare() {
    const db = this.db;
    return {
      insert: db.prepare(
        `INSERT INTO logs (seq, agent_id, ts, level, stream, message, correlation_id, cum_bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`,
      ),
      position: db.prepare(
        `INSERT INTO projection_state (name, seq) VALUES ('logs', ?)
         ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)`,
      ),
      readPosition: db.prepare("SELECT seq FROM projection_state WHERE name = 'logs'"),
      newest: db.prepare('SELECT seq, cum_bytes FROM logs ORDER BY seq DESC LIMIT 1'),
      oldest: db.prepare(
        `SELECT seq, cum_bytes, length(CAST(message AS BLOB)) + 2 * length(agent_id)
           + coalesce(length(correlation_id), 0) + 64 AS bytes
         FROM logs ORDER BY seq ASC LIMIT 1`,
      ),
      atOrAfter: db.prepare(
        'SELECT seq, cum_bytes FROM logs WHERE seq >= ? ORDER BY seq ASC LIMIT 1',
      ),
      deleteOld: db.prepare(
        `DELETE FROM logs WHERE seq IN (SELECT seq FROM logs WHERE ts < ? LIMIT ${DELETE_CHUNK})`,
      ),
      deleteUpTo: db.prepare(
        `DELETE FROM logs WHERE seq IN
           (SELECT seq FROM logs WHERE seq <= ? ORDER BY seq LIMIT ${DELETE_CHUNK})`,
      ),
    };
  }

  private newestCum(): number {
    this.cum ??= (this.s.newest.get() as { cum_bytes: number } | undefined)?.cum_bytes ?? 0;
    return this.cum;
  }

  readState(): Promise<LogStoreState> {
    const p = this.s.readPosition.get() as { seq: number } | undefined;
    return Promise.resolve({ seq: p?.seq ?? 0, cumBytes: this.newestCum() });
  }

  insert(rows: readonly LogRow[], appliedSeq: number): Promise<void> {
    const s = this.s;
    let cum = this.newestCum();
    this.db
      .transaction(() => {
        for (const r of rows) {
          cum += rowBytes(r);
          s.insert.run(
            r.seq,
            r.agentId,
            r.ts,
            levelRank(r.level),
            r.stream ?? null,
            r.message,
            r.correlationId ?? null,
            cum,
          );
        }
        s.position.run(appliedSeq);
      })
      .immediate();
    this.cum = cum;
    return Promise.resolve();
  }

  query(q: LogQuery): Promise<LogRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.agentId !== undefined) {
      where.push('agent_id = ?');
      params.push(q.agentId);
    }
    if (q.minLevel !== undefined && q.minLevel > 0) {
      where.push('level >= ?');
      params.push(q.minLevel);
    }
    if (q.since !== undefined) {
      where.push('ts >= ?');
      params.push(q.since);
    }
    if (q.until !== undefined) {
      where.push('ts < ?');
      params.push(q.until);
    }
    if (q.correlationId !== undefined) {
      where.push('correlation_id = ?');
      params.push(q.correlationId);
    }
    if (q.q !== undefined && q.q !== '') {
      where.push("message LIKE ? ESCAPE '\\'");
      params.push(likePattern(q.q));
    }
    if (q.cursor !== undefined) {
      where.push(q.order === 'desc' ? 'seq < ?' : 'seq > ?');
      params.push(q.cursor);
    }
    if (q.maxSeq !== undefined) {
      where.push('seq <= ?');
      params.push(q.maxSeq);
    }
    const text = `SELECT seq, agent_id, ts, level, stream, message, correlation_id FROM logs
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY seq ${q.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`;
    let stmt = this.queries.get(text);
    if (!stmt) {
      stmt = this.db.prepare(text);
      this.queries.set(text, stmt);
    }
    return Promise.resolve((stmt.all(...params, q.limit) as DbRow[]).map(toRow));
  }

  async deleteOlderThan(cutoff: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const n = this.s.deleteOld.run(cutoff).changes;
      deleted += n;
      if (n < DELETE_CHUNK) return deleted;
      await yieldToLoop();
    }
  }

  estimatedBytes(): Promise<number> {
    const newest = this.s.newest.get() as { cum_bytes: number } | undefined;
    const oldest = this.s.oldest.get() as { cum_bytes: number; bytes: number } | undefined;
    if (!newest || !oldest) return Promise.resolve(0);
    return Promise.resolve(newest.cum_bytes - oldest.cum_bytes + oldest.bytes);
  }

  async shrinkTo(maxBytes: number): Promise<number> {
    const newest = this.s.newest.get() as { seq: number; cum_bytes: number } | undefined;
    const oldest = this.s.oldest.get() as { seq: number } | undefined;
    if (!newest || !oldest || (await this.estimatedBytes()) <= maxBytes) return 0;
    // Rows whose running total is at most this go; what stays sums to at most maxBytes.
    const threshold = newest.cum_bytes - maxBytes;
    const boundary = await boundaryFor(oldest.seq, newest.seq, threshold, (seq) => {
      const r = this.s.atOrAfter.get(seq) as { seq: number; cum_bytes: number } | undefined;
      return Promise.resolve(r && { seq: r.seq, cumBytes: r.cum_bytes });
    });
    if (boundary === undefined) return 0;
    let deleted = 0;
    for (;;) {
      const n = this.s.deleteUpTo.run(boundary).changes;
      deleted += n;
      if (n < DELETE_CHUNK) return deleted;
      await yieldToLoop();
    }
  }

  async reclaim(): Promise<void> {
    // The file was created with auto_vacuum = INCREMENTAL (see SqliteEventStore): free pages
    // are handed back in steps, then the WAL is checkpointed so the main file shrinks.
    for (;;) {
      const free = this.db.pragma('freelist_count', { simple: true }) as number;
      if (free === 0) break;
      this.db.pragma(`incremental_vacuum(${VACUUM_STEP})`);
      await yieldToLoop();
      if (free <= VACUUM_STEP) break;
    }
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
