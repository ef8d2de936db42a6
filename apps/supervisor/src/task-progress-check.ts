import { formatDuration } from './health-check.js';
import type { CheckResult, HealthCheck } from './health-check.js';

/** Options of {@link TaskProgressCheck}, in milliseconds. */
export interface TaskProgressCheckOptions {
  /**
   * `task_duration`: a task running longer than `limitMs` (`health.max_task_duration`).
   * `task_stale`: a running task without a `task_progress` event for `limitMs`
   * (`health.stale_task_threshold`).
   */
  check: 'task_duration' | 'task_stale';
  /** `max_task_duration` or `stale_task_threshold`, in ms. */
  limitMs: number;
}

interface RunningTask {
  startedAt: number;
  lastProgressAt: number;
}

/**
 * Hung tasks (checks `task_duration` and `task_stale`; one instance per check). Either one
 * going `critical` means the agent is hung and `on_hung` applies.
 *
 * - `task_duration`: critical once a task has run for `limitMs` or more since it started.
 * - `task_stale`: critical once a task has gone `limitMs` or more without progress — counted
 *   from its last `task_progress` event, or from its start if none came. Any progress resets
 *   that clock (SPEC §12); a deadlocked agent emits none.
 *
 * Boundaries are inclusive (a 180 s threshold is crossed at exactly 180,000 ms). Time runs to
 * `now`, not to the last event: the absence of events is the symptom. With several tasks
 * running, the verdict is about the worst one, named in the reason and in `taskId`. A
 * progress event for a task never seen starting (the supervisor came up mid-task) starts
 * tracking it there, so its duration counts from that first sighting.
 */
export class TaskProgressCheck implements HealthCheck {
  readonly check: 'task_duration' | 'task_stale';
  private readonly limitMs: number;
  private readonly tasks = new Map<string, RunningTask>();
  /** The verdict while no task runs (most of the time), made once. */
  private readonly idle: CheckResult;

  constructor(options: TaskProgressCheckOptions) {
    if (!(options.limitMs > 0)) throw new RangeError(`${options.check} limitMs must be > 0`);
    this.check = options.check;
    this.limitMs = options.limitMs;
    this.idle = Object.freeze({ check: this.check, health: 'healthy', reason: 'no task running' });
  }

  /** Starts (or, for a reused id, restarts) tracking `taskId` at `ts`. */
  taskStarted(taskId: string, ts: number): void {
    this.tasks.set(taskId, { startedAt: ts, lastProgressAt: ts });
  }

  /** Progress on `taskId` at `ts`: the stale clock starts over. */
  taskProgress(taskId: string, ts: number): void {
    const task = this.tasks.get(taskId);
    if (!task) this.tasks.set(taskId, { startedAt: ts, lastProgressAt: ts });
    else if (ts > task.lastProgressAt) task.lastProgressAt = ts;
  }

  /** The task is over, however it ended; it is no longer judged. */
  taskEnded(taskId: string): void {
    this.tasks.delete(taskId);
  }

  /** A restarted process runs none of the old one's tasks. */
  reset(_now: number): void {
    this.tasks.clear();
  }

  /** Ids of the tasks being tracked, oldest start first. */
  runningTasks(): string[] {
    return [...this.tasks.entries()]
      .sort((a, b) => a[1].startedAt - b[1].startedAt)
      .map(([id]) => id);
  }

  /**
   * See {@link HealthCheck.quietUntil}: with no task running, or one hung already (it stays
   * the oldest, so the verdict and its task stay), until a task event; else until the first
   * running task reaches the limit.
   */
  quietUntil(now: number): number {
    let at = Infinity;
    for (const task of this.tasks.values()) {
      const due =
        (this.check === 'task_duration' ? task.startedAt : task.lastProgressAt) + this.limitMs;
      if (due <= now) return Infinity;
      if (due < at) at = due;
    }
    return at;
  }

  evaluate(now: number): CheckResult {
    if (this.tasks.size === 0) return this.idle;
    let worstId: string | undefined;
    let worstAge = -Infinity;
    for (const [id, task] of this.tasks) {
      const age = now - (this.check === 'task_duration' ? task.startedAt : task.lastProgressAt);
      if (age > worstAge) {
        worstAge = age;
        worstId = id;
      }
    }
    if (worstId === undefined) return this.idle;
    const age = formatDuration(Math.max(0, worstAge));
    const limit = formatDuration(this.limitMs);
    const hung = worstAge >= this.limitMs;
    const others = this.tasks.size > 1 ? ` (${this.tasks.size} tasks running)` : '';
    const reason =
      this.check === 'task_duration'
        ? hung
          ? `task ${worstId} has been running for ${age}, past max_task_duration ${limit}${others}`
          : `longest task ${worstId} running for ${age} (max_task_duration ${limit})${others}`
        : hung
          ? `task ${worstId} made no progress for ${age} (stale_task_threshold ${limit}): hung or deadlocked${others}`
          : `task ${worstId} last progressed ${age} ago (stale_task_threshold ${limit})${others}`;
    return { check: this.check, health: hung ? 'critical' : 'healthy', reason, taskId: worstId };
  }
}
