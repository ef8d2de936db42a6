import { describe, expect, it } from 'vitest';
import type { AlertRecord } from './alert-state.js';
import { BUILTIN_INHIBIT_RULES, compileInhibitRules, inhibition } from './inhibitor.js';
import { Silences } from './silence.js';

const alert = (fp: string, labels: Record<string, string>) =>
  ({ fingerprint: fp, labels }) as AlertRecord;

describe('inhibition', () => {
  const rules = compileInhibitRules(BUILTIN_INHIBIT_RULES);

  it("a critical alert of an agent inhibits that agent's warnings, not another agent's", () => {
    const crit = alert('c', { alertname: 'mem', agentId: 'a', severity: 'critical' });
    const warnA = alert('w1', { alertname: 'cpu', agentId: 'a', severity: 'warning' });
    const warnB = alert('w2', { alertname: 'cpu', agentId: 'b', severity: 'warning' });
    const by = inhibition(rules, [crit, warnA, warnB]);
    expect(by(warnA)).toBe('c');
    expect(by(warnB)).toBeUndefined();
    expect(by(crit)).toBeUndefined();
  });

  it('an agent that is down inhibits its other alerts, critical ones included, but not itself', () => {
    const down = alert('d', {
      alertname: 'agent-failed',
      agentId: 'a',
      severity: 'critical',
      agent_down: 'true',
    });
    const other = alert('o', { alertname: 'errors', agentId: 'a', severity: 'critical' });
    const by = inhibition(rules, [down, other]);
    expect(by(other)).toBe('d');
    expect(by(down)).toBeUndefined();
  });
});

describe('silences', () => {
  it('an active silence matches by equality and by anchored regex; pending and expired ones do not', () => {
    const s = new Silences();
    const base = { createdBy: 'op', comment: 'maint', updatedAt: 0 };
    s.load([
      {
        id: 's1',
        matchers: [{ name: 'agentId', value: 'w-.*', isRegex: true, isEqual: true }],
        startsAt: 0,
        endsAt: 100,
        ...base,
      },
      {
        id: 's2',
        matchers: [{ name: 'alertname', value: 'cpu', isRegex: false, isEqual: true }],
        startsAt: 50,
        endsAt: 100,
        ...base,
      },
      {
        id: 's3',
        matchers: [{ name: 'team', value: 'x', isRegex: false, isEqual: false }],
        startsAt: 0,
        endsAt: 10,
        ...base,
      },
    ]);
    const at20 = s.matcher(20);
    expect(at20({ agentId: 'w-1', alertname: 'cpu' })).toEqual(['s1']);
    expect(at20({ agentId: 'xw-1' })).toEqual([]);
    expect(s.matcher(60)({ agentId: 'q', alertname: 'cpu' })).toEqual(['s2']);
    expect(s.matcher(100)({ agentId: 'w-1', alertname: 'cpu' })).toEqual([]);
  });
});
