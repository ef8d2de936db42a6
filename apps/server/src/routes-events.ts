import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AgentIdSchema,
  EventInputSchema,
  EventTypeSchema,
  validateEventBody,
} from '@warden/protocol';
import { WardenError } from './errors.js';
import { eventLogFields } from './logs/request-id.js';
import type { HubContext } from './hub-context.js';
import { mayPublishFor } from './roles.js';

const PublishBodyDoc = z.union([
  EventInputSchema,
  z.object({ events: z.array(EventInputSchema).min(1).max(1000) }),
]);

export const EventsQuerySchema = z.strictObject({
  agentId: AgentIdSchema.optional(),
  type: EventTypeSchema.optional(),
  since: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export function registerEventRoutes(app: FastifyInstance, ctx: HubContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    '/api/v1/events',
    {
      config: { auth: 'publish' },
      schema: {
        summary: 'Publish one event or a batch; acked after durable commit',
        description:
          'A batch is validated whole: one bad event rejects it with 400 naming `/events/<i>/<field>`, and nothing is stored. Repeated ids ack as `duplicate: true` with the original seq.',
        tags: ['events'],
        body: PublishBodyDoc,
      },
      // The body is checked by the protocol package, which names every bad field.
      validatorCompiler: () => (value) => ({ value }),
    },
    async (req) => {
      const principal = req.principal!;
      const result = validateEventBody(req.body, {
        limits: ctx.limits,
        now: ctx.clock.now(),
      });
      if (!result.ok) {
        throw new WardenError(result.code, result.message, { errors: result.errors });
      }
      result.events.forEach((ev, i) => {
        if (!mayPublishFor(principal, ev.agentId)) {
          throw new WardenError(
            'forbidden_agent',
            `this token publishes for agent ${principal.agentId ?? '(none)'} only, not ${ev.agentId}; nothing was stored`,
            {
              errors: [
                {
                  path: result.batch ? `/events/${i}/agentId` : '/agentId',
                  message: "not this token's agent",
                },
              ],
            },
          );
        }
      });
      let acks;
      try {
        acks = await ctx.ingestor.submit(result.events);
      } catch (err) {
        req.log.warn({ err, ...eventLogFields(result.events, true) }, 'publish failed');
        throw err;
      }
      if (req.log.level === 'debug' || req.log.level === 'trace') {
        req.log.debug(
          { events: acks.length, ...eventLogFields(result.events, true) },
          'events committed',
        );
      }
      return { acks };
    },
  );

  r.get(
    '/api/v1/events',
    {
      schema: {
        summary: 'Stored events with seq > since, ascending',
        tags: ['events'],
        querystring: EventsQuerySchema,
      },
    },
    async (req) => {
      const q = req.query;
      const rows = await ctx.store.readEvents({
        since: q.since,
        limit: q.limit + 1,
        ...(q.agentId !== undefined ? { agentId: q.agentId } : {}),
        ...(q.type !== undefined ? { type: q.type } : {}),
      });
      const more = rows.length > q.limit;
      const events = more ? rows.slice(0, q.limit) : rows;
      return { events, next: more ? events[events.length - 1]!.seq : null };
    },
  );
}
