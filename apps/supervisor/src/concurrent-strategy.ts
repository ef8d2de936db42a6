import type { Clock } from './clock.js';
import { formatDuration } from './health-check.js';
import { CHECK_DONE, MonitoringError, resolveStrategyOptions } from './monitoring-strategy.js';
import type {
  MonitoringStrategy,
  MonitoringStrategyOptions,
  MonitorTarget,
} from './monitoring-strategy.js';

/** What {@link CheckRunner} needs; durations in ms. */
export interface CheckRunnerOptions {
  clock: Clock;
  /** Most checks in flight at once. */
  concurrency: number;
  /** A check running longer is reported as `check_timeout` and its slot freed. */
  timeoutMs: number;
  /** Told of every check that threw, rejected or timed out. */
  onError(target: MonitorTarget, error: unknown): void;
}

/**
 * The engine under every built-in strategy: a FIFO of targets, at most `concurrency` checks
 * in flight, each bounded by a timeout, and never two checks of one target id at once (a
 * target queued or in flight is not queued again). A check that throws, rejects or hangs is
 * reported and the runner carries on. An abandoned (timed-out) check no longer counts as in
 * flight: the target may be checked again, and whatever the old check does later is ignored.
 */
export class CheckRunner {
  private readonly clock: Clock;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly onError: CheckRunnerOptions['onError'];
  private readonly queue: MonitorTarget[] = [];
  private readonly queued = new Set<string>();
  /** id → token of its current run, so a late settle of an abandoned run frees nothing. */
  private readonly running = new Map<string, object>();
  private waiters: Array<() => void> = [];
  private closed = false;

  constructor(options: CheckRunnerOptions) {
    this.clock = options.clock;
    this.concurrency = options.concurrency;
    this.timeoutMs = options.timeoutMs;
    this.onError = options.onError;
  }

  /** Checks running now (abandoned ones excluded). */
  get inFlight(): number {
    return this.running.size;
  }

  /** Targets waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /** A check of `id` is queued or running. */
  isBusy(id: string): boolean {
    return this.queued.has(id) || this.running.has(id);
  }

  /**
   * Queues the targets in the order given, skipping any already queued or in flight, and
   * starts as many as there are free slots. No-op after {@link close}.
   */
  enqueue(targets: readonly MonitorTarget[]): void {
    if (this.closed) return;
    // Indexed: for-of in a function run once a pass allocates per target until V8 optimises it.
    for (let i = 0; i < targets.length && !this.closed; i++) {
      const target = targets[i]!;
      // Nothing queued or in flight (a pass of checks that finish at once): no lookups.
      if ((this.queued.size > 0 || this.running.size > 0) && this.isBusy(target.id)) continue;
      // Nobody waiting ahead and a slot free: run it now. Checks that finish synchronously
      // then never touch the queue, so a pass of them costs no queue or set bookkeeping.
      if (this.queue.length === 0 && this.running.size < this.concurrency) this.run(target);
      else {
        this.queue.push(target);
        this.queued.add(target.id);
      }
    }
    this.pump();
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Drops the queue and refuses new work; resolves when the checks in flight have settled or
   * timed out (so within `timeoutMs`). Idempotent.
   */
  close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    this.queued.clear();
    const idle = this.idle();
    this.pump();
    return idle;
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.concurrency && this.queue.length > 0) {
      const target = this.queue.shift()!;
      this.queued.delete(target.id);
      this.run(target);
    }
    if (this.queue.length === 0 && this.running.size === 0 && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private run(target: MonitorTarget): void {
    let result: Promise<void>;
    try {
      result = target.check();
    } catch (error) {
      // Settled already: it never held a slot, so there is nothing to free.
      this.report(target, error);
      return;
    }
    // Done before it returned (the usual case: a /proc sample and a verdict): no timeout to
    // arm and nothing to wait for, and pump() goes on to the next target in its own loop.
    if (result === CHECK_DONE) return;
    this.track(target, result);
  }

  /** A check still in flight: holds its slot until it settles or times out. */
  private track(target: MonitorTarget, pending: Promise<void>): void {
    const token = {};
    this.running.set(target.id, token);
    let done = false;
    const end = (error: unknown, failed: boolean) => {
      if (done) return;
      done = true;
      this.clock.clearTimeout(timer);
      if (this.running.get(target.id) === token) this.running.delete(target.id);
      if (failed) this.report(target, error);
      this.pump();
    };
    const timer = this.clock.setTimeout(
      () =>
        end(
          new MonitoringError(
            'check_timeout',
            `check of ${target.id} did not settle within ${formatDuration(this.timeoutMs)}; abandoned`,
            { targetId: target.id },
          ),
          true,
        ),
      this.timeoutMs,
    );
    // Not necessarily a native promise: a target's check may hand back any thenable.
    Promise.resolve(pending).then(
      () => end(undefined, false),
      (error: unknown) => end(error, true),
    );
  }

  private report(target: MonitorTarget, error: unknown): void {
    try {
      this.onError(target, error);
    } catch {
      // The error sink is the owner's code; its bug must not stop the checks of the fleet.
    }
  }
}

/**
 * Chooses and orders the targets a pass queues. `pass` counts from 0. Must not throw; if it
 * does, the pass queues nothing.
 */
export type PassPlanner = (
  targets: readonly MonitorTarget[],
  pass: number,
) => readonly MonitorTarget[];

/**
 * Reads the target list for a pass. The list is the supervisor's own code; if it throws, the
 * pass checks nothing rather than killing the timer that drives every later pass.
 */
export function readTargets(targets: () => readonly MonitorTarget[]): readonly MonitorTarget[] {
  try {
    return targets();
  } catch {
    return [];
  }
}

/**
 * `concurrent`: a pass every `intervalMs` on a fixed rate (start, start + interval, …),
 * queueing every target with at most `concurrency` checks in flight. Passes may overlap: a
 * target still queued or being checked from an earlier pass is skipped, not doubled, and
 * keeps its place in the queue, so under overload no target starves. A timer that fires
 * late (a blocked event loop) runs one pass, not a burst of the missed ones, and the rate
 * continues from then.
 */
export class ConcurrentStrategy implements MonitoringStrategy {
  readonly name: string;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly runner: CheckRunner;
  private readonly plan: PassPlanner;
  private targets: (() => readonly MonitorTarget[]) | undefined;
  private timer: unknown;
  private pass = 0;
  private stopping: Promise<void> | undefined;

  /**
   * @param plan - which targets a pass queues and in what order; the `priority` strategy
   *   passes its own. @defaultValue every target, in the order given
   * @param name - the name it reports, for strategies built on it. @defaultValue "concurrent"
   */
  constructor(options: MonitoringStrategyOptions, plan?: PassPlanner, name = 'concurrent') {
    const resolved = resolveStrategyOptions(options);
    this.name = name;
    this.clock = options.clock;
    this.intervalMs = resolved.intervalMs;
    // The runner reads the list at once and keeps none of it: no copy needed.
    this.plan = plan ?? ((targets) => targets);
    this.runner = new CheckRunner({
      clock: options.clock,
      concurrency: resolved.concurrency,
      timeoutMs: resolved.checkTimeoutMs,
      onError: options.onError,
    });
  }

  /** Checks in flight now; for tests and metrics. */
  get inFlight(): number {
    return this.runner.inFlight;
  }

  start(targets: () => readonly MonitorTarget[]): void {
    if (this.targets !== undefined)
      throw new MonitoringError(
        'already_started',
        `the ${this.name} strategy was already started; create a new one`,
      );
    this.targets = targets;
    this.schedule(this.clock.now());
  }

  stop(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.stopping ??= this.runner.close();
    return this.stopping;
  }

  private schedule(at: number): void {
    this.timer = this.clock.setTimeout(() => this.tick(at), Math.max(0, at - this.clock.now()));
  }

  private tick(at: number): void {
    this.timer = undefined;
    if (this.stopping) return;
    const targets = readTargets(this.targets!);
    let planned: readonly MonitorTarget[] = [];
    try {
      planned = this.plan(targets, this.pass);
    } catch {
      // See PassPlanner: a broken plan skips one pass; the rate goes on.
    }
    this.pass += 1;
    this.runner.enqueue(planned);
    const now = this.clock.now();
    let next = at + this.intervalMs;
    if (next <= now) next = now + this.intervalMs;
    this.schedule(next);
  }
}
