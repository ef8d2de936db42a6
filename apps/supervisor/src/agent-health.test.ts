import { describe, expect, it } from 'vitest';
import { AgentHealth } from './agent-health.js';
import type { AgentHealthOptions } from './agent-health.js';
import { MB, type HealthCheck } from './health-check.js';
import { HeartbeatCheck } from './heartbeat-check.js';
import type { ProbeFetch } from './http-probe-check.js';
import { ResourceCheck } from './resource-check.js';
import type { ResolvedHealthOptions } from './supervisor-config.js';
import { TaskProgressCheck } from './task-progress-check.js';
import { ManualClock } from './test-support/manual-clock.js';

const sample = (ts: number, cpuPercent: number, mb: number) => ({
  ts,
  cpuPercent,
  rssBytes: mb * MB,
});

/** The `health:` block of SPEC §9, in ms. */
const SPEC_EXAMPLE = {
  heartbeatTimeoutMs: 30_000,
  maxCpuPercent: 80,
  maxMemoryMb: 1024,
  sustainedForMs: 120_000,
  maxTaskDurationMs: 300_000,
  staleTaskThresholdMs: 180_000,
  memoryLeak: { windowMs: 600_000, minGrowthMb: 50 },
  http: {
    url: 'http://127.0.0.1:9000/health',
    intervalMs: 10_000,
    timeoutMs: 2_000,
    failureThreshold: 3,
  },
};

describe('AgentHealth', () => {
  it('a fresh, quiet agent reports no transitions: healthy is the silent starting point', () => {
    const clock = new ManualClock();
    const health = new AgentHealth([
      new HeartbeatCheck({ timeoutMs: 30_000, since: clock.now() }),
      new TaskProgressCheck({ check: 'task_stale', limitMs: 180_000 }),
    ]);
    const v = health.evaluate(clock.now());
    expect(v.changes).toEqual([]);
    expect(v.health).toBe('healthy');
    expect(v.hung).toBeUndefined();
    expect(v.unresponsive).toBe(false);
    expect(health.health()).toBe('healthy');
  });

  it('a heartbeat timeout is reported once as unresponsive, and again when the agent speaks', () => {
    const clock = new ManualClock();
    const health = new AgentHealth([new HeartbeatCheck({ timeoutMs: 30_000, since: clock.now() })]);
    clock.advance(29_999);
    expect(health.evaluate(clock.now()).changes).toEqual([]);
    clock.advance(1);
    const v = health.evaluate(clock.now());
    expect(v.changes).toEqual([
      {
        check: 'heartbeat',
        health: 'warning',
        previous: 'healthy',
        reason: 'no event or heartbeat for 30s (timeout 30s)',
      },
    ]);
    expect(v.health).toBe('warning');
    expect(v.unresponsive).toBe(true);
    expect(health.isUnresponsive()).toBe(true);
    clock.advance(12_000);
    expect(health.evaluate(clock.now()).changes).toEqual([]); // no repeats, new reason or not
    health.seen(clock.now());
    const back = health.evaluate(clock.now());
    expect(back.changes).toEqual([
      {
        check: 'heartbeat',
        health: 'healthy',
        previous: 'warning',
        reason: 'last event 0ms ago (timeout 30s)',
      },
    ]);
    expect(back.unresponsive).toBe(false);
  });

  it('the verdict is the worst check: tree memory critical outranks cpu warning', () => {
    const health = new AgentHealth([
      new ResourceCheck({ check: 'cpu', maxCpuPercent: 80, forMs: 0 }),
      new ResourceCheck({ check: 'memory', maxMemoryMb: 1024, forMs: 0 }),
    ]);
    health.sample(sample(0, 95, 100));
    expect(health.evaluate(0).health).toBe('warning');
    health.sample(sample(5_000, 95, 2048));
    const v = health.evaluate(5_000);
    expect(v.health).toBe('critical');
    expect(v.changes.map((c) => [c.check, c.previous, c.health])).toEqual([
      ['memory', 'healthy', 'critical'],
    ]);
    expect(v.results.map((r) => r.check)).toEqual(['cpu', 'memory']);
  });

  it('is unknown only while no check knows anything', () => {
    const health = new AgentHealth([
      new ResourceCheck({ check: 'cpu', maxCpuPercent: 80, forMs: 0 }),
      new ResourceCheck({ check: 'memory', maxMemoryMb: 1024, forMs: 0 }),
    ]);
    expect(health.health()).toBe('unknown');
    expect(health.evaluate(0).health).toBe('unknown');
    health.sample(sample(1, 10, 10));
    const v = health.evaluate(1);
    expect(v.health).toBe('healthy');
    expect(v.changes).toEqual([]);
  });

  it('a stale task is the hung task, named with its check, ahead of a task over its duration', () => {
    const health = new AgentHealth([
      new TaskProgressCheck({ check: 'task_duration', limitMs: 300_000 }),
      new TaskProgressCheck({ check: 'task_stale', limitMs: 180_000 }),
    ]);
    health.taskStarted('long', 0);
    health.taskStarted('stuck', 200_000);
    health.taskProgress('long', 299_000);
    let v = health.evaluate(300_000);
    expect(v.hung).toEqual({
      taskId: 'long',
      check: 'task_duration',
      reason: 'task long has been running for 5m, past max_task_duration 5m (2 tasks running)',
    });
    v = health.evaluate(380_000);
    expect(v.hung).toEqual({
      taskId: 'stuck',
      check: 'task_stale',
      reason:
        'task stuck made no progress for 3m (stale_task_threshold 3m): hung or deadlocked (2 tasks running)',
    });
    expect(health.hungTask()).toEqual(v.hung);
    health.taskEnded('stuck');
    health.taskEnded('long');
    v = health.evaluate(380_001);
    expect(v.hung).toBeUndefined();
    expect(v.changes.map((c) => [c.check, c.previous, c.health])).toEqual([
      ['task_duration', 'critical', 'healthy'],
      ['task_stale', 'critical', 'healthy'],
    ]);
  });

  it('after a reset it reports the moves away from what it last said: critical → unknown → healthy', () => {
    const health = new AgentHealth([
      new ResourceCheck({ check: 'memory', maxMemoryMb: 1024, forMs: 0 }),
    ]);
    health.sample(sample(0, 0, 2000));
    expect(health.evaluate(0).changes.map((c) => c.health)).toEqual(['critical']);
    health.reset(10_000);
    expect(health.evaluate(10_000).changes).toEqual([
      {
        check: 'memory',
        health: 'unknown',
        previous: 'critical',
        reason: 'no resource sample yet',
      },
    ]);
    health.sample(sample(15_000, 0, 200));
    expect(health.evaluate(15_000).changes).toEqual([
      {
        check: 'memory',
        health: 'healthy',
        previous: 'unknown',
        reason: 'process tree memory 200 MB (limit 1024 MB)',
      },
    ]);
  });

  it('refuses two checks reporting under the same name', () => {
    expect(
      () =>
        new AgentHealth([
          new TaskProgressCheck({ check: 'task_stale', limitMs: 1 }),
          new TaskProgressCheck({ check: 'task_stale', limitMs: 2 }),
        ]),
    ).toThrow(/two health checks named task_stale/);
  });

  it('builds the checks of the SPEC §9 example from options, and runs the probe only between start and stop', async () => {
    const clock = new ManualClock();
    const urls: string[] = [];
    const fetch: ProbeFetch = async (url) => {
      urls.push(url);
      return { status: 503 };
    };
    const health = AgentHealth.fromOptions(SPEC_EXAMPLE, { clock, fetch });
    expect(health.checks.map((c) => c.check)).toEqual([
      'heartbeat',
      'cpu',
      'memory',
      'memory_leak',
      'task_stale',
      'task_duration',
      'probe',
    ]);
    expect(clock.pending()).toEqual([]);
    health.start();
    for (let i = 0; i < 3; i++) await clock.advanceAsync(10_000);
    expect(urls).toHaveLength(3);
    health.seen(clock.now());
    const v = health.evaluate(clock.now());
    expect(v.changes).toEqual([
      {
        check: 'probe',
        health: 'critical',
        previous: 'unknown',
        reason: '3 consecutive failures: GET http://127.0.0.1:9000/health answered 503',
      },
    ]);
    health.stop();
    expect(clock.pending()).toEqual([]);
  });

  it('builds only the checks whose options are given, and the leak check warns against the memory limit', () => {
    const clock = new ManualClock(0);
    const health = AgentHealth.fromOptions(
      { maxMemoryMb: 1024, memoryLeak: { windowMs: 600_000, minGrowthMb: 50 } },
      { clock },
    );
    expect(health.checks.map((c) => c.check)).toEqual(['memory', 'memory_leak']);
    for (let t = 0; t <= 300_000; t += 5_000) health.sample(sample(t, 0, 700 + (25 * t) / 60_000));
    const v = health.evaluate(300_000);
    expect(v.changes).toEqual([
      {
        check: 'memory_leak',
        health: 'warning',
        previous: 'unknown', // its first evaluation
        reason: 'RSS rising 25.0 MB/min (+125 MB in 5m, R² 1.00); ~8 min until 1024 MB limit',
      },
    ]);
  });

  it('takes the resolved config health options as they are', () => {
    // A compile-time contract with supervisor-config.ts: this stops typechecking if they drift.
    const fromConfig = (h: ResolvedHealthOptions): AgentHealthOptions => h;
    const health = AgentHealth.fromOptions(
      fromConfig({
        heartbeatTimeoutMs: 10_000,
        unresponsiveAfterMisses: 3,
        maxCpuPercent: undefined,
        maxMemoryMb: undefined,
        sustainedForMs: 120_000,
        maxTaskDurationMs: undefined,
        staleTaskThresholdMs: undefined,
        memoryLeak: undefined,
        http: undefined,
      }),
      { clock: new ManualClock(0) },
    );
    expect(health.checks.map((c) => c.check)).toEqual(['heartbeat']);
    expect(health.evaluate(29_999).unresponsive).toBe(false);
    expect(health.evaluate(30_000).unresponsive).toBe(true);
  });

  it('builds no new result or verdict while nothing moves, and a fresh reason when a check moves', () => {
    let evaluations = 0;
    let h: 'healthy' | 'warning' = 'healthy';
    const check: HealthCheck = {
      check: 'cpu',
      reset: () => undefined,
      healthAt: () => h,
      evaluate: () => ({ check: 'cpu', health: h, reason: `${h} #${++evaluations}` }),
    };
    const health = new AgentHealth([
      check,
      new TaskProgressCheck({ check: 'task_stale', limitMs: 180_000 }),
    ]);
    const first = health.evaluate(0);
    expect(evaluations).toBe(1);
    for (let t = 1_000; t <= 5_000; t += 1_000) expect(health.evaluate(t)).toBe(first);
    expect(evaluations).toBe(1);
    h = 'warning';
    const moved = health.evaluate(6_000);
    expect(moved.changes).toEqual([
      { check: 'cpu', health: 'warning', previous: 'healthy', reason: 'warning #2' },
    ]);
    // The next one reports no change again, and keeps the warning's result.
    const after = health.evaluate(7_000);
    expect(after.changes).toEqual([]);
    expect(after.results[0]).toBe(moved.results[0]);
    expect(health.evaluate(8_000)).toBe(after);
    expect(evaluations).toBe(2);
    // A restart (reset) forgets the kept result: the next evaluation judges afresh.
    health.reset(9_000);
    health.evaluate(9_000);
    expect(evaluations).toBe(3);
  });

  it('a task that becomes hung after another one is named, though the check stays critical', () => {
    const health = new AgentHealth([
      new TaskProgressCheck({ check: 'task_stale', limitMs: 1_000 }),
    ]);
    health.taskStarted('a', 0);
    expect(health.evaluate(1_000).hung?.taskId).toBe('a');
    health.taskStarted('b', 500);
    health.taskEnded('a');
    expect(health.evaluate(1_500).hung?.taskId).toBe('b');
  });
});
