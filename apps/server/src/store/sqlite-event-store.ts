import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { statusHealth, type StoredEvent, type WardenEvent } from '@warden/protocol';
import type {
  AgentSummary,
  AppendResult,
  ErrorRecord,
  EventQuery,
  EventStore,
  MetricPoint,
  TaskRecord,
  TopicQuery,
} from './event-store.js';
import { createMigrationProvider } from './migrations.js';
import { ReadModel } from './read-model.js';
import type { Database } from './schema.js';
import { serializeStoredEvent } from './serialize.js';

type Db = BetterSqlite3.Database;

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

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
 * disk before the ack. Writes go through prepared statements on one connection (group commit:
 * the caller hands in many events, they land in one transaction and one fsync); reads go
 * through Kysely on a second connection.
 */
export class SqliteEventStore implements EventStore {
  private writer!: Db;
  private readerDb!: Db;
  private kysely!: Kysely<Database>;
  private reads!: ReadModel;
  private lastSeq = 0;
  private stmts!: ReturnType<SqliteEventStore['prepare']>;
  private appendTx!: (events: readonly WardenEvent[], receivedAt: number) => AppendResult[];

  constructor(readonly file: string) {}

  /** Opens `sqlite:PATH` URLs. */
  static fromUrl(url: string): SqliteEventStore {
    return new SqliteEventStore(url.replace(/^sqlite:(\/\/)?/, ''));
  }

  async migrate(): Promise<void> {
    if (this.file !== ':memory:') mkdirSync(dirname(this.file), { recursive: true });
    // auto_vacuum only takes effect when set before the first table exists.
    const migrationDb = new BetterSqlite3(this.file);
    migrationDb.pragma('auto_vacuum = INCREMENTAL');
    migrationDb.pragma('journal_mode = WAL');
    const migrationKysely = new Kysely<Database>({
      dialect: new SqliteDialect({ database: migrationDb }),
    });
    const { error, results } = await new Migrator({
      db: migrationKysely,
      provider: createMigrationProvider('sqlite'),
    }).migrateToLatest();
    await migrationKysely.destroy();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`migration ${failed} failed: ${(error as Error).message}`, { cause: error });
    }

    this.writer = this.open();
    this.readerDb = this.open();
    this.kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: this.readerDb }) });
    this.reads = new ReadModel(this.kysely);
    this.stmts = this.prepare(this.writer);
    const seqRow = this.writer
      .prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
      .get() as { seq: number } | undefined;
    this.lastSeq = seqRow?.seq ?? 0;
    this.appendTx = this.writer.transaction((events, receivedAt) =>
      this.appendInTx(events, receivedAt),
    );
  }

  private open(): Db {
    const db = new BetterSqlite3(this.file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    return db;
  }

  private prepare(db: Db) {
    return {
      insertEvent: db.prepare<unknown[], { seq: number }>(
        `INSERT INTO events (id, type, agent_id, ts, received_at, correlation_id, data)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING RETURNING seq`,
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
           updated_seq = excluded.updated_seq`,
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

  append(events: readonly WardenEvent[], receivedAt: number): Promise<AppendResult[]> {
    try {
      return Promise.resolve(this.appendTx(events, receivedAt));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private appendInTx(events: readonly WardenEvent[], receivedAt: number): AppendResult[] {
    const s = this.stmts;
    const results: AppendResult[] = [];
    const agents = new Map<string, AgentDelta>();
    let lastSeq = this.lastSeq;
    for (const ev of events) {
      const dataJson = JSON.stringify(ev.data);
      const row = s.insertEvent.get(
        ev.id,
        ev.type,
        ev.agentId,
        ev.ts,
        receivedAt,
        ev.correlationId ?? null,
        dataJson,
      );
      if (row === undefined) {
        results.push({ seq: s.findSeq.get(ev.id)!.seq, duplicate: true });
        continue;
      }
      const seq = row.seq;
      lastSeq = seq;
      const stored = { seq, receivedAt, ...ev } as StoredEvent;
      results.push({
        seq,
        duplicate: false,
        stored,
        json: serializeStoredEvent(stored, dataJson),
      });
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

  head(): number {
    return this.lastSeq;
  }

  readEvents(q: EventQuery): Promise<StoredEvent[]> {
    return this.reads.readEvents(q);
  }

  readTopics(q: TopicQuery): Promise<StoredEvent[]> {
    return this.reads.readTopics(q);
  }

  recentEvents(q: { agentId?: string; limit: number }): Promise<StoredEvent[]> {
    return this.reads.recentEvents(q);
  }

  listAgents(): Promise<AgentSummary[]> {
    return this.reads.listAgents();
  }

  getAgent(agentId: string): Promise<AgentSummary | undefined> {
    return this.reads.getAgent(agentId);
  }

  listTasks(q: { agentId?: string; state?: string; limit: number }): Promise<TaskRecord[]> {
    return this.reads.listTasks(q);
  }

  listErrors(q: { agentId?: string; resolved?: boolean; limit: number }): Promise<ErrorRecord[]> {
    return this.reads.listErrors(q);
  }

  setErrorResolved(id: number, resolved: boolean, at: number): Promise<ErrorRecord | undefined> {
    return this.reads.setErrorResolved(id, resolved, at);
  }

  metricHistory(agentId: string, fromTs: number, limit: number): Promise<MetricPoint[]> {
    return this.reads.metricHistory(agentId, fromTs, limit);
  }

  /**
   * `received_at` grows with `seq` (it is stamped when a commit group is formed, and groups
   * commit in order), so the newest expired seq is found by binary search on the primary key,
   * then deleted oldest-first in small transactions, yielding between them.
   */
  async deleteEventsBefore(cutoff: number): Promise<number> {
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

  /** Pages in the file and pages on the free list (to show that space is given back). */
  fileStats(): { pageCount: number; freePages: number; pageSize: number } {
    return {
      pageCount: this.writer.pragma('page_count', { simple: true }) as number,
      freePages: this.writer.pragma('freelist_count', { simple: true }) as number,
      pageSize: this.writer.pragma('page_size', { simple: true }) as number,
    };
  }

  ping(): Promise<void> {
    return this.reads.ping();
  }

  async close(): Promise<void> {
    await this.kysely?.destroy();
    if (this.writer?.open) this.writer.close();
  }
}
