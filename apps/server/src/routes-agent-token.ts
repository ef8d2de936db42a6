import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentIdSchema, DurationSchema } from '@warden/protocol';
import { WardenError } from './errors.js';
import type { HubContext } from './hub-context.js';
import { isSupervisor } from './roles.js';

/** Tokens for supervised agents live 30 days, so a long training job is not cut off (SPEC §12). */
export const AGENT_TOKEN_TTL_MS = 30 * 86_400_000;

/**
 * `POST /api/v1/agents/:id/token` — an agent-role token for one agent, for a supervisor to hand
 * to the process it starts (a supervisor on another machine has no secret to mint with). Only a
 * supervisor (`agent_id: "*"`) or an admin may ask.
 */
export function registerAgentTokenRoutes(app: FastifyInstance, ctx: HubContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/api/v1/agents/:id/token',
    {
      config: { auth: 'publish' },
      schema: {
        summary: 'Mint a token for a supervised agent (supervisor or admin)',
        tags: ['agents'],
        params: z.object({ id: AgentIdSchema }),
        body: z
          .strictObject({
            /** Lifetime; at most 30 days. @defaultValue 30d */
            ttl: DurationSchema.refine(
              (ms) => ms > 0 && ms <= AGENT_TOKEN_TTL_MS,
              'must be more than 0 and at most 30d',
            ).optional(),
          })
          .optional(),
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      if (p.role !== 'admin' && !isSupervisor(p))
        throw new WardenError(
          'forbidden',
          'only a supervisor (agent *) or an admin mints agent tokens',
        );
      const ttlMs = req.body?.ttl ?? AGENT_TOKEN_TTL_MS;
      const token = await ctx.tokens.mint({ role: 'agent', agentId: req.params.id, ttlMs });
      reply.code(201);
      return { agentId: req.params.id, token, expiresAt: ctx.clock.now() + ttlMs };
    },
  );
}
