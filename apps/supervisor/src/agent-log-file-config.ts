import { z } from 'zod';
import { BytesSchema, DurationSchema } from '@warden/protocol';

/**
 * `logs.files:` — the per-agent log files the supervisor writes for the processes it runs
 * (like pm2's `~/.pm2/logs`): `<dir>/<agentId>.log`, one line per output line. Read by the
 * supervisor both under `warden serve` and `warden supervise`.
 */
export const LogFilesConfigSchema = z.strictObject({
  /** Write the files at all. @defaultValue true */
  enabled: z.boolean().default(true),
  /**
   * Folder of the files; a relative path is taken from the config file's folder.
   * @defaultValue "<data-dir>/logs"
   */
  dir: z.string().min(1).optional(),
  /** A file that would grow past this is rotated first. @defaultValue 10MiB */
  max_size: BytesSchema.prefault('10MiB').refine((n) => n >= 1024, 'must be at least 1KiB'),
  /** Rotated files kept per agent; older ones are deleted. @defaultValue 10 */
  max_files: z.number().int().min(1).max(10_000).default(10),
  /**
   * A line written in a later period than the file's last line rotates the file first;
   * periods are counted from the epoch, so `1d` turns at midnight UTC. `0` rotates by size
   * only. @defaultValue 1d
   */
  rotate_interval: DurationSchema.prefault('1d').refine(
    (ms) => ms === 0 || ms >= 1000,
    'must be 0 (size only) or at least 1s',
  ),
  /** gzip rotated files (`.gz`). @defaultValue true */
  compress: z.boolean().default(true),
});

export type LogFilesConfig = z.output<typeof LogFilesConfigSchema>;

/** One agent's log file with every default applied. */
export interface AgentLogFileOptions {
  /** Absolute path of the live file; rotated files sit beside it. */
  path: string;
  maxSizeBytes: number;
  maxFiles: number;
  /** 0: by size only. */
  rotateIntervalMs: number;
  compress: boolean;
}
