import { MB, formatDuration } from './health-check.js';
import type { Health } from '@warden/protocol';
import type { CheckResult, HealthCheck, ResourceSample } from './health-check.js';

/** Options of {@link MemoryLeakCheck}. */
export interface MemoryLeakCheckOptions {
  /** `health.memory_leak.window` in ms: the trailing span the trend is fitted over. */
  windowMs: number;
  /**
   * `health.memory_leak.min_growth_mb`: the fitted rate must add at least this much over one
   * full window.
   */
  minGrowthMb: number;
  /** `health.max_memory_mb`, when set: the reason then says how long until it is reached. */
  maxMemoryMb?: number;
  /**
   * Fewest samples in the window before a trend is judged (never fewer than 4: each half of
   * the span needs a line of its own).
   * @defaultValue 10
   */
  minSamples?: number;
  /**
   * Fewest of the window the samples must span (first to last) before a trend is judged, as a
   * fraction: a leak is a trend, and a trend needs time.
   * @defaultValue 0.5
   */
  minSpanFraction?: number;
  /**
   * Least R² of the straight-line fit: below it the memory is too noisy around the line to
   * call the rise a trend.
   * @defaultValue 0.5
   */
  minR2?: number;
}

/** A least-squares line through `(minutes, MB)` points. */
interface Fit {
  /** MB per minute. */
  slope: number;
  /** MB at minute 0 (the first sample). */
  intercept: number;
  /** Coefficient of determination, 0 … 1. */
  r2: number;
}

interface Point {
  ts: number;
  mb: number;
}

/**
 * Memory leak (check `memory_leak`): a steady rise of the process tree's RSS, flagged as a
 * `warning` while there is still time to act — before `max_memory_mb` is reached and the
 * `memory` check (or the OOM killer) steps in.
 *
 * Over the samples of the trailing `window`, a least-squares line is fitted, and a leak is
 * flagged when all of these hold:
 * 1. enough data: at least `minSamples` samples, spanning at least `minSpanFraction` of the
 *    window (by default 10 samples over 5 of 10 minutes);
 * 2. a rise: the fitted slope, projected over one full window (slope × window), adds at
 *    least `min_growth_mb` (5 MB/min for 50 MB per 10 m). Projected rather than observed so a
 *    leak is flagged from half a window of data on, and a leak of exactly the threshold rate
 *    is not lost to sampling jitter shortening the observed span;
 * 3. a trend, not noise: R² of the fit at least `minR2` (0.5);
 * 4. sustained — "enough rising samples": the line fitted to each half of the span on its own
 *    rises at least half as fast as the whole. A one-off step (a cache filled once, a
 *    model loaded) lifts one half and leaves the other flat, so it is not a leak, while a
 *    steady leak rises in both.
 *
 * A leak that starts after a long flat stretch is therefore flagged once it fills most of
 * the window. Memory that swings far more than it grows (a big GC sawtooth around a slow
 * rise) fails the R² test and is left to the `memory` limit check.
 *
 * The reason gives the slope in MB/min, the growth and, with a limit, the fitted time until
 * it is reached: `RSS rising 25.0 MB/min (+125 MB in 5m, R² 1.00); ~8 min until 1024 MB limit`.
 */
export class MemoryLeakCheck implements HealthCheck {
  readonly check = 'memory_leak' as const;
  private readonly windowMs: number;
  private readonly minGrowthMb: number;
  private readonly maxMemoryMb: number | undefined;
  private readonly minSamples: number;
  private readonly minSpanMs: number;
  private readonly minR2: number;
  private points: Point[] = [];
  /** Moves whenever `points` does, so a judgement can be kept while they stay. */
  private version = 0;
  private judged: Judgement | undefined;
  private judgedVersion = -1;
  /** The latest point whose MB differs from the one before it; -Infinity: none. */
  private lastStepTs = -Infinity;
  /** {@link quietUntil} said the points are flat: samples may be withheld. */
  private quiet = false;

  constructor(options: MemoryLeakCheckOptions) {
    if (!(options.windowMs > 0)) throw new RangeError('memory_leak windowMs must be > 0');
    if (!(options.minGrowthMb > 0)) throw new RangeError('memory_leak minGrowthMb must be > 0');
    this.windowMs = options.windowMs;
    this.minGrowthMb = options.minGrowthMb;
    this.maxMemoryMb = options.maxMemoryMb;
    // Two points always fit a line perfectly, and each half needs two of its own.
    this.minSamples = Math.max(4, options.minSamples ?? 10);
    this.minSpanMs = this.windowMs * (options.minSpanFraction ?? 0.5);
    this.minR2 = options.minR2 ?? 0.5;
  }

  /**
   * Takes one sample (only its RSS matters); an older one than the latest is ignored. The
   * first sample after a quiet stretch (see {@link quietUntil}) first puts back the idle
   * samples the integrator withheld: the latest RSS, at the spacing of the last two points,
   * over the part of the gap still in the window — so the fit is the one every sample would
   * have given.
   */
  sample(sample: ResourceSample): void {
    const pts = this.points;
    const n = pts.length;
    const last = pts[n - 1];
    if (last && sample.ts < last.ts) return;
    const mb = sample.rssBytes / MB;
    if (this.quiet && n >= 2 && last) {
      const step = last.ts - pts[n - 2]!.ts;
      if (step > 0) {
        let ts = last.ts + step;
        const from = sample.ts - this.windowMs;
        if (ts < from) ts += Math.ceil((from - ts) / step) * step;
        for (; ts <= sample.ts - step / 2; ts += step) pts.push({ ts, mb: last.mb });
      }
    }
    this.quiet = false;
    const prev = pts[pts.length - 1];
    if (prev !== undefined && prev.mb !== mb) this.lastStepTs = sample.ts;
    pts.push({ ts: sample.ts, mb });
    this.version++;
    this.trim(sample.ts);
  }

  /** A new process starts a new memory history. */
  reset(_now: number): void {
    this.points = [];
    this.version++;
    this.lastStepTs = -Infinity;
    this.quiet = false;
  }

  /**
   * See {@link HealthCheck.quietUntil}: while every point in the window has the same RSS the
   * slope is 0 and idle samples keep it so, until something is observed (they are then put
   * back, see {@link sample}). With fewer than two points, or a change in the window, every
   * sample counts.
   */
  quietUntil(now: number): number {
    this.trim(now);
    // Two points at least: their spacing is the cadence the withheld samples are put back at.
    const first = this.points[0];
    this.quiet = this.points.length >= 2 && this.lastStepTs <= first!.ts;
    return this.quiet ? Infinity : now;
  }

  /**
   * `evaluate(now).health` without building its reason: with 1 s samples over a 10 minute
   * window, the reason's numbers cost more than the fits, every second for every agent.
   */
  healthAt(now: number): Health {
    const j = this.judge(now);
    return j.kind === 'empty' ? 'unknown' : j.kind === 'leak' ? 'warning' : 'healthy';
  }

  evaluate(now: number): CheckResult {
    const j = this.judge(now);
    const result = (health: 'healthy' | 'warning' | 'unknown', reason: string): CheckResult => ({
      check: this.check,
      health,
      reason,
    });
    if (j.kind === 'empty') return result('unknown', 'no resource sample yet');
    const { n, span } = j;
    if (j.kind === 'collecting')
      return result(
        'healthy',
        `collecting: ${n} sample${n === 1 ? '' : 's'} over ${formatDuration(span)} ` +
          `(a trend needs ${this.minSamples} over ${formatDuration(this.minSpanMs)})`,
      );
    const fit = j.fit;
    const growth = (fit.slope * span) / 60_000;
    const perWindow = (fit.slope * this.windowMs) / 60_000;
    const trend = `${formatSlope(fit.slope)} (${formatGrowth(growth)} in ${formatDuration(span)}, R² ${fit.r2.toFixed(2)})`;
    switch (j.kind) {
      case 'falling':
        return result('healthy', `RSS not rising: ${trend}`);
      case 'slow':
        return result(
          'healthy',
          `RSS ${trend}: ${formatGrowth(perWindow)} per ${formatDuration(this.windowMs)} ` +
            `is under min_growth_mb ${this.minGrowthMb}`,
        );
      case 'noisy':
        return result('healthy', `RSS too noisy to call a leak: ${trend}, R² under ${this.minR2}`);
      case 'step':
        return result(
          'healthy',
          `RSS rose but not steadily (a step, not a leak): ${trend}; ` +
            `first half ${formatSlope(j.a)}, second half ${formatSlope(j.b)}`,
        );
    }
    let reason = `RSS rising ${trend}`;
    if (this.maxMemoryMb !== undefined) {
      const nowMb = fit.intercept + fit.slope * ((now - j.t0) / 60_000);
      const left = (this.maxMemoryMb - nowMb) / fit.slope;
      reason +=
        left <= 0
          ? `; already at the ${this.maxMemoryMb} MB limit`
          : `; ${formatMinutes(left)} until ${this.maxMemoryMb} MB limit`;
    }
    return result('warning', reason);
  }

  /**
   * The verdict on the points in the window at `now`, with the figures its reason needs. It
   * depends on the points only (`now` just trims them), so it is kept until they change: an
   * evaluation after {@link healthAt} in the same pass fits nothing again.
   */
  private judge(now: number): Judgement {
    this.trim(now);
    if (this.judged !== undefined && this.judgedVersion === this.version) return this.judged;
    const j = this.judgePoints();
    this.judged = j;
    this.judgedVersion = this.version;
    return j;
  }

  private judgePoints(): Judgement {
    const pts = this.points;
    const n = pts.length;
    if (n === 0) return { kind: 'empty' };
    const span = pts[n - 1]!.ts - pts[0]!.ts;
    if (n < this.minSamples || span < this.minSpanMs) return { kind: 'collecting', n, span };
    const t0 = pts[0]!.ts;
    const fit = fitLine(pts, t0, 0, n);
    if (fit.slope <= 0) return { kind: 'falling', n, span, t0, fit };
    // The epsilon keeps a leak of exactly the threshold rate from failing on rounding.
    if ((fit.slope * this.windowMs) / 60_000 < this.minGrowthMb * (1 - 1e-9))
      return { kind: 'slow', n, span, t0, fit };
    if (fit.r2 < this.minR2) return { kind: 'noisy', n, span, t0, fit };
    // The points are in time order (an older sample is refused), so each half is a run.
    const mid = t0 + span / 2;
    let k = 0;
    while (k < n && pts[k]!.ts < mid) k++;
    const a = k >= 2 ? fitLine(pts, t0, 0, k).slope : 0;
    const b = n - k >= 2 ? fitLine(pts, t0, k, n).slope : 0;
    if (a < fit.slope / 2 || b < fit.slope / 2) return { kind: 'step', n, span, t0, fit, a, b };
    return { kind: 'leak', n, span, t0, fit };
  }

  private trim(now: number): void {
    const from = now - this.windowMs;
    let drop = 0;
    while (drop < this.points.length && this.points[drop]!.ts < from) drop++;
    if (drop > 0) {
      this.points.splice(0, drop);
      this.version++;
    }
  }
}

/** What {@link MemoryLeakCheck} concluded from its points, before words. */
type Judgement =
  | { kind: 'empty' }
  | { kind: 'collecting'; n: number; span: number }
  | { kind: 'falling' | 'slow' | 'noisy' | 'leak'; n: number; span: number; t0: number; fit: Fit }
  | { kind: 'step'; n: number; span: number; t0: number; fit: Fit; a: number; b: number };

/** Least squares over `pts[from, to)`, centred sums (epoch ms would lose precision squared). */
function fitLine(pts: readonly Point[], t0: number, from: number, to: number): Fit {
  const n = to - from;
  let mx = 0;
  let my = 0;
  for (let i = from; i < to; i++) {
    const p = pts[i]!;
    mx += (p.ts - t0) / 60_000;
    my += p.mb;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = from; i < to; i++) {
    const p = pts[i]!;
    const dx = (p.ts - t0) / 60_000 - mx;
    const dy = p.mb - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (sxx === 0) return { slope: 0, intercept: my, r2: 0 };
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx, r2: syy === 0 ? 0 : (sxy * sxy) / (sxx * syy) };
}

function formatSlope(mbPerMin: number): string {
  // Slow leaks over long windows are fractions of a MB per minute; -0.0 would read as a fall.
  const v = Math.abs(mbPerMin) < 0.005 ? 0 : mbPerMin;
  return `${v.toFixed(Math.abs(v) < 1 ? 2 : 1)} MB/min`;
}

function formatGrowth(mb: number): string {
  const r = Math.round(mb);
  return r >= 0 ? `+${r} MB` : `-${-r} MB`;
}

/** `<1 min`, `~12 min`, `~3 h`: an estimate, so no false precision. */
function formatMinutes(min: number): string {
  if (min < 1) return '<1 min';
  if (min < 120) return `~${Math.round(min)} min`;
  return `~${Math.round(min / 60)} h`;
}
