import { describe, expect, it } from 'vitest';
import { HEALTH_CHECK_NAMES, MB, formatDuration, formatMb } from './health-check.js';

describe('health check vocabulary', () => {
  it('names exactly the process checks of SPEC §12', () => {
    expect(HEALTH_CHECK_NAMES).toEqual([
      'heartbeat',
      'cpu',
      'memory',
      'memory_leak',
      'task_stale',
      'task_duration',
      'probe',
    ]);
  });

  it('formats durations the way a reason reads, never rounding up', () => {
    expect(formatDuration(300)).toBe('300ms');
    expect(formatDuration(2000)).toBe('2s');
    expect(formatDuration(2550)).toBe('2.5s');
    expect(formatDuration(9999)).toBe('9.9s');
    expect(formatDuration(29_999)).toBe('29s');
    expect(formatDuration(42_000)).toBe('42s');
    expect(formatDuration(120_000)).toBe('2m');
    expect(formatDuration(312_000)).toBe('5m 12s');
    expect(formatDuration(7_500_000)).toBe('2h 5m');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3d 4h');
    expect(formatDuration(-1500)).toBe('-1.5s');
  });

  it('counts MB as 2^20 bytes, rounded to whole MB', () => {
    expect(MB).toBe(1_048_576);
    expect(formatMb(1100 * MB)).toBe('1100 MB');
    expect(formatMb(1.4 * MB)).toBe('1 MB');
  });
});
