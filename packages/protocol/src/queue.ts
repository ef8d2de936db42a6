import { z } from 'zod';
import { AGENT_ID_PATTERN, AgentIdSchema } from './agent.js';
import { toPointer, type ValidationIssue } from './problem.js';

/**
 * A queue name: the agent id alphabet (SPEC §1), so it is safe in a URL path
 * (`/api/v1/queues/:queue/lease`) and in a Prometheus label without escaping surprises.
 */
export const QUEUE_NAME_PATTERN = AGENT_ID_PATTERN;

/** `queue` of the task queue API (SPEC §12 "Queue"). */
export const QueueNameSchema = z
  .string()
  .regex(QUEUE_NAME_PATTERN, 'must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$');

/**
 * Where a queued task is: `queued` (waiting for a lease), `leased` (an agent holds it until
 * `leaseExpiresAt`), `completed`, `failed` (for good: no retry asked, or attempts used up).
 */
export const TASK_STATES = ['queued', 'leased', 'completed', 'failed'] as const;
/** One of {@link TASK_STATES}. */
export const TaskStateSchema = z.enum(TASK_STATES);
/** One of {@link TASK_STATES}. */
export type TaskState = z.infer<typeof TaskStateSchema>;

/** Longest lease one request may ask for (the server's `queue.max_lease` may be lower). */
export const MAX_LEASE_MS = 7 * 86_400_000;

/** `POST /api/v1/tasks`. `payload` is any JSON; the whole body is capped at the event limit. */
export const EnqueueRequestSchema = z.strictObject({
  queue: QueueNameSchema,
  name: z.string().min(1).max(1024),
  payload: z.unknown().optional(),
  /** Higher is leased first; equal priorities go oldest first. @defaultValue 0 */
  priority: z.number().finite().min(-1e9).max(1e9).optional(),
});
/** The body of `POST /api/v1/tasks` as a client sends it. */
export type EnqueueRequest = z.input<typeof EnqueueRequestSchema>;

/**
 * `POST /api/v1/queues/:queue/lease`. `agentId` defaults to the token's own agent (required
 * for a supervisor or admin token); `leaseMs` to the server's `queue.default_lease`.
 */
export const LeaseRequestSchema = z.strictObject({
  agentId: AgentIdSchema.optional(),
  leaseMs: z.number().int().min(1).max(MAX_LEASE_MS).optional(),
});
/** The body of a lease request as a client sends it. */
export type LeaseRequest = z.input<typeof LeaseRequestSchema>;

/**
 * The reporting agent of progress/complete/fail: defaults to the token's own agent; a
 * supervisor or admin token without it reports for whoever holds the lease.
 */
const reporter = { agentId: AgentIdSchema.optional() };

/** `POST /api/v1/tasks/:id/progress` — also renews the lease by its original length. */
export const ProgressRequestSchema = z.strictObject({
  ...reporter,
  percent: z.number().finite().min(0).max(100).optional(),
  message: z.string().max(4096).optional(),
});
/** The body of a progress report as a client sends it. */
export type ProgressRequest = z.input<typeof ProgressRequestSchema>;

/** `POST /api/v1/tasks/:id/complete`. */
export const CompleteRequestSchema = z.strictObject({
  ...reporter,
  result: z.unknown().optional(),
});
/** The body of a completion as a client sends it. */
export type CompleteRequest = z.input<typeof CompleteRequestSchema>;

/**
 * `POST /api/v1/tasks/:id/fail`. With `retry: true` the task goes back to its queue until
 * the server's `queue.max_attempts` is used up; otherwise it is failed for good.
 */
export const FailRequestSchema = z.strictObject({
  ...reporter,
  error: z.string().min(1).max(16_384),
  retry: z.boolean().optional(),
});
/** The body of a failure report as a client sends it. */
export type FailRequest = z.input<typeof FailRequestSchema>;

/** A task of the queue as the API returns it. Times are epoch milliseconds. */
export interface QueueTask {
  id: string;
  queue: string;
  name: string;
  /** What the producer attached; null when it sent none. */
  payload: unknown;
  priority: number;
  state: TaskState;
  /** Leases of this task that ended without success (failed, expired, released). */
  attempts: number;
  /** Times the task was leased (the current lease included). */
  leases: number;
  createdAt: number;
  updatedAt: number;
  /** The holder while leased; the last holder once completed or failed; null while queued. */
  agentId: string | null;
  leasedAt: number | null;
  leaseMs: number | null;
  leaseExpiresAt: number | null;
  /** The latest progress report of the current (or last) lease. */
  progress: { percent: number | null; message: string | null; at: number } | null;
  result: unknown;
  /** Why the last attempt failed (kept when a retry succeeds later). */
  error: string | null;
  finishedAt: number | null;
}

/** One queue in `GET /api/v1/queues` and the dashboard. */
export interface QueueStats {
  queue: string;
  /** Tasks waiting for a lease. */
  depth: number;
  leased: number;
  completed: number;
  failed: number;
  /** Completions in the last 5 minutes, per minute. */
  ratePerMin: number;
}

/** `GET /api/v1/agents/:id/state`: the JSON an agent saved to resume from after a restart. */
export interface AgentStateRecord {
  agentId: string;
  state: unknown;
  updatedAt: number;
}

/**
 * Checks a request body (or params) against a schema and names every bad field with a JSON
 * Pointer under `prefix`, as the problems of SPEC §12 do.
 */
export function checkRequest<S extends z.ZodType>(
  schema: S,
  input: unknown,
  prefix: ReadonlyArray<string | number> = [],
): { ok: true; value: z.output<S> } | { ok: false; errors: ValidationIssue[] } {
  const parsed = schema.safeParse(input);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    errors: parsed.error.issues.slice(0, 50).map((issue) => {
      const path = toPointer([...prefix, ...(issue.path as Array<string | number>)]);
      if (issue.code === 'unrecognized_keys') {
        return {
          path,
          message: `unknown key(s): ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`,
        };
      }
      if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) {
        return { path, message: `is required (${issue.expected})` };
      }
      return { path, message: issue.message };
    }),
  };
}
