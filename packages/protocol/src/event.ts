import { z } from 'zod';
import { AgentIdSchema, AgentStatusSchema, HealthSchema } from './agent.js';

/** The five core event types of SPEC §3. */
export const CORE_EVENT_TYPES = [
  'agent_status_update',
  'task_assigned',
  'task_completed',
  'error_occurred',
  'metric_update',
] as const;

/**
 * The system types of SPEC §12, sent mostly by the supervisor on behalf of its agents; stored,
 * replayed and subscribed to exactly like the core five.
 */
export const SYSTEM_EVENT_TYPES = [
  'log',
  'task_progress',
  'agent_lifecycle',
  'health_changed',
  'escalation',
] as const;

/** Every event type the hub accepts: the core five of SPEC §3, then the system types of §12. */
export const EVENT_TYPES = [...CORE_EVENT_TYPES, ...SYSTEM_EVENT_TYPES] as const;

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

/** Levels of a `log` event, least to most severe. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** The output stream a captured `log` line came from. */
export const LOG_STREAMS = ['stdout', 'stderr'] as const;

/**
 * `log`: one line of an agent's output or of the supervisor about it. The message cap only
 * keeps the schema honest: the 64 KiB event limit is what binds first.
 */
export const LogDataSchema = z.looseObject({
  level: z.enum(LOG_LEVELS),
  message: z.string().max(65_536),
  stream: z.enum(LOG_STREAMS).optional(),
});

/** `task_progress`: any progress resets the supervisor's stale-task clock (SPEC §12). */
export const TaskProgressDataSchema = z.looseObject({
  taskId: TaskIdSchema,
  percent: z.number().finite().min(0).max(100).optional(),
  message: z.string().max(4096).optional(),
});

/** What happened to an agent's process, as `agent_lifecycle.action` (SPEC §12). */
export const LIFECYCLE_ACTIONS = [
  'started',
  'exited',
  'restart_scheduled',
  'circuit_open',
  'circuit_half_open',
  'circuit_closed',
  'stopped',
] as const;

/** A reason a person reads: required, never empty. */
const ReasonSchema = z.string().min(1).max(4096);

/**
 * `agent_lifecycle`: a fact about the agent's process from its supervisor. `exitCode` and
 * `signal` are null when the other one ended the process (Node's `exit` event); `attempt` is
 * the restart number for `restart_scheduled` and `started` (absent or 0 for a first start), the
 * trial number for `circuit_half_open`.
 */
export const AgentLifecycleDataSchema = z.looseObject({
  action: z.enum(LIFECYCLE_ACTIONS),
  pid: z.number().int().min(1).optional(),
  exitCode: z.number().int().nullable().optional(),
  signal: z.string().max(64).nullable().optional(),
  attempt: z.number().int().min(0).optional(),
  delayMs: z.number().finite().min(0).optional(),
  /** With `restart_scheduled`: the agent's `max_restarts` (the "b" of "attempt a/b"). */
  maxRestarts: z.number().int().min(0).optional(),
  reason: ReasonSchema,
});

/** The supervisor's health checks, as `health_changed.check` (SPEC §12). */
export const HEALTH_CHECKS = [
  'heartbeat',
  'cpu',
  'memory',
  'memory_leak',
  'task_stale',
  'task_duration',
  'probe',
  'restarts',
  'tmux',
] as const;

const CHECK_RULE = `must be one of ${HEALTH_CHECKS.join(', ')}, or plugin:<name>`;

/** A check a supervisor plugin provides: `plugin:<name>`. */
export const PLUGIN_CHECK_PATTERN = /^plugin:[a-z][a-z0-9_-]{0,63}$/;

/** `health_changed`: one check's verdict moved from `previous` to `health`. */
export const HealthChangedDataSchema = z.looseObject({
  check: z.union(
    [
      z.enum(HEALTH_CHECKS, { error: CHECK_RULE }),
      z.string().regex(PLUGIN_CHECK_PATTERN, CHECK_RULE),
    ],
    { error: CHECK_RULE },
  ),
  health: HealthSchema,
  previous: HealthSchema,
  reason: ReasonSchema,
});

/** Severities of an `escalation` (and of alerts). */
export const SEVERITIES = ['warning', 'critical'] as const;

/** `escalation`: recovery gave up and a person is needed; `attempts` made before giving up. */
export const EscalationDataSchema = z.looseObject({
  reason: ReasonSchema,
  severity: z.enum(SEVERITIES),
  attempts: z.number().int().min(0).optional(),
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
  z.strictObject({ ...envelope, type: z.literal('log'), data: LogDataSchema }),
  z.strictObject({ ...envelope, type: z.literal('task_progress'), data: TaskProgressDataSchema }),
  z.strictObject({
    ...envelope,
    type: z.literal('agent_lifecycle'),
    data: AgentLifecycleDataSchema,
  }),
  z.strictObject({
    ...envelope,
    type: z.literal('health_changed'),
    data: HealthChangedDataSchema,
  }),
  z.strictObject({ ...envelope, type: z.literal('escalation'), data: EscalationDataSchema }),
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
/** `log` data. */
export type LogData = z.output<typeof LogDataSchema>;
/** `log` level. */
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `task_progress` data. */
export type TaskProgressData = z.output<typeof TaskProgressDataSchema>;
/** `agent_lifecycle` data. */
export type AgentLifecycleData = z.output<typeof AgentLifecycleDataSchema>;
/** `agent_lifecycle` action. */
export type LifecycleAction = (typeof LIFECYCLE_ACTIONS)[number];
/** `health_changed` data. */
export type HealthChangedData = z.output<typeof HealthChangedDataSchema>;
/** A health check's name. */
export type HealthCheckName = (typeof HEALTH_CHECKS)[number];
/** `escalation` data. */
export type EscalationData = z.output<typeof EscalationDataSchema>;
/** `escalation` (and alert) severity. */
export type Severity = (typeof SEVERITIES)[number];

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
