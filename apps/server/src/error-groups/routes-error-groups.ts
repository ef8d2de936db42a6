import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentIdSchema, RetryRuleSchema } from '@warden/protocol';
import type { WardenApp } from '../app.js';
import { WardenError } from '../errors.js';
import type { HubContext } from '../hub-context.js';
import { ERROR_GROUP_STATES, type ErrorGroupState } from './error-group-store.js';
import type { ErrorGroups } from './error-groups.js';

const StateList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()))
  .pipe(z.array(z.enum([...ERROR_GROUP_STATES, 'all'])));

const Id = z.strictObject({ id: z.string().min(1).max(300) });

/**
 * Error groups (SPEC §10) and retry policies (issue 5 point 4).
 *
 * - `GET /api/v1/error-groups?state=&agentId=&q=&sort=&limit=&offset=` → `{ groups, next }`
 * - `GET /api/v1/error-groups/:id` → one group with `hourly` and `recent`
 * - `PATCH /api/v1/error-groups/:id` `{ state: resolved|ignored|unresolved }` (operator+)
 * - `GET /api/v1/retry-policies` (any token: agents match locally) → `{ policies, default }`
 * - `POST /api/v1/retry-policies`, `PUT|DELETE /api/v1/retry-policies/:id` (operator+; config
 *   policies are read-only: 409)
 */
export function registerErrorGroupRoutes(app: WardenApp, ctx: HubContext, f: ErrorGroups): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/api/v1/error-groups',
    {
      schema: {
        summary: 'Error groups (one per fingerprint), most recently seen first',
        tags: ['errors'],
        querystring: z.strictObject({
          state: StateList.optional(),
          agentId: AgentIdSchema.optional(),
          q: z.string().max(256).optional(),
          sort: z.enum(['lastSeen', 'count', 'firstSeen']).default('lastSeen'),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const states =
        q.state && !q.state.includes('all') ? (q.state as ErrorGroupState[]) : undefined;
      return f.store.list(
        {
          sort: q.sort,
          limit: q.limit,
          offset: q.offset,
          ...(states ? { state: states } : {}),
          ...(q.agentId !== undefined ? { agentId: q.agentId } : {}),
          ...(q.q !== undefined ? { q: q.q } : {}),
        },
        ctx.clock.now(),
      );
    },
  );

  r.get(
    '/api/v1/error-groups/:id',
    {
      schema: {
        summary: 'One error group: counts, agents, the last 24 hours by hour, recent occurrences',
        tags: ['errors'],
        params: Id,
      },
    },
    async (req) => {
      const g = await f.store.get(req.params.id, ctx.clock.now());
      if (!g) throw new WardenError('not_found', `no error group ${req.params.id}`);
      return g;
    },
  );

  r.patch(
    '/api/v1/error-groups/:id',
    {
      config: { auth: 'act' },
      schema: {
        summary: 'Resolve, ignore or reopen an error group',
        tags: ['errors'],
        params: Id,
        body: z.strictObject({ state: z.enum(['resolved', 'ignored', 'unresolved']) }),
      },
    },
    async (req) => {
      const g = await f.store.setState(req.params.id, req.body.state, ctx.clock.now());
      if (!g) throw new WardenError('not_found', `no error group ${req.params.id}`);
      return g;
    },
  );

  r.get(
    '/api/v1/retry-policies',
    {
      // Agents and supervisors read the list to match their errors locally (SDK retryPolicyFor).
      config: { auth: 'any' },
      schema: {
        summary: 'Retry policies in the order they are tried (API, then config), and the default',
        tags: ['errors'],
      },
    },
    async () => f.policyList(),
  );

  r.get(
    '/api/v1/retry-policies/:id',
    {
      config: { auth: 'any' },
      schema: { summary: 'One retry policy', tags: ['errors'], params: Id },
    },
    async (req) => {
      const list = await f.policyList();
      const p = list.policies.find((x) => x.id === req.params.id);
      if (!p) throw new WardenError('not_found', `no retry policy ${req.params.id}`);
      return p;
    },
  );

  r.post(
    '/api/v1/retry-policies',
    {
      config: { auth: 'act' },
      schema: {
        summary: 'Add a retry policy (tried before the config ones)',
        tags: ['errors'],
        body: RetryRuleSchema,
      },
    },
    async (req, reply) => {
      const p = await f.createPolicy(req.body);
      return reply.code(201).send(p);
    },
  );

  r.put(
    '/api/v1/retry-policies/:id',
    {
      config: { auth: 'act' },
      schema: {
        summary: 'Replace a retry policy',
        tags: ['errors'],
        params: Id,
        body: RetryRuleSchema,
      },
    },
    async (req) => {
      f.refuseConfig(req.params.id);
      const p = await f.updatePolicy(req.params.id, req.body);
      if (!p) throw new WardenError('not_found', `no retry policy ${req.params.id}`);
      return p;
    },
  );

  r.delete(
    '/api/v1/retry-policies/:id',
    {
      config: { auth: 'act' },
      schema: { summary: 'Delete a retry policy', tags: ['errors'], params: Id },
    },
    async (req, reply) => {
      f.refuseConfig(req.params.id);
      if (!(await f.store.deleteRule(req.params.id))) {
        throw new WardenError('not_found', `no retry policy ${req.params.id}`);
      }
      return reply.code(204).send();
    },
  );
}
