import { Counter, Gauge, type Registry } from 'prom-client';
import type { QueueStats } from '@warden/protocol';

/** How a lease ended, as `warden_queue_tasks_total{outcome}` counts it. */
export type QueueOutcome = 'completed' | 'failed' | 'retried' | 'expired' | 'released';

/**
 * The queue's Prometheus families: `warden_queue_depth{queue}` and `warden_queue_leased{queue}`
 * (gauges read from the store at scrape time, so every replica reports the shared truth),
 * `warden_queue_tasks_total{queue,outcome}` (ends of leases: completed, failed for good,
 * retried, expired or released back to the queue) and `warden_queue_enqueued_total{queue}`.
 */
export class QueueMetrics {
  private readonly outcomes: Counter<'queue' | 'outcome'>;
  private readonly enqueued: Counter<'queue'>;

  constructor(registry: Registry, stats: () => Promise<QueueStats[]>) {
    // One store read serves both gauges of a scrape.
    let pending: Promise<QueueStats[] | undefined> | undefined;
    const read = () => {
      pending ??= stats()
        .catch(() => undefined)
        .finally(() => setImmediate(() => (pending = undefined)));
      return pending;
    };
    const gauge = (name: string, help: string, pick: (s: QueueStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['queue'] as const,
        registers: [registry],
        async collect() {
          // A store that cannot answer leaves the last values in place.
          const all = await read();
          if (!all) return;
          this.reset();
          for (const s of all) this.set({ queue: s.queue }, pick(s));
        },
      });
    gauge('warden_queue_depth', 'Tasks waiting in a queue for a lease.', (s) => s.depth);
    gauge('warden_queue_leased', 'Tasks of a queue leased to an agent now.', (s) => s.leased);
    this.outcomes = new Counter({
      name: 'warden_queue_tasks_total',
      help: 'Leases of queued tasks that ended, by queue and outcome (completed, failed, retried, expired, released).',
      labelNames: ['queue', 'outcome'] as const,
      registers: [registry],
    });
    this.enqueued = new Counter({
      name: 'warden_queue_enqueued_total',
      help: 'Tasks added to a queue.',
      labelNames: ['queue'] as const,
      registers: [registry],
    });
  }

  /** Counts one end of a lease. */
  count(queue: string, outcome: QueueOutcome): void {
    this.outcomes.inc({ queue, outcome });
  }

  /** Counts one task added. */
  added(queue: string): void {
    this.enqueued.inc({ queue });
  }
}
