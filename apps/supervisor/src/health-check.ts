import { HEALTH_CHECKS, type Health } from '@warden/protocol';

/** Checks of SPEC §12 judged elsewhere: by the restart policy and the tmux watcher. */
const JUDGED_ELSEWHERE = ['restarts', 'tmux'] as const;

/** One of {@link HEALTH_CHECK_NAMES}; the `check` field of a `health_changed` event. */
export type HealthCheckName = Exclude<
  (typeof HEALTH_CHECKS)[number],
  (typeof JUDGED_ELSEWHERE)[number]
>;

/** The checks of SPEC §12 that watch a supervised process (the protocol's list, less those). */
export const HEALTH_CHECK_NAMES: readonly HealthCheckName[] = HEALTH_CHECKS.filter(
  (c): c is HealthCheckName => !(JUDGED_ELSEWHERE as readonly string[]).includes(c),
);

/** What one check says about one agent at one moment. */
export interface CheckResult {
  /** Which check answered. */
  check: HealthCheckName;
  /**
   * `healthy`, `warning` or `critical`; `unknown` while the check has nothing to judge by
   * (no resource sample yet, no probe answered yet).
   */
  health: Health;
  /** A sentence a person can act on, with the numbers that led to the verdict. */
  reason: string;
  /** For `task_stale` / `task_duration`: the task the verdict is about. */
  taskId?: string;
}

/**
 * One resource sample of an agent's whole process tree (the main PID and every descendant),
 * taken every sampling interval by the integrator.
 */
export interface ResourceSample {
  /** Epoch ms the sample was taken. */
  ts: number;
  /** CPU of the tree in percent of one core since the previous sample (may exceed 100). */
  cpuPercent: number;
  /** Resident set size of the tree, summed over its processes, in bytes. */
  rssBytes: number;
}

/**
 * A health check: fed observations by the integrator, asked for a verdict on its cadence.
 * Every check is pure state plus an injected clock; none starts processes. Observation
 * methods are optional — a check implements only those it judges by, and
 * {@link AgentHealth} hands each observation to the checks that take it.
 */
export interface HealthCheck {
  /** The SPEC §12 name this check reports under. */
  readonly check: HealthCheckName;
  /** Any event or heartbeat from the agent, at `ts`. */
  seen?(ts: number): void;
  /** A resource sample of the agent's process tree. */
  sample?(sample: ResourceSample): void;
  /** The agent began task `taskId` at `ts`. */
  taskStarted?(taskId: string, ts: number): void;
  /** A `task_progress` event for `taskId` at `ts`. */
  taskProgress?(taskId: string, ts: number): void;
  /** The task completed, failed or was abandoned. */
  taskEnded?(taskId: string): void;
  /** Begins the check's own timers (the HTTP probe); idempotent. */
  start?(): void;
  /** Stops the check's own timers and anything in flight; idempotent. */
  stop?(): void;
  /**
   * Forgets everything observed, as if watching began at `now`; called when the agent's
   * process is (re)started, because a new process owes nothing to the old one's history.
   */
  reset(now: number): void;
  /** The verdict at `now`. Never throws; cheap enough to call every sampling interval. */
  evaluate(now: number): CheckResult;
  /**
   * The health {@link evaluate} would give at `now`, without building its reason. Optional:
   * for a check whose reason costs more than its verdict (durations and sizes formatted every
   * second), so that {@link AgentHealth} can keep the check's previous result while its
   * health stays put. Only for checks whose result means the same while the health does (so
   * not for the task checks, whose result also names the task). Never throws; must agree
   * with `evaluate`.
   */
  healthAt?(now: number): Health;
  /**
   * How long the check's health stays what it is at `now` if nothing new is observed — where
   * an idle sample counts as nothing new: one that repeats the latest sample with no CPU (the
   * same RSS and processes, as a process that did not run gives). Until that time the
   * integrator may withhold idle samples and skip evaluations, so that an idle fleet costs
   * nothing per agent; the check must judge afterwards as if it had been fed them. Returns
   * an epoch ms (`now` or earlier: judge every interval), or `Infinity` (until something is
   * observed). Optional: a check without it is fed and judged every interval. Asked right
   * after an evaluation at `now`. Never throws.
   */
  quietUntil?(now: number): number;
}

/** Bytes in the `MB` of the config keys (`max_memory_mb`, `min_growth_mb`): 2^20, as `ps` and top count. */
export const MB = 1024 * 1024;

/**
 * Milliseconds as a person reads them in a reason: `300ms`, `2.5s`, `42s`, `5m`, `5m 12s`,
 * `2h 5m`, `3d 4h`. Below 10 s one decimal is kept; above, whole units (rounded down, so a
 * reason never claims more time than passed).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.floor(ms)}ms`;
  if (ms < 10_000) return `${Math.floor(ms / 100) / 10}s`;
  const s = Math.floor(ms / 1000);
  const pair = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit} ${small}${smallUnit}`;
  if (s < 60) return `${s}s`;
  if (s < 3600) return pair(Math.floor(s / 60), 'm', s % 60, 's');
  if (s < 86_400) return pair(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'm');
  return pair(Math.floor(s / 86_400), 'd', Math.floor((s % 86_400) / 3600), 'h');
}

/** Bytes as whole MB (2^20) for reasons: `1100 MB`. */
export function formatMb(bytes: number): string {
  return `${Math.round(bytes / MB)} MB`;
}
