import { QuantileSketch } from './quantile-sketch.js';

/**
 * What one series holds for one bucket (a minute, an hour, or a query step): count, sum, min,
 * max, the latest value by `ts` and a quantile sketch. Every field merges exactly, so a row
 * written earlier, a late sample, another replica's share and a replay after a crash all
 * combine into the same row whatever their order.
 */
export class RollupAgg {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  last = 0;
  /** `ts` of `last`; the later sample wins a merge (ties: the one merged later). */
  lastTs = -Infinity;
  readonly sketch: QuantileSketch;

  constructor(sketch = new QuantileSketch()) {
    this.sketch = sketch;
  }

  add(v: number, ts: number): void {
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (ts >= this.lastTs) {
      this.last = v;
      this.lastTs = ts;
    }
    this.sketch.add(v);
  }

  merge(o: RollupAgg): this {
    if (o.count === 0) return this;
    this.count += o.count;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
    if (o.lastTs >= this.lastTs) {
      this.last = o.last;
      this.lastTs = o.lastTs;
    }
    this.sketch.merge(o.sketch);
    return this;
  }

  /** The fields of a rollup row (the sketch encoded). */
  toRow(): RollupValues {
    return {
      count: this.count,
      sum: this.sum,
      min: this.min,
      max: this.max,
      last: this.last,
      last_ts: this.lastTs,
      sketch: this.sketch.encode(),
    };
  }

  static fromRow(r: RollupValues): RollupAgg {
    const a = new RollupAgg(QuantileSketch.decode(r.sketch));
    a.count = Number(r.count);
    a.sum = Number(r.sum);
    a.min = Number(r.min);
    a.max = Number(r.max);
    a.last = Number(r.last);
    a.lastTs = Number(r.last_ts);
    return a;
  }
}

/** The value columns of `metric_rollups_1m` / `_1h` (pg returns bigint as string). */
export interface RollupValues {
  count: number | string;
  sum: number;
  min: number;
  max: number;
  last: number;
  last_ts: number | string;
  sketch: Uint8Array;
}
