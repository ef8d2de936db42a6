import type { FastifyInstance } from 'fastify';
import { problemBody } from './errors.js';
import type { HubContext } from './hub-context.js';
import { VERSION } from './version.js';

export function registerSystemRoutes(app: FastifyInstance, ctx: HubContext): void {
  app.get(
    '/healthz',
    { config: { auth: 'public' }, schema: { summary: 'Process alive', tags: ['system'] } },
    () => ({ status: 'ok', version: VERSION }),
  );

  app.get(
    '/readyz',
    {
      config: { auth: 'public' },
      schema: { summary: 'Storage (and Redis, when configured) reachable', tags: ['system'] },
    },
    async (_req, reply) => {
      try {
        await ctx.store.ping();
      } catch (err) {
        const body = problemBody('unavailable', `storage unreachable: ${(err as Error).message}`);
        return reply
          .code(503)
          .type('application/problem+json')
          .send({ ...body, checks: { storage: 'down' } });
      }
      const busProblem = ctx.bus.problem();
      if (busProblem !== undefined) {
        return reply
          .code(503)
          .type('application/problem+json')
          .send({
            ...problemBody('unavailable', busProblem),
            checks: { storage: 'ok', redis: 'down' },
          });
      }
      return {
        status: 'ready',
        checks: { storage: 'ok', ...(ctx.config.server.redis_url ? { redis: 'ok' } : {}) },
      };
    },
  );

  app.get(
    '/metrics',
    {
      config: { auth: 'read' },
      schema: { summary: 'Prometheus text format', tags: ['system'] },
    },
    async (_req, reply) => {
      const text = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(text);
    },
  );
}
