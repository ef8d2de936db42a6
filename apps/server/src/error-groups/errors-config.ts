import { z } from 'zod';

/** `errors:` — error grouping and retry strategies per pattern. */
export const ErrorPatternsConfigSchema = z.strictObject({});

export type ErrorPatternsConfig = z.output<typeof ErrorPatternsConfigSchema>;
