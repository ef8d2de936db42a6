import type { Health } from '@warden/protocol';
import { MB, formatDuration, formatMb } from './health-check.js';
import type { CheckResult, HealthCheck, ResourceSample } from './health-check.js';

/** Options of {@link ResourceCheck}. */
export type ResourceCheckOptions =
  | {
      /** CPU of the process tree against `health.max_cpu_percent`. */
      check: 'cpu';
      /** `health.max_cpu_percent`, percent of one core (a tree on 2 cores can reach 200). */
      maxCpuPercent: number;
      /** `health.for` in ms: how long every sample must be over the limit. */
      forMs: number;
    }
  | {
      /** RSS of the whole process tree against `health.max_memory_mb`. */
      check: 'memory';
      /** `health.max_memory_mb`, in MB of 2^20 bytes. */
      maxMemoryMb: number;
      /** `health.for` in ms: how long every sample must be over the limit. */
      forMs: number;
    };

/**
 * CPU or memory of the agent's whole process tree over its limit, sustained (checks `cpu`
 * and `memory`; one instance per resource).
 *
 * "Sustained" means every sample from the first one over the limit up to the latest is over
 * it (strictly above), and the latest is at least `for` after that first one; a single sample
 * at or under the limit resets the clock. Time is measured between samples, not to `now`,
 * so a verdict rests on what was observed: if samples stop coming, the check stays where the
 * last sample left it.
 *
 * Severity: CPU sustained over its limit is a `warning` (the agent is slow or spinning, but
 * working and harmless to others unless it is also hung, which the task checks say);
 * memory sustained over its limit is `critical` (the machine is heading for the OOM killer,
 * which would take the agent — or a neighbour — down without a word).
 *
 * Before the first sample the verdict is `unknown`.
 */
export class ResourceCheck implements HealthCheck {
  readonly check: 'cpu' | 'memory';
  private readonly limit: number;
  private readonly forMs: number;
  private last: ResourceSample | undefined;
  private overSince: number | undefined;

  constructor(options: ResourceCheckOptions) {
    this.check = options.check;
    this.limit = options.check === 'cpu' ? options.maxCpuPercent : options.maxMemoryMb * MB;
    if (!(this.limit > 0)) throw new RangeError(`${options.check} limit must be > 0`);
    if (!(options.forMs >= 0)) throw new RangeError(`${options.check} forMs must be >= 0`);
    this.forMs = options.forMs;
  }

  /** Takes one sample; one older than the latest is ignored (it would rewrite history). */
  sample(sample: ResourceSample): void {
    if (this.last && sample.ts < this.last.ts) return;
    this.last = sample;
    if (this.value(sample) > this.limit) this.overSince ??= sample.ts;
    else this.overSince = undefined;
  }

  reset(_now: number): void {
    this.last = undefined;
    this.overSince = undefined;
  }

  /** `evaluate().health` without its reason (see {@link HealthCheck.healthAt}). */
  healthAt(_now: number): Health {
    if (!this.last) return 'unknown';
    if (this.overSince === undefined || this.last.ts - this.overSince < this.forMs)
      return 'healthy';
    return this.check === 'cpu' ? 'warning' : 'critical';
  }

  /**
   * See {@link HealthCheck.quietUntil}: an idle sample (no CPU, the same RSS) leaves a check
   * under its limit where it is, and a memory check already critical too. Over the limit and
   * not yet sustained, every sample counts (the memory clock runs on them; an idle sample
   * resets the CPU one), and so does the first one.
   */
  quietUntil(now: number): number {
    if (!this.last) return now;
    if (this.overSince === undefined) return Infinity;
    if (this.check === 'memory' && this.last.ts - this.overSince >= this.forMs) return Infinity;
    return now;
  }

  evaluate(_now: number): CheckResult {
    const last = this.last;
    if (!last) return { check: this.check, health: 'unknown', reason: 'no resource sample yet' };
    const value = this.value(last);
    const now =
      this.check === 'cpu' ? `CPU ${Math.round(value)}%` : `process tree memory ${formatMb(value)}`;
    const limit = this.check === 'cpu' ? `${Math.round(this.limit)}%` : formatMb(this.limit);
    if (this.overSince === undefined)
      return { check: this.check, health: 'healthy', reason: `${now} (limit ${limit})` };
    const over = last.ts - this.overSince;
    if (over >= this.forMs) {
      const health: Health = this.check === 'cpu' ? 'warning' : 'critical';
      return {
        check: this.check,
        health,
        reason: `${now}, over the ${limit} limit for ${formatDuration(over)} (allowed ${formatDuration(this.forMs)})`,
      };
    }
    return {
      check: this.check,
      health: 'healthy',
      reason: `${now}, over the ${limit} limit for ${formatDuration(over)} (allowed ${formatDuration(this.forMs)})`,
    };
  }

  private value(sample: ResourceSample): number {
    return this.check === 'cpu' ? sample.cpuPercent : sample.rssBytes;
  }
}
