import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Health } from '@warden/protocol';
import { AgentHealth } from './agent-health.js';
import { MB, type HealthCheck } from './health-check.js';
import { HeartbeatCheck } from './heartbeat-check.js';
import { MemoryLeakCheck } from './memory-leak-check.js';
import { ResourceCheck } from './resource-check.js';
import { TaskProgressCheck } from './task-progress-check.js';

/**
 * The contract of `HealthCheck.quietUntil`: an integrator that withholds idle samples (no CPU,
 * the same RSS) and skips evaluations while a check says it is quiet sees exactly the health
 * an integrator that feeds and judges every sample sees. Shown on generated histories: one
 * sample a second, idle most of the time, with bursts of change, events and tasks.
 */

type Event = { kind: 'seen' } | { kind: 'start' | 'progress' | 'end'; task: 'a' | 'b' };

interface Step {
  /** Undefined: an idle sample (no CPU, the RSS of the latest). */
  sample: { cpu: number; mb: number } | undefined;
  event: Event | undefined;
}

const step: fc.Arbitrary<Step> = fc.record({
  sample: fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    {
      weight: 2,
      arbitrary: fc.record({
        cpu: fc.constantFrom(0, 10, 80, 150),
        mb: fc.constantFrom(40, 60, 90, 120, 200),
      }),
    },
    // A steady climb: what a leak looks like.
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 8 }).map((d) => ({ cpu: 5, mb: -d })) },
  ),
  event: fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant<Event>({ kind: 'seen' }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constantFrom('start' as const, 'progress' as const, 'end' as const),
        task: fc.constantFrom('a' as const, 'b' as const),
      }),
    },
  ),
});

const T0 = 1_000_000;

function observe(check: HealthCheck, e: Event | undefined, now: number): void {
  if (!e) return;
  if (e.kind === 'seen') check.seen?.(now);
  else if (e.kind === 'start') check.taskStarted?.(e.task, now);
  else if (e.kind === 'progress') check.taskProgress?.(e.task, now);
  else check.taskEnded?.(e.task);
}

const healthOf = (c: HealthCheck, now: number): Health =>
  c.healthAt?.(now) ?? c.evaluate(now).health;

/** The health after each step: every sample fed (`all`), or idle ones withheld while quiet. */
function replay(make: () => HealthCheck, steps: readonly Step[]) {
  const all = make();
  const quiet = make();
  all.reset(T0);
  quiet.reset(T0);
  let mb = 50;
  let quietUntil = -Infinity;
  let kept: Health = 'unknown';
  const a: Health[] = [];
  const q: Health[] = [];
  let withheld = 0;
  steps.forEach((s, i) => {
    const now = T0 + (i + 1) * 1000;
    if (s.sample) mb = s.sample.mb < 0 ? mb + -s.sample.mb : s.sample.mb;
    const sample = { ts: now, cpuPercent: s.sample?.cpu ?? 0, rssBytes: mb * MB };
    observe(all, s.event, now);
    all.sample?.(sample);
    a.push(healthOf(all, now));
    observe(quiet, s.event, now);
    if (s.sample === undefined && s.event === undefined && now < quietUntil) {
      withheld++;
      q.push(kept);
      return;
    }
    quiet.sample?.(sample);
    kept = healthOf(quiet, now);
    quiet.evaluate(now);
    quietUntil = quiet.quietUntil!(now);
    q.push(kept);
  });
  return { all: a, quiet: q, withheld };
}

const checks: Array<[string, () => HealthCheck]> = [
  ['cpu', () => new ResourceCheck({ check: 'cpu', maxCpuPercent: 50, forMs: 3000 })],
  ['memory', () => new ResourceCheck({ check: 'memory', maxMemoryMb: 100, forMs: 3000 })],
  [
    'heartbeat',
    () => new HeartbeatCheck({ timeoutMs: 4000, maxFailures: 2, since: T0, armOnFirstSeen: true }),
  ],
  ['task_stale', () => new TaskProgressCheck({ check: 'task_stale', limitMs: 4000 })],
  ['task_duration', () => new TaskProgressCheck({ check: 'task_duration', limitMs: 7000 })],
  ['memory_leak', () => new MemoryLeakCheck({ windowMs: 20_000, minGrowthMb: 10, minSamples: 5 })],
];

describe('HealthCheck.quietUntil: withholding idle samples changes no verdict', () => {
  for (const [name, make] of checks)
    it(`${name}: the same health at every step as feeding every sample`, () => {
      fc.assert(
        fc.property(fc.array(step, { minLength: 1, maxLength: 120 }), (steps) => {
          const r = replay(make, steps);
          expect(r.quiet).toEqual(r.all);
        }),
        { numRuns: 300 },
      );
    });

  it('an idle stretch is withheld: 60 idle seconds cost no evaluation of an idle check', () => {
    const idle: Step[] = Array.from({ length: 60 }, () => ({
      sample: undefined,
      event: undefined,
    }));
    const first: Step = { sample: { cpu: 0, mb: 50 }, event: undefined };
    for (const [name, make] of checks) {
      const r = replay(make, [first, ...idle]);
      // The heartbeat check is unarmed (never seen); the others are flat and under limits.
      expect([name, r.withheld]).toEqual([name, name === 'memory_leak' ? 59 : 60]);
    }
  });

  it('the leak check puts the withheld samples back: a leak after a quiet stretch is judged as if every sample had been fed', () => {
    const steps: Step[] = [
      ...Array.from({ length: 50 }, () => ({ sample: undefined, event: undefined })),
      ...Array.from({ length: 20 }, () => ({ sample: { cpu: 5, mb: -3 }, event: undefined })),
    ];
    const r = replay(
      () => new MemoryLeakCheck({ windowMs: 20_000, minGrowthMb: 10, minSamples: 5 }),
      [{ sample: { cpu: 0, mb: 50 }, event: undefined }, ...steps],
    );
    expect(r.withheld).toBeGreaterThan(40);
    expect(r.quiet).toEqual(r.all);
    expect(r.all.at(-1)).toBe('warning');
  });
});

describe('AgentHealth.quietUntil', () => {
  const make = () =>
    AgentHealth.fromOptions(
      { heartbeatTimeoutMs: 5000, maxMemoryMb: 100, sustainedForMs: 1000 },
      { clock: { now: () => T0 } as never },
    );

  it('is -Infinity until evaluated, and after any observation', () => {
    const h = make();
    expect(h.quietUntil()).toBe(-Infinity);
    h.sample({ ts: T0, cpuPercent: 0, rssBytes: 10 * MB });
    h.evaluate(T0);
    // The heartbeat (never armed here: fromOptions arms at start) runs out at T0 + 5 s.
    expect(h.quietUntil()).toBe(T0 + 5000);
    h.seen(T0 + 1000);
    expect(h.quietUntil()).toBe(-Infinity);
    h.evaluate(T0 + 1000);
    expect(h.quietUntil()).toBe(T0 + 6000);
    h.touch();
    expect(h.quietUntil()).toBe(-Infinity);
  });

  it('is the earliest of its checks, and -Infinity when one cannot tell', () => {
    const h = new AgentHealth([
      new TaskProgressCheck({ check: 'task_stale', limitMs: 3000 }),
      {
        check: 'cpu',
        reset: () => {},
        evaluate: () => ({ check: 'cpu', health: 'healthy', reason: '' }),
      },
    ]);
    h.taskStarted('t', T0);
    h.evaluate(T0);
    expect(h.quietUntil()).toBe(-Infinity);
    const only = new AgentHealth([new TaskProgressCheck({ check: 'task_stale', limitMs: 3000 })]);
    only.taskStarted('t', T0);
    only.evaluate(T0 + 1000);
    expect(only.quietUntil()).toBe(T0 + 3000);
  });
});
