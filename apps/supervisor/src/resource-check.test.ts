import { describe, expect, it } from 'vitest';
import { MB } from './health-check.js';
import { ResourceCheck } from './resource-check.js';

const T0 = 1_760_000_000_000;
const cpu = (ts: number, cpuPercent: number) => ({ ts: T0 + ts, cpuPercent, rssBytes: 0 });
const mem = (ts: number, mb: number) => ({ ts: T0 + ts, cpuPercent: 0, rssBytes: mb * MB });

describe('ResourceCheck (cpu)', () => {
  it('is unknown until the first sample', () => {
    const check = new ResourceCheck({ check: 'cpu', maxCpuPercent: 80, forMs: 120_000 });
    expect(check.evaluate(T0)).toEqual({
      check: 'cpu',
      health: 'unknown',
      reason: 'no resource sample yet',
    });
  });

  it('CPU over 80% in every 5s sample is healthy at 119,999 ms and a warning at 120,000 ms', () => {
    const check = new ResourceCheck({ check: 'cpu', maxCpuPercent: 80, forMs: 120_000 });
    check.sample(cpu(0, 12));
    expect(check.evaluate(T0).reason).toBe('CPU 12% (limit 80%)');
    for (let t = 5_000; t <= 120_000; t += 5_000) check.sample(cpu(t, 93));
    // The first sample over the limit was at 5 s; 120 s later is 125 s.
    check.sample(cpu(124_999, 93));
    expect(check.evaluate(T0 + 124_999)).toEqual({
      check: 'cpu',
      health: 'healthy',
      reason: 'CPU 93%, over the 80% limit for 1m 59s (allowed 2m)',
    });
    check.sample(cpu(125_000, 95));
    expect(check.evaluate(T0 + 125_000)).toEqual({
      check: 'cpu',
      health: 'warning',
      reason: 'CPU 95%, over the 80% limit for 2m (allowed 2m)',
    });
  });

  it('a single sample at or under the limit restarts the sustained clock', () => {
    const check = new ResourceCheck({ check: 'cpu', maxCpuPercent: 80, forMs: 60_000 });
    check.sample(cpu(0, 90));
    check.sample(cpu(50_000, 90));
    check.sample(cpu(55_000, 80)); // exactly at the limit is not over it
    check.sample(cpu(60_000, 90));
    check.sample(cpu(110_000, 90));
    expect(check.evaluate(T0 + 110_000).health).toBe('healthy');
    check.sample(cpu(120_000, 90));
    expect(check.evaluate(T0 + 120_000).health).toBe('warning');
    check.sample(cpu(125_000, 10));
    expect(check.evaluate(T0 + 125_000)).toEqual({
      check: 'cpu',
      health: 'healthy',
      reason: 'CPU 10% (limit 80%)',
    });
  });

  it('judges by the samples, not by the time since: no sample, no new verdict', () => {
    const check = new ResourceCheck({ check: 'cpu', maxCpuPercent: 80, forMs: 60_000 });
    check.sample(cpu(0, 99));
    expect(check.evaluate(T0 + 10 * 60_000).health).toBe('healthy');
  });

  it('a tree using several cores can be over a limit above 100%', () => {
    const check = new ResourceCheck({ check: 'cpu', maxCpuPercent: 150, forMs: 0 });
    check.sample(cpu(0, 190));
    expect(check.evaluate(T0)).toEqual({
      check: 'cpu',
      health: 'warning',
      reason: 'CPU 190%, over the 150% limit for 0ms (allowed 0ms)',
    });
  });

  it('ignores a sample older than the latest', () => {
    const check = new ResourceCheck({ check: 'cpu', maxCpuPercent: 80, forMs: 10_000 });
    check.sample(cpu(0, 90));
    check.sample(cpu(10_000, 90));
    check.sample(cpu(5_000, 10));
    expect(check.evaluate(T0 + 10_000).health).toBe('warning');
  });
});

describe('ResourceCheck (memory)', () => {
  it('tree memory over 1024 MB for 2m is critical, naming the size and the limit', () => {
    const check = new ResourceCheck({ check: 'memory', maxMemoryMb: 1024, forMs: 120_000 });
    check.sample(mem(0, 1024)); // exactly the limit is not over it
    expect(check.evaluate(T0)).toEqual({
      check: 'memory',
      health: 'healthy',
      reason: 'process tree memory 1024 MB (limit 1024 MB)',
    });
    check.sample(mem(5_000, 1100));
    check.sample(mem(124_999, 1100));
    expect(check.evaluate(T0 + 124_999).health).toBe('healthy');
    check.sample(mem(125_000, 1100));
    expect(check.evaluate(T0 + 125_000)).toEqual({
      check: 'memory',
      health: 'critical',
      reason: 'process tree memory 1100 MB, over the 1024 MB limit for 2m (allowed 2m)',
    });
  });

  it('forgets everything on reset (a new process)', () => {
    const check = new ResourceCheck({ check: 'memory', maxMemoryMb: 100, forMs: 0 });
    check.sample(mem(0, 200));
    expect(check.evaluate(T0).health).toBe('critical');
    check.reset(T0 + 1);
    expect(check.evaluate(T0 + 1).health).toBe('unknown');
  });

  it('refuses a limit that is not positive', () => {
    expect(() => new ResourceCheck({ check: 'memory', maxMemoryMb: 0, forMs: 0 })).toThrow(
      RangeError,
    );
    expect(() => new ResourceCheck({ check: 'cpu', maxCpuPercent: 80, forMs: -1 })).toThrow(
      RangeError,
    );
  });

  it('healthAt agrees with evaluate, before any sample, under, over and sustained over the limit', () => {
    for (const check of [
      new ResourceCheck({ check: 'cpu', maxCpuPercent: 80, forMs: 10_000 }),
      new ResourceCheck({ check: 'memory', maxMemoryMb: 100, forMs: 10_000 }),
    ]) {
      const agree = () => expect(check.healthAt(T0)).toBe(check.evaluate(T0).health);
      agree();
      for (const [t, v] of [
        [0, 10],
        [5_000, 200],
        [14_999, 200],
        [15_000, 200],
        [20_000, 10],
      ] as const) {
        check.sample({ ts: T0 + t, cpuPercent: v, rssBytes: v * MB });
        agree();
      }
    }
  });
});
