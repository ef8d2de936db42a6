import { z } from 'zod';
import { AgentIdSchema } from './agent.js';
import type { AgentCommand } from './command.js';
import type { Ack, StoredEvent } from './event.js';
import type { ProblemCode, ValidationIssue } from './problem.js';

const Ref = z.string().max(128).optional();

/** Client → server frames (SPEC §5). Event payloads of `publish` are validated separately. */
export const ClientFrameSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('publish'),
    ref: Ref,
    events: z.array(z.unknown()).optional(),
    event: z.unknown().optional(),
  }),
  z.strictObject({
    op: z.literal('subscribe'),
    ref: Ref,
    topics: z.array(z.string().max(300)).min(1).max(100),
    since: z.number().int().min(0).optional(),
  }),
  z.strictObject({
    op: z.literal('unsubscribe'),
    ref: Ref,
    topics: z.array(z.string().max(300)).min(1).max(100),
  }),
  z.strictObject({ op: z.literal('ping'), ref: Ref }),
  z.strictObject({ op: z.literal('heartbeat'), ref: Ref, agentId: AgentIdSchema }),
]);

export type ClientFrame = z.infer<typeof ClientFrameSchema>;
export const CLIENT_OPS = ['publish', 'subscribe', 'unsubscribe', 'ping', 'heartbeat'] as const;

/**
 * Server → client frames. `command` goes only to connections subscribed to `commands:<agentId>`
 * (or, when there are none, `commands:*`): see {@link AgentCommand}.
 */
export type ServerFrame =
  | { op: 'ack'; ref?: string; acks: Ack[] }
  | {
      op: 'error';
      ref?: string;
      code: ProblemCode;
      message: string;
      details?: ValidationIssue[];
    }
  | { op: 'event'; seq: number; event: StoredEvent }
  | { op: 'subscribed'; ref?: string; topics: string[]; head: number }
  | { op: 'unsubscribed'; ref?: string; topics: string[] }
  | { op: 'pong'; ref?: string }
  | ({ op: 'command' } & AgentCommand);

/** WebSocket close codes Warden uses besides the standard ones. */
export const CLOSE_CODES = {
  /** Frame larger than the limit (RFC 6455 "message too big"). */
  tooBig: 1009,
  /** The token expired during the connection. */
  tokenExpired: 4401,
  /** The subscriber fell too far behind (unsent buffer over the limit); resume with `since`. */
  slowConsumer: 4008,
} as const;
