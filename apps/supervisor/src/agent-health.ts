import { worstHealth } from '@warden/protocol';
import type { Health } from '@warden/protocol';
import type { Clock } from './clock.js';
import type { CheckResult, HealthCheck, HealthCheckName, ResourceSample } from './health-check.js';
import { HeartbeatCheck } from './heartbeat-check.js';
import { HttpProbeCheck } from './http-probe-check.js';
import type { ProbeFetch } from './http-probe-check.js';
import { MemoryLeakCheck } from './memory-leak-check.js';
import { ResourceCheck } from './resource-check.js';
import { TaskProgressCheck } from './task-progress-check.js';

/** A check's health moved: the `data` of a `health_changed` event (SPEC §12). */
export interface HealthChange {
  /** The check that moved. */
  check: HealthCheckName;
  /** Its health now. */
  health: Health;
  /** Its health at the previous evaluation. */
  previous: Health;
  /** Why, in the check's words. */
  reason: string;
}

/** A hung task: `task_stale` or `task_duration` critical. The integrator applies `on_hung`. */
export interface HungTask {
  /** The task that is stuck. */
  taskId: string;
  /** Which check found it. */
  check: 'task_stale' | 'task_duration';
  /** The check's reason, for the event and the log line. */
  reason: string;
}

/**
 * The outcome of one {@link AgentHealth.evaluate}. Shared, not copied: an evaluation in which
 * nothing moved returns the previous verdict itself, so treat it as read-only.
 */
export interface AgentHealthVerdict {
  /** Worst of the checks (healthy < warning < critical); `unknown` only if every check is. */
  health: Health;
  /**
   * Every check's current result, in the order the checks were given. A check with
   * {@link HealthCheck.healthAt} keeps the result it built when its health last moved (its
   * reason tells the numbers of that moment) until it moves again; `changes` and `hung`
   * always carry reasons of this evaluation.
   */
  results: readonly CheckResult[];
  /** Checks whose health moved since the previous evaluation; publish each as `health_changed`. */
  changes: readonly HealthChange[];
  /** Set while a task is hung. */
  hung: HungTask | undefined;
  /** The heartbeat check says unresponsive: set the agent's status to `unresponsive`. */
  unresponsive: boolean;
}

/**
 * An agent's health settings, already in milliseconds: the `health` of a resolved agent
 * config (`ResolvedHealthOptions` of supervisor-config.ts) fits as it is. A check exists only
 * if its keys are given (not undefined).
 */
export interface AgentHealthOptions {
  /** `heartbeat_timeout` → {@link HeartbeatCheck}. */
  heartbeatTimeoutMs?: number;
  /** Heartbeat judged only after the agent's first event (see {@link HeartbeatCheck}). @defaultValue false */
  heartbeatArmOnFirstSeen?: boolean;
  /**
   * `agent_response.max_failures`: consecutive timeouts missed before unresponsive.
   * @defaultValue 1
   */
  unresponsiveAfterMisses?: number;
  /** `max_cpu_percent` → a `cpu` {@link ResourceCheck}. */
  maxCpuPercent?: number;
  /** `max_memory_mb` → a `memory` {@link ResourceCheck}; also the leak check's horizon. */
  maxMemoryMb?: number;
  /** `for`: how long cpu / memory must stay over the limit. @defaultValue 0 (one sample) */
  sustainedForMs?: number;
  /** `max_task_duration` → a `task_duration` {@link TaskProgressCheck}. */
  maxTaskDurationMs?: number;
  /** `stale_task_threshold` → a `task_stale` {@link TaskProgressCheck}. */
  staleTaskThresholdMs?: number;
  /** `memory_leak` → {@link MemoryLeakCheck}. */
  memoryLeak?: { windowMs: number; minGrowthMb: number; minSamples?: number };
  /** `http` → {@link HttpProbeCheck}. */
  http?: { url: string; intervalMs: number; timeoutMs: number; failureThreshold: number };
}

/** What {@link AgentHealth.fromOptions} needs from outside. */
export interface AgentHealthDeps {
  /** The clock every check runs on; its `now()` is when heartbeat silence starts counting. */
  clock: Clock;
  /** The probe's requests. @defaultValue the global `fetch` */
  fetch?: ProbeFetch;
  /** Told after every probe settles (see {@link HttpProbeCheck}). */
  onProbeSettled?: (result: CheckResult) => void;
}

const ATTENTION: ReadonlySet<Health> = new Set(['warning', 'critical']);

const NO_CHANGES: readonly HealthChange[] = Object.freeze([]);

interface Tracked {
  check: HealthCheck;
  /** Its latest result; undefined before the first evaluation and after a reset. */
  result: CheckResult | undefined;
  previous: Health;
  /** A transition was published; from then on every move is. */
  announced: boolean;
}

/**
 * The health of one agent: its configured checks, fed the agent's observations, combined
 * into one verdict per evaluation.
 *
 * Transitions: each check starts at `unknown`. A move is reported once the check first
 * reaches `warning` or `critical`, and from then on every move is reported (back to
 * `healthy`, to `unknown` after a reset, …). The silent start keeps a fresh agent from
 * announcing "healthy" once per check: SPEC §12 already reads a running agent as healthy
 * unless a check says otherwise. A check that stays put is never repeated, whatever its
 * reason says meanwhile.
 *
 * Observations are handed only to the checks that take them; `taskProgress` does not count
 * as `seen` by itself — the integrator calls `seen` for every event the agent sends.
 */
export class AgentHealth {
  private readonly tracked: Tracked[];
  private lastVerdict: AgentHealthVerdict | undefined;
  /** Something was observed since the last evaluation. */
  private dirty = true;
  /** {@link quietUntil} as of the last evaluation. */
  private quietAt = -Infinity;

  /** Builds from checks; two checks reporting under the same name are refused. */
  constructor(checks: readonly HealthCheck[]) {
    const names = new Set<string>();
    for (const c of checks) {
      if (names.has(c.check)) throw new RangeError(`two health checks named ${c.check}`);
      names.add(c.check);
    }
    this.tracked = checks.map((check) => ({
      check,
      result: undefined,
      previous: 'unknown',
      announced: false,
    }));
  }

  /** Builds the checks an agent's settings ask for (see {@link AgentHealthOptions}). */
  static fromOptions(options: AgentHealthOptions, deps: AgentHealthDeps): AgentHealth {
    const checks: HealthCheck[] = [];
    const built: { health?: AgentHealth } = {};
    const forMs = options.sustainedForMs ?? 0;
    if (options.heartbeatTimeoutMs !== undefined)
      checks.push(
        new HeartbeatCheck({
          timeoutMs: options.heartbeatTimeoutMs,
          maxFailures: options.unresponsiveAfterMisses,
          since: deps.clock.now(),
          armOnFirstSeen: options.heartbeatArmOnFirstSeen,
        }),
      );
    if (options.maxCpuPercent !== undefined)
      checks.push(new ResourceCheck({ check: 'cpu', maxCpuPercent: options.maxCpuPercent, forMs }));
    if (options.maxMemoryMb !== undefined)
      checks.push(new ResourceCheck({ check: 'memory', maxMemoryMb: options.maxMemoryMb, forMs }));
    if (options.memoryLeak)
      checks.push(new MemoryLeakCheck({ ...options.memoryLeak, maxMemoryMb: options.maxMemoryMb }));
    if (options.staleTaskThresholdMs !== undefined)
      checks.push(
        new TaskProgressCheck({ check: 'task_stale', limitMs: options.staleTaskThresholdMs }),
      );
    if (options.maxTaskDurationMs !== undefined)
      checks.push(
        new TaskProgressCheck({ check: 'task_duration', limitMs: options.maxTaskDurationMs }),
      );
    if (options.http)
      checks.push(
        new HttpProbeCheck({
          ...options.http,
          clock: deps.clock,
          fetch: deps.fetch,
          // A settled probe is an observation: the next pass judges this agent.
          onSettled: (result) => {
            built.health?.touch();
            deps.onProbeSettled?.(result);
          },
        }),
      );
    built.health = new AgentHealth(checks);
    return built.health;
  }

  /** The checks, in evaluation order. */
  get checks(): readonly HealthCheck[] {
    return this.tracked.map((t) => t.check);
  }

  /** Any event or heartbeat from the agent at `ts`. */
  seen(ts: number): void {
    this.dirty = true;
    for (const { check } of this.tracked) check.seen?.(ts);
  }

  /** A resource sample of the agent's process tree. */
  sample(sample: ResourceSample): void {
    this.dirty = true;
    for (const { check } of this.tracked) check.sample?.(sample);
  }

  /** The agent began `taskId` at `ts`. */
  taskStarted(taskId: string, ts: number): void {
    this.dirty = true;
    for (const { check } of this.tracked) check.taskStarted?.(taskId, ts);
  }

  /** A `task_progress` event for `taskId` at `ts`. */
  taskProgress(taskId: string, ts: number): void {
    this.dirty = true;
    for (const { check } of this.tracked) check.taskProgress?.(taskId, ts);
  }

  /** `taskId` completed, failed or was abandoned. */
  taskEnded(taskId: string): void {
    this.dirty = true;
    for (const { check } of this.tracked) check.taskEnded?.(taskId);
  }

  /** Starts the checks' own timers (the HTTP probe). */
  start(): void {
    for (const { check } of this.tracked) check.start?.();
  }

  /** Stops the checks' own timers; call when the agent is stopped or removed. */
  stop(): void {
    for (const { check } of this.tracked) check.stop?.();
  }

  /**
   * The agent's process was (re)started at `now`: every check forgets its observations. What
   * was last reported is kept, so the next evaluation reports the moves away from it.
   */
  reset(now: number): void {
    this.dirty = true;
    for (const t of this.tracked) {
      t.check.reset(now);
      t.result = undefined; // its reason spoke of the old process
    }
  }

  /**
   * Judges every check at `now`; see {@link AgentHealthVerdict}. Run every second for every
   * agent, so it builds nothing that did not change: a check whose health is the same as
   * last time keeps its result (when it can tell cheaply, {@link HealthCheck.healthAt}), and
   * when no result moved at all the previous verdict is returned as it is.
   */
  evaluate(now: number): AgentHealthVerdict {
    const last = this.lastVerdict;
    let moved = last === undefined;
    let changes: HealthChange[] | undefined;
    let health: Health = 'unknown';
    const tracked = this.tracked;
    for (let i = 0; i < tracked.length; i++) {
      const t = tracked[i]!;
      const prev = t.result;
      // A kept result has the health last seen (`previous`), so it is never a change and its
      // reason is never published.
      const r =
        prev !== undefined && t.check.healthAt?.(now) === prev.health
          ? prev
          : t.check.evaluate(now);
      if (r !== prev) {
        t.result = r;
        moved = true;
      }
      health = worstHealth(health, r.health);
      if (r.health === t.previous) continue;
      if (t.announced || ATTENTION.has(r.health)) {
        (changes ??= []).push({
          check: r.check,
          health: r.health,
          previous: t.previous,
          reason: r.reason,
        });
        t.announced = true;
      }
      t.previous = r.health;
    }
    this.quietAt = this.quietFrom(now);
    this.dirty = false;
    if (!moved && last!.changes.length === 0) return last!;
    const results = moved ? tracked.map((t) => t.result!) : last!.results;
    this.lastVerdict = {
      health,
      results,
      changes: changes ?? NO_CHANGES,
      hung: hungTask(results),
      unresponsive: results.some((r) => r.check === 'heartbeat' && ATTENTION.has(r.health)),
    };
    return this.lastVerdict;
  }

  /**
   * Until when the latest verdict holds if nothing is observed but idle samples (see
   * {@link HealthCheck.quietUntil}): the earliest of its checks'; `-Infinity` when something
   * was observed since (a sample, an event, a probe that settled: see {@link touch}) or a
   * check cannot tell. Until then, idle samples may be withheld and evaluations skipped.
   */
  quietUntil(): number {
    return this.dirty ? -Infinity : this.quietAt;
  }

  /** Something the checks judge by changed outside the observation methods (a probe settled). */
  touch(): void {
    this.dirty = true;
  }

  private quietFrom(now: number): number {
    let at = Infinity;
    const tracked = this.tracked;
    for (let i = 0; i < tracked.length; i++) {
      const q = tracked[i]!.check.quietUntil;
      const t = q === undefined ? -Infinity : q.call(tracked[i]!.check, now);
      if (t < at) at = t;
    }
    return at;
  }

  /** The hung task found by the latest evaluation (a deadlock before an overrun). */
  hungTask(): HungTask | undefined {
    return this.lastVerdict?.hung;
  }

  /** Whether the latest evaluation found the agent unresponsive. */
  isUnresponsive(): boolean {
    return this.lastVerdict?.unresponsive ?? false;
  }

  /** The overall health of the latest evaluation; `unknown` before the first. */
  health(): Health {
    return this.lastVerdict?.health ?? 'unknown';
  }
}

/** The hung task in `results`: a stale task before one over its duration (a deadlock first). */
function hungTask(results: readonly CheckResult[]): HungTask | undefined {
  const stuck =
    results.find((r) => r.check === 'task_stale' && r.health === 'critical') ??
    results.find((r) => r.check === 'task_duration' && r.health === 'critical');
  if (stuck === undefined || stuck.taskId === undefined) return undefined;
  return {
    taskId: stuck.taskId,
    check: stuck.check as 'task_stale' | 'task_duration',
    reason: stuck.reason,
  };
}
