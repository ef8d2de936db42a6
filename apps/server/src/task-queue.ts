import { randomUUID } from 'node:crypto';
import {
  exceedsDepth,
  utf8Length,
  validateEvent,
  type Ack,
  type ProtocolLimits,
  type QueueStats,
  type QueueTask,
  type TaskState,
  type WardenEvent,
} from '@warden/protocol';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { WardenError } from './errors.js';
import type { QueueConfig } from './queue-config.js';
import type { QueueMetrics, QueueOutcome } from './queue-metrics.js';
import type { LostLease, ReportResult, TaskQueueStore } from './store/task-queue-store.js';

/** The window of `ratePerMin`: completions in the last 5 minutes, per minute. */
const RATE_WINDOW_MIN = 5;

/** Where the queue's events go: the hub's normal ingest path (the Ingestor). */
export interface EventSink {
  submit(events: readonly WardenEvent[]): Promise<Ack[]>;
}

/** The queue in one line for the dashboard and `warden monitor`: totals and per queue. */
export interface QueueOverview {
  depth: number;
  leased: number;
  ratePerMin: number;
  queues: QueueStats[];
}

/** Options of {@link TaskQueue}. */
export interface TaskQueueOptions {
  store: TaskQueueStore;
  events: EventSink;
  clock: Clock;
  config: QueueConfig;
  limits: ProtocolLimits;
  log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  metrics?: QueueMetrics;
  /** New task ids. @defaultValue `t-<random UUID>` */
  newId?: () => string;
}

/**
 * The task queue of SPEC §12: producers enqueue, agents lease with a time limit, report
 * progress (which renews the lease), complete or fail. A lease that expires, or whose agent
 * fails, goes back to its queue for another agent, until `queue.max_attempts` is used up.
 *
 * Every transition is also a stored event, through the hub's ingest path, for the agent that
 * holds (or held) the task: a lease is `task_assigned`, progress `task_progress`, and every end of a lease `task_completed` —
 * `success: false` with `requeued: true` when the task went back to its queue — so the task
 * projection, subscribers and the supervisor's stale-task check see the queue's work. Event
 * ids derive from the task and its lease number, so a repeat never stores twice.
 *
 * A transition is committed before its event; if storing the event fails the transition
 * stands (the agent holds the task) and the failure is logged.
 */
export class TaskQueue {
  private readonly store: TaskQueueStore;
  private readonly newId: () => string;

  constructor(private readonly opts: TaskQueueOptions) {
    this.store = opts.store;
    this.newId = opts.newId ?? (() => `t-${randomUUID()}`);
  }

  private get now(): number {
    return this.opts.clock.now();
  }

  /**
   * JSON text of a value the queue stores (payload, result), refused when it nests deeper
   * than the event limit allows or is larger than one event may be.
   */
  private json(value: unknown, path: string): string | null {
    if (value === undefined) return null;
    const { maxDepth, maxEventBytes } = this.opts.limits;
    if (exceedsDepth(value, maxDepth)) {
      throw new WardenError('invalid_request', `${path}: nests deeper than ${maxDepth} levels`, {
        errors: [{ path, message: `nests deeper than ${maxDepth} levels` }],
      });
    }
    const text = JSON.stringify(value);
    const bytes = utf8Length(text);
    if (bytes > maxEventBytes) {
      throw new WardenError(
        'payload_too_large',
        `${path} is ${bytes} bytes, over the limit of ${maxEventBytes}`,
        { errors: [{ path, message: `is ${bytes} bytes, over the limit of ${maxEventBytes}` }] },
      );
    }
    return text;
  }

  /** Adds a task to its queue (state `queued`). */
  async enqueue(req: {
    queue: string;
    name: string;
    payload?: unknown;
    priority?: number;
  }): Promise<QueueTask> {
    const task = await this.store.enqueue({
      id: this.newId(),
      queue: req.queue,
      name: req.name,
      payloadJson: this.json(req.payload, '/payload'),
      priority: req.priority ?? 0,
      createdAt: this.now,
    });
    this.opts.metrics?.added(task.queue);
    return task;
  }

  /**
   * Leases the queue's next task (highest priority, then oldest) to `agentId`, or undefined
   * when the queue is empty. Leases of this queue that expired are ended first, so a task
   * whose holder went silent is taken over at once, not only at the next sweep.
   */
  async lease(queue: string, agentId: string, leaseMs?: number): Promise<QueueTask | undefined> {
    const ms = leaseMs ?? this.opts.config.default_lease;
    if (ms > this.opts.config.max_lease) {
      const message = `must be at most ${this.opts.config.max_lease} (queue.max_lease)`;
      throw new WardenError('invalid_request', `/leaseMs: ${message}`, {
        errors: [{ path: '/leaseMs', message }],
      });
    }
    await this.endLost(
      await this.store.expire({ now: this.now, maxAttempts: this.maxAttempts, queue }),
      'expired',
    );
    const task = await this.store.lease({ queue, agentId, leaseMs: ms, now: this.now });
    if (!task) return undefined;
    await this.emit([
      {
        id: `${task.id}:${task.leases}:assigned`,
        type: 'task_assigned',
        agentId,
        data: { taskId: task.id, name: task.name, queue: task.queue, priority: task.priority },
      },
    ]);
    return task;
  }

  get(id: string): Promise<QueueTask | undefined> {
    return this.store.get(id);
  }

  list(q: {
    queue?: string;
    state?: TaskState;
    agentId?: string;
    limit: number;
  }): Promise<QueueTask[]> {
    return this.store.list(q);
  }

  /** Records progress and renews the lease by its original length. */
  async progress(
    id: string,
    agentId: string | undefined,
    p: { percent?: number; message?: string },
  ): Promise<QueueTask> {
    const r = this.accepted(
      id,
      agentId,
      await this.store.progress(id, { agentId, ...p, now: this.now }),
    );
    const data: Record<string, unknown> = { taskId: id };
    if (p.percent !== undefined) data.percent = p.percent;
    if (p.message !== undefined) data.message = p.message;
    await this.emit([
      {
        id: `${id}:${r.task.leases}:progress:${randomUUID()}`,
        type: 'task_progress',
        agentId: r.task.agentId!,
        data,
      },
    ]);
    return r.task;
  }

  /** Completes the task for its holder; a repeat by the same agent answers the same. */
  async complete(id: string, agentId: string | undefined, result?: unknown): Promise<QueueTask> {
    const resultJson = this.json(result, '/result');
    const r = this.accepted(
      id,
      agentId,
      await this.store.complete(id, { agentId, resultJson, now: this.now }),
    );
    if (!r.changed) return r.task;
    this.opts.metrics?.count(r.task.queue, 'completed');
    await this.emit([this.ended(r.previous, r.task)]);
    return r.task;
  }

  /**
   * Fails the current attempt. With `retry` the task goes back to its queue (attempts + 1)
   * until `queue.max_attempts` is used up; then, or without `retry`, it is failed for good.
   */
  async fail(
    id: string,
    agentId: string | undefined,
    error: string,
    retry = false,
  ): Promise<QueueTask> {
    const r = this.accepted(
      id,
      agentId,
      await this.store.fail(id, {
        agentId,
        error,
        retry,
        maxAttempts: this.maxAttempts,
        now: this.now,
      }),
    );
    this.opts.metrics?.count(r.task.queue, r.task.state === 'queued' ? 'retried' : 'failed');
    await this.emit([this.ended(r.previous, r.task)]);
    return r.task;
  }

  /** Ends every lease that has expired (the sweep of {@link QueueLeaseJob}); returns them. */
  async expireLeases(): Promise<LostLease[]> {
    const lost = await this.store.expire({ now: this.now, maxAttempts: this.maxAttempts });
    await this.endLost(lost, 'expired');
    return lost;
  }

  /**
   * Every task leased to `agentId` goes back to its queue at once (or fails for good when its
   * attempts are used up): called when the agent failed, hung or opened its circuit, so
   * healthy agents of the same queue pick the work up instead of waiting for the lease.
   */
  async releaseAgentTasks(agentId: string, reason: string): Promise<LostLease[]> {
    const lost = await this.store.release({
      agentId,
      reason,
      maxAttempts: this.maxAttempts,
      now: this.now,
    });
    if (lost.length > 0) {
      this.opts.log.info(
        { agentId, tasks: lost.map((l) => l.task.id), reason },
        'queue: released the tasks of a failed agent',
      );
    }
    await this.endLost(lost, 'released');
    return lost;
  }

  /** Depth, leases, totals and processing rate per queue. */
  stats(): Promise<QueueStats[]> {
    return this.store.stats({
      since: this.now - RATE_WINDOW_MIN * 60_000,
      windowMin: RATE_WINDOW_MIN,
    });
  }

  /** {@link stats} with fleet totals, for the dashboard. */
  async overview(): Promise<QueueOverview> {
    const queues = await this.stats();
    let depth = 0;
    let leased = 0;
    let rate = 0;
    for (const q of queues) {
      depth += q.depth;
      leased += q.leased;
      rate += q.ratePerMin;
    }
    return { depth, leased, ratePerMin: Math.round(rate * 100) / 100, queues };
  }

  /** Deletes tasks that finished before `cutoff`. */
  pruneFinished(cutoff: number): Promise<number> {
    return this.store.deleteFinishedBefore(cutoff);
  }

  private get maxAttempts(): number {
    return this.opts.config.max_attempts;
  }

  /** The accepted report, or the problem that says why it was refused. */
  private accepted(
    id: string,
    agentId: string | undefined,
    r: ReportResult,
  ): Extract<ReportResult, { ok: true }> {
    if (r.ok) return r;
    if (r.reason === 'not_found') throw new WardenError('not_found', `no task ${id}`);
    const t = r.task;
    const who = agentId === undefined ? '' : ` to agent ${agentId}`;
    let detail: string;
    if (t.state === 'leased') {
      detail = `task ${id} is leased to agent ${t.agentId ?? '?'}, not${who || ' to this agent'}; only its holder may report on it`;
    } else if (t.state === 'queued') {
      detail = `task ${id} is not leased${who}: it went back to queue ${t.queue}${t.error ? ` (${t.error})` : ''}`;
    } else {
      detail = `task ${id} is already ${t.state}${t.agentId ? ` (by agent ${t.agentId})` : ''}`;
    }
    throw new WardenError('conflict', detail);
  }

  /** The `task_completed` event that ends one lease of `previous` (now `task`). */
  private ended(previous: QueueTask, task: QueueTask): Record<string, unknown> {
    const data: Record<string, unknown> = {
      taskId: task.id,
      success: task.state === 'completed',
      durationMs: Math.max(0, task.updatedAt - (previous.leasedAt ?? task.updatedAt)),
    };
    if (task.state !== 'completed' && task.error !== null) data.error = task.error;
    if (task.state === 'queued') data.requeued = true;
    data.queue = task.queue;
    data.attempts = task.attempts;
    return {
      id: `${task.id}:${previous.leases}:ended`,
      type: 'task_completed',
      agentId: previous.agentId!,
      data,
    };
  }

  private async endLost(lost: readonly LostLease[], how: QueueOutcome): Promise<void> {
    if (lost.length === 0) return;
    for (const l of lost) {
      this.opts.metrics?.count(l.task.queue, l.task.state === 'queued' ? how : 'failed');
    }
    await this.emit(lost.map((l) => this.ended(l.previous, l.task)));
  }

  /**
   * Stores the events through the hub's ingest path, each checked by the protocol first (so
   * an event the queue makes can never be one a client could not have sent).
   */
  private async emit(candidates: Array<Record<string, unknown>>): Promise<void> {
    const now = this.now;
    const events: WardenEvent[] = [];
    for (const c of candidates) {
      const checked = validateEvent({ ts: now, ...c }, { now, limits: this.opts.limits });
      if (checked.ok) events.push(checked.event);
      else this.opts.log.warn({ event: c.id, errors: checked.errors }, 'queue: event not valid');
    }
    if (events.length === 0) return;
    try {
      await this.opts.events.submit(events);
    } catch (err) {
      this.opts.log.error(
        { err, events: events.map((e) => e.id) },
        'queue: the transition stands but its events were not stored',
      );
    }
  }
}
