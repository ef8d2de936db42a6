import { z } from 'zod';

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
  return GRANTS[principal.role].has(permission);
}

/** Whether this principal may publish an event for `agentId`. */
export function mayPublishFor(principal: Principal, agentId: string): boolean {
  if (principal.role === 'admin') return true;
  if (principal.role !== 'agent') return false;
  return principal.agentId === '*' || principal.agentId === agentId;
}
