import { describe, expect, it } from 'vitest';
import { formatUptime } from './daemon-command.js';

describe('formatUptime', () => {
  it('shows the two largest units, from seconds up to days', () => {
    expect(formatUptime(0)).toBe('0s');
    expect(formatUptime(59.9)).toBe('59s');
    expect(formatUptime(60)).toBe('1m 0s');
    expect(formatUptime(3599)).toBe('59m 59s');
    expect(formatUptime(3600 + 5 * 60 + 7)).toBe('1h 5m');
    expect(formatUptime(2 * 86_400 + 3 * 3600 + 59)).toBe('2d 3h');
  });

  it('shows a negative uptime (clock stepped back) as 0s', () => {
    expect(formatUptime(-5)).toBe('0s');
  });
});
