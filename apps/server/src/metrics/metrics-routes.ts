import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentIdSchema, DurationSchema, METRIC_NAME_PATTERN } from '@warden/protocol';
import type { WardenApp } from '../app.js';
import { WardenError } from '../errors.js';
import type { MetricsHistory } from './metrics-history.js';
import { FLEET, HOUR } from './rollup-store.js';

const YEAR = 365 * 24 * HOUR;
/** Longest range one query may span. */
const MAX_RANGE = 10 * YEAR;
/** Latest instant accepted (JavaScript dates end at ±8.64e15 ms). */
const MAX_INSTANT = 8.64e15;

/** Epoch milliseconds or an ISO-8601 date-time, to epoch ms. */
const Instant = z
  .string()
  .max(64)
  .transform((v, ctx) => {
    if (/^-?\d{1,16}$/.test(v)) {
      const n = Number(v);
      if (Math.abs(n) <= MAX_INSTANT) return n;
    } else if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
      const t = Date.parse(v);
      if (Number.isFinite(t)) return t;
    }
    ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds or an ISO-8601 time' });
    return z.NEVER;
  });

const Step = z
  .string()
  .max(32)
  .transform((v, ctx) => {
    const r = DurationSchema.safeParse(/^\d+$/.test(v) ? Number(v) : v);
    if (r.success) return r.data;
    ctx.addIssue({ code: 'custom', message: r.error.issues[0]?.message ?? 'is not a duration' });
    return z.NEVER;
  })
  .refine((ms) => ms >= 1000, 'must be at least 1s')
  .refine((ms) => ms <= YEAR, 'must be at most 365d');

const SeriesAgent = z.union([z.literal(FLEET), AgentIdSchema]);

const QuerySchema = z
  .strictObject({
    agentId: SeriesAgent.optional(),
    name: z
      .string()
      .regex(METRIC_NAME_PATTERN, 'metric names must match ^[a-z][a-z0-9_]*$')
      .optional(),
    from: Instant.optional(),
    to: Instant.optional(),
    step: Step.optional(),
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined) {
      if (q.from >= q.to)
        ctx.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
      else if (q.to - q.from > MAX_RANGE) {
        ctx.addIssue({
          code: 'custom',
          path: ['from'],
          message: 'the range may span at most 10 years',
        });
      }
    }
  });

/**
 * `GET /api/v1/metrics/query` (one series, or the list of series when `name` is left out) and
 * `GET /api/v1/metrics/names`; viewer and up.
 */
export function registerMetricsRoutes(app: WardenApp, metrics: MetricsHistory): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/api/v1/metrics/query',
    {
      schema: {
        summary:
          'History of one series (at most 1,000 points: count, sum, avg, min, max, last, p50, p95, p99), or the series available when name is left out',
        tags: ['metrics'],
        querystring: QuerySchema,
      },
    },
    async (req) => {
      const q = req.query;
      if (q.name === undefined) {
        // Listing: one agent's series, or (agentId left out) every agent's and the fleet's.
        const series = await metrics.listSeries(q.agentId);
        if (q.agentId !== undefined && q.agentId !== FLEET && series.length === 0) {
          await metrics.requireAgent(q.agentId);
        }
        return { series };
      }
      const agentId = q.agentId ?? FLEET;
      const now = metrics.now();
      const to = q.to ?? (q.from !== undefined ? Math.max(q.from + 1, now) : now);
      const from = q.from ?? to - HOUR;
      if (from >= to) {
        throw new WardenError('invalid_request', '/querystring/to: must be after from', {
          errors: [{ path: '/querystring/to', message: 'must be after from' }],
        });
      }
      return metrics.query({
        agentId,
        name: q.name,
        from,
        to,
        ...(q.step !== undefined ? { step: q.step } : {}),
      });
    },
  );

  r.get(
    '/api/v1/metrics/names',
    {
      schema: {
        summary: 'Names of every metric series kept (agents’ and the fleet’s)',
        tags: ['metrics'],
        querystring: z.strictObject({}),
      },
    },
    async () => ({ names: await metrics.names() }),
  );
}
