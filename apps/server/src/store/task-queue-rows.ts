import type { Generated, Selectable } from 'kysely';
import type { QueueStats, QueueTask, TaskState } from '@warden/protocol';

/** The tables of migration 0004, shared by every dialect (JSON as text). */
export interface QueueDatabase {
  queue_tasks: QueueTasksTable;
  agent_state: AgentStateTable;
}

/** `queue_tasks`: one row per task; `payload` and `result` are JSON text. */
export interface QueueTasksTable {
  seq: Generated<number>;
  id: string;
  queue: string;
  name: string;
  payload: string | null;
  priority: number;
  state: string;
  attempts: number;
  leases: number;
  agent_id: string | null;
  leased_at: number | null;
  lease_ms: number | null;
  lease_expires_at: number | null;
  progress_percent: number | null;
  progress_message: string | null;
  progress_at: number | null;
  result: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** `agent_state`: one row per agent; `state` is JSON text. */
export interface AgentStateTable {
  agent_id: string;
  state: string;
  updated_at: number;
}

/** A task row as read. */
export type TaskRow = Selectable<QueueTasksTable>;

/** The columns a transition may change. */
export type TaskPatch = Pick<
  TaskRow,
  | 'state'
  | 'attempts'
  | 'leases'
  | 'agent_id'
  | 'leased_at'
  | 'lease_ms'
  | 'lease_expires_at'
  | 'progress_percent'
  | 'progress_message'
  | 'progress_at'
  | 'result'
  | 'error'
  | 'updated_at'
  | 'finished_at'
>;

const num = (v: number | null): number | null => (v === null ? null : Number(v));

/** Row → the API's task. Drivers may hand numbers over as strings; they are made numbers. */
export function rowToTask(r: TaskRow): QueueTask {
  return {
    id: r.id,
    queue: r.queue,
    name: r.name,
    payload: r.payload === null ? null : (JSON.parse(r.payload) as unknown),
    priority: Number(r.priority),
    state: r.state as TaskState,
    attempts: Number(r.attempts),
    leases: Number(r.leases),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    agentId: r.agent_id,
    leasedAt: num(r.leased_at),
    leaseMs: num(r.lease_ms),
    leaseExpiresAt: num(r.lease_expires_at),
    progress:
      r.progress_at === null
        ? null
        : {
            percent: num(r.progress_percent),
            message: r.progress_message,
            at: Number(r.progress_at),
          },
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
    error: r.error,
    finishedAt: num(r.finished_at),
  };
}

/**
 * Per-queue stats from `(queue, state, n)` counts and `(queue, n)` recent completions, sorted
 * by queue name.
 */
export function assembleStats(
  counts: ReadonlyArray<{ queue: string; state: string; n: number | string }>,
  recent: ReadonlyArray<{ queue: string; n: number | string }>,
  windowMin: number,
): QueueStats[] {
  const byQueue = new Map<string, QueueStats>();
  const entry = (queue: string): QueueStats => {
    let s = byQueue.get(queue);
    if (!s) {
      s = { queue, depth: 0, leased: 0, completed: 0, failed: 0, ratePerMin: 0 };
      byQueue.set(queue, s);
    }
    return s;
  };
  for (const c of counts) {
    const s = entry(c.queue);
    const n = Number(c.n);
    if (c.state === 'queued') s.depth = n;
    else if (c.state === 'leased') s.leased = n;
    else if (c.state === 'completed') s.completed = n;
    else if (c.state === 'failed') s.failed = n;
  }
  for (const r of recent) {
    entry(r.queue).ratePerMin = Math.round((Number(r.n) / windowMin) * 100) / 100;
  }
  return [...byQueue.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
}
