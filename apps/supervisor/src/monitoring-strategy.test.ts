import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BUILTIN_STRATEGIES,
  MonitoringError,
  MonitoringStrategyConfigSchema,
  createStrategy,
  strategyOptionsFromConfig,
} from './monitoring-strategy.js';
import type { MonitoringStrategy, MonitoringStrategyOptions } from './monitoring-strategy.js';
import { ManualClock } from './test-support/manual-clock.js';

const base = (): MonitoringStrategyOptions => ({
  intervalMs: 1000,
  clock: new ManualClock(),
  onError: () => {},
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof MonitoringError
      ? error.code
      : `not a MonitoringError: ${String(error)}`;
  }
  return undefined;
}

describe('createStrategy', () => {
  it('makes each built-in by its config name', () => {
    for (const name of BUILTIN_STRATEGIES) expect(createStrategy(name, base()).name).toBe(name);
  });

  it('makes a registered (plugin) strategy by name, with the same options', () => {
    let given: MonitoringStrategyOptions | undefined;
    const custom: MonitoringStrategy = {
      name: 'round-robin',
      start: () => {},
      stop: async () => {},
    };
    const opts = base();
    const made = createStrategy(
      'round-robin',
      opts,
      new Map([
        [
          'round-robin',
          (o: MonitoringStrategyOptions) => {
            given = o;
            return custom;
          },
        ],
      ]),
    );
    expect(made).toBe(custom);
    expect(given).toBe(opts);
  });

  it('refuses an unknown name with unknown_strategy, naming the strategies it knows', () => {
    const extra = new Map([['mine', () => createStrategy('polling', base())]]);
    expect(() => createStrategy('fancy', base(), extra)).toThrow(
      'monitoring.strategy "fancy" is not a known strategy (known: polling, concurrent, priority, mine)',
    );
    expect(codeOf(() => createStrategy('fancy', base()))).toBe('unknown_strategy');
  });

  it('refuses options that would make a busy loop or no progress with invalid_option', () => {
    expect(codeOf(() => createStrategy('polling', { ...base(), intervalMs: 0 }))).toBe(
      'invalid_option',
    );
    expect(
      codeOf(() => createStrategy('concurrent', { ...base(), checkTimeoutMs: Infinity })),
    ).toBe('invalid_option');
    expect(codeOf(() => createStrategy('concurrent', { ...base(), concurrency: 0 }))).toBe(
      'invalid_option',
    );
    expect(codeOf(() => createStrategy('priority', { ...base(), healthyEvery: 1.5 }))).toBe(
      'invalid_option',
    );
    expect(() => createStrategy('concurrent', { ...base(), concurrency: 0 })).toThrow(
      'concurrency must be a positive integer (got 0)',
    );
  });
});

describe('MonitoringStrategyConfigSchema', () => {
  it('defaults to the concurrent strategy, 8 at once, healthy agents every 2nd interval', () => {
    expect(MonitoringStrategyConfigSchema.parse({})).toEqual({
      strategy: 'concurrent',
      concurrency: 8,
      healthy_every: 2,
    });
  });

  it('parses check_timeout as a duration and accepts a plugin strategy name', () => {
    expect(
      MonitoringStrategyConfigSchema.parse({ strategy: 'round-robin', check_timeout: '15s' }),
    ).toMatchObject({ strategy: 'round-robin', check_timeout: 15_000 });
  });

  it('refuses a strategy name no plugin could have, a zero concurrency and a zero timeout', () => {
    const issues = (v: unknown) =>
      MonitoringStrategyConfigSchema.safeParse(v).error?.issues.map((i) => i.path.join('.'));
    expect(issues({ strategy: 'Round Robin' })).toEqual(['strategy']);
    expect(issues({ concurrency: 0 })).toEqual(['concurrency']);
    expect(issues({ check_timeout: 0 })).toEqual(['check_timeout']);
  });

  it('spreads into a larger strict block with the same defaults', () => {
    const block = z.strictObject({
      check_interval: z.number().default(5),
      ...MonitoringStrategyConfigSchema.shape,
    });
    expect(block.parse({ strategy: 'priority' })).toEqual({
      check_interval: 5,
      strategy: 'priority',
      concurrency: 8,
      healthy_every: 2,
    });
  });

  it('maps onto strategy options', () => {
    const cfg = MonitoringStrategyConfigSchema.parse({ concurrency: 3, check_timeout: '9s' });
    const opts = strategyOptionsFromConfig(cfg, base());
    expect(opts).toMatchObject({
      intervalMs: 1000,
      concurrency: 3,
      healthyEvery: 2,
      checkTimeoutMs: 9000,
    });
    expect(
      strategyOptionsFromConfig(MonitoringStrategyConfigSchema.parse({}), base()),
    ).not.toHaveProperty('checkTimeoutMs');
  });
});
