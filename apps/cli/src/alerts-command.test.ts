import { describe, expect, it } from 'vitest';
import {
  formatAlertsTable,
  formatMatcher,
  formatSilencesTable,
  parseMatcher,
  type AlertItem,
  type SilenceItem,
} from './alerts-command.js';

const NOW = 1_800_000_000_000;

describe('parseMatcher', () => {
  it("reads amtool's four operators", () => {
    expect(parseMatcher('agentId=worker-1')).toEqual({
      name: 'agentId',
      value: 'worker-1',
      isRegex: false,
      isEqual: true,
    });
    expect(parseMatcher('severity!=critical')).toMatchObject({ isRegex: false, isEqual: false });
    expect(parseMatcher('alertname=~agent-.*')).toEqual({
      name: 'alertname',
      value: 'agent-.*',
      isRegex: true,
      isEqual: true,
    });
    expect(parseMatcher('team!~ops|infra')).toMatchObject({ value: 'ops|infra', isEqual: false });
  });

  it('takes a quoted value, an empty one and = inside the value', () => {
    expect(parseMatcher('alertname="agent cpu high"')).toMatchObject({ value: 'agent cpu high' });
    expect(parseMatcher('team=')).toMatchObject({ value: '' });
    expect(parseMatcher('query=a=b')).toMatchObject({ name: 'query', value: 'a=b', isEqual: true });
  });

  it('refuses what is not a matcher with a message naming it', () => {
    expect(parseMatcher('worker-1')).toBe(
      'matcher "worker-1" is not name=value, name!=value, name=~regex or name!~regex',
    );
    expect(parseMatcher('1abc=x')).toMatch(/^matcher "1abc=x" is not name=value/);
    expect(parseMatcher(`${'a'.repeat(101)}=x`)).toMatch(/label names are at most 100/);
    expect(parseMatcher('x=~(')).toMatch(/^matcher "x=~\(": not a valid regular expression \(/);
    expect(parseMatcher(`x=${'v'.repeat(1025)}`)).toMatch(/longer than 1024 characters/);
  });

  it('formatMatcher writes it back, value quoted', () => {
    for (const text of ['a="b"', 'a!="b"', 'a=~"b.*"', 'a!~"b|c"']) {
      const m = parseMatcher(text);
      expect(typeof m).toBe('object');
      if (typeof m === 'object') expect(formatMatcher(m)).toBe(text);
    }
  });
});

function alert(over: Partial<AlertItem> = {}): AlertItem {
  return {
    id: '0123456789abcdef-m1',
    rule: 'agent-failed',
    agentId: 'deva_ts',
    severity: 'critical',
    labels: { alertname: 'agent-failed', agentId: 'deva_ts', severity: 'critical' },
    annotations: { summary: 'deva_ts failed' },
    state: 'firing',
    value: 1,
    startsAt: NOW - 200_000,
    firedAt: NOW - 120_000,
    endsAt: null,
    acknowledged: false,
    ackedBy: null,
    ackedAt: null,
    silencedBy: [],
    inhibitedBy: null,
    ...over,
  };
}

describe('formatAlertsTable', () => {
  it('one row per alert with id, state, severity mark, rule, agent, value, since, notes, summary', () => {
    const text = formatAlertsTable(
      [
        alert(),
        alert({
          id: 'fedcba9876543210-m2',
          rule: 'agent-cpu-high',
          agentId: 'w1',
          severity: 'warning',
          state: 'pending',
          value: 93.456,
          startsAt: NOW - 30_000,
          firedAt: null,
          acknowledged: true,
          ackedBy: 'ops',
          silencedBy: ['s-1'],
          annotations: {},
        }),
      ],
      NOW,
      'pending,firing',
    );
    expect(text).toBe(
      [
        'ID                   STATE    SEVERITY     RULE            AGENT     VALUE  SINCE    NOTES                         SUMMARY',
        '0123456789abcdef-m1  firing   ❌ critical  agent-failed    deva_ts       1  2m ago   -                             deva_ts failed',
        'fedcba9876543210-m2  pending  ⚠️  warning   agent-cpu-high  w1       93.456  30s ago  acked by ops, silenced (s-1)',
        '',
        '2 alerts: 1 firing, 1 pending',
        '',
      ].join('\n'),
    );
  });

  it('a resolved alert shows when it ended', () => {
    const text = formatAlertsTable(
      [alert({ state: 'resolved', endsAt: NOW - 300_000, value: null })],
      NOW,
      'all',
    );
    expect(text).toContain('  resolved ');
    expect(text).toContain('  -  resolved 5m ago  ');
    expect(text).toContain('\n1 alert: 1 resolved\n');
  });

  it('an empty list says which states were asked and how to see the rest', () => {
    expect(formatAlertsTable([], NOW, 'pending,firing')).toBe(
      'No pending or firing alerts. (--state all shows the resolved ones too)\n',
    );
    expect(formatAlertsTable([], NOW, 'all')).toBe('No alerts.\n');
  });
});

describe('formatSilencesTable', () => {
  const silence = (over: Partial<SilenceItem> = {}): SilenceItem => ({
    id: 's-1',
    matchers: [
      { name: 'agentId', value: 'w1', isRegex: false, isEqual: true },
      { name: 'alertname', value: 'agent-.*', isRegex: true, isEqual: true },
    ],
    startsAt: NOW - 60_000,
    endsAt: NOW + 7_200_000,
    createdBy: 'ops',
    comment: 'deploying\nw1',
    updatedAt: NOW - 60_000,
    status: { state: 'active' },
    ...over,
  });

  it('id, state, matchers, when it ends, who made it and why', () => {
    expect(
      formatSilencesTable(
        [silence(), silence({ id: 's-2', endsAt: NOW - 60_000, status: { state: 'expired' } })],
        NOW,
        true,
      ),
    ).toBe(
      [
        'ID   STATE    MATCHERS                             ENDS    CREATED BY  COMMENT',
        's-1  active   agentId="w1", alertname=~"agent-.*"  in 2h   ops         deploying w1',
        's-2  expired  agentId="w1", alertname=~"agent-.*"  1m ago  ops         deploying w1',
        '',
      ].join('\n'),
    );
  });

  it('an empty list says how to see expired ones', () => {
    expect(formatSilencesTable([], NOW, false)).toBe(
      'No active or pending silences. (--all shows expired ones too)\n',
    );
    expect(formatSilencesTable([], NOW, true)).toBe('No silences.\n');
  });
});
