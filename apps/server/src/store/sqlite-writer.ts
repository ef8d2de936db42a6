import BetterSqlite3 from 'better-sqlite3';
import { statusHealth, type WardenEvent } from '@warden/protocol';

type Db = BetterSqlite3.Database;

/** What the writer reports for one event: its seq, and whether the id was stored before. */
export interface WriteResult {
  seq: number;
  duplicate: boolean;
}

interface AgentDelta {
  agentId: string;
  status: string | null;
  message: string | null;
  statusAt: number | null;
  health: string;
  seen: number;
  seq: number;
  metrics: Record<string, number> | null;
  metricsAt: number | null;
}

/** Rows deleted per retention transaction, so ingest is never blocked for long. */
const DELETE_CHUNK = 5000;

/** Opens a connection with Warden's pragmas: WAL, `synchronous=FULL`, a large page cache. */
export function openSqlite(file: string): Db {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  // Index pages of a busy log stay hot: 64 MiB page cache per connection.
  db.pragma('cache_size = -65536');
  return db;
}

/**
 * The write side of the SQLite store: events and their projections in one transaction per
 * call, through prepared statements. Synchronous; runs in the writer thread (see
 * `sqlite-writer-worker.ts`) or, when asked, on the caller's thread.
 */
export class SqliteWriter {
  private readonly writer: Db;
  private readonly stmts: ReturnType<SqliteWriter['prepare']>;
  private readonly appendTx: (events: readonly WardenEvent[], receivedAt: number) => WriteResult[];
  lastSeq: number;

  constructor(file: string) {
    this.writer = openSqlite(file);
    this.stmts = this.prepare(this.writer);
    const seqRow = this.writer
      .prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
      .get() as { seq: number } | undefined;
    this.lastSeq = seqRow?.seq ?? 0;
    this.appendTx = this.writer.transaction((events, receivedAt) =>
      this.appendInTx(events, receivedAt),
    );
  }

  append(events: readonly WardenEvent[], receivedAt: number): WriteResult[] {
    return this.appendTx(events, receivedAt);
  }

  private prepare(db: Db) {
    return {
      // run() + lastInsertRowid measured ~20% faster than RETURNING on this hot path.
      insertEvent: db.prepare<unknown[]>(
        `INSERT INTO events (id, type, agent_id, ts, received_at, correlation_id, data)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
      ),
      findSeq: db.prepare<[string], { seq: number }>('SELECT seq FROM events WHERE id = ?'),
      upsertAgent: db.prepare(
        `INSERT INTO agents (agent_id, status, status_message, status_at, health, first_seen,
           last_seen, last_seq, metrics, metrics_at)
         VALUES (@agentId, @status, @message, @statusAt, @health, @seen, @seen, @seq,
           @metrics, @metricsAt)
         ON CONFLICT(agent_id) DO UPDATE SET
           status = coalesce(excluded.status, agents.status),
           status_message = CASE WHEN excluded.status IS NULL THEN agents.status_message
             ELSE excluded.status_message END,
           status_at = coalesce(excluded.status_at, agents.status_at),
           health = CASE WHEN excluded.status IS NULL THEN agents.health ELSE excluded.health END,
           last_seen = max(agents.last_seen, excluded.last_seen),
           last_seq = excluded.last_seq,
           metrics = json_patch(agents.metrics, excluded.metrics),
           metrics_at = coalesce(excluded.metrics_at, agents.metrics_at)`,
      ),
      taskAssigned: db.prepare(
        `INSERT INTO tasks (task_id, agent_id, name, queue, priority, state, assigned_at, updated_seq)
         VALUES (?, ?, ?, ?, ?, 'running', ?, ?)
         ON CONFLICT(task_id) DO UPDATE SET agent_id = excluded.agent_id, name = excluded.name,
           queue = excluded.queue, priority = excluded.priority, state = 'running',
           assigned_at = excluded.assigned_at, completed_at = NULL, success = NULL,
           duration_ms = NULL, error = NULL, updated_seq = excluded.updated_seq`,
      ),
      taskCompleted: db.prepare(
        `INSERT INTO tasks (task_id, agent_id, state, completed_at, success, duration_ms, error,
           updated_seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(task_id) DO UPDATE SET state = excluded.state,
           completed_at = excluded.completed_at, success = excluded.success,
           duration_ms = excluded.duration_ms, error = excluded.error,
           updated_seq = excluded.updated_seq
         -- Only the agent the task is assigned to completes it; a late or foreign
         -- completion stays in the event log but does not rewrite the task.
         WHERE tasks.agent_id = excluded.agent_id`,
      ),
      insertError: db.prepare(
        `INSERT INTO errors (id, event_id, agent_id, error_type, message, stack, task_id, fatal,
           fingerprint, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      seqAt: db.prepare<[number], { seq: number; received_at: number }>(
        'SELECT seq, received_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1',
      ),
      minMaxSeq: db.prepare<[], { lo: number | null; hi: number | null }>(
        'SELECT min(seq) AS lo, max(seq) AS hi FROM events',
      ),
      deleteRange: db.prepare<[number, number]>('DELETE FROM events WHERE seq >= ? AND seq <= ?'),
    };
  }

  private appendInTx(events: readonly WardenEvent[], receivedAt: number): WriteResult[] {
    const s = this.stmts;
    const results: WriteResult[] = [];
    const agents = new Map<string, AgentDelta>();
    let lastSeq = this.lastSeq;
    for (const ev of events) {
      const dataJson = JSON.stringify(ev.data);
      const info = s.insertEvent.run(
        ev.id,
        ev.type,
        ev.agentId,
        ev.ts,
        receivedAt,
        ev.correlationId ?? null,
        dataJson,
      );
      if (info.changes === 0) {
        results.push({ seq: s.findSeq.get(ev.id)!.seq, duplicate: true });
        continue;
      }
      const seq = Number(info.lastInsertRowid);
      lastSeq = seq;
      results.push({ seq, duplicate: false });
      this.project(ev, seq, receivedAt, agents);
    }
    for (const a of agents.values()) {
      s.upsertAgent.run({ ...a, metrics: a.metrics ? JSON.stringify(a.metrics) : '{}' });
    }
    // Only advanced once the transaction body has run; a rollback throws past this point.
    this.lastSeq = lastSeq;
    return results;
  }

  private project(
    ev: WardenEvent,
    seq: number,
    receivedAt: number,
    agents: Map<string, AgentDelta>,
  ): void {
    let a = agents.get(ev.agentId);
    if (!a) {
      a = {
        agentId: ev.agentId,
        status: null,
        message: null,
        statusAt: null,
        health: 'unknown',
        seen: receivedAt,
        seq,
        metrics: null,
        metricsAt: null,
      };
      agents.set(ev.agentId, a);
    }
    a.seq = seq;
    const s = this.stmts;
    switch (ev.type) {
      case 'agent_status_update':
        a.status = ev.data.status;
        a.message = ev.data.message ?? null;
        a.statusAt = ev.ts;
        a.health = statusHealth(ev.data.status);
        break;
      case 'metric_update':
        a.metrics = { ...(a.metrics ?? {}), ...ev.data.metrics };
        a.metricsAt = ev.ts;
        break;
      case 'task_assigned':
        s.taskAssigned.run(
          ev.data.taskId,
          ev.agentId,
          ev.data.name ?? null,
          ev.data.queue ?? null,
          ev.data.priority ?? null,
          ev.ts,
          seq,
        );
        break;
      case 'task_completed':
        s.taskCompleted.run(
          ev.data.taskId,
          ev.agentId,
          ev.data.success ? 'completed' : 'failed',
          ev.ts,
          ev.data.success ? 1 : 0,
          ev.data.durationMs ?? null,
          ev.data.error ?? null,
          seq,
        );
        break;
      case 'error_occurred':
        s.insertError.run(
          seq,
          ev.id,
          ev.agentId,
          ev.data.errorType,
          ev.data.message,
          ev.data.stack ?? null,
          ev.data.taskId ?? null,
          ev.data.fatal ? 1 : 0,
          ev.data.fingerprint ?? null,
          ev.ts,
        );
        break;
    }
  }

  /**
   * `received_at` grows with `seq` (it is stamped when a commit group is formed, and groups
   * commit in order), so the newest expired seq is found by binary search on the primary key,
   * then deleted oldest-first in small transactions, yielding between them.
   */
  async deleteBefore(cutoff: number): Promise<number> {
    const s = this.stmts;
    const { lo, hi } = s.minMaxSeq.get()!;
    if (lo === null || hi === null) return 0;
    let left = lo;
    let right = hi;
    let boundary = lo - 1; // newest seq known to be expired
    while (left <= right) {
      const mid = Math.floor((left + right) / 2);
      const row = s.seqAt.get(mid);
      if (row && row.received_at < cutoff) {
        boundary = row.seq;
        left = row.seq + 1;
      } else {
        right = mid - 1;
      }
    }
    let deleted = 0;
    for (let from = lo; from <= boundary; from += DELETE_CHUNK) {
      deleted += s.deleteRange.run(from, Math.min(boundary, from + DELETE_CHUNK - 1)).changes;
      await new Promise((r) => setImmediate(r));
    }
    if (deleted > 0) {
      this.writer.pragma('incremental_vacuum');
      this.writer.pragma('wal_checkpoint(TRUNCATE)');
    }
    return deleted;
  }

  close(): void {
    if (this.writer.open) this.writer.close();
  }
}
