import { z } from 'zod';
import { DurationSchema } from '@warden/protocol';
import type { Health } from '@warden/protocol';
import type { Clock } from './clock.js';
// These three import MonitoringError from this file, and createStrategy imports them: a
// cycle that is safe only because neither side touches the other's exports while its module
// is being evaluated (no top-level `extends`, no top-level tables of the classes). Keep it so.
import { ConcurrentStrategy } from './concurrent-strategy.js';
import { PollingStrategy } from './polling-strategy.js';
import { PriorityStrategy } from './priority-strategy.js';

/**
 * One thing the supervisor watches on a cadence: an agent, with its resource sampling,
 * health evaluation and tmux poll folded into one {@link MonitorTarget.check}.
 */
export interface MonitorTarget {
  /** The agent id; strategies never run two checks of one id at once. */
  readonly id: string;
  /**
   * Importance from config, higher first (the `priority` strategy orders by it after health).
   * @defaultValue 0
   */
  readonly priority: number;
  /** The agent's verdict right now; read before each pass by the `priority` strategy. */
  health(): Health;
  /**
   * One check pass for this agent. A throw or rejection is reported to
   * {@link MonitoringStrategyOptions.onError} and changes nothing else; so is a check that
   * does not settle within {@link MonitoringStrategyOptions.checkTimeoutMs}. A check that
   * finished synchronously should return {@link CHECK_DONE}.
   */
  check(): Promise<void>;
}

/**
 * What {@link MonitorTarget.check} returns when it finished before returning (no I/O left in
 * flight): an already resolved promise, so any strategy may await it, and one the built-in
 * strategies recognise by identity and then skip the timeout timer and the promise reactions
 * of that check. A fleet of 200 agents checked every second would otherwise pay for 200
 * timers and 400 promise callbacks a second to learn that nothing was pending.
 */
export const CHECK_DONE: Promise<void> = Promise.resolve();

/** What every strategy, built-in or from a plugin, is constructed with. */
export interface MonitoringStrategyOptions {
  /** Time between passes (`monitoring.check_interval`), in ms. */
  intervalMs: number;
  /** The clock passes and timeouts run on. */
  clock: Clock;
  /**
   * Told of every check that threw, rejected or timed out (then with a {@link MonitoringError}
   * of code `check_timeout`). Must not throw; if it does, the throw is swallowed.
   */
  onError(target: MonitorTarget, error: unknown): void;
  /**
   * Most checks in flight at once, for `concurrent` and `priority` (`polling` runs one).
   * @defaultValue 8
   */
  concurrency?: number;
  /**
   * A check still running after this long is reported and its slot freed; when it settles
   * later its outcome is ignored. Twice the interval, so a check that is merely slow (a tmux
   * call on a loaded machine) gets room, while a hung one frees its slot within two passes.
   * @defaultValue 2 × intervalMs
   */
  checkTimeoutMs?: number;
  /**
   * For `priority`: a healthy target is checked every this many intervals; any other is
   * checked every interval.
   * @defaultValue 2
   */
  healthyEvery?: number;
}

/**
 * Runs the periodic checks of many targets. Single use: started once, stopped once.
 */
export interface MonitoringStrategy {
  /** The name it is chosen by in `monitoring.strategy`. */
  readonly name: string;
  /**
   * Begins passes; the first runs on the next timer turn. `targets` is read at every pass,
   * so agents added or removed later are picked up without a restart. Throws
   * {@link MonitoringError} `already_started` on a second call.
   */
  start(targets: () => readonly MonitorTarget[]): void;
  /**
   * No new checks start; checks still queued are dropped; resolves when the checks in flight
   * have settled or timed out. Idempotent.
   */
  stop(): Promise<void>;
}

/** Makes a strategy from its options: the shape of a strategy plugin's `create`. */
export type StrategyFactory = (options: MonitoringStrategyOptions) => MonitoringStrategy;

/** The strategies that ship with the supervisor. */
export const BUILTIN_STRATEGIES = ['polling', 'concurrent', 'priority'] as const;

/** One of {@link BUILTIN_STRATEGIES}. */
export type BuiltinStrategyName = (typeof BUILTIN_STRATEGIES)[number];

/** The stable codes of {@link MonitoringError}. */
export type MonitoringErrorCode =
  'unknown_strategy' | 'invalid_option' | 'already_started' | 'check_timeout';

/** What a strategy or {@link createStrategy} reports; `code` is stable, the message is for people. */
export class MonitoringError extends Error {
  /** Why it failed, stable across releases. */
  readonly code: MonitoringErrorCode;
  /** For `check_timeout`: the target whose check was abandoned. */
  readonly targetId: string | undefined;

  constructor(
    code: MonitoringErrorCode,
    message: string,
    options: { targetId?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MonitoringError';
    this.code = code;
    this.targetId = options.targetId;
  }
}

/** Names a strategy may have: built-in or from a plugin (the plugin name rule). */
export const STRATEGY_NAME_PATTERN = /^[a-z][a-z0-9_-]*$/;

/**
 * The strategy keys of the `monitoring:` block. Meant to be spread into
 * `MonitoringConfigSchema` (`...MonitoringStrategyConfigSchema.shape`); parsed alone it gives
 * the same defaults.
 */
export const MonitoringStrategyConfigSchema = z.strictObject({
  /**
   * How the fleet's periodic checks are run: `polling` (one after another), `concurrent`
   * (at most `concurrency` at once; one slow agent does not hold up the others), `priority`
   * (unhealthy and important agents first, healthy ones less often), or the name of a
   * strategy a plugin provides. A plugin name can only be checked once plugins are loaded,
   * so it is accepted here and refused by {@link createStrategy}.
   * @defaultValue "concurrent"
   */
  strategy: z
    .string()
    .regex(STRATEGY_NAME_PATTERN, 'must be polling, concurrent, priority or a plugin strategy name')
    .default('concurrent'),
  /** Most checks in flight at once (`concurrent`, `priority`). @defaultValue 8 */
  concurrency: z.number().int().positive().default(8),
  /** `priority`: healthy agents are checked every this many intervals. @defaultValue 2 */
  healthy_every: z.number().int().positive().default(2),
  /**
   * A check running longer is reported and abandoned. @defaultValue twice `check_interval`
   */
  check_timeout: DurationSchema.refine((ms) => ms > 0, 'must be more than 0').optional(),
});

/** The strategy keys as parsed. */
export type MonitoringStrategyConfig = z.output<typeof MonitoringStrategyConfigSchema>;

/**
 * The strategy options the config gives, merged onto what the supervisor supplies (interval,
 * clock, error sink).
 */
export function strategyOptionsFromConfig(
  config: MonitoringStrategyConfig,
  base: Pick<MonitoringStrategyOptions, 'intervalMs' | 'clock' | 'onError'>,
): MonitoringStrategyOptions {
  return {
    ...base,
    concurrency: config.concurrency,
    healthyEvery: config.healthy_every,
    ...(config.check_timeout === undefined ? {} : { checkTimeoutMs: config.check_timeout }),
  };
}

/**
 * Makes the strategy named `name`: a built-in, else one from `extra` (the strategies plugins
 * provide, from `PluginHost.strategies()`). Throws {@link MonitoringError} `unknown_strategy`
 * naming every known strategy, or `invalid_option` for a bad interval, concurrency, timeout
 * or cadence; the supervisor should log it and fall back to a built-in.
 */
export function createStrategy(
  name: string,
  options: MonitoringStrategyOptions,
  extra: ReadonlyMap<string, StrategyFactory> = new Map(),
): MonitoringStrategy {
  switch (name) {
    case 'polling':
      return new PollingStrategy(options);
    case 'concurrent':
      return new ConcurrentStrategy(options);
    case 'priority':
      return new PriorityStrategy(options);
  }
  const factory = extra.get(name);
  if (factory) return factory(options);
  const known = [...BUILTIN_STRATEGIES, ...extra.keys()].join(', ');
  throw new MonitoringError(
    'unknown_strategy',
    `monitoring.strategy "${name}" is not a known strategy (known: ${known}); a plugin strategy needs its plugin loaded`,
  );
}

/** The options every built-in checks, with defaults applied; throws `invalid_option`. */
export function resolveStrategyOptions(options: MonitoringStrategyOptions): {
  intervalMs: number;
  concurrency: number;
  checkTimeoutMs: number;
  healthyEvery: number;
} {
  const intervalMs = options.intervalMs;
  const concurrency = options.concurrency ?? 8;
  const checkTimeoutMs = options.checkTimeoutMs ?? 2 * intervalMs;
  const healthyEvery = options.healthyEvery ?? 2;
  // A non-finite delay would reach setTimeout, which turns it into 1 ms: a busy loop.
  const positiveFinite = (v: number) => Number.isFinite(v) && v > 0;
  const bad = (key: string, value: number, want: string) =>
    new MonitoringError('invalid_option', `${key} must be ${want} (got ${value})`);
  if (!positiveFinite(intervalMs)) throw bad('intervalMs', intervalMs, 'a positive number of ms');
  if (!positiveFinite(checkTimeoutMs))
    throw bad('checkTimeoutMs', checkTimeoutMs, 'a positive number of ms');
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw bad('concurrency', concurrency, 'a positive integer');
  if (!Number.isInteger(healthyEvery) || healthyEvery < 1)
    throw bad('healthyEvery', healthyEvery, 'a positive integer');
  return { intervalMs, concurrency, checkTimeoutMs, healthyEvery };
}
