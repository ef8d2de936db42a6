import type { MonitoringConfig } from '@warden/supervisor';
import { AlertRuleSchema, type AlertRule, type AlertRuleInput } from './alert-rule.js';

/** Errors within five minutes that raise `agent-error-rate` (no `monitoring:` key sets it). */
export const BUILTIN_ERROR_COUNT = 5;

/**
 * The rules that work with zero config, from SPEC §9's `monitoring:` block:
 *
 * - `agent-cpu-high` (warning): `cpu_percent` > `resource_usage.max_cpu_percent` (80) for 2m;
 * - `agent-memory-high` (warning): `memory_mb` > `resource_usage.max_memory_mb` (1024) for 2m;
 * - `agent-error-rate` (warning): 5 or more `error_occurred` within 5m;
 * - `agent-failed` (critical, `agent_down="true"`): the supervisor gave up — status `failed`, the
 *   restart circuit opened, or a critical `escalation`; resolves when the agent runs again;
 * - `agent-needs-attention` (warning): any other `escalation` (e.g. a tmux team idle).
 *
 * The 2m matches the supervisor's default `health.for`. A config rule of the same name replaces
 * one; `alerts.builtin_rules: false` turns them all off.
 */
export function builtinRules(monitoring: MonitoringConfig | undefined): AlertRule[] {
  const usage = monitoring?.health_checks?.resource_usage;
  const running = ['running', 'idle', 'busy'] as const;
  const inputs: AlertRuleInput[] = [
    {
      name: 'agent-cpu-high',
      type: 'threshold',
      metric: 'cpu_percent',
      op: '>',
      threshold: usage?.max_cpu_percent ?? 80,
      for: '2m',
      severity: 'warning',
      annotations: { summary: '{{agentId}} CPU at {{value}}% (limit {{threshold}}%)' },
    },
    {
      name: 'agent-memory-high',
      type: 'threshold',
      metric: 'memory_mb',
      op: '>',
      threshold: usage?.max_memory_mb ?? 1024,
      for: '2m',
      severity: 'warning',
      annotations: { summary: '{{agentId}} memory at {{value}} MB (limit {{threshold}} MB)' },
    },
    {
      name: 'agent-error-rate',
      type: 'rate',
      rate: { of: 'errors', window: '5m' },
      op: '>=',
      threshold: BUILTIN_ERROR_COUNT,
      severity: 'warning',
      annotations: { summary: '{{agentId}}: {{value}} errors in the last 5 minutes' },
    },
    {
      name: 'agent-failed',
      type: 'event',
      match: [
        { type: 'agent_status_update', status: 'failed' },
        { type: 'agent_lifecycle', action: 'circuit_open' },
        { type: 'escalation', severity: 'critical' },
      ],
      resolve_on: [
        { type: 'agent_status_update', status: [...running] },
        { type: 'agent_lifecycle', action: 'circuit_closed' },
      ],
      keep_firing_for: '24h',
      severity: 'critical',
      labels: { agent_down: 'true' },
      annotations: {
        summary:
          '{{agentId}} failed and is not being restarted; look at `warden logs --agent {{agentId}}`, fix the cause, then `warden restart {{agentId}}`',
      },
    },
    {
      name: 'agent-needs-attention',
      type: 'event',
      match: { type: 'escalation', severity: 'warning' },
      resolve_on: { type: 'agent_status_update', status: [...running] },
      keep_firing_for: '1h',
      severity: 'warning',
      annotations: { summary: '{{agentId}} needs attention' },
    },
  ];
  return inputs.map((r) => AlertRuleSchema.parse(r));
}
