import { describe, expect, it } from 'vitest';
import {
  formatLatestTable,
  formatMetricValue,
  formatNumber,
  formatSeriesTable,
  orderMetricNames,
  seriesStats,
  windowLabel,
} from './metrics-command.js';

const NOW = 1_800_000_000_000;

describe('seriesStats', () => {
  it('adds the points up exactly: samples, extremes, the true average and the newest last', () => {
    const s = seriesStats(
      'cpu_percent',
      [
        { ts: NOW - 120_000, count: 1, sum: 10, min: 10, max: 10, last: 10 },
        { ts: NOW - 60_000, count: 3, sum: 30, min: 2, max: 20, last: 8 },
      ],
      { source: 'raw', step: 60_000 },
    );
    expect(s).toEqual({
      name: 'cpu_percent',
      count: 4,
      last: 8,
      min: 2,
      avg: 10,
      max: 20,
      lastStepAt: NOW - 60_000,
      source: 'raw',
      step: 60_000,
    });
  });

  it('has no figures for a window without samples', () => {
    expect(seriesStats('x', [], { source: '1m', step: 1000 })).toMatchObject({
      count: 0,
      last: null,
      min: null,
      avg: null,
      max: null,
      lastStepAt: null,
    });
  });
});

describe('formatNumber and formatMetricValue', () => {
  it('shows about three significant digits', () => {
    expect(formatNumber(1234)).toBe('1234');
    expect(formatNumber(123.456)).toBe('123');
    expect(formatNumber(12.345)).toBe('12.3');
    expect(formatNumber(1.23456)).toBe('1.23');
    expect(formatNumber(0.012345)).toBe('0.0123');
    expect(formatNumber(-2.5)).toBe('-2.5');
  });

  it('uses the unit the name says', () => {
    expect(formatMetricValue('cpu_percent', 15.44)).toBe('15.4%');
    expect(formatMetricValue('host_cpu_percent', 3)).toBe('3%');
    expect(formatMetricValue('memory_mb', 234)).toBe('234 MB');
    expect(formatMetricValue('memory_mb', 1536)).toBe('1.5 GB');
    expect(formatMetricValue('host_memory_used_bytes', 1.5 * 1024 ** 3)).toBe('1.5 GB');
    expect(formatMetricValue('host_disk_free_bytes', 512)).toBe('512 B');
    expect(formatMetricValue('response_time_ms', 120)).toBe('120 ms');
    expect(formatMetricValue('task_duration_ms', 5300)).toBe('5.3 s');
    expect(formatMetricValue('step_seconds', 3.5)).toBe('3.5 s');
    expect(formatMetricValue('cost_usd', 0.1234)).toBe('$0.12');
    expect(formatMetricValue('cost_usd', 0.00042)).toBe('$0.00042');
    expect(formatMetricValue('tokens', 52000)).toBe('52000');
    expect(formatMetricValue('loss', 0.3412)).toBe('0.341');
    expect(formatMetricValue('loss', null)).toBe('-');
    expect(formatMetricValue('loss', undefined)).toBe('-');
  });
});

describe('orderMetricNames', () => {
  it('puts the well-known names first in SPEC order, then the rest alphabetically', () => {
    expect(orderMetricNames(['loss', 'memory_mb', 'accuracy', 'cpu_percent', 'memory_mb'])).toEqual(
      ['cpu_percent', 'memory_mb', 'accuracy', 'loss'],
    );
  });
});

describe('formatLatestTable', () => {
  it('one row per agent sorted by id, one column per metric, - where an agent has none', () => {
    expect(
      formatLatestTable([
        { agentId: 'worker-1', lastSeen: NOW, metrics: { cpu_percent: 12, memory_mb: 178 } },
        { agentId: 'trainer', lastSeen: NOW, metrics: { loss: 0.3412, cpu_percent: 95.5 } },
      ]),
    ).toBe(
      [
        'AGENT     cpu_percent  memory_mb   loss',
        'trainer         95.5%          -  0.341',
        'worker-1          12%     178 MB      -',
        '',
      ].join('\n'),
    );
  });

  it('takes the columns it is given', () => {
    expect(
      formatLatestTable([{ agentId: 'a', lastSeen: NOW, metrics: { cpu_percent: 1 } }], ['tokens']),
    ).toBe('AGENT  tokens\na           -\n');
  });

  it('says what to do when there is nothing to show', () => {
    expect(formatLatestTable([])).toMatch(/^No agents yet/);
    expect(formatLatestTable([{ agentId: 'a', lastSeen: NOW, metrics: {} }])).toBe(
      'No metrics yet: agents report them with metric_update events (cpu_percent, memory_mb, …).\n',
    );
  });
});

describe('formatSeriesTable', () => {
  it('a title naming the window, then last/min/avg/max, samples and when it was updated', () => {
    const text = formatSeriesTable(
      'worker-1',
      [
        {
          name: 'cpu_percent',
          count: 4,
          last: 8,
          min: 2,
          avg: 10,
          max: 20,
          lastStepAt: NOW - 5000,
          source: 'raw',
          step: 12_000,
        },
        {
          name: 'memory_mb',
          count: 0,
          last: null,
          min: null,
          avg: null,
          max: null,
          lastStepAt: null,
          source: 'raw',
          step: 12_000,
        },
      ],
      { from: NOW - 3_600_000, to: NOW, relative: true },
      NOW,
    );
    expect(text).toBe(
      [
        'worker-1: metrics over the last 1h',
        '',
        'METRIC       LAST  MIN  AVG  MAX  SAMPLES  UPDATED',
        'cpu_percent    8%   2%  10%  20%        4  5s ago',
        'memory_mb       -    -    -    -        0  no samples',
        '',
      ].join('\n'),
    );
  });

  it('names the fleet, and says when there are no series yet', () => {
    expect(formatSeriesTable('*', [], { from: 0, to: 1, relative: true }, NOW)).toMatch(
      /^No fleet metrics yet/,
    );
    expect(formatSeriesTable('w', [], { from: 0, to: 1, relative: true }, NOW)).toBe(
      'No metrics for w yet: agents report them with metric_update events.\n',
    );
  });
});

describe('windowLabel', () => {
  it('a relative window by its length, an absolute one by its start', () => {
    expect(windowLabel(NOW - 3_600_000, NOW, true)).toBe('the last 1h');
    expect(windowLabel(NOW - 90 * 60_000, NOW, true)).toBe('the last 90m');
    expect(windowLabel(NOW - 1500, NOW, true)).toBe('the last 2s');
    expect(windowLabel(Date.parse('2025-11-22T06:00:00Z'), NOW, false)).toBe(
      'since 2025-11-22T06:00:00.000Z',
    );
  });
});
