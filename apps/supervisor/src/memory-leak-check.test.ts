import { describe, expect, it } from 'vitest';
import type { CheckResult } from './health-check.js';
import { MB } from './health-check.js';
import { MemoryLeakCheck } from './memory-leak-check.js';
import type { MemoryLeakCheckOptions } from './memory-leak-check.js';

const T0 = 1_760_000_000_000;
const MIN = 60_000;
const STEP = 5_000;

/** Deterministic noise in [-1, 1) (mulberry32), so the noisy cases are the same every run. */
function noise(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

interface Run {
  check: MemoryLeakCheck;
  /** Every verdict, one per sample, with the sample's offset from T0 and its MB. */
  verdicts: { t: number; mb: number; result: CheckResult }[];
}

/** Samples `mb(t)` every 5 s from T0 to T0 + `untilMs`, judging after each sample. */
function run(
  mb: (t: number) => number,
  untilMs: number,
  options: Partial<MemoryLeakCheckOptions> = {},
): Run {
  const check = new MemoryLeakCheck({ windowMs: 10 * MIN, minGrowthMb: 50, ...options });
  const verdicts: Run['verdicts'] = [];
  for (let t = 0; t <= untilMs; t += STEP) {
    const v = mb(t);
    check.sample({ ts: T0 + t, cpuPercent: 0, rssBytes: v * MB });
    verdicts.push({ t, mb: v, result: check.evaluate(T0 + t) });
  }
  return { check, verdicts };
}

const firstFlag = (r: Run) => r.verdicts.find((v) => v.result.health === 'warning');

describe('MemoryLeakCheck', () => {
  it('is unknown with no sample, then collects until 10 samples span half the window', () => {
    const check = new MemoryLeakCheck({ windowMs: 10 * MIN, minGrowthMb: 50 });
    expect(check.evaluate(T0)).toEqual({
      check: 'memory_leak',
      health: 'unknown',
      reason: 'no resource sample yet',
    });
    const r = run((t) => 200 + (100 * t) / MIN, 5 * MIN);
    expect(r.verdicts.at(-2)!.result).toEqual({
      check: 'memory_leak',
      health: 'healthy',
      reason: 'collecting: 60 samples over 4m 55s (a trend needs 10 over 5m)',
    });
    // Even a steep rise waits for the span: at 5m it is judged.
    expect(r.verdicts.at(-1)!.result.health).toBe('warning');
  });

  it('flags a steady leak at half the window, with its slope, its growth and the time left before the limit', () => {
    // 700 MB growing 25 MB/min towards a 1024 MB limit: reached at ~13 min.
    const r = run((t) => 700 + (25 * t) / MIN, 6 * MIN, { maxMemoryMb: 1024 });
    const flag = firstFlag(r)!;
    expect(flag.t).toBe(5 * MIN);
    expect(flag.mb).toBe(825);
    expect(flag.result).toEqual({
      check: 'memory_leak',
      health: 'warning',
      reason: 'RSS rising 25.0 MB/min (+125 MB in 5m, R² 1.00); ~8 min until 1024 MB limit',
    });
  });

  it('flags a leak of exactly min_growth_mb per window (5 MB/min for 50 MB per 10m)', () => {
    const r = run((t) => 200 + (5 * t) / MIN, 6 * MIN);
    expect(firstFlag(r)!.t).toBe(5 * MIN);
    expect(firstFlag(r)!.result.reason).toBe('RSS rising 5.0 MB/min (+25 MB in 5m, R² 1.00)');
  });

  it('does not flag a steady rise slower than min_growth_mb per window, and says why', () => {
    const r = run((t) => 200 + (4 * t) / MIN, 30 * MIN);
    expect(firstFlag(r)).toBeUndefined();
    expect(r.verdicts.at(-1)!.result.reason).toBe(
      'RSS 4.0 MB/min (+40 MB in 10m, R² 1.00): +40 MB per 10m is under min_growth_mb 50',
    );
  });

  it('flags a slow leak under noisy memory (±8 MB around +6 MB/min) well before the limit', () => {
    const rnd = noise(7);
    const r = run((t) => 400 + (6 * t) / MIN + 8 * rnd(), 30 * MIN, { maxMemoryMb: 1024 });
    const flag = firstFlag(r)!;
    expect(flag.t).toBe(5 * MIN);
    expect(flag.result.reason).toBe(
      'RSS rising 6.0 MB/min (+30 MB in 5m, R² 0.79); ~99 min until 1024 MB limit',
    );
    // Once flagged, it stays flagged while the leak goes on.
    expect(
      r.verdicts.filter((v) => v.t >= 10 * MIN).every((v) => v.result.health === 'warning'),
    ).toBe(true);
  });

  it('flags a leak that begins after a long flat stretch once it fills most of the window, long before the limit', () => {
    // Flat 300 MB for 20 min, then +20 MB/min: the 1024 MB limit would be hit at ~56 min.
    const r = run((t) => 300 + (20 * Math.max(0, t - 20 * MIN)) / MIN, 40 * MIN, {
      maxMemoryMb: 1024,
    });
    const flag = firstFlag(r)!;
    // 7m 15s into the leak, at 445 MB.
    expect(flag.t).toBe(27 * MIN + 15_000);
    expect(flag.mb).toBe(445);
    expect(flag.result.reason).toBe(
      'RSS rising 16.3 MB/min (+163 MB in 10m, R² 0.95); ~36 min until 1024 MB limit',
    );
  });

  it('never flags flat memory with noise (500 MB ± 20 MB for 30 min)', () => {
    const rnd = noise(42);
    const r = run(() => 500 + 20 * rnd(), 30 * MIN, { maxMemoryMb: 1024 });
    expect(firstFlag(r)).toBeUndefined();
  });

  it('never flags a one-off step followed by flat memory, wherever the step sits in the window', () => {
    // 300 MB for 2 min, then a cache fills: 500 MB (± 1 MB) for good.
    const rnd = noise(3);
    const r = run((t) => (t < 2 * MIN ? 300 : 500) + rnd(), 25 * MIN, { maxMemoryMb: 1024 });
    expect(firstFlag(r)).toBeUndefined();
    const mid = r.verdicts.find((v) => v.t === 9 * MIN)!.result.reason;
    expect(mid).toMatch(/^RSS rose but not steadily \(a step, not a leak\): /);
  });

  it('never flags a big GC sawtooth around flat memory', () => {
    // 400 → 520 MB over 90 s, then collected back to 400, forever.
    const r = run((t) => 400 + 120 * ((t % (90_000 + STEP)) / 90_000), 30 * MIN);
    expect(firstFlag(r)).toBeUndefined();
  });

  it('stops flagging once the leak stops and the rise leaves the window', () => {
    const r = run((t) => 200 + (10 * Math.min(t, 12 * MIN)) / MIN, 30 * MIN);
    expect(firstFlag(r)!.t).toBe(5 * MIN);
    expect(r.verdicts.at(-1)!.result.health).toBe('healthy');
  });

  it('says the limit is already reached when the fit is past it', () => {
    const r = run((t) => 1000 + (20 * t) / MIN, 5 * MIN, { maxMemoryMb: 1024 });
    expect(r.verdicts.at(-1)!.result.reason).toBe(
      'RSS rising 20.0 MB/min (+100 MB in 5m, R² 1.00); already at the 1024 MB limit',
    );
  });

  it('forgets the history on reset, and samples that age out of the window leave it unknown', () => {
    const r = run((t) => 200 + (10 * t) / MIN, 6 * MIN);
    expect(r.check.evaluate(T0 + 6 * MIN).health).toBe('warning');
    expect(r.check.evaluate(T0 + 17 * MIN).health).toBe('unknown');
    const again = run((t) => 200 + (10 * t) / MIN, 6 * MIN);
    again.check.reset(T0 + 6 * MIN);
    expect(again.check.evaluate(T0 + 6 * MIN).health).toBe('unknown');
  });

  it('refuses a window or a min_growth_mb that is not positive', () => {
    expect(() => new MemoryLeakCheck({ windowMs: 0, minGrowthMb: 50 })).toThrow(RangeError);
    expect(() => new MemoryLeakCheck({ windowMs: MIN, minGrowthMb: 0 })).toThrow(RangeError);
  });

  it('healthAt agrees with evaluate at every sample: leak, slow rise, noise, step, sawtooth, collecting, ageing out', () => {
    const jitter = noise(7);
    const shapes: Array<(t: number) => number> = [
      (t) => 200 + (25 * t) / MIN,
      (t) => 200 + (2 * t) / MIN,
      () => 500 + 20 * jitter(),
      (t) => (t < 7 * MIN ? 300 : 400),
      (t) => 300 + ((t / 1000) % 60) * 3,
      (t) => (t < 12 * MIN ? 300 + (10 * t) / MIN : 420) + 8 * jitter(),
    ];
    for (const mb of shapes) {
      const check = new MemoryLeakCheck({ windowMs: 10 * MIN, minGrowthMb: 50, maxMemoryMb: 4096 });
      for (let t = 0; t <= 25 * MIN; t += STEP) {
        check.sample({ ts: T0 + t, cpuPercent: 0, rssBytes: mb(t) * MB });
        // As AgentHealth calls it: healthAt first, evaluate only when the health moved.
        const h = check.healthAt(T0 + t);
        expect(check.evaluate(T0 + t).health).toBe(h);
      }
      // Long after the last sample, the window is empty: unknown, by both.
      expect(check.healthAt(T0 + 40 * MIN)).toBe('unknown');
      expect(check.evaluate(T0 + 40 * MIN).health).toBe('unknown');
    }
  });
});
