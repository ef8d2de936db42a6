import type { StoredEvent } from '@warden/protocol';
import { describe, expect, it } from 'vitest';
import { AlertRuleSchema, type AlertRuleInput } from './alert-rule.js';
import { RuleEvaluator, ruleEntry } from './rule-evaluator.js';

const T0 = 1_760_000_000_000;
let seq = 0;

function ev(type: string, agentId: string, at: number, data: Record<string, unknown>): StoredEvent {
  seq++;
  return {
    id: `e${seq}`,
    seq,
    type,
    agentId,
    ts: at,
    receivedAt: at,
    data,
  } as unknown as StoredEvent;
}
const metric = (agentId: string, at: number, metrics: Record<string, number>) =>
  ev('metric_update', agentId, at, { metrics });

function evaluator(rules: AlertRuleInput[], heartbeats = new Map<string, number>()) {
  const e = new RuleEvaluator({ heartbeats });
  e.setRules(
    rules.map((r) => ruleEntry(AlertRuleSchema.parse(r), 'config')),
    T0,
  );
  return e;
}

const cpu: AlertRuleInput = {
  name: 'cpu',
  type: 'threshold',
  metric: 'cpu_percent',
  op: '>',
  threshold: 80,
  for: '10s',
  agents: { match: { team: 'a' } },
};

describe('RuleEvaluator', () => {
  it('a threshold rule goes pending, fires after `for`, and resolves when the value drops', () => {
    const e = evaluator([cpu]);
    e.ingest([
      ev('agent_status_update', 'w1', T0, { status: 'running', meta: { labels: { team: 'a' } } }),
      metric('w1', T0, { cpu_percent: 95 }),
    ]);
    let r = e.cycle(T0 + 5000);
    expect(r.changed.map((a) => a.state)).toEqual(['pending']);
    expect(r.labels).toEqual([{ agentId: 'w1', labels: { team: 'a', agentId: 'w1' } }]);
    r = e.cycle(T0 + 10_000);
    expect(r.fired.map((a) => a.agentId)).toEqual(['w1']);
    const alert = r.fired[0]!;
    expect(alert.labels).toMatchObject({
      alertname: 'cpu',
      agentId: 'w1',
      severity: 'warning',
      team: 'a',
    });
    e.ingest([metric('w1', T0 + 12_000, { cpu_percent: 10 })]);
    r = e.cycle(T0 + 15_000);
    expect(r.resolved.map((a) => a.id)).toEqual([alert.id]);
    expect(e.active.size).toBe(0);
  });

  it('only agents the selector picks are watched', () => {
    const e = evaluator([cpu]);
    e.ingest([
      ev('agent_status_update', 'w2', T0, { status: 'running', meta: { labels: { team: 'b' } } }),
      metric('w2', T0, { cpu_percent: 99 }),
    ]);
    expect(e.cycle(T0 + 20_000).changed).toEqual([]);
  });

  it('a cycle looks only at the pairs touched since the last one', () => {
    const many: AlertRuleInput[] = Array.from({ length: 10 }, (_, i) => ({
      ...cpu,
      name: `cpu${i}`,
      agents: undefined,
    }));
    const e = evaluator(many);
    const batch = Array.from({ length: 100 }, (_, i) => metric(`a${i}`, T0, { cpu_percent: 1 }));
    e.ingest(batch);
    expect(e.cycle(T0 + 5000).pairs).toBe(1000);
    // Nothing new: nothing looked at.
    expect(e.cycle(T0 + 10_000).pairs).toBe(0);
    e.ingest([metric('a7', T0 + 11_000, { cpu_percent: 2 })]);
    expect(e.cycle(T0 + 15_000).pairs).toBe(10);
  });

  it('an agent whose labels change leaves the rules that no longer select it, resolving their alerts', () => {
    const e = evaluator([{ ...cpu, for: '0s' }]);
    e.ingest([
      ev('agent_status_update', 'w1', T0, { status: 'running', meta: { labels: { team: 'a' } } }),
      metric('w1', T0, { cpu_percent: 95 }),
    ]);
    expect(e.cycle(T0 + 1000).fired).toHaveLength(1);
    e.ingest([
      ev('agent_status_update', 'w1', T0 + 2000, {
        status: 'running',
        meta: { labels: { team: 'b' } },
      }),
    ]);
    expect(e.cycle(T0 + 3000).resolved).toHaveLength(1);
  });

  it('an absence rule fires when neither events nor heartbeats came for its duration, and resolves on a heartbeat', () => {
    const hb = new Map<string, number>();
    const e = evaluator([{ name: 'gone', type: 'absence', absent_for: '1m' }], hb);
    e.ingest([metric('w1', T0, { x: 1 })]);
    expect(e.cycle(T0 + 1000).changed).toEqual([]);
    hb.set('w1', T0 + 30_000);
    expect(e.cycle(T0 + 61_000).fired).toEqual([]);
    const r = e.cycle(T0 + 91_000);
    expect(r.fired).toHaveLength(1);
    expect(r.fired[0]!.labels.agent_down).toBe('true');
    expect(r.fired[0]!.activeAt).toBe(T0 + 90_000);
    hb.set('w1', T0 + 95_000);
    expect(e.cycle(T0 + 96_000).resolved).toHaveLength(1);
  });

  it('an agent stopped on purpose raises no absence alert', () => {
    const e = evaluator([{ name: 'gone', type: 'absence', absent_for: '1m' }]);
    e.ingest([ev('agent_status_update', 'w1', T0, { status: 'stopped' })]);
    e.cycle(T0);
    expect(e.cycle(T0 + 600_000).fired).toEqual([]);
  });

  it('a rate rule counts errors in a sliding window and resolves as they slide out', () => {
    const e = evaluator([
      { name: 'errs', type: 'rate', rate: { of: 'errors', window: '1m' }, threshold: 3 },
    ]);
    const err = (at: number) => ev('error_occurred', 'w1', at, { errorType: 'E', message: 'boom' });
    e.ingest([err(T0), err(T0 + 10_000)]);
    expect(e.cycle(T0 + 15_000).changed).toEqual([]);
    e.ingest([err(T0 + 20_000)]);
    const r = e.cycle(T0 + 25_000);
    expect(r.fired).toHaveLength(1);
    expect(r.fired[0]!.value).toBe(3);
    // The first error leaves the window at T0 + 60 s.
    expect(e.cycle(T0 + 59_000).resolved).toEqual([]);
    expect(e.cycle(T0 + 60_000).resolved).toHaveLength(1);
  });

  it('a rate rule on failed tasks ignores successful ones', () => {
    const e = evaluator([
      { name: 'fails', type: 'rate', rate: { of: 'failed_tasks', window: '5m' }, threshold: 1 },
    ]);
    e.ingest([ev('task_completed', 'w1', T0, { taskId: 't', success: true })]);
    expect(e.cycle(T0 + 1000).fired).toEqual([]);
    e.ingest([ev('task_completed', 'w1', T0 + 2000, { taskId: 't2', success: false })]);
    expect(e.cycle(T0 + 3000).fired).toHaveLength(1);
  });

  it('an event rule fires on a match, counts repeats, and resolves on resolve_on', () => {
    const e = evaluator([
      {
        name: 'failed',
        type: 'event',
        match: [{ type: 'agent_lifecycle', action: 'circuit_open' }],
        resolve_on: { type: 'agent_status_update', status: ['running'] },
      },
    ]);
    e.ingest([ev('agent_lifecycle', 'w1', T0, { action: 'circuit_open', reason: 'x' })]);
    expect(e.cycle(T0 + 1000).fired).toHaveLength(1);
    e.ingest([ev('agent_lifecycle', 'w1', T0 + 2000, { action: 'circuit_open', reason: 'x' })]);
    e.cycle(T0 + 3000);
    expect([...e.active.values()][0]!.value).toBe(2);
    e.ingest([ev('agent_status_update', 'w1', T0 + 4000, { status: 'running' })]);
    expect(e.cycle(T0 + 5000).resolved).toHaveLength(1);
  });

  it('an event rule on an error fingerprint matches errors of that group only, and keep_firing_for ends it', () => {
    const e = evaluator([
      {
        name: 'quota',
        type: 'event',
        match: { type: 'error_occurred', fingerprint: 'quota-exceeded' },
        keep_firing_for: '1m',
      },
    ]);
    e.ingest([
      ev('error_occurred', 'w1', T0, { errorType: 'E', message: 'other' }),
      ev('error_occurred', 'w2', T0, {
        errorType: 'E',
        message: 'q',
        fingerprint: 'quota-exceeded',
      }),
    ]);
    const r = e.cycle(T0 + 1000);
    expect(r.fired.map((a) => a.agentId)).toEqual(['w2']);
    expect(e.cycle(T0 + 59_000).resolved).toEqual([]);
    expect(e.cycle(T0 + 61_000).resolved).toHaveLength(1);
  });

  it('restored alerts of a rule that is gone resolve on the first cycle', () => {
    const e = evaluator([cpu]);
    e.restore(
      [
        {
          id: 'x',
          fingerprint: 'f',
          rule: 'removed',
          agentId: 'w1',
          severity: 'warning',
          labels: {},
          annotations: {},
          state: 'firing',
          value: 1,
          activeAt: T0 - 1000,
          firedAt: T0 - 1000,
          endsAt: null,
          falseSince: null,
          acknowledged: false,
          ackedBy: null,
          ackedAt: null,
          ackComment: null,
          escalated: 0,
          updatedAt: T0,
        },
      ],
      T0,
    );
    expect(e.cycle(T0 + 1000).resolved.map((a) => a.id)).toEqual(['x']);
  });
});
