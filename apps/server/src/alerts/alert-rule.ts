import { z } from 'zod';
import {
  AGENT_STATUSES,
  AgentIdSchema,
  DurationSchema,
  EVENT_TYPES,
  METRIC_NAME_PATTERN,
} from '@warden/protocol';
import { LabelNameSchema, LabelsSchema, MatcherSchema } from './label-matchers.js';

// zod 4: `.prefault` parses the default like an input (see config.ts).
const d = (v: string) => DurationSchema.prefault(v);
const positive = DurationSchema.refine((ms) => ms > 0, 'must be longer than 0');

/** Rule names: what `alertname` carries and what the API's `:id` is. */
export const RULE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
export const RuleNameSchema = z
  .string()
  .regex(RULE_NAME_PATTERN, 'must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$');

/** A receiver name as a rule refers to it (checked against the configured receivers). */
export const ReceiverNameSchema = z.string().min(1).max(128);

export const SeveritySchema = z.enum(['warning', 'critical']);
export type Severity = z.infer<typeof SeveritySchema>;

export const OpSchema = z.enum(['>', '>=', '<', '<=']);
export type Op = z.infer<typeof OpSchema>;

/**
 * Which agents a rule watches: every agent when absent. `ids` lists agents by id; `match`
 * requires each label to equal its value; `matchers` are Alertmanager matchers (regex and
 * negation). All given parts must hold. Labels are the agent's `meta.labels` of its latest
 * `agent_status_update`, plus `agentId`.
 */
export const AgentSelectorSchema = z.strictObject({
  ids: z.array(AgentIdSchema).max(10_000).optional(),
  match: LabelsSchema.optional(),
  matchers: z.array(MatcherSchema).max(32).optional(),
});
export type AgentSelector = z.output<typeof AgentSelectorSchema>;

/** One escalation tier: still firing and unacknowledged `after` its firing → these receivers. */
export const EscalationTierSchema = z.strictObject({
  after: positive,
  receivers: z.array(ReceiverNameSchema).min(1).max(16),
});

const MATCH_LIST_MAX = 16;
const oneOrMany = <T extends z.ZodType>(s: T) =>
  z
    .union([s, z.array(s).min(1).max(MATCH_LIST_MAX)])
    .transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

/**
 * What an `event` rule matches in one event: its `type`, and for the types that carry them the
 * agent `status`, the lifecycle `action`, the escalation `severity`, the error's `error_type`,
 * `fingerprint` (as `fingerprintError` makes it) or `message` (regex, unanchored).
 */
export const EventMatchSchema = z
  .strictObject({
    type: z.enum(EVENT_TYPES),
    status: oneOrMany(z.enum(AGENT_STATUSES)).optional(),
    action: oneOrMany(z.string().min(1).max(64)).optional(),
    severity: SeveritySchema.optional(),
    error_type: z.string().min(1).max(256).optional(),
    fingerprint: z.string().min(1).max(1024).optional(),
    message: z.string().min(1).max(1024).optional(),
    /** `task_completed`: match failed (false) or successful (true) tasks only. */
    success: z.boolean().optional(),
    /** `health_changed`: the supervisor check(s), e.g. `memory_leak`, `task_stale`. */
    check: oneOrMany(z.string().min(1).max(128)).optional(),
    /** `health_changed`: the new health, e.g. `critical`. */
    health: oneOrMany(z.enum(['healthy', 'warning', 'critical', 'unknown'])).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.message === undefined) return;
    try {
      new RegExp(m.message);
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        path: ['message'],
        message: `is not a valid regular expression: ${(err as Error).message}`,
      });
    }
  });
export type EventMatch = z.output<typeof EventMatchSchema>;

const common = {
  name: RuleNameSchema,
  /** @defaultValue "warning" */
  severity: SeveritySchema.default('warning'),
  /** Added to the alert's labels (`alertname`, `agentId` and `severity` cannot be overridden). @defaultValue {} */
  labels: LabelsSchema.default({}),
  /** Templated with `{{agentId}}`, `{{value}}`, `{{labels.x}}`, `{{rule}}`, `{{severity}}`, `{{threshold}}`. @defaultValue {} */
  annotations: z
    .record(LabelNameSchema, z.string().max(4096))
    .refine((a) => Object.keys(a).length <= 32, 'at most 32 annotations')
    .default({}),
  /** Where notifications go; `alerts.default_receivers` when absent. */
  receivers: z.array(ReceiverNameSchema).max(16).optional(),
  /** @defaultValue [] */
  escalate: z.array(EscalationTierSchema).max(8).default([]),
  /** Which agents the rule watches; every agent when absent. */
  agents: AgentSelectorSchema.optional(),
  /** Labels that split this rule's alerts into notification groups; `alerts.group_by` when absent. */
  group_by: z.array(LabelNameSchema).max(16).optional(),
  /** Stays firing this long after the condition stopped holding. @defaultValue 0s */
  keep_firing_for: d('0s'),
};

export const ThresholdRuleSchema = z.strictObject({
  ...common,
  type: z.literal('threshold'),
  metric: z.string().regex(METRIC_NAME_PATTERN, 'must be a metric name ([a-z][a-z0-9_]*)'),
  op: OpSchema,
  threshold: z.number().finite(),
  /** The condition must hold this long before the alert fires (pending until then). @defaultValue 0s */
  for: d('0s'),
});

export const AbsenceRuleSchema = z.strictObject({
  ...common,
  type: z.literal('absence'),
  /** No event and no WebSocket heartbeat from the agent for this long. @defaultValue 5m */
  absent_for: positive.prefault('5m'),
});

export const RateRuleSchema = z.strictObject({
  ...common,
  type: z.literal('rate'),
  /** Count `errors` (error_occurred) or `failed_tasks` (task_completed success false) per agent within `window`. */
  rate: z.strictObject({
    of: z.enum(['errors', 'failed_tasks']),
    /** @defaultValue 5m */
    window: positive.prefault('5m').refine((ms) => ms <= 86_400_000, 'must be at most 1d'),
  }),
  /** @defaultValue ">=" */
  op: OpSchema.default('>='),
  threshold: z.number().finite(),
  /** @defaultValue 0s */
  for: d('0s'),
});

export const EventRuleSchema = z.strictObject({
  ...common,
  type: z.literal('event'),
  /** Fires on an event matching any entry. */
  match: oneOrMany(EventMatchSchema),
  /** Resolves at once on an event of the same agent matching any entry. */
  resolve_on: oneOrMany(EventMatchSchema).optional(),
  /** Stays firing this long after the last matching event, unless `resolve_on` comes first. @defaultValue 10m */
  keep_firing_for: d('10m'),
});

/** One alert rule, as written in YAML (`alerts.rules`) or sent to `/api/v1/alert-rules`. */
export const AlertRuleSchema = z.discriminatedUnion('type', [
  ThresholdRuleSchema,
  AbsenceRuleSchema,
  RateRuleSchema,
  EventRuleSchema,
]);

export type AlertRule = z.output<typeof AlertRuleSchema>;
export type AlertRuleInput = z.input<typeof AlertRuleSchema>;
export type ThresholdRule = z.output<typeof ThresholdRuleSchema>;
export type AbsenceRule = z.output<typeof AbsenceRuleSchema>;
export type RateRule = z.output<typeof RateRuleSchema>;
export type EventRule = z.output<typeof EventRuleSchema>;

/** Where a rule came from: the API's rules may be changed there, the others not. */
export type RuleSource = 'config' | 'builtin' | 'api';

/** `for` of a rule (event and absence rules have none: their condition is their own timer). */
export function forMs(rule: AlertRule): number {
  return rule.type === 'threshold' || rule.type === 'rate' ? rule.for : 0;
}

export function compare(op: Op, value: number, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

/** Every receiver name a rule refers to, with the path of each (for error messages). */
export function ruleReceiverRefs(
  rule: AlertRule,
): Array<{ name: string; path: Array<string | number> }> {
  const refs: Array<{ name: string; path: Array<string | number> }> = [];
  (rule.receivers ?? []).forEach((name, i) => refs.push({ name, path: ['receivers', i] }));
  rule.escalate.forEach((t, k) =>
    t.receivers.forEach((name, i) => refs.push({ name, path: ['escalate', k, 'receivers', i] })),
  );
  return refs;
}
