import { z } from 'zod';
import { ANY_AGENT, topicName, type Topic } from '@warden/protocol';

export const ROLES = ['admin', 'operator', 'viewer', 'agent'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

/** Who a verified token speaks for. */
export interface Principal {
  sub: string;
  role: Role;
  /** For the agent role: the agent it may publish for, or `*` for a supervisor. */
  agentId?: string;
  /** Expiry, epoch milliseconds. */
  expiresAt: number;
  /** The dashboard session the token belongs to (claim `sid`), when it is a sign-in. */
  sessionId?: string;
}

/** What a route or op needs (SPEC §6, §12 "Roles"). */
export type Permission = 'read' | 'publish' | 'act' | 'admin';

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set<Permission>(['read', 'publish', 'act', 'admin']),
  operator: new Set<Permission>(['read', 'act']),
  viewer: new Set<Permission>(['read']),
  // Agents publish; their reads are limited to their own topics (checked per topic).
  agent: new Set<Permission>(['publish']),
};

export function can(principal: Principal, permission: Permission): boolean {
  // A supervisor (agent `*`) manages a fleet: it reads the fleet's state too.
  if (permission === 'read' && isSupervisor(principal)) return true;
  return GRANTS[principal.role].has(permission);
}

/** A supervisor's token: role agent, `agent_id: "*"` (SPEC §6). */
export function isSupervisor(principal: Principal): boolean {
  return principal.role === 'agent' && principal.agentId === '*';
}

/** Whether this principal may publish an event for `agentId`. */
export function mayPublishFor(principal: Principal, agentId: string): boolean {
  if (principal.role === 'admin') return true;
  if (principal.role !== 'agent') return false;
  return principal.agentId === '*' || principal.agentId === agentId;
}

/**
 * Why this principal may not subscribe to `topic`, or undefined when it may (SPEC §12 "Roles").
 * Viewer and up read every event topic. `commands:` topics are for supervisors: an agent token
 * takes `commands:<own id>`, a supervisor token (`agent_id: "*"`) any `commands:<id>` and
 * `commands:*`, and admin may do everything (a supervisor may run on an admin token); viewers
 * and operators never, as a command frame sent to them would count as delivered. An agent
 * token reads only its own `agent:` and `logs:` topics; a supervisor token reads the fleet
 * (see {@link can}).
 */
export function maySubscribe(principal: Principal, topic: Topic): string | undefined {
  const name = topicName(topic);
  if (principal.role === 'admin') return undefined;
  const own = principal.agentId;
  if (topic.kind === 'commands') {
    if (principal.role !== 'agent') {
      return `${name} is for supervisors: role ${principal.role} may not take commands`;
    }
    if (own === ANY_AGENT || (topic.agentId !== ANY_AGENT && topic.agentId === own)) {
      return undefined;
    }
    return `an agent token takes commands for its own agent only (commands:${own ?? ''}), not ${name}`;
  }
  if (can(principal, 'read')) return undefined;
  if (principal.role === 'agent') {
    if ((topic.kind === 'agent' || topic.kind === 'logs') && topic.agentId === own) {
      return undefined;
    }
    return `an agent token may subscribe only to agent:${own ?? ''}, logs:${own ?? ''} and commands:${own ?? ''}, not ${name}`;
  }
  return `role ${principal.role} may not subscribe`;
}
