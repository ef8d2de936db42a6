import { z } from 'zod';
import type { Clock, Random } from './clock.js';
import type { ResolvedRestartOptions } from './supervisor-config.js';

/**
 * What the policy knows about one agent:
 * - `stopped`: nothing runs and nothing is scheduled (never started, stopped on request, or an
 *   exit the policy does not restart);
 * - `running`: a normal run; `restarting`: an exit was seen and a restart is scheduled;
 * - `circuit_open`: too many restarts, waiting `circuit_cooldown` for a half-open trial;
 * - `half_open`: the trial was granted (and is starting or running);
 * - `failed`: `circuit_breaker_threshold` trials failed; only {@link RestartPolicy.reset} leaves it.
 */
export type RestartPolicyStatus =
  'stopped' | 'running' | 'restarting' | 'circuit_open' | 'half_open' | 'failed';

/** The options of one agent's policy: its resolved `restart:` block plus the breaker threshold. */
export interface RestartPolicyOptions extends ResolvedRestartOptions {
  /** Failed half-open trials after which the agent stays failed (SPEC §9 `recovery`). */
  circuitBreakerThreshold: number;
}

/** How a process ended, as the process supervisor saw it. */
export interface ProcessExit {
  /** Exit code, or null when killed by a signal (or it never started). */
  code: number | null;
  /** Signal that ended it, e.g. `SIGKILL`, or null. */
  signal: string | null;
  /**
   * The stop was asked for (operator stop or restart, supervisor shutdown). A kill by a health
   * check (`on_hung: restart`) is NOT requested: it is a failure and follows the policy.
   */
  requested: boolean;
  /** Why the supervisor ended it, if it did, e.g. "hung: no progress for 3m"; used in reasons. */
  cause?: string;
}

/** Fields every exit decision echoes from the exit, ready for `agent_lifecycle` data. */
interface ExitFacts {
  exitCode?: number;
  signal?: string;
  /** How long the run lasted, ms. */
  ranMs: number;
}

/** Restart after `delayMs`; `attempt` counts restarts since the backoff last reset (1-based). */
export interface RestartDecision extends ExitFacts {
  action: 'restart';
  status: 'restarting';
  attempt: number;
  delayMs: number;
  /** `max_restarts`: more exits than this within the window open the circuit. */
  maxRestarts: number;
  reason: string;
}

/** Leave the agent down: a requested stop, a clean exit under `on-failure`, or `never`. */
export interface StayStoppedDecision extends Partial<ExitFacts> {
  action: 'stay_stopped';
  /** `failed` when the agent crashed and the policy (`never`) does not restart it. */
  status: 'stopped' | 'failed';
  reason: string;
}

/** Too many restarts within the window, or a failed half-open trial: wait `reopenInMs`. */
export interface CircuitOpenDecision extends ExitFacts {
  action: 'circuit_open';
  status: 'failed';
  /** circuit_cooldown: call {@link RestartPolicy.halfOpen} after this. */
  reopenInMs: number;
  /** Exits within the window that opened it, or the number of the trial that failed. */
  attempts: number;
  /** Trial that failed, when a half-open trial re-opened the circuit. */
  trial?: number;
  /** SPEC issue 4: an open circuit raises an escalation. */
  escalate: true;
  severity: 'warning';
  reason: string;
}

/** `circuit_breaker_threshold` trials failed: the agent stays failed until started by hand. */
export interface FailedDecision extends ExitFacts {
  action: 'failed';
  status: 'failed';
  /** Failed half-open trials. */
  attempts: number;
  escalate: true;
  severity: 'critical';
  reason: string;
}

/** What to do after an exit. */
export type ExitDecision =
  RestartDecision | StayStoppedDecision | CircuitOpenDecision | FailedDecision;

/** A run began. `stableAfterMs`: call {@link RestartPolicy.onStableCheck} then. */
export interface StartedDecision {
  action: 'started';
  status: 'running';
  /** Restarts since the backoff last reset (0 for a first start). */
  attempt: number;
  /** Set for a half-open trial: its number (1-based). */
  trial?: number;
  stableAfterMs: number;
  reason: string;
}

/** The cooldown is over: start the agent once as a trial. */
export interface HalfOpenDecision {
  action: 'circuit_half_open';
  status: 'restarting';
  /** Trial number, 1-based, out of `circuit_breaker_threshold`. */
  trial: number;
  reason: string;
}

/** The run has been stable for `reset_after`: a trial closes the circuit, else the backoff resets. */
export type StableDecision =
  | { action: 'circuit_closed'; status: 'running'; reason: string }
  | { action: 'backoff_reset'; status: 'running'; reason: string };

/** Any decision of the policy. */
export type RestartPolicyDecision =
  ExitDecision | StartedDecision | HalfOpenDecision | StableDecision;

/** `agent_lifecycle` data of SPEC §12. */
export interface AgentLifecycleData {
  action:
    | 'started'
    | 'exited'
    | 'restart_scheduled'
    | 'circuit_open'
    | 'circuit_half_open'
    | 'circuit_closed'
    | 'stopped';
  pid?: number;
  exitCode?: number;
  signal?: string;
  attempt?: number;
  delayMs?: number;
  /** With `restart_scheduled`: the agent's `max_restarts` (the "b" of "attempt a/b"). */
  maxRestarts?: number;
  reason: string;
}

/** Plain JSON state, for the daemon to keep across its own restarts. */
export const RestartPolicySnapshotSchema = z.strictObject({
  version: z.literal(1),
  status: z.enum(['stopped', 'running', 'restarting', 'circuit_open', 'half_open', 'failed']),
  attempt: z.number().int().min(0),
  /** Epoch ms of the restart-causing exits still in the window. */
  exits: z.array(z.number()),
  failedTrials: z.number().int().min(0),
  startedAt: z.number().optional(),
  restartAt: z.number().optional(),
  reopenAt: z.number().optional(),
});

/** {@link RestartPolicy.snapshot} output. */
export type RestartPolicySnapshot = z.output<typeof RestartPolicySnapshotSchema>;

/**
 * Decides what happens when one agent's process exits: restart with geometric backoff, stay
 * down, or open the circuit. Pure: no timers, no I/O. The caller runs the timers the decisions
 * ask for and emits the events; time comes from the injected clock, jitter from `random`.
 *
 * Rules (SPEC §9):
 * - `always` restarts after every exit that was not requested; `on-failure` after a non-zero
 *   code, a signal, or a start that never ran (code null); `never` never. A requested stop is
 *   never restarted.
 * - Backoff: restart `n` of a sequence waits `min(max_delay, initial_delay × multiplier^(n−1))`,
 *   then jitter: `× (1 + jitter × (2r − 1))` with `r = random()` in [0, 1), rounded to whole ms
 *   and clamped to [0, max_delay] — so `max_delay` really is the longest wait, and at the cap
 *   jitter only shortens it.
 * - A run is stable once it lasted `reset_after` (from onStarted to its exit, or at
 *   onStableCheck): the backoff sequence starts over at restart 1.
 * - Every restart-causing exit is remembered for `window` (an exit counts while it is less than
 *   `window` old). The exit that makes more than `max_restarts` of them opens the circuit instead
 *   of restarting: status failed, escalation, and after `circuit_cooldown` one half-open trial.
 * - A trial must run stable for `reset_after`, the same stability as everywhere, to close the
 *   circuit (history cleared, backoff reset). A trial that exits sooner re-opens it; the
 *   `circuit_breaker_threshold`-th failed trial leaves the agent `failed` for good, escalated.
 */
export class RestartPolicy {
  private status_: RestartPolicyStatus = 'stopped';
  private attempt = 0;
  private exits: number[] = [];
  private failedTrials = 0;
  private startedAt: number | undefined;
  private restartAt: number | undefined;
  private reopenAt: number | undefined;

  constructor(
    private readonly options: RestartPolicyOptions,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly random: Random = Math.random,
  ) {}

  /** Where the policy stands. */
  get status(): RestartPolicyStatus {
    return this.status_;
  }

  /** The process is up. Call after every start, first or restart or trial. */
  onStarted(): StartedDecision {
    const now = this.clock.now();
    this.startedAt = now;
    this.restartAt = undefined;
    const stableAfterMs = this.options.resetAfterMs;
    if (this.status_ === 'half_open') {
      const trial = this.failedTrials + 1;
      return {
        action: 'started',
        status: 'running',
        attempt: this.attempt,
        trial,
        stableAfterMs,
        reason: `started half-open trial ${trial} of ${this.options.circuitBreakerThreshold}; the circuit closes after ${formatDuration(stableAfterMs)} of stable running`,
      };
    }
    // A start from any other state (also one the operator forced past an open circuit) is a
    // normal run; the counters stay until reset() or a stable run clears them.
    this.status_ = 'running';
    this.reopenAt = undefined;
    return {
      action: 'started',
      status: 'running',
      attempt: this.attempt,
      stableAfterMs,
      reason: this.attempt > 0 ? `started (restart ${this.attempt})` : 'started',
    };
  }

  /** True when the current run has lasted `reset_after`. */
  isStable(): boolean {
    return (
      this.startedAt !== undefined && this.clock.now() - this.startedAt >= this.options.resetAfterMs
    );
  }

  /**
   * Call when `stableAfterMs` of {@link onStarted} has passed. Closes the circuit after a stable
   * trial, or resets the backoff of a stable run that followed restarts; undefined when nothing
   * changes (not yet stable, not running, or no restarts to forget).
   */
  onStableCheck(): StableDecision | undefined {
    if (!this.isStable()) return undefined;
    if (this.status_ === 'half_open') return this.closeCircuit();
    if (this.status_ === 'running' && this.attempt > 0) {
      this.attempt = 0;
      return {
        action: 'backoff_reset',
        status: 'running',
        reason: `ran stable for ${formatDuration(this.options.resetAfterMs)}: backoff reset`,
      };
    }
    return undefined;
  }

  /** The process ended: decide what next. */
  onExit(exit: ProcessExit): ExitDecision {
    const now = this.clock.now();
    const ranMs = this.startedAt === undefined ? 0 : now - this.startedAt;
    const wasTrial = this.status_ === 'half_open';
    this.startedAt = undefined;
    const facts: ExitFacts = {
      ...(exit.code !== null ? { exitCode: exit.code } : {}),
      ...(exit.signal !== null ? { signal: exit.signal } : {}),
      ranMs,
    };
    const what = describeExit(exit);
    const { policy } = this.options;

    if (exit.requested) {
      this.status_ = 'stopped';
      return {
        action: 'stay_stopped',
        status: 'stopped',
        ...facts,
        reason: `${what} on request: stopped`,
      };
    }
    // An exit the supervisor caused for the agent's health (on_hung: restart) is a failure,
    // however politely the agent then exited.
    const clean = exit.code === 0 && exit.signal === null && exit.cause === undefined;
    if (policy === 'never' || (policy === 'on-failure' && clean)) {
      this.status_ = 'stopped';
      return {
        action: 'stay_stopped',
        status: clean ? 'stopped' : 'failed',
        ...facts,
        reason: `${what} (${policy}): not restarted`,
      };
    }

    const stable = ranMs >= this.options.resetAfterMs;
    if (wasTrial) {
      if (!stable) return this.failTrial(what, facts);
      // A stable trial whose onStableCheck never came: it closed the circuit all the same.
      this.closeCircuit();
    }
    if (stable) this.attempt = 0;

    const { windowMs, maxRestarts } = this.options;
    this.exits = this.exits.filter((t) => now - t < windowMs);
    this.exits.push(now);
    if (this.exits.length > maxRestarts) {
      const n = this.exits.length;
      return this.openCircuit(
        facts,
        n,
        `${what}: ${n} exit${n === 1 ? '' : 's'} within ${formatDuration(windowMs)} (max_restarts ${maxRestarts}): circuit open, next trial in ${formatDuration(this.options.circuitCooldownMs)}`,
      );
    }

    this.attempt += 1;
    const delayMs = this.delayFor(this.attempt);
    this.status_ = 'restarting';
    this.restartAt = now + delayMs;
    return {
      action: 'restart',
      status: 'restarting',
      attempt: this.attempt,
      delayMs,
      maxRestarts: this.options.maxRestarts,
      ...facts,
      reason: `${what} (${policy}): restart ${this.attempt} in ${formatDuration(delayMs)}`,
    };
  }

  /**
   * The cooldown timer fired: grants the half-open trial (the caller then starts the agent and
   * calls onStarted). Undefined when the circuit is not open or the cooldown is not over yet —
   * the caller then waits {@link reopensInMs} more (a real timer may fire a millisecond early).
   */
  halfOpen(): HalfOpenDecision | undefined {
    if (this.status_ !== 'circuit_open') return undefined;
    if (this.reopenAt !== undefined && this.clock.now() < this.reopenAt) return undefined;
    this.status_ = 'half_open';
    this.reopenAt = undefined;
    const trial = this.failedTrials + 1;
    return {
      action: 'circuit_half_open',
      status: 'restarting',
      trial,
      reason: `circuit half-open after ${formatDuration(this.options.circuitCooldownMs)}: trial ${trial} of ${this.options.circuitBreakerThreshold}`,
    };
  }

  /** Ms until the open circuit allows its trial (0 when due); undefined when not open. */
  reopensInMs(): number | undefined {
    if (this.status_ !== 'circuit_open' || this.reopenAt === undefined) return undefined;
    return Math.max(0, this.reopenAt - this.clock.now());
  }

  /** Ms until the scheduled restart is due (0 when due); undefined when none is scheduled. */
  restartsInMs(): number | undefined {
    if (this.status_ !== 'restarting' || this.restartAt === undefined) return undefined;
    return Math.max(0, this.restartAt - this.clock.now());
  }

  /**
   * A stop asked for while no process runs (during a backoff wait, an open circuit, or
   * failed): nothing is scheduled any more. Counters stay; a manual start calls reset().
   */
  stop(): StayStoppedDecision {
    this.status_ = 'stopped';
    this.startedAt = undefined;
    this.restartAt = undefined;
    this.reopenAt = undefined;
    return { action: 'stay_stopped', status: 'stopped', reason: 'stopped on request' };
  }

  /** A manual start by an operator: forgets the backoff, the window, the circuit and the trials. */
  reset(): void {
    this.status_ = 'stopped';
    this.attempt = 0;
    this.exits = [];
    this.failedTrials = 0;
    this.startedAt = undefined;
    this.restartAt = undefined;
    this.reopenAt = undefined;
  }

  /** Plain JSON state (epoch ms), for {@link restore} after a daemon restart. */
  snapshot(): RestartPolicySnapshot {
    return {
      version: 1,
      status: this.status_,
      attempt: this.attempt,
      exits: [...this.exits],
      failedTrials: this.failedTrials,
      ...(this.startedAt !== undefined ? { startedAt: this.startedAt } : {}),
      ...(this.restartAt !== undefined ? { restartAt: this.restartAt } : {}),
      ...(this.reopenAt !== undefined ? { reopenAt: this.reopenAt } : {}),
    };
  }

  /**
   * Restores a {@link snapshot} (validate untrusted input with RestartPolicySnapshotSchema
   * first). The process of a run or a scheduled restart is gone after a daemon restart, so
   * `running` and `restarting` come back as `stopped` with their counters (the daemon starts
   * autostart agents as usual and the backoff and window keep counting); an interrupted
   * half-open trial comes back as an open circuit due now; an open circuit keeps its reopen
   * time; `failed` stays failed.
   */
  restore(s: RestartPolicySnapshot): void {
    this.attempt = s.attempt;
    this.exits = [...s.exits];
    this.failedTrials = s.failedTrials;
    this.startedAt = undefined;
    this.restartAt = undefined;
    this.reopenAt = undefined;
    switch (s.status) {
      case 'running':
      case 'restarting':
      case 'stopped':
        this.status_ = 'stopped';
        break;
      case 'half_open':
        this.status_ = 'circuit_open';
        this.reopenAt = this.clock.now();
        break;
      case 'circuit_open':
        this.status_ = 'circuit_open';
        this.reopenAt = s.reopenAt ?? this.clock.now();
        break;
      case 'failed':
        this.status_ = 'failed';
        break;
    }
  }

  /** The backoff wait before restart `attempt` (1-based), jitter applied. */
  private delayFor(attempt: number): number {
    const { initialDelayMs, multiplier, maxDelayMs, jitter } = this.options;
    // 0 × Infinity would be NaN once multiplier^n overflows; a zero delay stays zero.
    const base =
      initialDelayMs === 0 ? 0 : Math.min(maxDelayMs, initialDelayMs * multiplier ** (attempt - 1));
    const jittered = base * (1 + jitter * (2 * this.random() - 1));
    return Math.round(Math.min(maxDelayMs, Math.max(0, jittered)));
  }

  private openCircuit(
    facts: ExitFacts,
    attempts: number,
    reason: string,
    trial?: number,
  ): CircuitOpenDecision {
    const reopenInMs = this.options.circuitCooldownMs;
    this.status_ = 'circuit_open';
    this.reopenAt = this.clock.now() + reopenInMs;
    this.restartAt = undefined;
    // The trial decides from here; old exits must not re-open a circuit the trial closed.
    this.exits = [];
    return {
      action: 'circuit_open',
      status: 'failed',
      reopenInMs,
      attempts,
      ...(trial !== undefined ? { trial } : {}),
      ...facts,
      escalate: true,
      severity: 'warning',
      reason,
    };
  }

  private failTrial(what: string, facts: ExitFacts): CircuitOpenDecision | FailedDecision {
    this.failedTrials += 1;
    const trial = this.failedTrials;
    const threshold = this.options.circuitBreakerThreshold;
    const head = `${what} after ${formatDuration(facts.ranMs)} in half-open trial ${trial} of ${threshold}`;
    if (trial >= threshold) {
      this.status_ = 'failed';
      this.reopenAt = undefined;
      return {
        action: 'failed',
        status: 'failed',
        attempts: trial,
        ...facts,
        escalate: true,
        severity: 'critical',
        reason: `${head}: agent failed for good after ${trial} failed trials; fix the cause, then start it by hand`,
      };
    }
    return this.openCircuit(
      facts,
      trial,
      `${head}: circuit open again, next trial in ${formatDuration(this.options.circuitCooldownMs)}`,
      trial,
    );
  }

  private closeCircuit(): StableDecision {
    const trial = this.failedTrials + 1;
    this.status_ = 'running';
    this.failedTrials = 0;
    this.exits = [];
    this.attempt = 0;
    return {
      action: 'circuit_closed',
      status: 'running',
      reason: `half-open trial ${trial} ran stable for ${formatDuration(this.options.resetAfterMs)}: circuit closed`,
    };
  }
}

/** "exited with code 1", "was killed by SIGKILL", "did not start", plus the cause when given. */
export function describeExit(exit: Pick<ProcessExit, 'code' | 'signal' | 'cause'>): string {
  const how =
    exit.signal !== null
      ? `was killed by ${exit.signal}`
      : exit.code !== null
        ? `exited with code ${exit.code}`
        : 'did not start';
  return exit.cause ? `${how} (${exit.cause})` : how;
}

/**
 * The `agent_lifecycle` data (SPEC §12) of a decision; undefined for `backoff_reset`, which is
 * a log line only. `failed` maps to `circuit_open`: the circuit stays open for good (the
 * escalation says so). `attempt` is the restart number for `restart_scheduled` and `started`,
 * the trial number for `circuit_half_open`; the counts behind an open circuit are in its reason. The `exited` event itself is the caller's, with {@link describeExit}.
 */
export function lifecycleData(
  decision: RestartPolicyDecision,
  pid?: number,
): AgentLifecycleData | undefined {
  const withPid = pid !== undefined ? { pid } : {};
  const exitFacts = (d: Partial<ExitFacts>) => ({
    ...(d.exitCode !== undefined ? { exitCode: d.exitCode } : {}),
    ...(d.signal !== undefined ? { signal: d.signal } : {}),
  });
  switch (decision.action) {
    case 'restart':
      return {
        action: 'restart_scheduled',
        ...withPid,
        ...exitFacts(decision),
        attempt: decision.attempt,
        delayMs: decision.delayMs,
        maxRestarts: decision.maxRestarts,
        reason: decision.reason,
      };
    case 'stay_stopped':
      return { action: 'stopped', ...withPid, ...exitFacts(decision), reason: decision.reason };
    case 'circuit_open':
    case 'failed':
      return {
        action: 'circuit_open',
        ...withPid,
        ...exitFacts(decision),
        reason: decision.reason,
      };
    case 'started':
      return {
        action: 'started',
        ...withPid,
        ...(decision.attempt > 0 ? { attempt: decision.attempt } : {}),
        reason: decision.reason,
      };
    case 'circuit_half_open':
      return { action: 'circuit_half_open', attempt: decision.trial, reason: decision.reason };
    case 'circuit_closed':
      return { action: 'circuit_closed', ...withPid, reason: decision.reason };
    case 'backoff_reset':
      return undefined;
  }
}

/** 0ms, 300ms, 1.0s, 59.5s, 2m, 2m5s, 1h, 1h30m — short enough for a log line. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
