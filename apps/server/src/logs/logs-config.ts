import { z } from 'zod';

/** `logs:` — central log storage and per-agent log files. */
export const LogsConfigSchema = z.strictObject({});

export type LogsConfig = z.output<typeof LogsConfigSchema>;
