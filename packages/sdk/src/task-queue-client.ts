import type { QueueStats, QueueTask } from '@warden/protocol';
import { Backoff } from './backoff.js';
import { WardenSdkError } from './errors.js';
import { TaskQueueHttp, WardenHttpError, type HttpOptions } from './task-queue-http.js';

/** What a {@link TaskHandler} gets besides the task. */
export interface TaskContext {
  /**
   * Reports progress and renews the lease by its original length: a handler that runs longer
   * than `leaseMs` must report within every `leaseMs`, or the task goes back to the queue.
   * Rejects with `conflict` when the lease is lost (and aborts `signal`).
   */
  progress(p?: { percent?: number; message?: string }): Promise<void>;
  /** Aborted when the worker is closing or the lease was lost: stop soon. */
  signal: AbortSignal;
}

/**
 * Does one task. Its return value (JSON) is the task's result; a throw fails the attempt,
 * retried by the server while attempts remain (see {@link WorkOptions.retry}).
 */
export type TaskHandler = (task: QueueTask, ctx: TaskContext) => unknown;

/** Options of {@link TaskQueueClient.work}. */
export interface WorkOptions {
  /** Lease length asked for. @defaultValue the server's `queue.default_lease` */
  leaseMs?: number;
  /** Tasks handled at once. @defaultValue 1 */
  concurrency?: number;
  /** Wait before asking an empty queue again. @defaultValue 1000 */
  pollMs?: number;
  /** A handler that throws asks for a retry. @defaultValue true */
  retry?: boolean;
  /** Problems the loop handles by itself (a failed lease call, a lost lease); it goes on. */
  onError?: (err: Error) => void;
  /** The agent to work as (a supervisor token working for one of its agents). @defaultValue this client's */
  agentId?: string;
}

/** A running {@link TaskQueueClient.work} loop. */
export interface TaskWorker {
  /** Tasks completed so far. */
  readonly completed: number;
  /** Tasks whose handler threw so far. */
  readonly failed: number;
  /**
   * Stops leasing, aborts the running handlers' `signal`, and resolves once they have
   * finished and been reported (a handler that still returns completes its task).
   */
  close(): Promise<void>;
}

const MAX_ERROR_CHARS = 16_384;

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message || err.name : String(err);
  const t = text === '' ? 'handler failed' : text;
  return t.length <= MAX_ERROR_CHARS ? t : `${t.slice(0, MAX_ERROR_CHARS - 1)}…`;
}

/**
 * The task queue of SPEC §12 over HTTP: producers `enqueue`, workers `lease` and report
 * `progress`, `complete` or `fail`, or let {@link TaskQueueClient.work} run the loop. Reports
 * name this client's agent (`agentId` option, else `WARDEN_AGENT_ID`), so a supervisor token
 * (`agent_id: "*"`) works for any agent it names.
 *
 * @example
 * ```ts
 * const tasks = new TaskQueueClient(); // WARDEN_URL, WARDEN_TOKEN, WARDEN_AGENT_ID
 * await tasks.enqueue({ queue: 'images', name: 'resize', payload: { file: 'a.png' } });
 * const worker = tasks.work('images', async (task, ctx) => {
 *   await ctx.progress({ percent: 50 });
 *   return { ok: true };
 * }, { leaseMs: 60_000, concurrency: 2 });
 * // … later
 * await worker.close();
 * ```
 */
export class TaskQueueClient {
  private readonly http: TaskQueueHttp;
  private readonly workers = new Set<TaskWorker>();

  constructor(options: HttpOptions | TaskQueueHttp = {}) {
    this.http = options instanceof TaskQueueHttp ? options : new TaskQueueHttp(options);
  }

  /** The agent reports are made for, if known. */
  get agentId(): string | undefined {
    return this.http.agentId;
  }

  /** Adds a task; resolves with it (`state: "queued"`). */
  async enqueue(task: {
    queue: string;
    name: string;
    payload?: unknown;
    priority?: number;
  }): Promise<QueueTask> {
    return (await this.http.request<QueueTask>('POST', '/api/v1/tasks', task)).body!;
  }

  /**
   * Leases the queue's next task to this agent (highest priority, then oldest), or null when
   * the queue is empty.
   */
  async lease(
    queue: string,
    opts: { leaseMs?: number; agentId?: string } = {},
  ): Promise<QueueTask | null> {
    const r = await this.http.request<QueueTask>(
      'POST',
      `/api/v1/queues/${encodeURIComponent(queue)}/lease`,
      {
        agentId: this.http.agent(opts.agentId),
        ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}),
      },
    );
    return r.status === 204 || r.body === undefined ? null : r.body;
  }

  private report(taskId: string, op: string, body: Record<string, unknown>) {
    return this.http
      .request<QueueTask>('POST', `/api/v1/tasks/${encodeURIComponent(taskId)}/${op}`, {
        agentId: this.http.agent(body.agentId as string | undefined),
        ...body,
      })
      .then((r) => r.body!);
  }

  /** Reports progress; renews the lease. Rejects with `conflict` when this agent lost it. */
  progress(
    taskId: string,
    p: { percent?: number; message?: string; agentId?: string } = {},
  ): Promise<QueueTask> {
    return this.report(taskId, 'progress', { ...p });
  }

  /** Completes the task with `result` (any JSON). A repeat answers the same. */
  complete(taskId: string, result?: unknown, opts: { agentId?: string } = {}): Promise<QueueTask> {
    return this.report(taskId, 'complete', {
      ...opts,
      ...(result !== undefined ? { result } : {}),
    });
  }

  /**
   * Fails the current attempt. With `retry` the task goes back to its queue while the
   * server's `queue.max_attempts` allows; otherwise it is failed for good.
   */
  fail(
    taskId: string,
    error: string | Error,
    opts: { retry?: boolean; agentId?: string } = {},
  ): Promise<QueueTask> {
    return this.report(taskId, 'fail', { ...opts, error: errorText(error) });
  }

  /** One task by id, or null when there is none (needs a token that may read). */
  async get(taskId: string): Promise<QueueTask | null> {
    try {
      return (
        (await this.http.request<QueueTask>('GET', `/api/v1/tasks/${encodeURIComponent(taskId)}`))
          .body ?? null
      );
    } catch (err) {
      if (err instanceof WardenHttpError && err.code === 'not_found') return null;
      throw err;
    }
  }

  /** Depth, leases, totals and rate per queue (needs a token that may read). */
  async queues(): Promise<QueueStats[]> {
    return (await this.http.request<{ queues: QueueStats[] }>('GET', '/api/v1/queues')).body!
      .queues;
  }

  /**
   * Works the queue until closed: `concurrency` loops that each lease a task, run `handler`,
   * and complete the task with its return value or fail it (with `retry`) when it throws.
   * An empty queue is asked again after `pollMs`; a failed call is reported to `onError` and
   * retried after a backoff. A lost lease (`conflict`) aborts the handler's `signal`.
   */
  work(queue: string, handler: TaskHandler, opts: WorkOptions = {}): TaskWorker {
    const clock = this.http.clock;
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    const pollMs = opts.pollMs ?? 1000;
    const retry = opts.retry ?? true;
    const as = opts.agentId !== undefined ? { agentId: opts.agentId } : {};
    const onError = (err: unknown) => {
      try {
        opts.onError?.(err instanceof Error ? err : new Error(String(err)));
      } catch {
        // The listener's failure is its own.
      }
    };
    const stopping = new AbortController();
    const sleepers = new Set<() => void>();
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        if (stopping.signal.aborted) return resolve();
        const wake = () => {
          clock.clearTimeout(timer);
          sleepers.delete(wake);
          resolve();
        };
        const timer = clock.setTimeout(wake, ms);
        sleepers.add(wake);
      });
    const stats = { completed: 0, failed: 0 };

    const runOne = async (task: QueueTask): Promise<void> => {
      const lease = new AbortController();
      const onStop = () => lease.abort(stopping.signal.reason);
      stopping.signal.addEventListener('abort', onStop);
      const ctx: TaskContext = {
        signal: lease.signal,
        progress: async (p = {}) => {
          try {
            await this.progress(task.id, { ...p, ...as });
          } catch (err) {
            if (err instanceof WardenHttpError && err.code === 'conflict') lease.abort(err);
            throw err;
          }
        },
      };
      let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, value: await handler(task, ctx) };
      } catch (error) {
        outcome = { ok: false, error };
      } finally {
        stopping.signal.removeEventListener('abort', onStop);
      }
      try {
        if (outcome.ok) {
          await this.complete(task.id, outcome.value, as);
          stats.completed++;
        } else {
          stats.failed++;
          await this.fail(task.id, outcome.error as Error, { retry, ...as });
        }
      } catch (err) {
        // A lost lease: the task is someone else's now, nothing to report.
        onError(err);
      }
    };

    const loop = async (): Promise<void> => {
      const backoff = new Backoff({ initialDelayMs: 250, maxDelayMs: 30_000 });
      while (!stopping.signal.aborted) {
        let task: QueueTask | null;
        try {
          task = await this.lease(queue, {
            ...as,
            ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}),
          });
          backoff.reset();
        } catch (err) {
          onError(err);
          // Refusals that will not change (bad queue name, forbidden) end the loop.
          if (
            err instanceof WardenSdkError &&
            [
              'forbidden',
              'forbidden_agent',
              'invalid_request',
              'no_agent_id',
              'unauthorized',
            ].includes(err.code)
          ) {
            return;
          }
          await sleep(backoff.next());
          continue;
        }
        if (task === null) {
          await sleep(pollMs);
          continue;
        }
        await runOne(task);
      }
    };

    const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => undefined);
    const worker: TaskWorker = {
      get completed() {
        return stats.completed;
      },
      get failed() {
        return stats.failed;
      },
      close: async () => {
        stopping.abort(new WardenSdkError('closed', 'worker closed'));
        for (const wake of [...sleepers]) wake();
        await done;
        this.workers.delete(worker);
      },
    };
    this.workers.add(worker);
    return worker;
  }

  /** Closes every {@link work} loop of this client. */
  async close(): Promise<void> {
    await Promise.all([...this.workers].map((w) => w.close()));
  }
}
