import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { WardenConfig } from './config.js';
import type { HubFeature } from './hub-feature.js';
import type { EventStore } from './store/event-store.js';

/**
 * The retention job of SPEC §7: deletes events older than `retention.events` and gives the
 * space back, then runs each feature's own pass (metric samples and rollups, logs). A feature
 * whose pass fails is logged and the others still run.
 */
export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly retention: WardenConfig['retention'],
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly features: readonly HubFeature[] = [],
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
        const now = this.clock.now();
        for (const f of this.features) {
          if (!f.retain) continue;
          try {
            const counts = await f.retain(now);
            if (Object.values(counts).some((n) => n > 0)) {
              this.log.info({ feature: f.name, ...counts }, 'retention: deleted old rows');
            }
          } catch (err) {
            this.log.error({ err, feature: f.name }, 'retention pass of a feature failed');
          }
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
