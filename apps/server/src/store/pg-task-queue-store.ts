import type { Kysely } from 'kysely';
import type { QueueStats, QueueTask } from '@warden/protocol';
import { openQueueConnection } from './queue-connection.js';
import type {
  LostLease,
  NewQueueTask,
  QueueTaskQuery,
  ReportResult,
  TaskQueueStore,
} from './task-queue-store.js';
import {
  assembleStats,
  rowToTask,
  type QueueDatabase,
  type TaskPatch,
  type TaskRow,
} from './task-queue-rows.js';
import {
  completeChange,
  endAttempt,
  expiryReason,
  failChange,
  leaseTask,
  progressChange,
  type ReportChange,
} from './task-queue-transitions.js';

type Db = Kysely<QueueDatabase>;

/** Leases ended per transaction by an expiry sweep or a release. */
const BATCH = 500;

/**
 * The task queue on PostgreSQL. Every transition is one transaction on one pooled connection
 * that locks the rows it changes (`SELECT … FOR UPDATE`) before deciding, so concurrent
 * callers, on this replica or another, never act on the same state. A lease adds
 * `SKIP LOCKED`: concurrent leasers each take a different task instead of queueing behind
 * one row, and none can take a task another has locked.
 */
export class PgTaskQueueStore implements TaskQueueStore {
  constructor(private readonly db: Db) {}

  /** Opens `postgres://…[?schema=NAME]` on a small pool of its own (migrated already). */
  static open(databaseUrl: string): PgTaskQueueStore {
    return new PgTaskQueueStore(
      openQueueConnection(databaseUrl, { applicationName: 'warden:queue', poolSize: 4 }).db,
    );
  }

  private tx<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  private async apply(db: Db, row: TaskRow, patch: TaskPatch): Promise<QueueTask> {
    await db.updateTable('queue_tasks').set(patch).where('seq', '=', row.seq).execute();
    return rowToTask({ ...row, ...patch });
  }

  async enqueue(t: NewQueueTask): Promise<QueueTask> {
    const row = await this.db
      .insertInto('queue_tasks')
      .values({
        id: t.id,
        queue: t.queue,
        name: t.name,
        payload: t.payloadJson,
        priority: t.priority,
        state: 'queued',
        attempts: 0,
        leases: 0,
        created_at: t.createdAt,
        updated_at: t.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return rowToTask(row);
  }

  lease(q: {
    queue: string;
    agentId: string;
    leaseMs: number;
    now: number;
  }): Promise<QueueTask | undefined> {
    return this.tx(async (db) => {
      const pick = db
        .selectFrom('queue_tasks')
        .selectAll()
        .where('queue', '=', q.queue)
        .where('state', '=', 'queued')
        .orderBy('priority', 'desc')
        .orderBy('seq', 'asc')
        .limit(1);
      const row = await pick.forUpdate().skipLocked().executeTakeFirst();
      if (!row) return undefined;
      return this.apply(db, row, leaseTask(row, q.agentId, q.leaseMs, q.now));
    });
  }

  async get(id: string): Promise<QueueTask | undefined> {
    const row = await this.db
      .selectFrom('queue_tasks')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? rowToTask(row) : undefined;
  }

  async list(q: QueueTaskQuery): Promise<QueueTask[]> {
    let query = this.db
      .selectFrom('queue_tasks')
      .selectAll()
      .orderBy('updated_at', 'desc')
      .orderBy('seq', 'desc')
      .limit(q.limit);
    if (q.queue !== undefined) query = query.where('queue', '=', q.queue);
    if (q.state !== undefined) query = query.where('state', '=', q.state);
    if (q.agentId !== undefined) query = query.where('agent_id', '=', q.agentId);
    return (await query.execute()).map(rowToTask);
  }

  /**
   * Re-reads the task under the lock; `change` gives its new columns, or undefined when the
   * report is refused (`not_held`), or `'same'` for a repeat that changes nothing.
   */
  private report(id: string, change: (row: TaskRow) => ReportChange): Promise<ReportResult> {
    return this.tx(async (db) => {
      const row = await db
        .selectFrom('queue_tasks')
        .selectAll()
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
      if (!row) return { ok: false, reason: 'not_found' } as const;
      const patch = change(row);
      const previous = rowToTask(row);
      if (patch === undefined) return { ok: false, reason: 'not_held', task: previous } as const;
      if (patch === 'same') return { ok: true, task: previous, previous, changed: false } as const;
      return { ok: true, task: await this.apply(db, row, patch), previous, changed: true } as const;
    });
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

  /** Ends the leases `select` picks, BATCH per transaction, until none is left. */
  private async endLeases(
    select: (db: Db) => Promise<TaskRow[]>,
    why: (row: TaskRow) => string,
    maxAttempts: number,
    now: number,
  ): Promise<LostLease[]> {
    const lost: LostLease[] = [];
    for (;;) {
      const batch = await this.tx(async (db) => {
        const rows = await select(db);
        const out: LostLease[] = [];
        for (const row of rows) {
          const previous = rowToTask(row);
          const task = await this.apply(db, row, endAttempt(row, why(row), true, maxAttempts, now));
          out.push({ previous, task });
        }
        return out;
      });
      lost.push(...batch);
      if (batch.length < BATCH) return lost;
    }
  }

  expire(q: { now: number; maxAttempts: number; queue?: string }): Promise<LostLease[]> {
    return this.endLeases(
      (db) => {
        let pick = db
          .selectFrom('queue_tasks')
          .selectAll()
          .where('state', '=', 'leased')
          .where('lease_expires_at', '<=', q.now)
          .orderBy('lease_expires_at')
          .limit(BATCH);
        if (q.queue !== undefined) pick = pick.where('queue', '=', q.queue);
        // Another sweep (a replica) may be ending the same leases: each takes other rows.
        return pick.forUpdate().skipLocked().execute();
      },
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
      (db) => {
        return db
          .selectFrom('queue_tasks')
          .selectAll()
          .where('agent_id', '=', q.agentId)
          .where('state', '=', 'leased')
          .orderBy('seq')
          .limit(BATCH)
          .forUpdate()
          .execute();
      },
      () => q.reason,
      q.maxAttempts,
      q.now,
    );
  }

  async stats(q: { since: number; windowMin: number }): Promise<QueueStats[]> {
    const counts = await this.db
      .selectFrom('queue_tasks')
      .select((eb) => ['queue', 'state', eb.fn.countAll<number>().as('n')])
      .groupBy(['queue', 'state'])
      .execute();
    const recent = await this.db
      .selectFrom('queue_tasks')
      .select((eb) => ['queue', eb.fn.countAll<number>().as('n')])
      .where('state', '=', 'completed')
      .where('finished_at', '>=', q.since)
      .groupBy('queue')
      .execute();
    return assembleStats(counts, recent, q.windowMin);
  }

  async deleteFinishedBefore(cutoff: number): Promise<number> {
    const r = await this.db
      .deleteFrom('queue_tasks')
      .where('state', 'in', ['completed', 'failed'])
      .where('finished_at', '<', cutoff)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}
