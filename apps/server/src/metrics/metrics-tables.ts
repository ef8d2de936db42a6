import type { Generated } from 'kysely';

/** The tables the metrics history reads and writes (migration 0006, plus two of the core). */
export interface MetricsDatabase {
  metric_series: { id: Generated<number>; agent_id: string; name: string };
  metric_rollups_1m: RollupRow;
  metric_rollups_1h: RollupRow;
  /** `metrics`: last seq folded into the rollups; `metrics_hour`: last hour rolled up. */
  projection_state: { name: string; seq: number | string };
  events: {
    seq: number;
    id: string;
    type: string;
    agent_id: string;
    ts: number;
    received_at: number;
    data: string;
  };
}

export interface RollupRow {
  series_id: number | string;
  bucket: number | string;
  count: number | string;
  sum: number;
  min: number;
  max: number;
  last: number;
  last_ts: number | string;
  sketch: Uint8Array;
}
