import type { AlertRule, RuleSource } from './alert-rule.js';

/** Milliseconds as the config writes them (`2m`, `300ms`), so a listed rule can be sent back as is. */
export function durationText(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}

/**
 * A rule as the API shows it: the YAML shape (durations as text, so it parses again) plus `id`
 * (its name), `source` and `readOnly` (rules from the config file and the built-in ones).
 */
export function ruleView(
  rule: AlertRule,
  source: RuleSource,
  meta: { createdBy?: string | null; createdAt?: number; updatedAt?: number } = {},
) {
  const out: Record<string, unknown> = {
    id: rule.name,
    source,
    readOnly: source !== 'api',
    ...meta,
    ...rule,
  };
  out.keep_firing_for = durationText(rule.keep_firing_for);
  out.escalate = rule.escalate.map((t) => ({
    after: durationText(t.after),
    receivers: t.receivers,
  }));
  if (rule.type === 'threshold' || rule.type === 'rate') out.for = durationText(rule.for);
  if (rule.type === 'absence') out.absent_for = durationText(rule.absent_for);
  if (rule.type === 'rate') out.rate = { of: rule.rate.of, window: durationText(rule.rate.window) };
  return out;
}
