import BetterSqlite3 from 'better-sqlite3';
import type { StoredEvent, WardenEvent } from '@warden/protocol';
import { SqliteErrorGroupProjection } from '../error-groups/error-group-projection.js';
import { mergeDelta, projectAgent, type AgentDelta } from './agent-projection.js';
import { serializeStoredEvent } from './serialize.js';

type Db = BetterSqlite3.Database;

/** What the writer reports for one event: its seq, and whether the id was stored before. */
export interface WriteResult {
  seq: number;
  duplicate: boolean;
}

/** Rows deleted per retention transaction, so ingest is never blocked for long. */
const DELETE_CHUNK = 5000;
/** Longest the agents table lags the log (it is flushed before every read of it). */
const AGENT_FLUSH_MS = 250;

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
  private readonly errorGroups: SqliteErrorGroupProjection;
  private readonly appendTx: (
    events: readonly WardenEvent[],
    receivedAt: number,
    dataJson: readonly string[] | undefined,
  ) => { results: WriteResult[]; agents: Map<string, AgentDelta>; lastSeq: number };
  /** Agent deltas committed to the log but not yet to the agents table. */
  private pendingAgents = new Map<string, AgentDelta>();
  private lastAgentFlush = 0;
  /** Armed while agent deltas wait (an idle hub sets no timer at all). */
  private flushTimer: NodeJS.Timeout | undefined;
  lastSeq: number;

  constructor(file: string) {
    this.writer = openSqlite(file);
    this.stmts = this.prepare(this.writer);
    this.errorGroups = new SqliteErrorGroupProjection(this.writer);
    // The newest stored event; once retention emptied the log, AUTOINCREMENT's high-water mark
    // (which a trailing duplicate may have moved one past), so a seq is never reused.
    const maxRow = this.writer.prepare('SELECT max(seq) AS seq FROM events').get() as {
      seq: number | null;
    };
    const seqRow = this.writer
      .prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
      .get() as { seq: number } | undefined;
    this.lastSeq = maxRow.seq ?? seqRow?.seq ?? 0;
    this.appendTx = this.writer.transaction((events, receivedAt, dataJson) =>
      this.appendInTx(events, receivedAt, dataJson),
    );
    this.catchUp();
  }

  /**
   * Stores events and their task and error projections in one transaction. The agents
   * projection (status, metrics, last seen), which nearly every event touches, is merged in
   * memory and written at most every AGENT_FLUSH_MS, on demand before a read, and on close;
   * after a crash it is rebuilt from the log past its checkpoint, so it is never lost.
   */
  append(
    events: readonly WardenEvent[],
    receivedAt: number,
    dataJson?: readonly string[],
  ): WriteResult[] {
    const { results, agents, lastSeq } = this.appendTx(events, receivedAt, dataJson);
    // Advanced only once the commit has succeeded.
    this.lastSeq = lastSeq;
    // Merged only after the commit: deltas of a rolled-back call never reach the projection.
    for (const a of agents.values()) mergeDelta(this.pendingAgents, a);
    const since = Date.now() - this.lastAgentFlush;
    if (since >= AGENT_FLUSH_MS) this.flushAgents();
    else if (this.pendingAgents.size > 0 && !this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.flushAgents();
      }, AGENT_FLUSH_MS - since);
      this.flushTimer.unref();
    }
    return results;
  }

  /** Writes pending agent deltas and moves the checkpoint to the last stored seq. */
  flushAgents(): void {
    this.lastAgentFlush = Date.now();
    if (this.pendingAgents.size === 0) return;
    const pending = this.pendingAgents;
    this.pendingAgents = new Map();
    this.writer.transaction(() => {
      for (const a of pending.values()) {
        this.stmts.upsertAgent.run({
          ...a,
          metrics: a.metrics ? JSON.stringify(a.metrics) : '{}',
          checks: a.checks ? JSON.stringify(a.checks) : '{}',
        });
      }
      this.stmts.setCheckpoint.run(this.lastSeq);
    })();
  }

  /** Rebuilds agent deltas of events past the checkpoint (after a crash). */
  private catchUp(): void {
    let from = this.stmts.getCheckpoint.get()?.seq ?? 0;
    for (;;) {
      const rows = this.stmts.eventsAfter.all(from);
      if (rows.length === 0) break;
      const agents = new Map<string, AgentDelta>();
      for (const r of rows) {
        const ev = { id: '', type: r.type, agentId: r.agent_id, ts: r.ts, data: {} } as WardenEvent;
        if (
          r.type === 'agent_status_update' ||
          r.type === 'metric_update' ||
          r.type === 'health_changed'
        ) {
          (ev as { data: unknown }).data = JSON.parse(r.data) as unknown;
        }
        projectAgent(ev, r.seq, r.received_at, agents);
        from = r.seq;
      }
      for (const a of agents.values()) mergeDelta(this.pendingAgents, a);
    }
    this.flushAgents();
  }

  private prepare(db: Db) {
    return {
      // run() measured ~20% faster than RETURNING on this hot path.
      // The writer numbers events itself (lastSeq + 1): left to AUTOINCREMENT, a duplicate
      // caught by ON CONFLICT would still spend a seq, and seq must stay contiguous (SPEC §3).
      // (`INSERT … SELECT … WHERE NOT EXISTS` avoids that too, but costs ~40% more CPU per
      // event: SQLite materialises a SELECT that reads the table it inserts into.)
      insertEvent: db.prepare<unknown[]>(
        `INSERT INTO events (seq, id, type, agent_id, ts, received_at, correlation_id, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
      ),
      findSeq: db.prepare<[string], { seq: number }>('SELECT seq FROM events WHERE id = ?'),
      upsertAgent: db.prepare(
        `INSERT INTO agents (agent_id, status, status_message, status_at, health, first_seen,
           last_seen, last_seq, metrics, metrics_at, checks)
         VALUES (@agentId, @status, @message, @statusAt, @health, @firstSeen, @seen, @seq,
           @metrics, @metricsAt, @checks)
         ON CONFLICT(agent_id) DO UPDATE SET
           status = coalesce(excluded.status, agents.status),
           status_message = CASE WHEN excluded.status IS NULL THEN agents.status_message
             ELSE excluded.status_message END,
           status_at = coalesce(excluded.status_at, agents.status_at),
           health = CASE WHEN excluded.status IS NULL THEN agents.health ELSE excluded.health END,
           last_seen = max(agents.last_seen, excluded.last_seen),
           last_seq = excluded.last_seq,
           metrics = json_patch(agents.metrics, excluded.metrics),
           metrics_at = coalesce(excluded.metrics_at, agents.metrics_at),
           checks = json_patch(agents.checks, excluded.checks)`,
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
      getCheckpoint: db.prepare<[], { seq: number }>(
        "SELECT seq FROM projection_state WHERE name = 'agents'",
      ),
      setCheckpoint: db.prepare<[number]>(
        `INSERT INTO projection_state (name, seq) VALUES ('agents', ?)
         ON CONFLICT(name) DO UPDATE SET seq = excluded.seq`,
      ),
      storedBetween: db.prepare<
        [number, number],
        {
          seq: number;
          id: string;
          type: string;
          agent_id: string;
          ts: number;
          received_at: number;
          correlation_id: string | null;
          data: string;
        }
      >(
        `SELECT seq, id, type, agent_id, ts, received_at, correlation_id, data FROM events
         WHERE seq > ? AND seq <= ? ORDER BY seq`,
      ),
      eventsAfter: db.prepare<
        [number],
        {
          seq: number;
          type: string;
          agent_id: string;
          ts: number;
          received_at: number;
          data: string;
        }
      >(
        'SELECT seq, type, agent_id, ts, received_at, data FROM events WHERE seq > ? ORDER BY seq LIMIT 5000',
      ),
    };
  }

  private appendInTx(
    events: readonly WardenEvent[],
    receivedAt: number,
    dataJsons: readonly string[] | undefined,
  ): { results: WriteResult[]; agents: Map<string, AgentDelta>; lastSeq: number } {
    const s = this.stmts;
    const results: WriteResult[] = [];
    const agents = new Map<string, AgentDelta>();
    let lastSeq = this.lastSeq;
    for (let i = 0; i < events.length; i++) {
      const ev = events[i]!;
      const dataJson = dataJsons?.[i] ?? JSON.stringify(ev.data);
      const info = s.insertEvent.run(
        lastSeq + 1,
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
      const seq = lastSeq + 1;
      lastSeq = seq;
      results.push({ seq, duplicate: false });
      projectAgent(ev, seq, receivedAt, agents);
      this.projectRows(ev, seq, receivedAt);
    }
    return { results, agents, lastSeq };
  }

  /** Task and error rows (and error groups), written in the event's own transaction. */
  private projectRows(ev: WardenEvent, seq: number, receivedAt: number): void {
    const s = this.stmts;
    switch (ev.type) {
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
          this.errorGroups.apply(ev, seq, receivedAt),
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

  /** Stored events with `since < seq <= until`, as stored-event JSON (for the Redis stream). */
  readStoredJson(since: number, until: number): Array<{ seq: number; json: string }> {
    return this.stmts.storedBetween.all(since, until).map((r) => ({
      seq: r.seq,
      json: serializeStoredEvent(
        {
          seq: r.seq,
          receivedAt: r.received_at,
          id: r.id,
          type: r.type,
          agentId: r.agent_id,
          ts: r.ts,
          ...(r.correlation_id === null ? {} : { correlationId: r.correlation_id }),
        } as StoredEvent,
        r.data,
      ),
    }));
  }

  close(): void {
    clearTimeout(this.flushTimer);
    if (!this.writer.open) return;
    this.flushAgents();
    this.writer.close();
  }
}
