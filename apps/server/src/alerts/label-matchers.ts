import { z } from 'zod';

/** Label names as Prometheus allows them (alert labels, agent labels, matcher names). */
export const LABEL_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;

export const LabelNameSchema = z
  .string()
  .regex(LABEL_NAME_PATTERN, 'must match ^[A-Za-z_][A-Za-z0-9_]{0,99}$');

/** A label set: at most 64 labels, values up to 1,024 characters. */
export const LabelsSchema = z
  .record(LabelNameSchema, z.string().max(1024))
  .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels');

/** Longest regex a matcher may carry (a pattern is compiled once and run on every label check). */
const MAX_PATTERN = 1024;

/**
 * Alertmanager's matcher: `name` equals (`isEqual`, default true) or differs from `value`, which
 * is a regex anchored at both ends when `isRegex`. A label that is absent counts as "".
 */
export const MatcherSchema = z
  .strictObject({
    name: LabelNameSchema,
    value: z.string().max(MAX_PATTERN),
    isRegex: z.boolean().default(false),
    isEqual: z.boolean().default(true),
  })
  .superRefine((m, ctx) => {
    if (!m.isRegex) return;
    try {
      new RegExp(`^(?:${m.value})$`);
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `is not a valid regular expression: ${(err as Error).message}`,
      });
    }
  });

export type Matcher = z.output<typeof MatcherSchema>;

/** A matcher made ready to run. */
export type CompiledMatcher = (labels: Readonly<Record<string, string>>) => boolean;

export function compileMatcher(m: Matcher): CompiledMatcher {
  if (m.isRegex) {
    const re = new RegExp(`^(?:${m.value})$`);
    return m.isEqual ? (l) => re.test(l[m.name] ?? '') : (l) => !re.test(l[m.name] ?? '');
  }
  return m.isEqual ? (l) => (l[m.name] ?? '') === m.value : (l) => (l[m.name] ?? '') !== m.value;
}

/** Every matcher holds (an empty list matches everything). */
export function compileMatchers(ms: readonly Matcher[]): CompiledMatcher {
  const compiled = ms.map(compileMatcher);
  if (compiled.length === 0) return () => true;
  return (l) => {
    for (const c of compiled) if (!c(l)) return false;
    return true;
  };
}
