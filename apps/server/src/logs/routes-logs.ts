import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { LogCenter } from './log-center.js';
import { logsQuerySchema } from './logs-query.js';

/** `GET /api/v1/logs` (viewer and up). */
export function registerLogRoutes(app: FastifyInstance, logs: LogCenter): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/api/v1/logs',
    {
      schema: {
        summary: 'Search the central logs: agents’ output and SDK log events',
        description:
          'Newest first unless `order=asc`. `level` is that level and above; `q` a case-insensitive substring; `since` (inclusive) and `until` (exclusive) take epoch ms, ISO-8601 or a duration back from now (`10m`). Page with `cursor=<next>`. `head`: every `log` event up to this seq was searched, so a WebSocket `subscribe` to `logs:<agentId>` (or `type:log`) with `since: head` continues with no gap and no duplicate.',
        tags: ['logs'],
        querystring: logsQuerySchema(() => logs.ctx.clock.now()),
      },
    },
    async (req) => logs.search(req.query),
  );
}
