import { z } from 'zod';
import { DurationSchema, MAX_LEASE_MS } from '@warden/protocol';

// zod 4: `.prefault` parses the default like an input (`.default` would skip parsing).
const d = (v: string) => DurationSchema.prefault(v);

/** `queue:` — the task queue of SPEC §12 (leases, retries, expiry). */
export const QueueConfigSchema = z
  .strictObject({
    /**
     * Most attempts per task: every lease that ends without success (a fail, an expired
     * lease, an agent that failed while holding it) uses one; at the last the task is failed
     * for good instead of going back to its queue. @defaultValue 5
     */
    max_attempts: z.number().int().min(1).max(1000).default(5),
    /** Lease length when a lease request names none. @defaultValue 30s */
    default_lease: d('30s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    /** Longest lease a request may ask for. @defaultValue 24h */
    max_lease: d('24h').refine((ms) => ms >= 1 && ms <= MAX_LEASE_MS, 'must be between 1ms and 7d'),
    /** How often expired leases are looked for and returned to their queues. @defaultValue 1s */
    sweep_interval: d('1s').refine((ms) => ms >= 10, 'must be at least 10ms'),
    /** Completed and failed tasks are deleted this long after they finished. @defaultValue 7d */
    keep_finished: d('7d'),
  })
  .superRefine((q, ctx) => {
    if (q.default_lease > q.max_lease) {
      ctx.addIssue({
        code: 'custom',
        path: ['default_lease'],
        message: `must not be longer than max_lease (${q.max_lease} ms)`,
      });
    }
  });

/** The parsed `queue:` section (durations in milliseconds). */
export type QueueConfig = z.output<typeof QueueConfigSchema>;
