import { z } from 'zod';
import { AgentIdSchema } from './agent.js';

/** What an operator may ask of an agent through its supervisor (SPEC §9 "Control over HTTP"). */
export const AGENT_ACTIONS = ['start', 'stop', 'restart'] as const;

/** One of {@link AGENT_ACTIONS}. */
export const AgentActionSchema = z.enum(AGENT_ACTIONS);

/** `start`, `stop` or `restart`. */
export type AgentAction = z.infer<typeof AgentActionSchema>;

/**
 * A command for the supervisor that manages `agentId` (SPEC §12 "Commands"): the body of the
 * control route's 202, and the `command` frame without its `op`. Commands are not events: they
 * have no `seq`, are not stored, and reach only supervisors connected when they are sent. The
 * outcome comes back as `agent_lifecycle` and status events of the agent.
 */
export const AgentCommandSchema = z.object({
  /** Unique per command, chosen by the hub; a supervisor may use it to drop a repeat. */
  id: z.string().min(1).max(128),
  agentId: AgentIdSchema,
  action: AgentActionSchema,
});

/** See {@link AgentCommandSchema}. */
export type AgentCommand = z.infer<typeof AgentCommandSchema>;
