import { z } from 'zod';
import { DefaultRetrySchema, DurationSchema, RetryRuleSchema } from '@warden/protocol';

/**
 * `errors:` — error grouping and retry strategies per pattern (issue 5 point 4).
 *
 * ```yaml
 * errors:
 *   retry:
 *     - name: bad-api-key
 *       match: { type: AuthenticationError }
 *       retry: false
 *       escalate: true
 *     - match: { message: "ECONNREFUSED|ETIMEDOUT" }
 *       retry: true
 *       max_attempts: 10
 *       backoff: { initial: 2s, multiplier: 2, max: 2m }
 *   default_retry: { retry: true }
 * ```
 */
export const ErrorPatternsConfigSchema = z.strictObject({
  /**
   * Retry rules, tried after those made through the API, in file order; the first whose
   * `match` (fingerprint, type, message regex: every key given must match) fits wins.
   * @defaultValue []
   */
  retry: z
    .array(RetryRuleSchema)
    .max(1000)
    .default([])
    .superRefine((rules, ctx) => {
      const seen = new Set<string>();
      rules.forEach((r, i) => {
        if (r.name === undefined) return;
        if (seen.has(r.name)) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'name'],
            message: `name ${JSON.stringify(r.name)} is used twice`,
          });
        }
        seen.add(r.name);
      });
    }),
  /** The policy when no rule matches. @defaultValue `{ retry: true, backoff: { initial: 1s, multiplier: 2, max: 5m }, escalate: false }` */
  default_retry: DefaultRetrySchema.prefault({}),
  /** How long per-hour counts of each group are kept. @defaultValue 7d */
  hourly_retention: DurationSchema.prefault('7d'),
});

export type ErrorPatternsConfig = z.output<typeof ErrorPatternsConfigSchema>;
