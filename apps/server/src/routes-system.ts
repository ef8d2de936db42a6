import type { FastifyInstance } from 'fastify';
import { problemBody } from './errors.js';
import type { HubContext } from './hub-context.js';
import { VERSION } from './version.js';

const INDEX_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Warden</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2328}
code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Warden ${VERSION}</h1>
<p>Control center for fleets of AI agents and long-running ML workers.</p>
<ul><li><a href="/docs">API reference</a> (<a href="/docs/json">OpenAPI JSON</a>)</li>
<li><a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a></li>
<li>WebSocket: <code>/ws</code> · Metrics: <code>/metrics</code></li></ul>
<p>Mint a token with <code>npx warden token --role viewer</code>.</p></body></html>`;

export function registerSystemRoutes(app: FastifyInstance, ctx: HubContext): void {
  app.get('/', { config: { auth: 'public' }, schema: { hide: true } }, (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(INDEX_HTML),
  );

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
