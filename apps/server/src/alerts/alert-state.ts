import type { Severity } from './alert-rule.js';

export type AlertState = 'pending' | 'firing' | 'resolved';

/**
 * One alert: one episode of one (rule, agent) pair, from the moment its condition held until it
 * resolved. `fingerprint` (of `labels`) is the identity Alertmanager would give it; `id` tells
 * this episode from earlier ones of the same fingerprint.
 */
export interface AlertRecord {
  id: string;
  fingerprint: string;
  rule: string;
  agentId: string;
  severity: Severity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: AlertState;
  value: number | null;
  /** When the condition started to hold (`startsAt`; kept across restarts). */
  activeAt: number;
  firedAt: number | null;
  endsAt: number | null;
  /** When the condition stopped holding while firing; `keep_firing_for` runs from here. */
  falseSince: number | null;
  acknowledged: boolean;
  ackedBy: string | null;
  ackedAt: number | null;
  /** The acknowledger's comment, when one was given. */
  ackComment: string | null;
  /** Escalation tiers already notified (tier k is due when `escalated === k`). */
  escalated: number;
  updatedAt: number;
}

/** What a step did to an alert. `inactive`: a pending alert whose condition stopped (dropped). */
export type Transition = 'firing' | 'resolved' | 'inactive' | undefined;

export interface Timing {
  forMs: number;
  keepFiringForMs: number;
}

/**
 * The state machine `inactive → pending → firing → resolved` (Prometheus' rules with
 * `keep_firing_for`). The evaluator calls `observe` when it learns the condition's truth at
 * `at` and `advance` on every cycle for the alerts whose timers run; both return what changed.
 */
export function observe(
  a: AlertRecord,
  holds: boolean,
  value: number | null,
  at: number,
  t: Timing,
  now: number,
): Transition {
  if (holds) {
    if (value !== null) a.value = value;
    a.falseSince = null;
    return advance(a, now, t);
  }
  if (a.state === 'pending') return 'inactive';
  if (a.state === 'firing' && a.falseSince === null) a.falseSince = at;
  return advance(a, now, t);
}

/** Moves an alert on by time alone: pending past `for` fires, firing past `keep_firing_for` resolves. */
export function advance(a: AlertRecord, now: number, t: Timing): Transition {
  if (a.state === 'pending') {
    if (a.falseSince === null && now - a.activeAt >= t.forMs) {
      a.state = 'firing';
      a.firedAt = now;
      a.updatedAt = now;
      return 'firing';
    }
    return undefined;
  }
  if (a.state === 'firing' && a.falseSince !== null && now - a.falseSince >= t.keepFiringForMs) {
    return resolve(a, now);
  }
  return undefined;
}

/** Ends a firing alert now (its rule went away, or its agent left the rule's selection). */
export function resolve(a: AlertRecord, now: number): Transition {
  if (a.state === 'pending') return 'inactive';
  if (a.state !== 'firing') return undefined;
  a.state = 'resolved';
  a.endsAt = now;
  a.updatedAt = now;
  return 'resolved';
}

/** Whether an alert needs `advance` on the next cycle (its timers run). */
export function needsTimer(a: AlertRecord): boolean {
  return a.state === 'pending' || (a.state === 'firing' && a.falseSince !== null);
}
