import { z } from 'zod';
import { DurationSchema } from '@warden/protocol';

const d = (v: string) => DurationSchema.prefault(v);

/**
 * `metrics:` — metrics history and the /metrics export. Retention of raw samples and rollups
 * is under `retention:` (`metrics_raw`, `metrics_1m`, `metrics_1h`).
 */
export const MetricsConfigSchema = z.strictObject({
  /**
   * How often the samples gathered in memory are merged into the 1-minute rows (one
   * transaction per flush). A crash loses nothing (the events are replayed from the last
   * flush); a query sees this process's unflushed samples too. @defaultValue 5s
   */
  flush_interval: d('5s').refine((ms) => ms >= 100, 'must be at least 100ms'),
  /** How often host CPU, memory, load, disk and the task queue depth are sampled into the fleet history. @defaultValue 15s */
  system_interval: d('15s').refine((ms) => ms >= 1000, 'must be at least 1s'),
  /**
   * Label the per-agent Prometheus families (`warden_agent_*`, `warden_tasks_completed_total`,
   * `warden_errors_total`, `warden_agent_restarts_total`) with `agent`. Off for very large
   * fleets: each family is then one fleet-wide series (the history keeps per-agent series
   * either way). @defaultValue true
   */
  per_agent_labels: z.boolean().default(true),
  /**
   * Agents with Prometheus series of their own (first seen first); later ones are added up
   * under `agent="_other"`. @defaultValue 1000
   */
  max_agent_series: z.number().int().min(0).max(1_000_000).default(1000),
  /** Distinct `error_type` label values of `warden_errors_total`; the rest count as `_other`. @defaultValue 200 */
  max_error_types: z.number().int().min(0).max(1_000_000).default(200),
  /**
   * Most history series (agent × metric name, and the fleet's); samples of further series
   * are dropped and counted, so an agent inventing names cannot grow the store without
   * bound. @defaultValue 100000
   */
  max_series: z.number().int().min(1).max(10_000_000).default(100_000),
  /**
   * Longest range a query answers from raw samples (steps under a minute, one agent);
   * longer ranges are read from the 1-minute rollups. @defaultValue 6h
   */
  raw_max_range: d('6h'),
});

export type MetricsConfig = z.output<typeof MetricsConfigSchema>;
