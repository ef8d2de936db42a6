import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { eventLoopDelayMetricName, registerEventLoopDelay } from './event-loop-delay.js';
import { HubMetrics } from './hub-metrics.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value of an unlabelled series in Prometheus text. */
function value(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} is not in the scrape`);
  return Number(line.slice(name.length + 1));
}

const stops: (() => void)[] = [];
afterEach(() => stops.splice(0).forEach((s) => s()));

describe('event-loop delay gauges', () => {
  it('report lateness beyond the probe period: near 0 when idle, the stall when the loop blocks', async () => {
    const registry = new Registry();
    stops.push(registerEventLoopDelay(registry, 20));
    await sleep(200);
    const idle = await registry.metrics();
    // prom-client's own histogram would report the period itself (0.02 s) for an idle loop.
    expect(value(idle, eventLoopDelayMetricName('min'))).toBeLessThan(0.015);
    expect(value(idle, eventLoopDelayMetricName('p50'))).toBeLessThan(0.015);

    await sleep(30);
    const t = Date.now();
    while (Date.now() - t < 150) {
      // Blocks the loop past several probe ticks.
    }
    await sleep(50);
    const stalled = await registry.metrics();
    expect(value(stalled, eventLoopDelayMetricName('max'))).toBeGreaterThanOrEqual(0.1);
    expect(value(stalled, eventLoopDelayMetricName('max'))).toBeLessThan(1);

    // Each scrape covers the ticks since the previous one: the stall is gone from the next.
    await sleep(200);
    const after = await registry.metrics();
    expect(value(after, eventLoopDelayMetricName('max'))).toBeLessThan(0.1);
  });

  it('reports 0, not an empty histogram’s sentinel, before the first tick', async () => {
    const registry = new Registry();
    stops.push(registerEventLoopDelay(registry, 60_000));
    const text = await registry.metrics();
    for (const stat of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const)
      expect(value(text, eventLoopDelayMetricName(stat))).toBe(0);
  });

  it('the hub exports each event-loop series once, beside the scrape-time lag of prom-client', async () => {
    const text = await new HubMetrics().registry.metrics();
    for (const name of [
      'nodejs_eventloop_lag_seconds',
      eventLoopDelayMetricName('min'),
      eventLoopDelayMetricName('p99'),
    ]) {
      expect(text.split('\n').filter((l) => l.startsWith(`# TYPE ${name} `))).toHaveLength(1);
    }
  });
});
