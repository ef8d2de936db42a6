import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentIdSchema, exceedsDepth, utf8Length } from '@warden/protocol';
import { WardenError } from './errors.js';
import type { HubContext } from './hub-context.js';
import { mayPublishFor, type Principal } from './roles.js';
import { parseRequest } from './routes-queue.js';

const Params = z.strictObject({ id: AgentIdSchema });

/** An agent token reaches only its own agent's state (a supervisor token, `*`, any agent's). */
function checkAgent(p: Principal, agentId: string): void {
  if (p.role === 'agent' && !mayPublishFor(p, agentId)) {
    throw new WardenError(
      'forbidden_agent',
      `this token is for agent ${p.agentId ?? '(none)'} only, not ${agentId}`,
      { errors: [{ path: '/params/id', message: "not this token's agent" }] },
    );
  }
}

/** Writing: the agent itself (or its supervisor), operators and admins; viewers 403. */
function checkWriter(p: Principal, agentId: string): void {
  if (p.role === 'viewer') {
    throw new WardenError('forbidden', "role viewer may not change an agent's state");
  }
  checkAgent(p, agentId);
}

/**
 * Agent state (issue 4 "Recovery"): the small JSON an agent saves with the SDK's
 * `saveState(obj)` and reads back with `loadState()` after a restart.
 *
 * - `GET /api/v1/agents/:id/state` → `{ agentId, state, updatedAt }`, 404 when none saved.
 * - `PUT` with the state as the JSON body (any JSON value, at most the event limit, 64 KiB:
 *   413 over it) → the stored record. `DELETE` → 204, 404 when none saved.
 */
export function registerAgentStateRoutes(app: FastifyInstance, ctx: HubContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { maxEventBytes, maxDepth } = ctx.limits;
  const own = { validatorCompiler: () => (value: unknown) => ({ value }) };

  r.get(
    '/api/v1/agents/:id/state',
    {
      config: { auth: 'any' },
      ...own,
      schema: {
        summary: "An agent's saved state; 404 when it saved none",
        tags: ['agents'],
        params: Params,
      },
    },
    async (req) => {
      const { id } = parseRequest(Params, req.params, ['params']);
      checkAgent(req.principal!, id);
      const rec = await ctx.agentStates.get(id);
      if (!rec) throw new WardenError('not_found', `agent ${id} has saved no state`);
      return rec;
    },
  );

  r.put(
    '/api/v1/agents/:id/state',
    {
      config: { auth: 'any' },
      bodyLimit: maxEventBytes,
      ...own,
      schema: {
        summary: "Replace an agent's saved state with the JSON body",
        description: `Any JSON value, at most ${maxEventBytes} bytes (413 over it) and ${maxDepth} levels deep.`,
        tags: ['agents'],
        params: Params,
        body: z.unknown(),
      },
    },
    async (req) => {
      const { id } = parseRequest(Params, req.params, ['params']);
      checkWriter(req.principal!, id);
      const state: unknown = req.body;
      // Without a body Fastify hands over null; a JSON `null` body comes with its type.
      if (state === undefined || (state === null && req.headers['content-type'] === undefined)) {
        throw new WardenError('invalid_request', 'send the state as a JSON body', {
          errors: [{ path: '', message: 'is required (a JSON body)' }],
        });
      }
      if (exceedsDepth(state, maxDepth)) {
        throw new WardenError('invalid_request', `state nests deeper than ${maxDepth} levels`, {
          errors: [{ path: '', message: `nests deeper than ${maxDepth} levels` }],
        });
      }
      const json = JSON.stringify(state);
      const bytes = utf8Length(json);
      if (bytes > maxEventBytes) {
        throw new WardenError(
          'payload_too_large',
          `state is ${bytes} bytes, over the limit of ${maxEventBytes}`,
        );
      }
      return ctx.agentStates.put(id, json, ctx.clock.now());
    },
  );

  r.delete(
    '/api/v1/agents/:id/state',
    {
      config: { auth: 'any' },
      ...own,
      schema: {
        summary: "Forget an agent's saved state; 404 when it saved none",
        tags: ['agents'],
        params: Params,
      },
    },
    async (req, reply) => {
      const { id } = parseRequest(Params, req.params, ['params']);
      checkWriter(req.principal!, id);
      if (!(await ctx.agentStates.delete(id))) {
        throw new WardenError('not_found', `agent ${id} has saved no state`);
      }
      return reply.code(204).send();
    },
  );
}
