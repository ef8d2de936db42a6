import type BetterSqlite3 from 'better-sqlite3';
import type { QueueStats, QueueTask } from '@warden/protocol';
import { openSqlite } from './sqlite-writer.js';
import { assembleStats, rowToTask, type TaskPatch, type TaskRow } from './task-queue-rows.js';
import type {
  LostLease,
  NewQueueTask,
  QueueTaskQuery,
  ReportResult,
  TaskQueueStore,
} from './task-queue-store.js';
import {
  completeChange,
  endAttempt,
  expiryReason,
  failChange,
  leaseTask,
  progressChange,
  type ReportChange,
} from './task-queue-transitions.js';

type Db = BetterSqlite3.Database;

const PATCH_COLUMNS = [
  'state',
  'attempts',
  'leases',
  'agent_id',
  'leased_at',
  'lease_ms',
  'lease_expires_at',
  'progress_percent',
  'progress_message',
  'progress_at',
  'result',
  'error',
  'updated_at',
  'finished_at',
] as const satisfies ReadonlyArray<keyof TaskPatch>;

/**
 * The task queue on SQLite, on a connection of its own to the hub's database file (migration
 * 0004 ran with the event store's). Every transition is one synchronous `BEGIN IMMEDIATE`
 * transaction: it takes the file's single write lock before it reads, so no two transitions
 * act on the same state (two leases never get one task), and it never yields to the event
 * loop while holding the lock. That matters: better-sqlite3 waits for a lock synchronously
 * (busy_timeout 5 s), so a transaction left open across an `await` would stall any other
 * connection on this thread (the inline event writer, another request) until it timed out.
 * The event writer thread takes the same lock for its commits; waits are short.
 */
export class SqliteTaskQueueStore implements TaskQueueStore {
  private readonly s: ReturnType<SqliteTaskQueueStore['prepare']>;
  private readonly immediate: <T>(fn: () => T) => T;

  constructor(private readonly db: Db) {
    this.s = this.prepare();
    this.immediate = <T>(fn: () => T): T => this.db.transaction(fn).immediate();
  }

  /** Opens `sqlite:PATH` (or a path) with Warden's pragmas. */
  static open(url: string): SqliteTaskQueueStore {
    return new SqliteTaskQueueStore(openSqlite(url.replace(/^sqlite:(\/\/)?/, '')));
  }

  private prepare() {
    const db = this.db;
    return {
      insert: db.prepare(
        `INSERT INTO queue_tasks (id, queue, name, payload, priority, state, attempts, leases,
           created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'queued', 0, 0, ?, ?) RETURNING *`,
      ),
      byId: db.prepare('SELECT * FROM queue_tasks WHERE id = ?'),
      pick: db.prepare(
        `SELECT * FROM queue_tasks WHERE queue = ? AND state = 'queued'
         ORDER BY priority DESC, seq ASC LIMIT 1`,
      ),
      update: db.prepare(
        `UPDATE queue_tasks SET ${PATCH_COLUMNS.map((c) => `${c} = @${c}`).join(', ')}
         WHERE seq = @seq`,
      ),
      expired: db.prepare(
        `SELECT * FROM queue_tasks WHERE state = 'leased' AND lease_expires_at <= ?
         ORDER BY lease_expires_at`,
      ),
      expiredIn: db.prepare(
        `SELECT * FROM queue_tasks WHERE state = 'leased' AND lease_expires_at <= ? AND queue = ?
         ORDER BY lease_expires_at`,
      ),
      heldBy: db.prepare(
        "SELECT * FROM queue_tasks WHERE agent_id = ? AND state = 'leased' ORDER BY seq",
      ),
      counts: db.prepare(
        'SELECT queue, state, count(*) AS n FROM queue_tasks GROUP BY queue, state',
      ),
      recent: db.prepare(
        `SELECT queue, count(*) AS n FROM queue_tasks
         WHERE state = 'completed' AND finished_at >= ? GROUP BY queue`,
      ),
      prune: db.prepare(
        "DELETE FROM queue_tasks WHERE state IN ('completed', 'failed') AND finished_at < ?",
      ),
    };
  }

  /** Runs a synchronous step as a promise (a thrown error becomes a rejection). */
  private run<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private apply(row: TaskRow, patch: TaskPatch): QueueTask {
    this.s.update.run({ ...patch, seq: row.seq });
    return rowToTask({ ...row, ...patch });
  }

  enqueue(t: NewQueueTask): Promise<QueueTask> {
    return this.run(() =>
      rowToTask(
        this.s.insert.get(
          t.id,
          t.queue,
          t.name,
          t.payloadJson,
          t.priority,
          t.createdAt,
          t.createdAt,
        ) as TaskRow,
      ),
    );
  }

  lease(q: {
    queue: string;
    agentId: string;
    leaseMs: number;
    now: number;
  }): Promise<QueueTask | undefined> {
    return this.run(() =>
      this.immediate(() => {
        const row = this.s.pick.get(q.queue) as TaskRow | undefined;
        return row ? this.apply(row, leaseTask(row, q.agentId, q.leaseMs, q.now)) : undefined;
      }),
    );
  }

  get(id: string): Promise<QueueTask | undefined> {
    return this.run(() => {
      const row = this.s.byId.get(id) as TaskRow | undefined;
      return row ? rowToTask(row) : undefined;
    });
  }

  list(q: QueueTaskQuery): Promise<QueueTask[]> {
    return this.run(() => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (q.queue !== undefined) {
        where.push('queue = ?');
        params.push(q.queue);
      }
      if (q.state !== undefined) {
        where.push('state = ?');
        params.push(q.state);
      }
      if (q.agentId !== undefined) {
        where.push('agent_id = ?');
        params.push(q.agentId);
      }
      const rows = this.db
        .prepare(
          `SELECT * FROM queue_tasks ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY updated_at DESC, seq DESC LIMIT ?`,
        )
        .all(...params, q.limit) as TaskRow[];
      return rows.map(rowToTask);
    });
  }

  /** Re-reads the task under the write lock; see PgTaskQueueStore's `report` for `change`. */
  private report(id: string, change: (row: TaskRow) => ReportChange): Promise<ReportResult> {
    return this.run(() =>
      this.immediate((): ReportResult => {
        const row = this.s.byId.get(id) as TaskRow | undefined;
        if (!row) return { ok: false, reason: 'not_found' };
        const patch = change(row);
        const previous = rowToTask(row);
        if (patch === undefined) return { ok: false, reason: 'not_held', task: previous };
        if (patch === 'same') return { ok: true, task: previous, previous, changed: false };
        return { ok: true, task: this.apply(row, patch), previous, changed: true };
      }),
    );
  }

  progress(
    id: string,
    r: { agentId: string | undefined; percent?: number; message?: string; now: number },
  ): Promise<ReportResult> {
    return this.report(id, (row) => progressChange(row, r));
  }

  complete(
    id: string,
    r: { agentId: string | undefined; resultJson: string | null; now: number },
  ): Promise<ReportResult> {
    return this.report(id, (row) => completeChange(row, r));
  }

  fail(
    id: string,
    r: {
      agentId: string | undefined;
      error: string;
      retry: boolean;
      maxAttempts: number;
      now: number;
    },
  ): Promise<ReportResult> {
    return this.report(id, (row) => failChange(row, r));
  }

  private endLeases(
    rows: () => TaskRow[],
    why: (row: TaskRow) => string,
    maxAttempts: number,
    now: number,
  ): Promise<LostLease[]> {
    return this.run(() =>
      this.immediate(() =>
        rows().map((row) => ({
          previous: rowToTask(row),
          task: this.apply(row, endAttempt(row, why(row), true, maxAttempts, now)),
        })),
      ),
    );
  }

  expire(q: { now: number; maxAttempts: number; queue?: string }): Promise<LostLease[]> {
    return this.endLeases(
      () =>
        (q.queue === undefined
          ? this.s.expired.all(q.now)
          : this.s.expiredIn.all(q.now, q.queue)) as TaskRow[],
      expiryReason,
      q.maxAttempts,
      q.now,
    );
  }

  release(q: {
    agentId: string;
    reason: string;
    maxAttempts: number;
    now: number;
  }): Promise<LostLease[]> {
    return this.endLeases(
      () => this.s.heldBy.all(q.agentId) as TaskRow[],
      () => q.reason,
      q.maxAttempts,
      q.now,
    );
  }

  stats(q: { since: number; windowMin: number }): Promise<QueueStats[]> {
    return this.run(() =>
      assembleStats(
        this.s.counts.all() as Array<{ queue: string; state: string; n: number }>,
        this.s.recent.all(q.since) as Array<{ queue: string; n: number }>,
        q.windowMin,
      ),
    );
  }

  deleteFinishedBefore(cutoff: number): Promise<number> {
    return this.run(() => this.s.prune.run(cutoff).changes);
  }

  close(): Promise<void> {
    return this.run(() => {
      if (this.db.open) this.db.close();
    });
  }
}
