import type { Health } from '@warden/protocol';
import { describe, expect, it } from 'vitest';
import type { MonitorTarget } from './monitoring-strategy.js';
import { PriorityStrategy, orderByPriority } from './priority-strategy.js';
import { ManualClock } from './test-support/manual-clock.js';

const T0 = 1_760_000_000_000;

interface Spec {
  id: string;
  health?: Health;
  priority?: number;
}

/** Targets with settable health; checks take `checkMs` of clock time; `starts` logs `at id`. */
function fleet(clock: ManualClock, specs: Spec[], checkMs = 0) {
  const starts: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const healths = new Map(specs.map((s) => [s.id, s.health ?? 'healthy']));
  const targets: MonitorTarget[] = specs.map((spec) => ({
    id: spec.id,
    priority: spec.priority ?? 0,
    health: () => healths.get(spec.id)!,
    check: () => {
      starts.push(`${clock.now() - T0} ${spec.id}`);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<void>((resolve) =>
        clock.setTimeout(() => {
          inFlight -= 1;
          resolve();
        }, checkMs),
      );
    },
  }));
  return {
    targets,
    starts,
    setHealth: (id: string, h: Health) => healths.set(id, h),
    startsAt: (ms: number) =>
      starts.filter((s) => s.startsWith(`${ms} `)).map((s) => s.split(' ')[1]),
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

describe('orderByPriority', () => {
  it('orders by health (critical, warning, unknown, healthy), then higher priority, then id', () => {
    const t = (id: string, health: Health, priority = 0): MonitorTarget => ({
      id,
      priority,
      health: () => health,
      check: () => Promise.resolve(),
    });
    const ordered = orderByPriority([
      t('h-low', 'healthy'),
      t('u', 'unknown'),
      t('h-high', 'healthy', 5),
      t('w-b', 'warning', 1),
      t('w-a', 'warning', 1),
      t('w-top', 'warning', 9),
      t('c', 'critical', -3),
    ]);
    expect(ordered.map((x) => x.id)).toEqual(['c', 'w-top', 'w-a', 'w-b', 'u', 'h-high', 'h-low']);
  });

  it('a target whose health cannot be read counts as unknown; a non-finite priority as 0', () => {
    const broken: MonitorTarget = {
      id: 'broken',
      priority: Number.NaN,
      health: () => {
        throw new Error('no verdict');
      },
      check: () => Promise.resolve(),
    };
    const healthy: MonitorTarget = { ...broken, id: 'fine', health: () => 'healthy' };
    const warn: MonitorTarget = { ...broken, id: 'warn', health: () => 'warning' };
    expect(orderByPriority([healthy, broken, warn]).map((x) => x.id)).toEqual([
      'warn',
      'broken',
      'fine',
    ]);
  });
});

describe('PriorityStrategy', () => {
  it('checks each pass in priority order', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(
      clock,
      [
        { id: 'idle', priority: 0 },
        { id: 'vip', priority: 10 },
        { id: 'warn', health: 'warning' },
        { id: 'down', health: 'critical' },
      ],
      10,
    );
    const s = new PriorityStrategy({ intervalMs: 1000, clock, onError: () => {}, concurrency: 1 });
    s.start(() => f.targets);
    await clock.runFor(100);
    expect(f.starts).toEqual(['0 down', '10 warn', '20 vip', '30 idle']);
    await s.stop();
  });

  it('checks unhealthy targets every interval and healthy ones every `healthyEvery` intervals (default 2)', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock, [
      { id: 'ok' },
      { id: 'warn', health: 'warning' },
      { id: 'gone', health: 'unknown' },
    ]);
    const s = new PriorityStrategy({ intervalMs: 1000, clock, onError: () => {} });
    s.start(() => f.targets);
    await clock.runFor(4500);
    expect([0, 1000, 2000, 3000, 4000].map((ms) => f.startsAt(ms))).toEqual([
      ['warn', 'gone', 'ok'],
      ['warn', 'gone'],
      ['warn', 'gone', 'ok'],
      ['warn', 'gone'],
      ['warn', 'gone', 'ok'],
    ]);
    await s.stop();
  });

  it('with healthyEvery 3, a healthy target is checked every third pass, counted from its own last check', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock, [{ id: 'early' }]);
    const targets = [...f.targets];
    const late = fleet(clock, [{ id: 'late' }]);
    const s = new PriorityStrategy({
      intervalMs: 1000,
      clock,
      onError: () => {},
      healthyEvery: 3,
    });
    s.start(() => targets);
    await clock.runFor(1500);
    targets.push(...late.targets);
    await clock.runFor(5000);
    expect(f.starts).toEqual(['0 early', '3000 early', '6000 early']);
    expect(late.starts).toEqual(['2000 late', '5000 late']);
    await s.stop();
  });

  it('a healthy target that turns critical is checked at the very next pass, first', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock, [{ id: 'a' }, { id: 'b' }]);
    const s = new PriorityStrategy({ intervalMs: 1000, clock, onError: () => {}, concurrency: 1 });
    s.start(() => f.targets);
    await clock.runFor(500);
    f.setHealth('b', 'critical');
    await clock.runFor(1000);
    expect(f.starts).toEqual(['0 a', '0 b', '1000 b']);
    f.setHealth('b', 'healthy');
    await clock.runFor(1000);
    expect(f.starts).toEqual(['0 a', '0 b', '1000 b', '2000 a']);
    await clock.runFor(1000);
    expect(f.starts).toEqual(['0 a', '0 b', '1000 b', '2000 a', '3000 b']);
    await s.stop();
  });

  it('keeps the concurrency bound of the concurrent strategy within a pass', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(
      clock,
      ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => ({ id, health: 'critical' as const })),
      100,
    );
    const s = new PriorityStrategy({ intervalMs: 1000, clock, onError: () => {}, concurrency: 2 });
    s.start(() => f.targets);
    await clock.runFor(500);
    expect(f.starts).toEqual(['0 a', '0 b', '100 c', '100 d', '200 e', '200 f']);
    expect(f.maxInFlight).toBe(2);
    await s.stop();
  });

  it('a check that throws is reported and the strategy goes on', async () => {
    const clock = new ManualClock(T0);
    const errors: string[] = [];
    let checks = 0;
    const t: MonitorTarget = {
      id: 'x',
      priority: 0,
      health: () => 'critical',
      check: () => {
        checks += 1;
        return Promise.reject(new Error('boom'));
      },
    };
    const s = new PriorityStrategy({
      intervalMs: 1000,
      clock,
      onError: (target, e) => errors.push(`${target.id}: ${String(e)}`),
    });
    s.start(() => [t]);
    await clock.runFor(2500);
    expect(checks).toBe(3);
    expect(errors).toEqual(['x: Error: boom', 'x: Error: boom', 'x: Error: boom']);
    await s.stop();
  });
});
