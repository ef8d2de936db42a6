import { isDerivedSeries } from './metrics-accumulator.js';
import { RollupAgg } from './rollup-agg.js';
import { FLEET, HOUR, MINUTE, type RollupStore } from './rollup-store.js';

/** Most points of one series in one answer (SPEC: at most 1,000). */
export const MAX_POINTS = 1000;
/** Raw rows read for one answer at most; past that the 1-minute rollups answer instead. */
export const MAX_RAW_ROWS = 100_000;
/** The step when none is asked for aims at about this many points. */
const DEFAULT_POINTS = 300;
const SECOND = 1000;
const DAY = 24 * HOUR;
/** Steps chosen when the asked one is too fine: each is a multiple of the ones its tier needs. */
const NICE_STEPS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
  604800,
].map((s) => s * SECOND);

export type QuerySource = 'raw' | '1m' | '1h';

export interface MetricsQuery {
  /** `*`: the fleet. */
  agentId: string;
  name: string;
  from: number;
  to: number;
  /** Asked step in ms; undefined: chosen for about 300 points. */
  step?: number;
}

export interface QueryLimits {
  now: number;
  /** `retention.metrics_raw`. */
  rawRetention: number;
  /** `retention.metrics_1m`. */
  minuteRetention: number;
  /** `metrics.raw_max_range`. */
  rawMaxRange: number;
}

export interface MetricPointOut {
  /** Start of the step, epoch ms (steps are aligned to multiples of `step` since the epoch). */
  ts: number;
  count: number;
  sum: number;
  avg: number;
  min: number;
  max: number;
  last: number;
  p50: number;
  p95: number;
  p99: number;
  /** Samples per minute over the step (events per minute for the counting series). */
  ratePerMinute: number;
}

export interface MetricsAnswer {
  agentId: string;
  name: string;
  from: number;
  to: number;
  /** Step of the points, ms. */
  step: number;
  /** The step asked for (ms), or null when none was. */
  requestedStep: number | null;
  /** True when the asked step was made coarser (too many points, or finer than the source). */
  coarsened: boolean;
  /** What the points were made from: raw samples, 1-minute or 1-hour rollups. */
  source: QuerySource;
  /** Steps with at least one sample, ascending (steps without any are left out). */
  points: MetricPointOut[];
}

function niceAtLeast(ms: number, multipleOf: number): number {
  for (const s of NICE_STEPS) if (s >= ms && s % multipleOf === 0) return s;
  return Math.ceil(ms / DAY) * DAY;
}

/**
 * Picks the source and the step: raw samples only for one agent's `metric_update` series, a
 * step under a minute, a range inside raw retention and no longer than `raw_max_range`; the
 * 1-minute rollups while the range starts inside their retention; the 1-hour rollups beyond.
 * The step is at least the source's resolution and large enough for at most 1,000 points.
 */
export function planQuery(
  q: MetricsQuery,
  l: QueryLimits,
): { source: QuerySource; step: number; coarsened: boolean } {
  const range = q.to - q.from;
  // Aligned steps overlapping [from, to): at most floor(range / step) + 1.
  const minForPoints = Math.ceil(range / (MAX_POINTS - 1));
  const asked = q.step ?? Math.max(SECOND, Math.ceil(range / DEFAULT_POINTS));
  const rawOk =
    q.agentId !== FLEET &&
    !isDerivedSeries(q.name) &&
    asked < MINUTE &&
    q.from >= l.now - l.rawRetention &&
    range <= l.rawMaxRange;
  const source: QuerySource = rawOk ? 'raw' : q.from >= l.now - l.minuteRetention ? '1m' : '1h';
  const resolution = source === 'raw' ? SECOND : source === '1m' ? MINUTE : HOUR;
  const need = Math.max(asked, resolution, minForPoints);
  let step = need;
  if (q.step === undefined || need !== q.step || q.step % resolution !== 0) {
    step = niceAtLeast(need, resolution);
  }
  return { source, step, coarsened: q.step !== undefined && step !== q.step };
}

function point(ts: number, a: RollupAgg, step: number): MetricPointOut {
  const s = a.sketch;
  // The sketch's bucket values are clamped to what was seen (exact at the extremes).
  const clamp = (v: number | undefined) => Math.min(a.max, Math.max(a.min, v ?? a.last));
  return {
    ts,
    count: a.count,
    sum: a.sum,
    avg: a.sum / a.count,
    min: a.min,
    max: a.max,
    last: a.last,
    p50: clamp(s.quantile(0.5)),
    p95: clamp(s.quantile(0.95)),
    p99: clamp(s.quantile(0.99)),
    ratePerMinute: (a.count * MINUTE) / step,
  };
}

/** This process's samples not in the store yet: held, or in a flush not committed yet. */
export interface LiveSamples {
  /** Counts committed flushes: a read that saw it change may have missed or doubled a flush. */
  generation(): number;
  peek(agentId: string, name: string, from: number, to: number, into: Map<number, RollupAgg>): void;
}

/**
 * Answers one series query from the store and this process's unflushed samples. The rows
 * and the live samples are taken as of one flush generation (read again if a flush committed
 * meanwhile), so a sample is counted once.
 */
export async function runMetricsQuery(
  q: MetricsQuery,
  l: QueryLimits,
  store: RollupStore,
  live: LiveSamples,
): Promise<MetricsAnswer> {
  for (let attempt = 0; ; attempt++) {
    const gen = live.generation();
    const answer = await readOnce(q, l, store, live);
    if (live.generation() === gen || attempt >= 4) return answer;
  }
}

async function readOnce(
  q: MetricsQuery,
  l: QueryLimits,
  store: RollupStore,
  live: LiveSamples,
): Promise<MetricsAnswer> {
  let plan = planQuery(q, l);
  const steps = new Map<number, RollupAgg>();
  const into = (bucket: number, agg: RollupAgg) => {
    const at = bucket - (((bucket % plan.step) + plan.step) % plan.step);
    if (at + plan.step <= q.from || at >= q.to) return;
    const had = steps.get(at);
    if (had) had.merge(agg);
    else steps.set(at, new RollupAgg().merge(agg));
  };

  if (plan.source === 'raw') {
    const rows = await store.readRaw(q.agentId, q.from, q.to, MAX_RAW_ROWS + 1);
    if (rows.length <= MAX_RAW_ROWS) {
      for (const r of rows) {
        const v = (JSON.parse(r.data) as { metrics?: Record<string, unknown> }).metrics?.[q.name];
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        const at = r.ts - (((r.ts % plan.step) + plan.step) % plan.step);
        let a = steps.get(at);
        if (!a) steps.set(at, (a = new RollupAgg()));
        a.add(v, r.ts);
      }
    } else {
      // Too many raw samples (a chatty agent): the minute rollups answer instead.
      const coarser = planQuery({ ...q, step: Math.max(plan.step, MINUTE) }, l);
      plan = { ...coarser, coarsened: true };
      steps.clear();
    }
  }
  if (plan.source !== 'raw') {
    const id = await store.seriesId(q.agentId, q.name);
    // Minute rows and steps start on a minute; the first step may begin before `from`.
    const first = q.from - (((q.from % plan.step) + plan.step) % plan.step);
    if (id !== undefined) {
      let minuteFrom = first;
      if (plan.source === '1h') {
        // Hours not rolled up yet (the open one) are read from their minute rows.
        const rolled = await store.hourMark();
        const hourEnd = Math.min(q.to, rolled);
        for (const r of await store.readRollups('1h', id, first, hourEnd)) {
          into(Number(r.bucket), RollupAgg.fromRow(r));
        }
        minuteFrom = Math.max(first, rolled);
      }
      if (minuteFrom < q.to) {
        for (const r of await store.readRollups('1m', id, minuteFrom, q.to)) {
          into(Number(r.bucket), RollupAgg.fromRow(r));
        }
      }
    }
    const pending = new Map<number, RollupAgg>();
    live.peek(q.agentId, q.name, first, q.to, pending);
    for (const [b, a] of pending) into(b, a);
  }
  const points = [...steps.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([ts, a]) => point(ts, a, plan.step));
  return {
    agentId: q.agentId,
    name: q.name,
    from: q.from,
    to: q.to,
    step: plan.step,
    requestedStep: q.step ?? null,
    coarsened: plan.coarsened,
    source: plan.source,
    points,
  };
}
