import { z } from 'zod';
import { DurationSchema } from '@warden/protocol';
import { LogFilesConfigSchema } from '@warden/supervisor';

const d = (v: string) => DurationSchema.prefault(v);

/**
 * `logs:` — central log storage (the hub's `logs` table, fed by every `log` event) and the
 * per-agent log files the supervisor writes. Retention by age and size is under
 * `retention.logs` / `retention.logs_max_bytes`.
 */
export const LogsConfigSchema = z.strictObject({
  /**
   * Longest a `log` event waits before it is written to the logs table; rows are written in
   * one transaction per flush, so a busy fleet costs few commits. @defaultValue 250ms
   */
  flush_interval: d('250ms').refine((ms) => ms >= 1 && ms <= 60_000, 'must be 1ms to 1m'),
  /** Most rows written in one transaction. @defaultValue 2000 */
  max_batch: z.number().int().min(1).max(100_000).default(2000),
  /**
   * `log` events held in memory waiting for the database; past it they are dropped from memory
   * and read again from the event log once the table catches up (nothing is lost).
   * @defaultValue 100000
   */
  max_pending: z.number().int().min(100).max(10_000_000).default(100_000),
  /** Per-agent log files written by the supervisor for the processes it runs. */
  files: LogFilesConfigSchema.prefault({}),
});

export type LogsConfig = z.output<typeof LogsConfigSchema>;
