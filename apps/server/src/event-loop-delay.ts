import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * Period of the timer whose lateness is the event-loop delay. prom-client's default of 10 ms
 * woke an idle hub 100 times a second (about 1% of a core on a small VM, the hub's largest
 * idle cost); at 100 ms a stall that spans a tick still shows in full, at a tenth of the
 * wake-ups. Shorter stalls are caught in proportion to their length (a 50 ms one half the time).
 */
export const EVENT_LOOP_DELAY_PERIOD_MS = 100;

/** The statistics prom-client's default metrics derive from its delay histogram. */
const STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

/** The Prometheus name of one statistic: `nodejs_eventloop_lag_<stat>_seconds`. */
export function eventLoopDelayMetricName(stat: (typeof STATS)[number]): string {
  return `nodejs_eventloop_lag_${stat}_seconds`;
}

/**
 * A resolution for prom-client's own delay histogram at which its timer never fires (about
 * 24 days): {@link registerEventLoopDelay} replaces the gauges it feeds.
 */
const PROM_CLIENT_HISTOGRAM_OFF_MS = 2_147_483_647;

/**
 * Node's default process metrics (prom-client's) on `registry`, as the hub exports them: the
 * event-loop delay from {@link registerEventLoopDelay} instead of prom-client's 10 ms probe,
 * and without the `*_total` gauges `promtool check metrics` rejects (a `_total` suffix is for
 * counters; the per-type gauges without it stay). Returns a function that stops the probe.
 */
export function collectNodeMetrics(registry: Registry): () => void {
  collectDefaultMetrics({
    register: registry,
    eventLoopMonitoringPrecision: PROM_CLIENT_HISTOGRAM_OFF_MS,
  });
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ])
    registry.removeSingleMetric(name);
  return registerEventLoopDelay(registry);
}

/**
 * Replaces prom-client's `nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds` on
 * `registry` (if it has them: see {@link collectNodeMetrics}) with the same names fed by one histogram at `periodMs`. Node's histogram records the whole
 * interval between ticks, so prom-client reports an idle loop as lagging by the period; these
 * report only the lateness beyond it (0 when idle), which keeps the figures comparable
 * whatever the period. Returns a function that stops the histogram.
 */
export function registerEventLoopDelay(
  registry: Registry,
  periodMs = EVENT_LOOP_DELAY_PERIOD_MS,
): () => void {
  const histogram = monitorEventLoopDelay({ resolution: periodMs });
  histogram.enable();
  const periodNs = periodMs * 1e6;
  const late = (ns: number) => Math.max(0, ns - periodNs) / 1e9;
  let snapshot: Record<(typeof STATS)[number], number> | undefined;
  const take = () => {
    // No tick since the previous scrape (a stall longer than the gap, or scrapes closer than
    // the period): nothing new to report, the previous figures stand.
    if (histogram.count === 0) {
      snapshot ??= { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
      return;
    }
    snapshot = {
      min: late(histogram.min),
      max: late(histogram.max),
      mean: late(histogram.mean),
      stddev: histogram.stddev / 1e9,
      p50: late(histogram.percentile(50)),
      p90: late(histogram.percentile(90)),
      p99: late(histogram.percentile(99)),
    };
    histogram.reset();
  };
  // A scrape collects the gauges in registration order: the first one takes the figures of
  // the ticks since the previous scrape, the others report from them.
  STATS.forEach((stat, i) => {
    const name = eventLoopDelayMetricName(stat);
    registry.removeSingleMetric(name);
    new Gauge({
      name,
      help: `The ${stat} of the event loop's lateness beyond its ${periodMs} ms probe timer in seconds, since the previous scrape.`,
      registers: [registry],
      collect() {
        if (i === 0 || !snapshot) take();
        this.set(snapshot![stat]);
      },
    });
  });
  return () => histogram.disable();
}
