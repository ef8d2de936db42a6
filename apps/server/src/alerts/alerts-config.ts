import { z } from 'zod';

/** `alerts:` — rules, receivers, grouping and escalation (SPEC §10). */
export const AlertsConfigSchema = z.strictObject({});

export type AlertsConfig = z.output<typeof AlertsConfigSchema>;
