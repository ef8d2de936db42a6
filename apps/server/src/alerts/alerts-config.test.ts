import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { parseConfig } from '../config.js';

function configError(raw: unknown): ConfigError {
  try {
    parseConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const rule = { name: 'cpu', type: 'threshold', metric: 'cpu_percent', op: '>', threshold: 80 };

describe('alerts config', () => {
  it('has the defaults of SPEC §10', () => {
    const c = parseConfig({}).alerts;
    expect(c).toMatchObject({
      evaluation_interval: 5000,
      group_wait: 30_000,
      group_interval: 300_000,
      repeat_interval: 14_400_000,
      group_by: ['alertname'],
      builtin_rules: true,
      receivers: [],
      rules: [],
    });
  });

  it('parses the SPEC §10 example', () => {
    const c = parseConfig({
      alerts: {
        smtp: { host: '127.0.0.1', port: 25, secure: false, from: 'warden@localhost' },
        receivers: [
          { name: 'ops-hook', type: 'webhook', url: 'http://127.0.0.1:9999/hook' },
          { name: 'ops-mail', type: 'email', to: ['dev@example.com'] },
          { name: 'pm-pane', type: 'tmux', target: 'fleet:0.0' },
        ],
        default_receivers: ['ops-hook'],
        rules: [
          {
            ...rule,
            name: 'agent-cpu-high',
            for: '2m',
            keep_firing_for: '0s',
            severity: 'warning',
            labels: { team: 'agents' },
            annotations: { summary: '{{agentId}} CPU at {{value}}%' },
            receivers: ['ops-hook'],
            escalate: [{ after: '15m', receivers: ['ops-mail'] }],
          },
        ],
      },
    }).alerts;
    expect(c.rules[0]).toMatchObject({ for: 120_000, escalate: [{ after: 900_000 }] });
  });

  it('a rule naming an unknown receiver is an error naming alerts.rules.N.receivers', () => {
    const e = configError({ alerts: { rules: [{ ...rule, receivers: ['nope'] }] } });
    expect(e.key).toBe('alerts.rules.0.receivers.0');
    expect(e.message).toContain('names no receiver "nope"');
  });

  it('an escalation tier naming an unknown receiver is an error naming its path', () => {
    const e = configError({
      alerts: { rules: [{ ...rule, escalate: [{ after: '5m', receivers: ['x'] }] }] },
    });
    expect(e.key).toBe('alerts.rules.0.escalate.0.receivers.0');
  });

  it('unknown default_receivers, duplicate rule names and duplicate receiver names are errors', () => {
    expect(configError({ alerts: { default_receivers: ['x'] } }).key).toBe(
      'alerts.default_receivers.0',
    );
    expect(configError({ alerts: { rules: [rule, rule] } }).key).toBe('alerts.rules.1.name');
    const hook = { name: 'h', type: 'webhook', url: 'http://127.0.0.1:1/h' };
    expect(configError({ alerts: { receivers: [hook, hook] } }).key).toBe(
      'alerts.receivers.1.name',
    );
  });

  it('group_interval shorter than evaluation_interval is an error', () => {
    expect(configError({ alerts: { group_interval: '1s', evaluation_interval: '5s' } }).key).toBe(
      'alerts.group_interval',
    );
  });

  it('an invalid regex in a selector matcher is an error naming its value', () => {
    const e = configError({
      alerts: {
        rules: [{ ...rule, agents: { matchers: [{ name: 'team', value: '(', isRegex: true }] } }],
      },
    });
    expect(e.key).toBe('alerts.rules.0.agents.matchers.0.value');
  });

  it('a rule of an unknown type is an error', () => {
    expect(configError({ alerts: { rules: [{ ...rule, type: 'magic' }] } }).key).toBe(
      'alerts.rules.0.type',
    );
  });
});
