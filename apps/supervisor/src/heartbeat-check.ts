import type { Health } from '@warden/protocol';
import { formatDuration } from './health-check.js';
import type { CheckResult, HealthCheck } from './health-check.js';

/** Options of {@link HeartbeatCheck}, in milliseconds. */
export interface HeartbeatCheckOptions {
  /** `health.heartbeat_timeout` (or `monitoring.health_checks.agent_response.timeout`). */
  timeoutMs: number;
  /**
   * `monitoring.health_checks.agent_response.max_failures`: how many consecutive timeout
   * periods without a word make the agent unresponsive. The N-th miss is the one that counts:
   * with `timeout 10s, max_failures 3` the agent is unresponsive after exactly 30 s of silence.
   * @defaultValue 1
   */
  maxFailures?: number;
  /** When watching began (the process start); silence is counted from here until the first `seen`. */
  since: number;
  /**
   * Judge nothing (`unknown`) until the agent's first sign of life: a plain process that never
   * talks to the hub (a `sleep`, a shell script) is not unresponsive, it just has no heartbeat.
   * Once it has spoken, silence counts as usual, also across restarts. @defaultValue false
   */
  armOnFirstSeen?: boolean;
}

/**
 * Heartbeat / response timeout (check `heartbeat`). Any event or heartbeat from the agent
 * (`seen`) proves it alive. Silence is cut into whole timeout periods, each one a miss:
 * `misses = floor(silence / timeout)`; at `misses >= maxFailures` the agent is
 * `unresponsive` (health `warning`, as SPEC §12 maps that status). The boundary is inclusive:
 * with a 30 s timeout, 29,999 ms of silence is healthy and 30,000 ms is unresponsive.
 * Fewer misses stay healthy, with the count in the reason.
 */
export class HeartbeatCheck implements HealthCheck {
  readonly check = 'heartbeat' as const;
  private readonly timeoutMs: number;
  private readonly maxFailures: number;
  private since: number;
  private lastSeen: number | undefined;
  private readonly armOnFirstSeen: boolean;
  private everSeen = false;

  constructor(options: HeartbeatCheckOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError('heartbeat timeoutMs must be > 0');
    const maxFailures = options.maxFailures ?? 1;
    if (!Number.isInteger(maxFailures) || maxFailures < 1)
      throw new RangeError('heartbeat maxFailures must be an integer >= 1');
    this.timeoutMs = options.timeoutMs;
    this.maxFailures = maxFailures;
    this.since = options.since;
    this.armOnFirstSeen = options.armOnFirstSeen ?? false;
  }

  /** Records a sign of life; an older timestamp than one already seen changes nothing. */
  seen(ts: number): void {
    this.everSeen = true;
    if (this.lastSeen === undefined || ts > this.lastSeen) this.lastSeen = ts;
  }

  /** Silence counts from `now` again and earlier signs of life are forgotten. */
  reset(now: number): void {
    this.since = now;
    this.lastSeen = undefined;
  }

  /** Whether the agent is unresponsive at `now` (the `unresponsive` status of SPEC §9). */
  isUnresponsive(now: number): boolean {
    return this.misses(now) >= this.maxFailures;
  }

  /** `evaluate(now).health` without its reason (see {@link HealthCheck.healthAt}). */
  healthAt(now: number): Health {
    if (this.armOnFirstSeen && !this.everSeen) return 'unknown';
    return this.misses(now) >= this.maxFailures ? 'warning' : 'healthy';
  }

  /**
   * See {@link HealthCheck.quietUntil}: only an event or heartbeat moves it, besides the
   * moment the silence reaches `maxFailures` timeouts; unarmed, or unresponsive already, it
   * stays until the agent is seen.
   */
  quietUntil(now: number): number {
    if (this.armOnFirstSeen && !this.everSeen) return Infinity;
    if (this.misses(now) >= this.maxFailures) return Infinity;
    return (this.lastSeen ?? this.since) + this.maxFailures * this.timeoutMs;
  }

  evaluate(now: number): CheckResult {
    if (this.armOnFirstSeen && !this.everSeen)
      return {
        check: this.check,
        health: 'unknown',
        reason:
          'no event or heartbeat from the agent yet: the heartbeat check starts at the first one',
      };
    const silence = Math.max(0, now - (this.lastSeen ?? this.since));
    const misses = this.misses(now);
    const timeout = formatDuration(this.timeoutMs);
    if (misses >= this.maxFailures) {
      const detail =
        this.maxFailures === 1
          ? `timeout ${timeout}`
          : `${misses} missed ${timeout} timeouts, max_failures ${this.maxFailures}`;
      return {
        check: this.check,
        health: 'warning',
        reason: `no event or heartbeat for ${formatDuration(silence)} (${detail})`,
      };
    }
    const base =
      this.lastSeen === undefined
        ? `no event or heartbeat yet, ${formatDuration(silence)} since start (timeout ${timeout})`
        : `last event ${formatDuration(silence)} ago (timeout ${timeout})`;
    return {
      check: this.check,
      health: 'healthy',
      reason:
        misses === 0
          ? base
          : `${base}: ${misses} of ${this.maxFailures} timeouts missed before unresponsive`,
    };
  }

  private misses(now: number): number {
    if (this.armOnFirstSeen && !this.everSeen) return 0;
    const silence = now - (this.lastSeen ?? this.since);
    return silence <= 0 ? 0 : Math.floor(silence / this.timeoutMs);
  }
}
