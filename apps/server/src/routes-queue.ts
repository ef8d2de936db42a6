import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AgentIdSchema,
  CompleteRequestSchema,
  EnqueueRequestSchema,
  FailRequestSchema,
  LeaseRequestSchema,
  ProgressRequestSchema,
  QueueNameSchema,
  TaskStateSchema,
  checkRequest,
} from '@warden/protocol';
import { WardenError } from './errors.js';
import type { HubContext } from './hub-context.js';
import { mayPublishFor, type Principal, type Role } from './roles.js';

const TaskIdParams = z.strictObject({ id: z.string().min(1).max(256) });
const QueueParams = z.strictObject({ queue: QueueNameSchema });
const ListQuery = z.strictObject({
  state: TaskStateSchema.optional(),
  agentId: AgentIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** Bodies and params are checked here, naming each bad field (the docs keep the schemas). */
const ownValidation = { validatorCompiler: () => (value: unknown) => ({ value }) };

/** Parses `value` with `schema` or throws `invalid_request` naming every bad field. */
export function parseRequest<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: ReadonlyArray<string> = [],
): z.output<S> {
  // No body at all is an empty one (`POST …/lease` with an agent token needs none).
  const r = checkRequest(schema, value === undefined ? {} : value, prefix);
  if (r.ok) return r.value;
  throw new WardenError(
    'invalid_request',
    r.errors.map((e) => `${e.path || '/'}: ${e.message}`).join('; '),
    { errors: r.errors },
  );
}

/** Refuses a role that may not do `what` with 403 `forbidden`. */
function requireRole(p: Principal, roles: readonly Role[], what: string): void {
  if (!roles.includes(p.role)) {
    throw new WardenError('forbidden', `role ${p.role} may not ${what}`);
  }
}

/**
 * The agent a lease or report is for: the body's `agentId`, else the token's own agent. An
 * agent token may only speak for itself (a supervisor token, `*`, for any agent).
 */
function actingAgent(p: Principal, bodyAgentId: string | undefined): string | undefined {
  const agentId =
    bodyAgentId ?? (p.agentId !== undefined && p.agentId !== '*' ? p.agentId : undefined);
  if (agentId !== undefined && !mayPublishFor(p, agentId)) {
    throw new WardenError(
      'forbidden_agent',
      `this token acts for agent ${p.agentId ?? '(none)'} only, not ${agentId}`,
      { errors: [{ path: '/agentId', message: "not this token's agent" }] },
    );
  }
  return agentId;
}

/**
 * The task queue of SPEC §12 "Queue".
 *
 * - Enqueue: admin, operator and agent tokens (agents hand work to each other); viewers 403.
 * - Lease and reports (progress, complete, fail): agent tokens for their own agent, supervisor
 *   tokens (`agent_id: "*"`) and admin for any agent; others 403. A report by an agent that
 *   does not hold the lease is 409 `conflict` naming the holder.
 * - Reading queues and tasks: viewer and up.
 */
export function registerQueueRoutes(app: FastifyInstance, ctx: HubContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const bodyLimit = ctx.limits.maxEventBytes;

  r.post(
    '/api/v1/tasks',
    {
      config: { auth: 'any' },
      bodyLimit,
      ...ownValidation,
      schema: {
        summary: 'Add a task to a queue',
        description:
          '201 with the task (`state: "queued"`). Higher `priority` is leased first, equal ones oldest first. The body is capped at the event limit (64 KiB): 413 over it.',
        tags: ['queue'],
        body: EnqueueRequestSchema,
      },
    },
    async (req, reply) => {
      requireRole(req.principal!, ['admin', 'operator', 'agent'], 'enqueue tasks');
      const body = parseRequest(EnqueueRequestSchema, req.body);
      const task = await ctx.queue.enqueue(body);
      return reply.code(201).send(task);
    },
  );

  r.get(
    '/api/v1/tasks/:id',
    {
      ...ownValidation,
      schema: {
        summary: 'One task of the queue; 404 for an unknown id',
        tags: ['queue'],
        params: TaskIdParams,
      },
    },
    async (req) => {
      const { id } = parseRequest(TaskIdParams, req.params, ['params']);
      const task = await ctx.queue.get(id);
      if (!task) throw new WardenError('not_found', `no task ${id}`);
      return task;
    },
  );

  r.get(
    '/api/v1/queues',
    {
      // Agents read it too: a producer paces itself by the depth of the queue it feeds.
      config: { auth: 'any' },
      schema: {
        summary: 'Every queue: depth (queued), leased, completed, failed, ratePerMin',
        description: '`ratePerMin` is the completions of the last 5 minutes divided by 5.',
        tags: ['queue'],
      },
    },
    async () => ({ queues: await ctx.queue.stats() }),
  );

  r.get(
    '/api/v1/queues/:queue/tasks',
    {
      ...ownValidation,
      schema: {
        summary: "A queue's tasks, most recently changed first",
        tags: ['queue'],
        params: QueueParams,
        querystring: ListQuery,
      },
    },
    async (req) => {
      const { queue } = parseRequest(QueueParams, req.params, ['params']);
      const q = parseRequest(ListQuery, req.query, ['query']);
      return {
        tasks: await ctx.queue.list({
          queue,
          limit: q.limit,
          ...(q.state !== undefined ? { state: q.state } : {}),
          ...(q.agentId !== undefined ? { agentId: q.agentId } : {}),
        }),
      };
    },
  );

  r.post(
    '/api/v1/queues/:queue/lease',
    {
      config: { auth: 'any' },
      bodyLimit,
      ...ownValidation,
      schema: {
        summary: "Lease the queue's next task to an agent; 204 when the queue is empty",
        description:
          'Highest priority first, then oldest. The task is the agent’s until `leaseExpiresAt`; every progress report renews the lease by `leaseMs`. Two leases never get the same task.',
        tags: ['queue'],
        params: QueueParams,
        body: LeaseRequestSchema,
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      requireRole(p, ['admin', 'agent'], 'lease tasks');
      const { queue } = parseRequest(QueueParams, req.params, ['params']);
      const body = parseRequest(LeaseRequestSchema, req.body);
      const agentId = actingAgent(p, body.agentId);
      if (agentId === undefined) {
        throw new WardenError('invalid_request', '/agentId: is required for this token', {
          errors: [{ path: '/agentId', message: 'is required for a supervisor or admin token' }],
        });
      }
      const task = await ctx.queue.lease(queue, agentId, body.leaseMs);
      if (!task) return reply.code(204).send();
      return task;
    },
  );

  /** A report on a task: checks the role, params and body, and who reports. */
  const report = <S extends z.ZodType<{ agentId?: string | undefined }>>(
    req: FastifyRequest,
    schema: S,
  ): { id: string; agentId: string | undefined; body: z.output<S> } => {
    const p = req.principal!;
    requireRole(p, ['admin', 'agent'], 'report on tasks');
    const { id } = parseRequest(TaskIdParams, req.params, ['params']);
    const body = parseRequest(schema, req.body);
    return { id, agentId: actingAgent(p, body.agentId), body };
  };

  r.post(
    '/api/v1/tasks/:id/progress',
    {
      config: { auth: 'any' },
      bodyLimit,
      ...ownValidation,
      schema: {
        summary: 'Report progress; renews the lease by its original length',
        tags: ['queue'],
        params: TaskIdParams,
        body: ProgressRequestSchema,
      },
    },
    async (req) => {
      const { id, agentId, body } = report(req, ProgressRequestSchema);
      return ctx.queue.progress(id, agentId, {
        ...(body.percent !== undefined ? { percent: body.percent } : {}),
        ...(body.message !== undefined ? { message: body.message } : {}),
      });
    },
  );

  r.post(
    '/api/v1/tasks/:id/complete',
    {
      config: { auth: 'any' },
      bodyLimit,
      ...ownValidation,
      schema: {
        summary: 'Complete a leased task (a repeat by the same agent answers the same)',
        tags: ['queue'],
        params: TaskIdParams,
        body: CompleteRequestSchema,
      },
    },
    async (req) => {
      const { id, agentId, body } = report(req, CompleteRequestSchema);
      return ctx.queue.complete(id, agentId, body.result);
    },
  );

  r.post(
    '/api/v1/tasks/:id/fail',
    {
      config: { auth: 'any' },
      bodyLimit,
      ...ownValidation,
      schema: {
        summary: 'Fail the current attempt; with retry, back to the queue while attempts remain',
        tags: ['queue'],
        params: TaskIdParams,
        body: FailRequestSchema,
      },
    },
    async (req) => {
      const { id, agentId, body } = report(req, FailRequestSchema);
      return ctx.queue.fail(id, agentId, body.error, body.retry ?? false);
    },
  );
}
