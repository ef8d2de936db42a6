import { describe, expect, it } from 'vitest';
import {
  displayWidth,
  formatAgentsTable,
  formatAgo,
  formatMemory,
  healthLabel,
  type AgentListItem,
} from './agents-command.js';

const NOW = 1_800_000_000_000;

function agent(over: Partial<AgentListItem> & { agentId: string }): AgentListItem {
  return {
    status: 'running',
    statusMessage: null,
    health: 'healthy',
    metrics: {},
    openTasks: 0,
    unresolvedErrors: 0,
    lastSeen: NOW - 3000,
    ...over,
  };
}

describe('formatAgentsTable', () => {
  it('lists agents sorted by id, with health marks, CPU, RAM, tasks, errors and last seen', () => {
    const text = formatAgentsTable(
      [
        agent({
          agentId: 'worker-1',
          status: 'busy',
          metrics: { cpu_percent: 15.4, memory_mb: 234 },
          openTasks: 1,
        }),
        agent({
          agentId: 'deva_ts',
          status: 'failed',
          health: 'critical',
          unresolvedErrors: 2,
          lastSeen: NOW - 5 * 60_000,
        }),
        agent({ agentId: 'sma', status: 'needs_input', health: 'warning' }),
        agent({
          agentId: 'old',
          status: 'stopped',
          health: 'unknown',
          lastSeen: NOW - 3 * 86_400_000,
        }),
      ],
      NOW,
    );
    expect(text).toBe(
      [
        'AGENT     STATUS       HEALTH       CPU     RAM  TASKS  ERRORS  LAST SEEN',
        'deva_ts   failed       ❌ critical    -       -      0       2  5m ago',
        'old       stopped      ⚪ unknown     -       -      0       0  3d ago',
        'sma       needs_input  ⚠️  warning     -       -      0       0  3s ago',
        'worker-1  busy         ✅ healthy   15%  234 MB      1       0  3s ago',
        '',
        '4 agents: 1 healthy, 1 warning, 1 critical, 1 unknown',
        '',
      ].join('\n'),
    );
  });

  it('adds a message column, last and unpadded, when an agent has a status message', () => {
    const text = formatAgentsTable(
      [
        agent({ agentId: 'a', statusMessage: 'restarting in 30 s\n(attempt 2/3)' }),
        agent({ agentId: 'b' }),
      ],
      NOW,
    );
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/LAST SEEN {2}MESSAGE$/);
    expect(lines[1]).toMatch(/3s ago {5}restarting in 30 s \(attempt 2\/3\)$/);
    expect(lines[2]).toMatch(/3s ago$/);
  });

  it('shows a dash for an agent with no status or metrics yet', () => {
    const line = formatAgentsTable(
      [agent({ agentId: 'new', status: null, health: 'unknown' })],
      NOW,
    ).split('\n')[1]!;
    expect(line.split(/\s{2,}/)).toEqual(['new', '-', '⚪ unknown', '-', '-', '0', '0', '3s ago']);
  });

  it('says so when there are no agents', () => {
    expect(formatAgentsTable([], NOW)).toMatch(/^No agents yet/);
  });
});

describe('table helpers', () => {
  it('counts the wide marks as two columns and ⚠️ as one, padding it to line up', () => {
    expect(displayWidth('✅ healthy')).toBe(10);
    expect(displayWidth('⚠️')).toBe(1);
    expect(displayWidth(healthLabel('warning'))).toBe(displayWidth('✅ warning'));
    expect(healthLabel('warning')).toBe('⚠️  warning');
  });

  it('formats last seen at each unit boundary', () => {
    expect(formatAgo(999)).toBe('just now');
    expect(formatAgo(-5000)).toBe('just now');
    expect(formatAgo(1000)).toBe('1s ago');
    expect(formatAgo(59_999)).toBe('59s ago');
    expect(formatAgo(60_000)).toBe('1m ago');
    expect(formatAgo(3_600_000)).toBe('1h ago');
    expect(formatAgo(86_400_000)).toBe('1d ago');
  });

  it('formats memory in MB, and GB from 1024 MB', () => {
    expect(formatMemory(88.6)).toBe('89 MB');
    expect(formatMemory(1023)).toBe('1023 MB');
    expect(formatMemory(1536)).toBe('1.5 GB');
  });
});
