import { RollupAgg } from './rollup-agg.js';
import { FLEET, MINUTE, type MinuteDelta } from './rollup-store.js';

/**
 * Series the hub derives from events other than `metric_update` (they are never raw samples):
 * - `task_success`: 1 per successful `task_completed`, 0 per failed one, so a point's count
 *   is tasks finished (throughput), its sum the successes, its avg the success rate;
 * - `task_duration_ms`: `durationMs` of `task_completed`;
 * - `errors`: 1 per `error_occurred`;
 * - `restarts`: 1 per `agent_lifecycle` `started` with `attempt` ≥ 1 (as
 *   `warden_agent_restarts_total` counts them);
 * - fleet only: `task_queue_depth` (the task queue, all queues) and `host_*` (the hub's host).
 */
export const DERIVED_SERIES = [
  'task_success',
  'task_duration_ms',
  'errors',
  'restarts',
  'task_queue_depth',
] as const;

/** True for names not taken from `metric_update` events (no raw samples exist for them). */
export function isDerivedSeries(name: string): boolean {
  return (DERIVED_SERIES as readonly string[]).includes(name) || name.startsWith('host_');
}

/** The parts of a stored event the rollups read (a live StoredEvent or a replayed row). */
export interface RollupEvent {
  seq: number;
  type: string;
  agentId: string;
  ts: number;
  data: unknown;
}

/** One series' minutes not flushed yet; the current minute kept apart for the hot path. */
class SeriesAcc {
  bucket = -1;
  cur: RollupAgg | undefined;
  /** Other minutes (late or early samples), rarely more than one. */
  others: Map<number, RollupAgg> | undefined;

  constructor(
    readonly agentId: string,
    readonly name: string,
  ) {}

  add(v: number, ts: number): void {
    const bucket = ts - (((ts % MINUTE) + MINUTE) % MINUTE);
    if (bucket === this.bucket) {
      this.cur!.add(v, ts);
      return;
    }
    if (this.cur) {
      // The minute moved on: the old one waits for the flush among the others.
      (this.others ??= new Map()).set(this.bucket, this.cur);
    }
    const had = this.others?.get(bucket);
    if (had) this.others!.delete(bucket);
    this.bucket = bucket;
    this.cur = had ?? new RollupAgg();
    this.cur.add(v, ts);
  }

  /** Hands over every minute held and starts empty. */
  drain(out: MinuteDelta[]): void {
    if (this.cur)
      out.push({ agentId: this.agentId, name: this.name, bucket: this.bucket, agg: this.cur });
    if (this.others) {
      for (const [bucket, agg] of this.others) {
        out.push({ agentId: this.agentId, name: this.name, bucket, agg });
      }
    }
    this.cur = undefined;
    this.bucket = -1;
    this.others = undefined;
  }

  /** Merges what is held for minutes in [from, to) into `into` (by minute). */
  peek(from: number, to: number, into: Map<number, RollupAgg>): void {
    const put = (bucket: number, agg: RollupAgg) => {
      if (bucket < from || bucket >= to) return;
      const had = into.get(bucket);
      if (had) had.merge(agg);
      else into.set(bucket, new RollupAgg().merge(agg));
    };
    if (this.cur) put(this.bucket, this.cur);
    if (this.others) for (const [b, a] of this.others) put(b, a);
  }
}

/**
 * The metrics history's in-memory side: what this process committed since the last flush, per
 * (agent, name) and per (fleet, name), per minute of the events' `ts`. Adding an event costs
 * O(metrics in it): two map lookups and two `RollupAgg.add` per value, no allocation unless a
 * series or a minute is new. `take()` hands everything to a flush.
 */
export class MetricsAccumulator {
  private readonly series = new Map<string, Map<string, SeriesAcc>>();
  private count = 0;
  /** Highest seq added (the checkpoint a flush of everything held may record). */
  lastSeq = 0;
  /** Samples of series past `maxSeries` that were dropped. */
  dropped = 0;

  constructor(private readonly maxSeries: number) {}

  /** Series known (held or flushed before): the cap counts them. */
  get size(): number {
    return this.count;
  }

  /** Counts the series the store holds already against the cap (at start). */
  seedSeries(stored: number): void {
    if (stored > this.count) this.count = stored;
  }

  private acc(agentId: string, name: string): SeriesAcc | undefined {
    let byName = this.series.get(agentId);
    if (!byName) {
      byName = new Map();
      this.series.set(agentId, byName);
    }
    let s = byName.get(name);
    if (!s) {
      if (this.count >= this.maxSeries) return undefined;
      s = new SeriesAcc(agentId, name);
      byName.set(name, s);
      this.count++;
    }
    return s;
  }

  /** One sample for an agent's series and the fleet's series of the same name. */
  sample(agentId: string, name: string, v: number, ts: number): void {
    const a = this.acc(agentId, name);
    if (a) a.add(v, ts);
    else this.dropped++;
    if (agentId === FLEET) return;
    const f = this.acc(FLEET, name);
    if (f) f.add(v, ts);
    else this.dropped++;
  }

  /** Folds one committed event into the series it feeds. */
  addEvent(ev: RollupEvent): void {
    if (ev.seq > this.lastSeq) this.lastSeq = ev.seq;
    const data = ev.data as Record<string, unknown>;
    switch (ev.type) {
      case 'metric_update': {
        const m = data.metrics as Record<string, unknown> | undefined;
        if (!m) return;
        for (const name in m) {
          const v = m[name];
          if (typeof v === 'number' && Number.isFinite(v)) this.sample(ev.agentId, name, v, ev.ts);
        }
        return;
      }
      case 'task_completed': {
        this.sample(ev.agentId, 'task_success', data.success === true ? 1 : 0, ev.ts);
        const d = data.durationMs;
        if (typeof d === 'number' && Number.isFinite(d) && d >= 0) {
          this.sample(ev.agentId, 'task_duration_ms', d, ev.ts);
        }
        return;
      }
      case 'error_occurred':
        this.sample(ev.agentId, 'errors', 1, ev.ts);
        return;
      case 'agent_lifecycle':
        if (data.action === 'started' && typeof data.attempt === 'number' && data.attempt >= 1) {
          this.sample(ev.agentId, 'restarts', 1, ev.ts);
        }
        return;
    }
  }

  /** Everything held, as minute deltas; the accumulator starts empty (series stay known). */
  take(): MinuteDelta[] {
    const out: MinuteDelta[] = [];
    for (const byName of this.series.values()) for (const s of byName.values()) s.drain(out);
    return out;
  }

  /** Puts deltas of a flush that failed back, so the next flush writes them. */
  restore(deltas: readonly MinuteDelta[]): void {
    for (const d of deltas) {
      const s = this.acc(d.agentId, d.name);
      if (!s) continue;
      const into = new Map<number, RollupAgg>([[d.bucket, d.agg]]);
      s.peek(d.bucket, d.bucket + 1, into);
      // `into` now holds held + restored for that minute; make it the held value.
      if (s.bucket === d.bucket) s.cur = into.get(d.bucket);
      else (s.others ??= new Map()).set(d.bucket, into.get(d.bucket)!);
    }
  }

  /** Unflushed minutes of one series in [from, to), merged into `into` by minute. */
  peek(
    agentId: string,
    name: string,
    from: number,
    to: number,
    into: Map<number, RollupAgg>,
  ): void {
    this.series.get(agentId)?.get(name)?.peek(from, to, into);
  }
}
