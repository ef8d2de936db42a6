import { z } from 'zod';
import { DurationSchema } from '@warden/protocol';
import { AlertRuleSchema, ReceiverNameSchema, ruleReceiverRefs } from './alert-rule.js';
import { LabelNameSchema, MatcherSchema } from './label-matchers.js';
import { ReceiverConfigSchema, SmtpConfigSchema } from './receiver-config.js';

// zod 4: `.prefault` parses the default like an input (`.default` would skip parsing).
const d = (v: string) => DurationSchema.prefault(v);
const positive = (v: string) => d(v).refine((ms) => ms > 0, 'must be longer than 0');

/**
 * Receiver names that exist without an `alerts.receivers` entry: `console` always, `email` and
 * `webhook` when SPEC §9's `monitoring.alerts` block defines them (checked again at start, when
 * that block is known).
 */
export const IMPLICIT_RECEIVERS = ['console', 'email', 'webhook'] as const;

/**
 * Alertmanager's inhibit rule: while an alert matching `source_matchers` fires, alerts matching
 * `target_matchers` that carry the same values of every `equal` label are not notified.
 */
export const InhibitRuleSchema = z.strictObject({
  source_matchers: z.array(MatcherSchema).max(32).default([]),
  target_matchers: z.array(MatcherSchema).max(32).default([]),
  /** @defaultValue ["agentId"] */
  equal: z.array(LabelNameSchema).max(16).default(['agentId']),
});
export type InhibitRule = z.output<typeof InhibitRuleSchema>;

/** `alerts:` — rules, receivers, grouping and escalation (SPEC §10). */
export const AlertsConfigSchema = z
  .strictObject({
    /** How often rules are evaluated (only the agents that sent something, plus due timers). @defaultValue 5s */
    evaluation_interval: positive('5s'),
    /** A new group waits this long for more alerts before its first notification. @defaultValue 30s */
    group_wait: d('30s'),
    /** After a group's notification, changes to it wait this long. @defaultValue 5m */
    group_interval: positive('5m'),
    /** A group still firing and unchanged is notified again after this long. @defaultValue 4h */
    repeat_interval: positive('4h'),
    /**
     * Labels that split one rule's alerts into notification groups. A group never spans rules;
     * `["alertname"]` sends one notification per rule listing every agent it fires for;
     * `["alertname", "agentId"]` one per agent. @defaultValue ["alertname"]
     */
    group_by: z.array(LabelNameSchema).max(16).default(['alertname']),
    /** The mail server of `email` receivers. @defaultValue none */
    smtp: SmtpConfigSchema.optional(),
    /** @defaultValue [] */
    receivers: z.array(ReceiverConfigSchema).max(100).default([]),
    /** Receivers of rules that name none; those of `monitoring.alerts` when absent, else `console`. */
    default_receivers: z.array(ReceiverNameSchema).max(16).optional(),
    /** @defaultValue [] */
    rules: z.array(AlertRuleSchema).max(10_000).default([]),
    /**
     * The built-in rules from `monitoring:` (CPU, memory, error count, agent failure). A rule
     * of the same name in `rules` replaces one. @defaultValue true
     */
    builtin_rules: z.boolean().default(true),
    /**
     * Inhibit rules besides the built-in two (a critical alert of an agent silences its
     * warnings; an agent that is down, `agent_down="true"`, silences its other alerts).
     * @defaultValue []
     */
    inhibit_rules: z.array(InhibitRuleSchema).max(100).default([]),
    /** The built-in inhibit rules. @defaultValue true */
    builtin_inhibit_rules: z.boolean().default(true),
    /** Resolved alerts and expired silences are kept this long. @defaultValue 30d */
    history_retention: positive('30d'),
  })
  .superRefine((v, ctx) => {
    const known = new Set<string>([...IMPLICIT_RECEIVERS, ...v.receivers.map((r) => r.name)]);
    const seen = new Map<string, number>();
    v.receivers.forEach((r, i) => {
      const first = seen.get(r.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['receivers', i, 'name'],
          message: `duplicates receivers.${first}.name ${JSON.stringify(r.name)}`,
        });
      }
      seen.set(r.name, i);
    });
    (v.default_receivers ?? []).forEach((name, i) => {
      if (!known.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['default_receivers', i],
          message: `names no receiver ${JSON.stringify(name)} (known: ${[...known].join(', ')})`,
        });
      }
    });
    const names = new Map<string, number>();
    v.rules.forEach((rule, n) => {
      const first = names.get(rule.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', n, 'name'],
          message: `duplicates rules.${first}.name ${JSON.stringify(rule.name)}`,
        });
      }
      names.set(rule.name, n);
      for (const ref of ruleReceiverRefs(rule)) {
        if (!known.has(ref.name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['rules', n, ...ref.path],
            message: `names no receiver ${JSON.stringify(ref.name)} (known: ${[...known].join(', ')})`,
          });
        }
      }
    });
    if (v.group_interval < v.evaluation_interval) {
      ctx.addIssue({
        code: 'custom',
        path: ['group_interval'],
        message: 'must be at least evaluation_interval',
      });
    }
  });

export type AlertsConfig = z.output<typeof AlertsConfigSchema>;
