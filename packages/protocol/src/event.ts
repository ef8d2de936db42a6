import { z } from 'zod';
import { AgentIdSchema, AgentStatusSchema } from './agent.js';

/** The five core event types of SPEC §3. Later parts add the system types of §12. */
export const EVENT_TYPES = [
  'agent_status_update',
  'task_assigned',
  'task_completed',
  'error_occurred',
  'metric_update',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export const EventTypeSchema = z.enum(EVENT_TYPES);

/** Largest epoch-ms timestamp accepted (9999-12-31T23:59:59.999Z). */
const MAX_TS = 253402300799999;
const ISO_8601 =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** Whether the YYYY-MM-DD part names a real day (Date.parse rolls 2024-02-30 into March). */
function isCalendarDate(s: string): boolean {
  const y = Number(s.slice(0, 4));
  const m = Number(s.slice(5, 7));
  const d = Number(s.slice(8, 10));
  if (m < 1 || m > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** Epoch milliseconds, or an ISO-8601 string; normalised to epoch milliseconds. */
export const TimestampSchema = z.union([
  z.number().finite().min(0).max(MAX_TS).transform(Math.round),
  z
    .string()
    .max(40)
    .regex(ISO_8601, 'must be epoch milliseconds or an ISO-8601 date-time')
    .transform((s, ctx) => {
      const ms = Date.parse(s);
      if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TS || !isCalendarDate(s)) {
        ctx.addIssue({ code: 'custom', message: 'is not a valid date-time' });
        return z.NEVER;
      }
      return ms;
    }),
]);

export const METRIC_NAME_PATTERN = /^[a-z][a-z0-9_]{0,99}$/;
const TaskIdSchema = z.string().min(1).max(256);

export const AgentStatusUpdateDataSchema = z.looseObject({
  status: AgentStatusSchema,
  message: z.string().max(4096).optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
});

export const TaskAssignedDataSchema = z.looseObject({
  taskId: TaskIdSchema,
  name: z.string().max(1024).optional(),
  queue: z.string().max(256).optional(),
  priority: z.number().finite().optional(),
});

export const TaskCompletedDataSchema = z.looseObject({
  taskId: TaskIdSchema,
  success: z.boolean(),
  durationMs: z.number().finite().min(0).optional(),
  error: z.string().optional(),
  result: z.unknown().optional(),
});

export const ErrorOccurredDataSchema = z.looseObject({
  errorType: z.string().min(1).max(256),
  message: z.string().max(16384),
  stack: z.string().optional(),
  taskId: TaskIdSchema.optional(),
  fatal: z.boolean().optional(),
  fingerprint: z.string().max(256).optional(),
});

export const MetricUpdateDataSchema = z.looseObject({
  metrics: z
    .record(
      z.string().regex(METRIC_NAME_PATTERN, 'metric names must match ^[a-z][a-z0-9_]*$'),
      z.number().finite(),
    )
    .refine((m) => Object.keys(m).length > 0, 'must hold at least one metric'),
});

/** U+0000 is refused in ids: PostgreSQL text cannot hold it, and no real id needs it. */
const noNul = (s: string) => !s.includes('\u0000');
const IdSchema = z.string().min(1).max(128).refine(noNul, 'must not contain U+0000');

const envelope = {
  id: IdSchema,
  agentId: AgentIdSchema,
  ts: TimestampSchema.optional(),
  correlationId: IdSchema.optional(),
};

/** An event as a client sends it (SPEC §3). Unknown envelope keys are refused. */
export const EventInputSchema = z.discriminatedUnion('type', [
  z.strictObject({
    ...envelope,
    type: z.literal('agent_status_update'),
    data: AgentStatusUpdateDataSchema,
  }),
  z.strictObject({ ...envelope, type: z.literal('task_assigned'), data: TaskAssignedDataSchema }),
  z.strictObject({ ...envelope, type: z.literal('task_completed'), data: TaskCompletedDataSchema }),
  z.strictObject({ ...envelope, type: z.literal('error_occurred'), data: ErrorOccurredDataSchema }),
  z.strictObject({ ...envelope, type: z.literal('metric_update'), data: MetricUpdateDataSchema }),
]);

export type EventInput = z.input<typeof EventInputSchema>;
type ParsedEvent = z.output<typeof EventInputSchema>;

/** A validated event: `ts` is epoch milliseconds, filled with the receive time when absent. */
export type WardenEvent = ParsedEvent & { ts: number };

/** An event as stored: the envelope plus its position in the log and the receive time. */
export type StoredEvent = WardenEvent & { seq: number; receivedAt: number };

export type AgentStatusUpdateData = z.output<typeof AgentStatusUpdateDataSchema>;
export type TaskAssignedData = z.output<typeof TaskAssignedDataSchema>;
export type TaskCompletedData = z.output<typeof TaskCompletedDataSchema>;
export type ErrorOccurredData = z.output<typeof ErrorOccurredDataSchema>;
export type MetricUpdateData = z.output<typeof MetricUpdateDataSchema>;

/** Documented shape of a stored event (for OpenAPI). */
export const StoredEventSchema = z.object({
  seq: z.number().int(),
  receivedAt: z.number().int(),
  id: z.string(),
  type: z.string(),
  agentId: z.string(),
  ts: z.number().int(),
  correlationId: z.string().optional(),
  data: z.record(z.string(), z.unknown()),
});

/** One acknowledgement: the event's position in the log; `duplicate` when the id was stored before. */
export const AckSchema = z.object({
  id: z.string(),
  seq: z.number().int(),
  duplicate: z.boolean().optional(),
});
export type Ack = z.infer<typeof AckSchema>;
