import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AGENT_ACTIONS, AgentCommandSchema, AgentIdSchema } from '@warden/protocol';
import { WardenError } from './errors.js';
import type { HubContext } from './hub-context.js';

const VERB = { start: 'Start', stop: 'Stop', restart: 'Restart' } as const;

/**
 * `POST /api/v1/agents/:id/start|stop|restart` (SPEC §9 "Control over HTTP", §12 "Commands"):
 * operator or admin. The command goes as a `command` frame to the supervisor connections of
 * this replica that manage the agent (`commands:<id>`, else `commands:*`) and the route
 * answers 202 with the command; the outcome arrives later as the agent's `agent_lifecycle`
 * and status events. Commands are not stored or queued: with no supervisor connected to take
 * it the route answers 409 `conflict` and nothing happens.
 */
export function registerAgentControlRoutes(app: FastifyInstance, ctx: HubContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  for (const action of AGENT_ACTIONS) {
    r.post(
      `/api/v1/agents/:id/${action}`,
      {
        config: { auth: 'act' },
        schema: {
          summary: `${VERB[action]} an agent through its supervisor`,
          description:
            `Sends \`{ "op": "command", "id", "agentId", "action": "${action}" }\` to the supervisor connected to this server that subscribed to \`commands:<id>\` (or, when none did, to every \`commands:*\` one) and answers 202 with the command. ` +
            'The result arrives as `agent_lifecycle` and `agent_status_update` events of the agent. ' +
            'Commands are not stored: with no supervisor connected the answer is 409 `conflict`. Operator or admin; others get 403 `forbidden`. Send no body (or `{}`).',
          tags: ['agents'],
          params: z.object({ id: AgentIdSchema }),
          response: { 202: AgentCommandSchema },
        },
      },
      async (req, reply) => {
        const agentId = req.params.id;
        const delivery = ctx.hub.commands.send(agentId, action);
        if (!delivery) {
          throw new WardenError(
            'conflict',
            `no supervisor connected manages agent ${agentId}: nothing was sent (a supervisor takes commands by subscribing to commands:${agentId} or commands:*)`,
          );
        }
        req.log.info(
          {
            command: delivery.command.id,
            agent: agentId,
            action,
            by: req.principal?.sub,
            peers: delivery.peers,
            wildcard: delivery.wildcard,
          },
          'command sent to supervisor',
        );
        return reply.code(202).send(delivery.command);
      },
    );
  }
}
