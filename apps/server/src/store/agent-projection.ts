import { statusHealth, type WardenEvent } from '@warden/protocol';
import type { CheckVerdict } from './event-store.js';

/** One agents row as a commit leaves it, merged in memory from the commit's events. */
export interface AgentDelta {
  agentId: string;
  status: string | null;
  message: string | null;
  statusAt: number | null;
  health: string;
  firstSeen: number;
  seen: number;
  seq: number;
  metrics: Record<string, number> | null;
  metricsAt: number | null;
  /** Check verdicts from this commit's `health_changed` events; null when it had none. */
  checks: Record<string, CheckVerdict> | null;
}

export function newDelta(agentId: string, seq: number, seen: number): AgentDelta {
  return {
    agentId,
    status: null,
    message: null,
    statusAt: null,
    health: 'unknown',
    firstSeen: seen,
    seen,
    seq,
    metrics: null,
    metricsAt: null,
    checks: null,
  };
}

/**
 * Folds one event into the per-agent delta, the same for every store: status, latest metrics,
 * check verdicts, last seen. Every event, of whatever type, makes its agent known and seen.
 * `health` here is what the status implies; the read side raises it by the failing checks.
 */
export function projectAgent(
  ev: WardenEvent,
  seq: number,
  receivedAt: number,
  agents: Map<string, AgentDelta>,
): void {
  let a = agents.get(ev.agentId);
  if (!a) {
    a = newDelta(ev.agentId, seq, receivedAt);
    agents.set(ev.agentId, a);
  }
  a.seq = seq;
  if (receivedAt > a.seen) a.seen = receivedAt;
  if (ev.type === 'agent_status_update') {
    a.status = ev.data.status;
    a.message = ev.data.message ?? null;
    a.statusAt = ev.ts;
    a.health = statusHealth(ev.data.status);
  } else if (ev.type === 'metric_update') {
    a.metrics = { ...(a.metrics ?? {}), ...ev.data.metrics };
    a.metricsAt = ev.ts;
  } else if (ev.type === 'health_changed') {
    // Every verdict has all three keys, so a shallow merge (PostgreSQL `||`) and a deep one
    // (SQLite json_patch) agree.
    a.checks ??= {};
    a.checks[ev.data.check] = { health: ev.data.health, reason: ev.data.reason, at: ev.ts };
  }
}

/** Folds a later delta into an earlier one for the same agent. */
export function mergeDelta(into: Map<string, AgentDelta>, later: AgentDelta): void {
  const a = into.get(later.agentId);
  if (!a) {
    into.set(later.agentId, { ...later });
    return;
  }
  a.seq = later.seq;
  if (later.seen > a.seen) a.seen = later.seen;
  if (later.firstSeen < a.firstSeen) a.firstSeen = later.firstSeen;
  if (later.status !== null) {
    a.status = later.status;
    a.message = later.message;
    a.statusAt = later.statusAt;
    a.health = later.health;
  }
  if (later.metrics !== null) {
    a.metrics = { ...(a.metrics ?? {}), ...later.metrics };
    a.metricsAt = later.metricsAt;
  }
  if (later.checks !== null) a.checks = { ...(a.checks ?? {}), ...later.checks };
}
