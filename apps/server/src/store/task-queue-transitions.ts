import type { TaskPatch, TaskRow } from './task-queue-rows.js';

/**
 * The rules of the task queue as pure functions from a row to the columns it gets, shared by
 * every store adapter (each runs them inside its own write transaction).
 */

/** The mutable columns of a row as they are. */
function current(r: TaskRow): TaskPatch {
  return {
    state: r.state,
    attempts: Number(r.attempts),
    leases: Number(r.leases),
    agent_id: r.agent_id,
    leased_at: r.leased_at,
    lease_ms: r.lease_ms,
    lease_expires_at: r.lease_expires_at,
    progress_percent: r.progress_percent,
    progress_message: r.progress_message,
    progress_at: r.progress_at,
    result: r.result,
    error: r.error,
    updated_at: r.updated_at,
    finished_at: r.finished_at,
  };
}

/** Whether `agentId` (undefined: anyone) holds the task's lease now. */
export function holdsLease(r: TaskRow, agentId: string | undefined): boolean {
  return r.state === 'leased' && (agentId === undefined || r.agent_id === agentId);
}

/** A queued task leased to `agentId`; progress starts afresh with every lease. */
export function leaseTask(r: TaskRow, agentId: string, leaseMs: number, now: number): TaskPatch {
  return {
    ...current(r),
    state: 'leased',
    leases: Number(r.leases) + 1,
    agent_id: agentId,
    leased_at: now,
    lease_ms: leaseMs,
    lease_expires_at: now + leaseMs,
    progress_percent: null,
    progress_message: null,
    progress_at: null,
    updated_at: now,
  };
}

/**
 * Progress renews the lease by its original length (a long job that reports keeps its task);
 * a field left out keeps its last value.
 */
export function reportProgress(
  r: TaskRow,
  p: { percent?: number; message?: string },
  now: number,
): TaskPatch {
  return {
    ...current(r),
    lease_expires_at: now + Number(r.lease_ms ?? 0),
    progress_percent: p.percent ?? r.progress_percent,
    progress_message: p.message ?? r.progress_message,
    progress_at: now,
    updated_at: now,
  };
}

/** Completed by its holder: the lease ends, the holder stays named. */
export function completeTask(r: TaskRow, resultJson: string | null, now: number): TaskPatch {
  return {
    ...current(r),
    state: 'completed',
    lease_expires_at: null,
    result: resultJson,
    updated_at: now,
    finished_at: now,
  };
}

/**
 * One attempt ended without success (`why`). Back to the queue while attempts remain and a
 * retry is wanted, else failed for good; `attempts` counts every such end.
 */
export function endAttempt(
  r: TaskRow,
  why: string,
  retry: boolean,
  maxAttempts: number,
  now: number,
): TaskPatch {
  const attempts = Number(r.attempts) + 1;
  if (retry && attempts < maxAttempts) {
    return {
      ...current(r),
      state: 'queued',
      attempts,
      agent_id: null,
      leased_at: null,
      lease_ms: null,
      lease_expires_at: null,
      error: why,
      updated_at: now,
    };
  }
  return {
    ...current(r),
    state: 'failed',
    attempts,
    lease_expires_at: null,
    error: why,
    updated_at: now,
    finished_at: now,
  };
}

/** Why an expired lease ended, as the task's `error` says it. */
export function expiryReason(r: TaskRow): string {
  return `lease expired: agent ${r.agent_id ?? '?'} made no report for ${Number(r.lease_ms)} ms`;
}

/**
 * What a report by an agent does to a task: the columns it gets, `same` for a completion sent
 * again by the agent that made it (its reply was lost: it is answered as the first time), or
 * undefined when the agent does not hold the lease (a conflict).
 */
export type ReportChange = TaskPatch | 'same' | undefined;

/** Progress from the lease holder. */
export function progressChange(
  row: TaskRow,
  r: { agentId: string | undefined; percent?: number; message?: string; now: number },
): ReportChange {
  if (!holdsLease(row, r.agentId)) return undefined;
  return reportProgress(
    row,
    {
      ...(r.percent !== undefined ? { percent: r.percent } : {}),
      ...(r.message !== undefined ? { message: r.message } : {}),
    },
    r.now,
  );
}

/** Completion by the lease holder, or the same completion again. */
export function completeChange(
  row: TaskRow,
  r: { agentId: string | undefined; resultJson: string | null; now: number },
): ReportChange {
  if (holdsLease(row, r.agentId)) return completeTask(row, r.resultJson, r.now);
  if (row.state === 'completed' && r.agentId !== undefined && row.agent_id === r.agentId) {
    return 'same';
  }
  return undefined;
}

/** Failure reported by the lease holder. */
export function failChange(
  row: TaskRow,
  r: {
    agentId: string | undefined;
    error: string;
    retry: boolean;
    maxAttempts: number;
    now: number;
  },
): ReportChange {
  return holdsLease(row, r.agentId)
    ? endAttempt(row, r.error, r.retry, r.maxAttempts, r.now)
    : undefined;
}
