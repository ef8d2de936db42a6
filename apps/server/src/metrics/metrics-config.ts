import { z } from 'zod';

/** `metrics:` — metrics history and the /metrics export. */
export const MetricsConfigSchema = z.strictObject({});

export type MetricsConfig = z.output<typeof MetricsConfigSchema>;
