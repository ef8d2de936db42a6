import type { Clock } from './clock.js';
import { CheckRunner, readTargets } from './concurrent-strategy.js';
import { MonitoringError, resolveStrategyOptions } from './monitoring-strategy.js';
import type {
  MonitoringStrategy,
  MonitoringStrategyOptions,
  MonitorTarget,
} from './monitoring-strategy.js';

/**
 * `polling`: one pass every `intervalMs`, checking the targets one after the other in the
 * order given. Passes never overlap: passes start `intervalMs` apart, measured start to
 * start, and a pass that overruns pushes the next one to the moment it ends (missed ticks
 * are not made up). A hung check holds the pass for at most the check timeout, then the pass
 * moves on. The simplest and lightest on the machine; slow agents delay everyone's check.
 */
export class PollingStrategy implements MonitoringStrategy {
  readonly name = 'polling';
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly runner: CheckRunner;
  private targets: (() => readonly MonitorTarget[]) | undefined;
  private timer: unknown;
  private stopping: Promise<void> | undefined;

  constructor(options: MonitoringStrategyOptions) {
    const resolved = resolveStrategyOptions(options);
    this.clock = options.clock;
    this.intervalMs = resolved.intervalMs;
    this.runner = new CheckRunner({
      clock: options.clock,
      concurrency: 1,
      timeoutMs: resolved.checkTimeoutMs,
      onError: options.onError,
    });
  }

  start(targets: () => readonly MonitorTarget[]): void {
    if (this.targets !== undefined)
      throw new MonitoringError(
        'already_started',
        'the polling strategy was already started; create a new one',
      );
    this.targets = targets;
    this.timer = this.clock.setTimeout(() => void this.pass(), 0);
  }

  stop(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.stopping ??= this.runner.close();
    return this.stopping;
  }

  private async pass(): Promise<void> {
    this.timer = undefined;
    if (this.stopping) return;
    const startedAt = this.clock.now();
    this.runner.enqueue(readTargets(this.targets!));
    await this.runner.idle();
    if (this.stopping) return;
    const delay = Math.max(0, startedAt + this.intervalMs - this.clock.now());
    this.timer = this.clock.setTimeout(() => void this.pass(), delay);
  }
}
