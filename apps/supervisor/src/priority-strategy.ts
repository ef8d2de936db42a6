import type { Health } from '@warden/protocol';
import { ConcurrentStrategy } from './concurrent-strategy.js';
import { resolveStrategyOptions } from './monitoring-strategy.js';
import type {
  MonitoringStrategy,
  MonitoringStrategyOptions,
  MonitorTarget,
} from './monitoring-strategy.js';

/** Pass order by health: the agents that most need a look come first. */
const SEVERITY_RANK: Record<Health, number> = { critical: 0, warning: 1, unknown: 2, healthy: 3 };

interface Ranked {
  target: MonitorTarget;
  health: Health;
  priority: number;
}

function rank(target: MonitorTarget): Ranked {
  let health: Health;
  try {
    health = target.health();
  } catch {
    // A verdict that cannot be read is not known; unknown is checked every interval.
    health = 'unknown';
  }
  if (!(health in SEVERITY_RANK)) health = 'unknown';
  const priority = Number.isFinite(target.priority) ? target.priority : 0;
  return { target, health, priority };
}

function compareRanked(a: Ranked, b: Ranked): number {
  return (
    SEVERITY_RANK[a.health] - SEVERITY_RANK[b.health] ||
    b.priority - a.priority ||
    (a.target.id < b.target.id ? -1 : a.target.id > b.target.id ? 1 : 0)
  );
}

/**
 * The targets in `priority` order: by health (critical, warning, unknown, healthy), then by
 * `priority` (higher first), then by id, so the order is the same on every machine.
 */
export function orderByPriority(targets: readonly MonitorTarget[]): MonitorTarget[] {
  return targets
    .map(rank)
    .sort(compareRanked)
    .map((r) => r.target);
}

/**
 * `priority`: the `concurrent` strategy (same fixed rate, same `concurrency` bound, same
 * skipping of targets still in flight) with each pass ordered by {@link orderByPriority}
 * and thinned by health: a target that is not healthy — unknown included, since nobody knows
 * it is fine — is checked every interval; a healthy one every `healthyEvery` intervals,
 * counted from the pass that last queued it (so healthy agents are spread over passes, not
 * all checked in the same one). The order applies among the targets one pass queues; under
 * overload, targets still waiting from an earlier pass keep their place, so none starves.
 */
export class PriorityStrategy implements MonitoringStrategy {
  readonly name = 'priority';
  private readonly inner: ConcurrentStrategy;
  private readonly healthyEvery: number;
  /** id → the pass that last queued it. */
  private lastQueued = new Map<string, number>();

  constructor(options: MonitoringStrategyOptions) {
    this.healthyEvery = resolveStrategyOptions(options).healthyEvery;
    this.inner = new ConcurrentStrategy(
      options,
      (targets, pass) => this.plan(targets, pass),
      'priority',
    );
  }

  /** Checks in flight now; for tests and metrics. */
  get inFlight(): number {
    return this.inner.inFlight;
  }

  start(targets: () => readonly MonitorTarget[]): void {
    this.inner.start(targets);
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  private plan(targets: readonly MonitorTarget[], pass: number): MonitorTarget[] {
    const seen = new Map<string, number>();
    const due: Ranked[] = [];
    for (const target of targets) {
      if (seen.has(target.id)) continue;
      const r = rank(target);
      const last = this.lastQueued.get(target.id);
      if (r.health !== 'healthy' || last === undefined || pass - last >= this.healthyEvery) {
        due.push(r);
        seen.set(target.id, pass);
      } else {
        seen.set(target.id, last);
      }
    }
    // Rebuilt every pass, so agents that left the fleet are forgotten.
    this.lastQueued = seen;
    return due.sort(compareRanked).map((r) => r.target);
  }
}
