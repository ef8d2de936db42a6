import { describe, expect, it } from 'vitest';
import { isRelativeTime, parseTimeArg } from './time-arg.js';

const NOW = 1_800_000_000_000;

describe('parseTimeArg', () => {
  it('takes epoch ms, ISO-8601 and a duration back from now, as the server reads since', () => {
    expect(parseTimeArg('1763791200000', NOW)).toBe(1_763_791_200_000);
    expect(parseTimeArg('2025-11-22T06:00:00Z', NOW)).toBe(Date.parse('2025-11-22T06:00:00Z'));
    expect(parseTimeArg('2025-11-22', NOW)).toBe(Date.parse('2025-11-22'));
    expect(parseTimeArg('10m', NOW)).toBe(NOW - 600_000);
    expect(parseTimeArg(' 2h ', NOW)).toBe(NOW - 7_200_000);
    expect(parseTimeArg('1.5h', NOW)).toBe(NOW - 5_400_000);
  });

  it('refuses anything else, and durations where only absolute times are meant', () => {
    for (const bad of [
      'yesterday',
      '10 minutes',
      '-5m',
      '2025-13-45T99:00:00Z',
      '99999999999999999',
      '',
    ]) {
      expect(parseTimeArg(bad, NOW)).toBeUndefined();
    }
    expect(parseTimeArg('2h', NOW, { relative: false })).toBeUndefined();
    expect(parseTimeArg('1763791200000', NOW, { relative: false })).toBe(1_763_791_200_000);
  });

  it('isRelativeTime tells durations from dates', () => {
    expect(isRelativeTime('10m')).toBe(true);
    expect(isRelativeTime('2025-11-22T06:00:00Z')).toBe(false);
    expect(isRelativeTime('1763791200000')).toBe(false);
  });
});
