import { describe, expect, it } from 'vitest';
import {
  EXIT_UNKNOWN,
  formatHealth,
  formatUptime,
  systemVerdict,
  verdictExitCode,
  type FiringAlertFact,
  type HealthReport,
  type VerdictInput,
} from './health-command.js';

const NONE = { healthy: 0, warning: 0, critical: 0, unknown: 0 };

function input(over: Partial<VerdictInput> = {}): VerdictInput {
  return { byHealth: { ...NONE, healthy: 3 }, firing: [], ready: true, ...over };
}

function alert(over: Partial<FiringAlertFact> = {}): FiringAlertFact {
  return {
    id: 'a1',
    rule: 'agent-cpu-high',
    agentId: 'w1',
    severity: 'warning',
    acknowledged: false,
    silencedBy: [],
    inhibitedBy: null,
    ...over,
  };
}

describe('systemVerdict', () => {
  it('is healthy with no reasons when every agent is healthy and nothing fires', () => {
    expect(systemVerdict(input())).toEqual({ verdict: 'healthy', reasons: [] });
  });

  it('ignores agents stopped on purpose (unknown): an empty or all-stopped fleet is healthy', () => {
    expect(systemVerdict(input({ byHealth: { ...NONE } })).verdict).toBe('healthy');
    expect(systemVerdict(input({ byHealth: { ...NONE, unknown: 4 } })).verdict).toBe('healthy');
  });

  it('is the worst agent health, naming the agents', () => {
    const v = systemVerdict(
      input({
        byHealth: { ...NONE, healthy: 1, warning: 1, critical: 2 },
        agentsByHealth: { critical: ['a', 'b'], warning: ['c'] },
      }),
    );
    expect(v.verdict).toBe('critical');
    expect(v.reasons).toEqual(['2 agents critical (a, b)', '1 agent warning (c)']);
    expect(systemVerdict(input({ byHealth: { ...NONE, healthy: 2, warning: 1 } })).verdict).toBe(
      'warning',
    );
  });

  it('names at most five agents and counts the rest', () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const v = systemVerdict(
      input({ byHealth: { ...NONE, critical: 7 }, agentsByHealth: { critical: ids } }),
    );
    expect(v.reasons).toEqual(['7 agents critical (a, b, c, d, e, +2 more)']);
  });

  it('a critical firing alert makes it critical even with every agent healthy', () => {
    const v = systemVerdict(
      input({ firing: [alert({ rule: 'agent-failed', agentId: 'x', severity: 'critical' })] }),
    );
    expect(v).toEqual({
      verdict: 'critical',
      reasons: ['1 critical alert firing (agent-failed on x)'],
    });
  });

  it('a warning firing alert makes it warning; an acknowledged one still counts', () => {
    expect(systemVerdict(input({ firing: [alert()] })).verdict).toBe('warning');
    expect(systemVerdict(input({ firing: [alert({ acknowledged: true })] })).verdict).toBe(
      'warning',
    );
  });

  it('silenced and inhibited alerts do not count: someone decided they need no attention', () => {
    const v = systemVerdict(
      input({
        firing: [
          alert({ severity: 'critical', silencedBy: ['s1'] }),
          alert({ severity: 'critical', inhibitedBy: 'agent-failed' }),
        ],
      }),
    );
    expect(v).toEqual({ verdict: 'healthy', reasons: [] });
  });

  it('lists critical reasons before warning ones', () => {
    const v = systemVerdict(
      input({
        byHealth: { ...NONE, warning: 1 },
        agentsByHealth: { warning: ['slow'] },
        firing: [alert({ severity: 'critical', rule: 'down', agentId: 'd' }), alert()],
      }),
    );
    expect(v.reasons).toEqual([
      '1 critical alert firing (down on d)',
      '1 agent warning (slow)',
      '1 warning alert firing (agent-cpu-high on w1)',
    ]);
  });

  it('a server that is not ready is at least warning, never less than what the agents say', () => {
    const v = systemVerdict(input({ ready: false, readyProblem: 'unavailable: redis down' }));
    expect(v).toEqual({
      verdict: 'warning',
      reasons: ['server not ready: unavailable: redis down'],
    });
    expect(systemVerdict(input({ ready: false, byHealth: { ...NONE, critical: 1 } })).verdict).toBe(
      'critical',
    );
  });
});

describe('verdictExitCode', () => {
  it('is 0 healthy, 1 warning, 2 critical, 3 unknown (SPEC §12)', () => {
    expect(verdictExitCode('healthy')).toBe(0);
    expect(verdictExitCode('warning')).toBe(1);
    expect(verdictExitCode('critical')).toBe(2);
    expect(verdictExitCode('unknown')).toBe(EXIT_UNKNOWN);
    expect(EXIT_UNKNOWN).toBe(3);
  });
});

describe('formatUptime', () => {
  it('shows the largest unit and the next one', () => {
    expect(formatUptime(0)).toBe('0s');
    expect(formatUptime(45)).toBe('45s');
    expect(formatUptime(60)).toBe('1m');
    expect(formatUptime(125)).toBe('2m 5s');
    expect(formatUptime(7500)).toBe('2h 5m');
    expect(formatUptime(3 * 86_400 + 4 * 3600 + 59)).toBe('3d 4h');
  });
});

const NOW = 1_800_000_000_000;

function report(over: Partial<HealthReport> = {}): HealthReport {
  return {
    verdict: 'healthy',
    exitCode: 0,
    reasons: [],
    url: 'http://127.0.0.1:7070',
    checkedAt: NOW,
    agents: {
      total: 2,
      active: 2,
      byHealth: { ...NONE, healthy: 2 },
      byStatus: { running: 1, busy: 1 },
      critical: [],
      warning: [],
    },
    alerts: {
      firing: 0,
      pending: 0,
      critical: 0,
      warning: 0,
      suppressed: 0,
      unacknowledged: 0,
      list: [],
    },
    errorGroups: { unresolved: 0, more: false, latest: [] },
    queue: { depth: 12, leased: 2, ratePerMin: 3.2 },
    server: {
      version: '0.1.0',
      uptimeSeconds: 300,
      ready: true,
      problem: null,
      head: 10,
      ingestRatePerSecond: 0.5,
      ingestBacklog: 0,
    },
    ...over,
  };
}

describe('formatHealth', () => {
  it('a healthy fleet in six lines', () => {
    expect(formatHealth(report())).toBe(
      [
        'System: ✅ healthy — no agent unhealthy, no alert firing',
        'Agents: 2/2 active · 2 healthy · 1 busy, 1 running',
        'Alerts: 0 firing, 0 pending',
        'Errors: no unresolved error groups',
        'Queue:  12 queued, 2 leased, 3.2/min',
        'Server: Warden 0.1.0 at http://127.0.0.1:7070, up 5m, ready, 0.5 events/s',
        '',
      ].join('\n'),
    );
  });

  it('a critical fleet says why, lists the firing alerts and the latest error group', () => {
    const text = formatHealth(
      report({
        verdict: 'critical',
        exitCode: 2,
        reasons: [
          '1 agent critical (deva_ts)',
          '1 critical alert firing (agent-failed on deva_ts)',
        ],
        agents: {
          total: 2,
          active: 1,
          byHealth: { ...NONE, healthy: 1, critical: 1 },
          byStatus: { busy: 1, failed: 1 },
          critical: ['deva_ts'],
          warning: [],
        },
        alerts: {
          firing: 2,
          pending: 1,
          critical: 1,
          warning: 0,
          suppressed: 1,
          unacknowledged: 1,
          list: [
            {
              id: 'x-1',
              rule: 'agent-failed',
              agentId: 'deva_ts',
              severity: 'critical',
              acknowledged: false,
              suppressed: false,
              firedAt: NOW - 120_000,
              summary: `deva_ts failed\nfor good ${'x'.repeat(100)}`,
            },
            {
              id: 'x-2',
              rule: 'agent-cpu-high',
              agentId: 'w1',
              severity: 'warning',
              acknowledged: true,
              suppressed: true,
              firedAt: NOW - 5000,
              summary: null,
            },
          ],
        },
        errorGroups: {
          unresolved: 500,
          more: true,
          latest: [
            {
              id: 'g',
              errorType: 'Crash',
              message: 'boom',
              count: 3,
              lastSeen: NOW,
              lastAgentId: 'deva_ts',
            },
          ],
        },
        server: { ...report().server, ready: false, problem: 'unavailable: redis down' },
      }),
    );
    expect(text.split('\n')).toEqual([
      'System: ❌ critical — 1 agent critical (deva_ts); 1 critical alert firing (agent-failed on deva_ts)',
      'Agents: 1/2 active · 1 healthy, 1 critical · 1 busy, 1 failed',
      'Alerts: 2 firing (1 critical, 1 silenced or inhibited; 1 unacknowledged), 1 pending',
      `  ❌ agent-failed on deva_ts — deva_ts failed for good ${'x'.repeat(75)}… (2m ago)`,
      '  ⚠️  agent-cpu-high on w1 (5s ago, acknowledged, silenced)',
      'Errors: 500+ unresolved error groups, latest Crash: boom (deva_ts, 3×)',
      'Queue:  12 queued, 2 leased, 3.2/min',
      'Server: Warden 0.1.0 at http://127.0.0.1:7070, up 5m, NOT READY (unavailable: redis down), 0.5 events/s',
      '',
    ]);
  });

  it('an empty fleet says how agents appear', () => {
    const text = formatHealth(
      report({
        agents: {
          total: 0,
          active: 0,
          byHealth: { ...NONE },
          byStatus: {},
          critical: [],
          warning: [],
        },
      }),
    );
    expect(text).toContain(
      '\nAgents: none yet — an agent appears with its first event or heartbeat\n',
    );
  });
});
