import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QuantileSketch, SKETCH_ACCURACY } from './quantile-sketch.js';

/** Nearest-rank quantile of sorted data: the ⌈q·n⌉-th smallest. */
function exact(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** Seeded PRNG so a failure is reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('QuantileSketch', () => {
  it('returns p50, p95 and p99 within 1% of the exact values on log-normal data', () => {
    const r = rng(7);
    const s = new QuantileSketch();
    const data: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const g = Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
      const v = Math.exp(4 + 1.2 * g);
      data.push(v);
      s.add(v);
    }
    data.sort((a, b) => a - b);
    for (const q of [0, 0.5, 0.95, 0.99, 1]) {
      const want = exact(data, q);
      expect(Math.abs(s.quantile(q)! - want) / want).toBeLessThanOrEqual(SKETCH_ACCURACY + 1e-9);
    }
  });

  it('keeps the 1% bound for any data, negatives and zeros included (generated)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.double({ min: -1e9, max: 1e9, noNaN: true }),
            fc.constant(0),
            fc.integer({ min: 0, max: 100 }),
          ),
          { minLength: 1, maxLength: 300 },
        ),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (values, q) => {
          const s = new QuantileSketch();
          for (const v of values) s.add(v);
          const sorted = [...values].sort((a, b) => a - b);
          const want = exact(sorted, q);
          const got = s.quantile(q)!;
          // Values below 1e-9 in magnitude count as zero.
          const tol = Math.max(Math.abs(want) * SKETCH_ACCURACY * (1 + 1e-9), 1e-9);
          expect(Math.abs(got - want)).toBeLessThanOrEqual(tol);
        },
      ),
    );
  });

  it('merging two sketches equals one sketch of all the data, and survives encoding', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 200 }),
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 200 }),
        (xs, ys) => {
          const a = new QuantileSketch();
          const b = new QuantileSketch();
          const all = new QuantileSketch();
          for (const v of xs) {
            a.add(v);
            all.add(v);
          }
          for (const v of ys) {
            b.add(v);
            all.add(v);
          }
          const merged = QuantileSketch.decode(a.encode()).merge(QuantileSketch.decode(b.encode()));
          expect(merged.count).toBe(xs.length + ys.length);
          expect(merged.encode()).toEqual(all.encode());
          for (const q of [0, 0.25, 0.5, 0.95, 0.99, 1]) {
            expect(merged.quantile(q)).toBe(all.quantile(q));
          }
        },
      ),
    );
  });

  it('encodes a minute of steady samples in a few dozen bytes', () => {
    const r = rng(1);
    const s = new QuantileSketch();
    for (let i = 0; i < 60; i++) s.add(40 + (r() - 0.5) * 6);
    expect(s.encode().length).toBeLessThan(40);
  });

  it('bounds its size on hostile spreads of magnitude (the lowest buckets fold)', () => {
    const s = new QuantileSketch();
    for (let e = -300; e <= 300; e += 0.01) s.add(10 ** e);
    expect(s.encode().length).toBeLessThan(2048 * 4);
    const top = s.quantile(1)!;
    expect(Math.abs(top - 1e300) / 1e300).toBeLessThan(0.02);
  });

  it('refuses an unknown or truncated encoding instead of reading garbage', () => {
    expect(() => QuantileSketch.decode(Uint8Array.of(9))).toThrow(/format/);
    const full = new QuantileSketch();
    full.add(5);
    full.add(500);
    const bytes = full.encode();
    expect(() => QuantileSketch.decode(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    expect(QuantileSketch.decode(new Uint8Array()).quantile(0.5)).toBeUndefined();
  });
});
