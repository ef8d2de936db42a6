/**
 * Relative accuracy of every sketch: a quantile read back is within 1% of a value of the data
 * at that rank (DDSketch's guarantee), whatever the distribution.
 */
export const SKETCH_ACCURACY = 0.01;
const GAMMA = (1 + SKETCH_ACCURACY) / (1 - SKETCH_ACCURACY);
const INV_LOG_GAMMA = 1 / Math.log(GAMMA);
/** Magnitudes below this count as zero (they have no useful log bucket). */
const MIN_MAGNITUDE = 1e-9;
/**
 * Most buckets per sign. 1% buckets span 1e-9 … 1e15 in about 2,800, so the cap is only met by
 * hostile data; then the lowest buckets are folded into one (the high quantiles stay exact).
 */
const MAX_BUCKETS = 2048;
const FORMAT_VERSION = 1;

/**
 * A mergeable quantile sketch in the manner of DDSketch (Masson et al., VLDB 2019): a value v
 * is counted in log bucket ceil(log_γ |v|), γ = (1+α)/(1−α), so any quantile comes back with
 * relative error α whatever the distribution, and two sketches merge exactly by adding bucket
 * counts (minute rows merge into hours, late samples into a row already written, replicas
 * into one row). Counts are integers: each sample weighs 1.
 *
 * Adding a sample costs one log and one Map update; the encoding (varint keys as deltas and
 * counts) takes about two bytes per non-empty bucket.
 */
export class QuantileSketch {
  private readonly pos = new Map<number, number>();
  private readonly neg = new Map<number, number>();
  private zero = 0;
  private n = 0;

  get count(): number {
    return this.n;
  }

  add(v: number): void {
    if (!Number.isFinite(v)) return;
    this.n++;
    if (v > MIN_MAGNITUDE) bump(this.pos, Math.ceil(Math.log(v) * INV_LOG_GAMMA), 1);
    else if (v < -MIN_MAGNITUDE) bump(this.neg, Math.ceil(Math.log(-v) * INV_LOG_GAMMA), 1);
    else this.zero++;
  }

  merge(other: QuantileSketch): this {
    for (const [k, c] of other.pos) bump(this.pos, k, c);
    for (const [k, c] of other.neg) bump(this.neg, k, c);
    this.zero += other.zero;
    this.n += other.n;
    return this;
  }

  /**
   * The value at quantile `q` (0…1) by nearest rank (the ⌈q·n⌉-th smallest sample, so p99 of
   * three samples is the largest), or undefined for an empty sketch.
   */
  quantile(q: number): number | undefined {
    if (this.n === 0) return undefined;
    const rank = Math.max(0, Math.ceil(Math.max(0, Math.min(1, q)) * this.n) - 1);
    let seen = 0;
    // Most negative first: larger magnitudes of negative values sort lowest.
    if (this.neg.size > 0) {
      for (const k of [...this.neg.keys()].sort((a, b) => b - a)) {
        seen += this.neg.get(k)!;
        if (seen > rank) return -bucketValue(k);
      }
    }
    seen += this.zero;
    if (seen > rank) return 0;
    let last = 0;
    for (const k of [...this.pos.keys()].sort((a, b) => a - b)) {
      seen += this.pos.get(k)!;
      last = k;
      if (seen > rank) return bucketValue(k);
    }
    return bucketValue(last);
  }

  /** Compact binary form (see the class comment); `decode` reads it back. */
  encode(): Buffer {
    // Upper bound: header + per bucket two varints of at most 10 bytes.
    const out = Buffer.allocUnsafe(1 + 10 + 2 * (10 + 10 * 2 * (this.pos.size + this.neg.size)));
    let o = 0;
    out[o++] = FORMAT_VERSION;
    o = writeVarint(out, o, this.zero);
    for (const store of [this.pos, this.neg]) {
      const keys = [...store.keys()].sort((a, b) => a - b);
      o = writeVarint(out, o, keys.length);
      let prev = 0;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        // The first key as a zigzag number, the rest as (positive) gaps.
        o = writeVarint(out, o, i === 0 ? zigzag(k) : k - prev);
        o = writeVarint(out, o, store.get(k)!);
        prev = k;
      }
    }
    return Buffer.from(out.subarray(0, o));
  }

  static decode(buf: Uint8Array): QuantileSketch {
    const s = new QuantileSketch();
    if (buf.length === 0) return s;
    if (buf[0] !== FORMAT_VERSION) throw new Error(`unknown sketch format ${buf[0]}`);
    const r = { o: 1 };
    s.zero = readVarint(buf, r);
    s.n = s.zero;
    for (const store of [s.pos, s.neg]) {
      const size = readVarint(buf, r);
      let k = 0;
      for (let i = 0; i < size; i++) {
        const v = readVarint(buf, r);
        k = i === 0 ? unzigzag(v) : k + v;
        const c = readVarint(buf, r);
        store.set(k, c);
        s.n += c;
      }
    }
    return s;
  }
}

/** The value a bucket stands for: within α of every value it holds. */
function bucketValue(k: number): number {
  return (2 * Math.pow(GAMMA, k)) / (GAMMA + 1);
}

function bump(store: Map<number, number>, k: number, c: number): void {
  const had = store.get(k);
  if (had !== undefined) {
    store.set(k, had + c);
    return;
  }
  store.set(k, c);
  if (store.size > MAX_BUCKETS) collapseLowest(store);
}

/**
 * Folds the lowest buckets into one, down to three quarters of MAX_BUCKETS, so that a stream
 * of ever new buckets sorts the keys once per quarter of the cap, not once per sample.
 */
function collapseLowest(store: Map<number, number>): void {
  const keys = [...store.keys()].sort((a, b) => a - b);
  const excess = keys.length - Math.floor((MAX_BUCKETS * 3) / 4);
  const into = keys[excess]!;
  let moved = 0;
  for (let i = 0; i < excess; i++) {
    moved += store.get(keys[i]!)!;
    store.delete(keys[i]!);
  }
  store.set(into, store.get(into)! + moved);
}

function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

/** Unsigned LEB128 of a non-negative integer below 2^53 (no 32-bit bit ops). */
function writeVarint(buf: Buffer, o: number, n: number): number {
  let v = n;
  while (v >= 0x80) {
    buf[o++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[o++] = v;
  return o;
}

function readVarint(buf: Uint8Array, r: { o: number }): number {
  let v = 0;
  let mul = 1;
  for (;;) {
    if (r.o >= buf.length) throw new Error('truncated sketch');
    const b = buf[r.o++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) return v;
    mul *= 0x80;
    if (mul > 2 ** 56) throw new Error('sketch varint too long');
  }
}
