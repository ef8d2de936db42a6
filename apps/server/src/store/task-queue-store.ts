import type { QueueStats, QueueTask, TaskState } from '@warden/protocol';

/** A task as the queue service hands it to the store (JSON already serialised). */
export interface NewQueueTask {
  id: string;
  queue: string;
  name: string;
  /** `JSON.stringify(payload)`, or null when the producer sent none. */
  payloadJson: string | null;
  priority: number;
  createdAt: number;
}

/**
 * What a report (progress, complete, fail) did: the task before and after, or why it was
 * refused. `changed: false` is a repeat of a completion already made by the same agent.
 */
export type ReportResult =
  | { ok: true; task: QueueTask; previous: QueueTask; changed: boolean }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'not_held'; task: QueueTask };

/** A lease that ended without success (expired, or its agent failed): before and after. */
export interface LostLease {
  previous: QueueTask;
  /** Back to `queued`, or `failed` once its attempts are used up. */
  task: QueueTask;
}

/** Filters of a task listing, newest change first. */
export interface QueueTaskQuery {
  queue?: string;
  state?: TaskState;
  agentId?: string;
  limit: number;
}

/**
 * The storage port of the task queue (SPEC §12 "Queue"). Every transition is one transaction
 * that re-reads the task under a write lock, so two callers never both win: two leases never
 * get one task, and a report races a release or an expiry cleanly. SQLite and PostgreSQL pass
 * `task-queue-store.conformance.ts`.
 *
 * `agentId` of a report is the agent that reports; undefined means "whoever holds the lease"
 * (a supervisor or admin token that did not name one).
 */
export interface TaskQueueStore {
  enqueue(task: NewQueueTask): Promise<QueueTask>;
  /**
   * Leases the queue's first `queued` task (highest priority, then oldest) to `agentId` until
   * `now + leaseMs`; undefined when there is none.
   */
  lease(q: {
    queue: string;
    agentId: string;
    leaseMs: number;
    now: number;
  }): Promise<QueueTask | undefined>;
  get(id: string): Promise<QueueTask | undefined>;
  list(q: QueueTaskQuery): Promise<QueueTask[]>;
  /** Records progress and renews the lease by its original length. */
  progress(
    id: string,
    r: { agentId: string | undefined; percent?: number; message?: string; now: number },
  ): Promise<ReportResult>;
  complete(
    id: string,
    r: { agentId: string | undefined; resultJson: string | null; now: number },
  ): Promise<ReportResult>;
  /**
   * Fails the current attempt: with `retry`, back to `queued` unless this was attempt
   * `maxAttempts`; otherwise `failed` for good.
   */
  fail(
    id: string,
    r: {
      agentId: string | undefined;
      error: string;
      retry: boolean;
      maxAttempts: number;
      now: number;
    },
  ): Promise<ReportResult>;
  /** Ends every lease that expired by `now` (of one queue, or all). */
  expire(q: { now: number; maxAttempts: number; queue?: string }): Promise<LostLease[]>;
  /** Ends every lease `agentId` holds, at once. */
  release(q: {
    agentId: string;
    reason: string;
    maxAttempts: number;
    now: number;
  }): Promise<LostLease[]>;
  /** Counts per queue; `ratePerMin` from completions since `since` over `windowMin` minutes. */
  stats(q: { since: number; windowMin: number }): Promise<QueueStats[]>;
  /** Deletes completed and failed tasks that finished before `cutoff`; returns the count. */
  deleteFinishedBefore(cutoff: number): Promise<number>;
  close(): Promise<void>;
}
