import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { WardenConfig } from './config.js';
import type { EventStore } from './store/event-store.js';

/**
 * The retention job of SPEC §7: deletes events older than `retention.events` and gives the
 * space back. Metric rollups and logs join it when those parts land.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly retention: WardenConfig['retention'],
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** One pass; concurrent calls share the pass in progress. Returns events deleted. */
  runOnce(): Promise<number> {
    this.running ??= (async () => {
      try {
        const cutoff = this.clock.now() - this.retention.events;
        const deleted = await this.store.deleteEventsBefore(cutoff);
        if (deleted > 0) {
          this.log.info(
            { deleted, cutoff: new Date(cutoff).toISOString() },
            'retention: deleted old events',
          );
        }
        return deleted;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  start(): void {
    const tick = () => {
      this.runOnce().catch((err: unknown) => this.log.error({ err }, 'retention pass failed'));
    };
    this.timer = setInterval(tick, this.retention.interval);
    this.timer.unref();
    setImmediate(tick);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
