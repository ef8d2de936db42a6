import { z } from 'zod';
import { AgentIdSchema, LOG_LEVELS } from '@warden/protocol';

const RELATIVE = /^(\d{1,12})(ms|s|m|h|d|w)$/;
const UNIT: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
/** Latest instant a JavaScript Date holds. */
const MAX_TIME = 8.64e15;

/**
 * A point in time as `since` / `until` take it: epoch milliseconds (`1763791200000`),
 * ISO-8601 (`2025-11-22T06:00:00Z`), or a duration back from now (`10m`, `2h`, `7d`; a unit
 * is required, so a bare number is always epoch ms). Returns epoch ms, or a message.
 */
export function parseTimeParam(text: string, now: number): number | string {
  const t = text.trim();
  if (/^\d{1,16}$/.test(t)) {
    const n = Number(t);
    return n <= MAX_TIME ? n : 'is past the largest date';
  }
  const rel = RELATIVE.exec(t);
  if (rel) return Math.max(0, now - Number(rel[1]) * UNIT[rel[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  return 'must be epoch milliseconds, ISO-8601 (2025-11-22T06:00:00Z) or a duration back from now (10m, 2h, 7d)';
}

function timeParam(now: () => number) {
  return z
    .string()
    .max(64, 'is too long for a time')
    .transform((v, ctx) => {
      const r = parseTimeParam(v, now());
      if (typeof r === 'string') {
        ctx.addIssue({ code: 'custom', message: r });
        return z.NEVER;
      }
      return r;
    });
}

/**
 * The query of `GET /api/v1/logs`. `now` is read when a request is parsed, so relative times
 * follow the hub's (injected) clock.
 */
export function logsQuerySchema(now: () => number) {
  return z
    .strictObject({
      agentId: AgentIdSchema.optional(),
      /** This level and above. */
      level: z.enum(LOG_LEVELS).optional(),
      /** Case-insensitive substring of the message. */
      q: z.string().max(1000, 'must be at most 1000 characters').optional(),
      correlationId: z.string().min(1).max(128).optional(),
      since: timeParam(now).optional(),
      until: timeParam(now).optional(),
      /** Newest first (default, as a log view reads) or oldest first. */
      order: z.enum(['desc', 'asc']).default('desc'),
      limit: z.coerce
        .number('must be a number')
        .int('must be a whole number')
        .min(1)
        .max(1000)
        .default(100),
      /** `next` of the previous page. */
      cursor: z.coerce
        .number('must be a number')
        .int()
        .min(0)
        .max(Number.MAX_SAFE_INTEGER)
        .optional(),
    })
    .superRefine((q, ctx) => {
      if (q.since !== undefined && q.until !== undefined && q.since > q.until) {
        ctx.addIssue({ code: 'custom', path: ['until'], message: 'must not be before since' });
      }
    });
}

export type LogsQuery = z.output<ReturnType<typeof logsQuerySchema>>;
