import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { QueueConfig } from './queue-config.js';
import type { TaskQueue } from './task-queue.js';

/** How often finished tasks older than `queue.keep_finished` are deleted. */
const PRUNE_EVERY_MS = 3_600_000;

/**
 * The queue's scheduled job: every `queue.sweep_interval` it returns expired leases to their
 * queues (times are read from the injected clock, so a test moves them exactly), and once an
 * hour deletes tasks that finished more than `queue.keep_finished` ago.
 */
export class QueueLeaseJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastPrune: number | undefined;

  constructor(
    private readonly queue: TaskQueue,
    private readonly config: QueueConfig,
    private readonly clock: Clock,
    private readonly log: Pick<Logger, 'info' | 'error'>,
  ) {}

  /** One pass; concurrent calls share the pass in progress. */
  runOnce(): Promise<void> {
    this.running ??= (async () => {
      try {
        await this.queue.expireLeases();
        const now = this.clock.now();
        if (this.lastPrune === undefined || now - this.lastPrune >= PRUNE_EVERY_MS) {
          this.lastPrune = now;
          const deleted = await this.queue.pruneFinished(now - this.config.keep_finished);
          if (deleted > 0) this.log.info({ deleted }, 'queue: deleted old finished tasks');
        }
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  start(): void {
    const tick = () => {
      this.runOnce().catch((err: unknown) => this.log.error({ err }, 'queue sweep failed'));
    };
    this.timer = setInterval(tick, this.config.sweep_interval);
    this.timer.unref();
  }

  /** Stops the timer and waits for a pass in progress, so the store can be closed after. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
