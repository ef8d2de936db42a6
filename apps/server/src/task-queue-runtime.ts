import type { ProtocolLimits } from '@warden/protocol';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Bus } from './bus.js';
import type { Clock } from './clock.js';
import type { QueueConfig } from './queue-config.js';
import { QueueLeaseJob } from './queue-lease-job.js';
import { QueueMetrics } from './queue-metrics.js';
import type { AgentStateStore } from './store/agent-state-store.js';
import { SqlAgentStateStore } from './store/sql-agent-state-store.js';
import { PgTaskQueueStore } from './store/pg-task-queue-store.js';
import { SqliteTaskQueueStore } from './store/sqlite-task-queue-store.js';
import type { TaskQueueStore } from './store/task-queue-store.js';
import { TaskQueue, type EventSink } from './task-queue.js';
import { releaseTasksOnAgentFailure } from './task-queue-release.js';

/** The task queue store for the hub's database URL (the hub has validated it). */
export function openTaskQueueStore(databaseUrl: string): TaskQueueStore {
  return databaseUrl.startsWith('sqlite:')
    ? SqliteTaskQueueStore.open(databaseUrl)
    : PgTaskQueueStore.open(databaseUrl);
}

/** What {@link TaskQueueRuntime} is built from. */
export interface TaskQueueRuntimeOptions {
  /** The hub's database (migrated already): `sqlite:PATH` or `postgres://…`. */
  databaseUrl: string;
  config: QueueConfig;
  limits: ProtocolLimits;
  clock: Clock;
  /** The hub's ingest path, for the queue's events. */
  events: EventSink;
  /** Committed events, to release the tasks of agents that fail. */
  bus: Pick<Bus, 'subscribe'>;
  /** Where the queue's Prometheus families go (the hub's registry). */
  registry: Registry;
  log: Logger;
  /** Stores to use instead of opening them from `databaseUrl` (tests). */
  stores?: { tasks: TaskQueueStore; states: AgentStateStore };
}

/**
 * The hub's queue side, assembled: the task queue and agent state stores on connections of
 * their own, the {@link TaskQueue}, its metrics, the lease-expiry job and the release of a
 * failed agent's tasks. `start()` once the hub listens, `close()` before the event store.
 */
export class TaskQueueRuntime {
  readonly queue: TaskQueue;
  readonly agentStates: AgentStateStore;
  readonly job: QueueLeaseJob;
  private readonly tasks: TaskQueueStore;
  private unsubscribe: (() => void) | undefined;

  constructor(opts: TaskQueueRuntimeOptions) {
    const log = opts.log.child({ component: 'queue' });
    this.tasks = opts.stores?.tasks ?? openTaskQueueStore(opts.databaseUrl);
    this.agentStates = opts.stores?.states ?? SqlAgentStateStore.open(opts.databaseUrl);
    const queue: TaskQueue = new TaskQueue({
      store: this.tasks,
      events: opts.events,
      clock: opts.clock,
      config: opts.config,
      limits: opts.limits,
      log,
      // The gauges read the store at scrape time.
      metrics: new QueueMetrics(opts.registry, () => queue.stats()),
    });
    this.queue = queue;
    this.job = new QueueLeaseJob(queue, opts.config, opts.clock, log);
    // Events committed while the hub was down never pass the bus: their agents' leases
    // expire instead.
    this.unsubscribe = releaseTasksOnAgentFailure(opts.bus, queue, log);
  }

  /** Starts the lease-expiry sweep. */
  start(): void {
    this.job.start();
  }

  /** Stops the sweep and the release watch, then closes the stores. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.job.stop();
    await Promise.all([this.tasks.close(), this.agentStates.close()]);
  }
}
