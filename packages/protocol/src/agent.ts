import { z } from 'zod';

/** `agentId` as SPEC §1 defines it. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

export const AgentIdSchema = z
  .string()
  .regex(AGENT_ID_PATTERN, 'must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$');

export const AGENT_STATUSES = [
  'starting',
  'running',
  'idle',
  'busy',
  'needs_input',
  'rate_limited',
  'stopping',
  'stopped',
  'failed',
  'restarting',
  'unresponsive',
] as const;

export const AgentStatusSchema = z.enum(AGENT_STATUSES);
export type AgentStatus = z.infer<typeof AgentStatusSchema>;

export const HEALTHS = ['healthy', 'warning', 'critical', 'unknown'] as const;
export const HealthSchema = z.enum(HEALTHS);
export type Health = z.infer<typeof HealthSchema>;

const STATUS_HEALTH: Record<AgentStatus, Health> = {
  starting: 'healthy',
  running: 'healthy',
  idle: 'healthy',
  busy: 'healthy',
  stopping: 'healthy',
  needs_input: 'warning',
  rate_limited: 'warning',
  unresponsive: 'warning',
  restarting: 'warning',
  failed: 'critical',
  stopped: 'unknown',
};

/** Health implied by a status alone (SPEC §12 "Status → health"); checks may raise it. */
export function statusHealth(status: AgentStatus): Health {
  return STATUS_HEALTH[status];
}

const HEALTH_RANK: Record<Health, number> = { unknown: 0, healthy: 1, warning: 2, critical: 3 };

/** The worse of two verdicts. `unknown` (stopped on purpose) never outranks a real verdict. */
export function worstHealth(a: Health, b: Health): Health {
  return HEALTH_RANK[a] >= HEALTH_RANK[b] ? a : b;
}

/**
 * An agent's health (SPEC §12 "Status → health"): what its status implies (`unknown` before
 * any status), raised by any check that is failing. An agent stopped on purpose is `unknown`
 * whatever its checks said last: they do not run while it is stopped.
 */
export function agentHealth(status: AgentStatus | null, checks: Iterable<Health>): Health {
  if (status === 'stopped') return 'unknown';
  let h: Health = status === null ? 'unknown' : STATUS_HEALTH[status];
  for (const c of checks) h = worstHealth(h, c);
  return h;
}

/** Fleet health is the worst agent's; agents stopped on purpose (unknown) are ignored. */
export function fleetHealth(healths: Iterable<Health>): Health {
  let worst: Health = 'unknown';
  for (const h of healths) worst = worstHealth(worst, h);
  return worst === 'unknown' ? 'healthy' : worst;
}
