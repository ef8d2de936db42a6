import path from 'node:path';
import { HEALTHS } from '@warden/protocol';
import type { Health } from '@warden/protocol';
import type { Clock } from './clock.js';
import { ConcurrentStrategy } from './concurrent-strategy.js';
import { formatDuration } from './health-check.js';
import type {
  MonitoringStrategy,
  MonitoringStrategyOptions,
  MonitorTarget,
  StrategyFactory,
} from './monitoring-strategy.js';
import type {
  AgentFacts,
  HealthCheckPlugin,
  NotifierPlugin,
  PluginAgent,
  PluginContext,
  PluginHealthCheck,
  PluginNotice,
  StrategyPlugin,
  WardenPlugin,
} from './plugin-api.js';
import { describeError } from './plugin-loader.js';
import type { LoadedPlugin } from './plugin-loader.js';

/** Stable codes of {@link PluginProblem}. */
export type PluginProblemCode =
  /** The call threw synchronously. */
  | 'threw'
  /** The promise it returned rejected. */
  | 'rejected'
  /** It did not settle within the timeout; it was abandoned. */
  | 'timeout'
  /** It returned something of the wrong shape. */
  | 'bad_result'
  /** Plugin code threw outside any call (a timer, a dangling promise); see the crash guard. */
  | 'crashed';

/** A plugin misbehaved. The supervisor turns each into a log line, and `disabled` ones into an escalation. */
export interface PluginProblem {
  /** The plugin's name. */
  plugin: string;
  /** What was called: `init`, `healthChecks.<name>.evaluate`, `notifiers.<name>.send`, `strategies.<name>.start`, `uncaught exception`, … */
  call: string;
  code: PluginProblemCode;
  /** One line for a person: the plugin, the call, what went wrong, and whether it is now disabled. */
  reason: string;
  /** This failure disabled the plugin; it is reported once, and the plugin is not called again. */
  disabled: boolean;
  /** The agent the call was about, when there was one. */
  agentId?: string;
}

/** A plugin check's verdict about one agent, as the supervisor uses it. */
export interface PluginCheckResult {
  /** The plugin check's name: the `check` of `health_changed` events. */
  check: string;
  /** The plugin it comes from. */
  plugin: string;
  /** `unknown` when the plugin failed, timed out or is disabled. */
  health: Health;
  /** The plugin's sentence, or what went wrong with the plugin. At most 500 characters. */
  reason: string;
}

/** One agent's instance of a plugin health check, behind the host's isolation. */
export interface HostedHealthCheck {
  readonly check: string;
  readonly plugin: string;
  /** The verdict; never rejects (a failing plugin yields `unknown`), settles within the timeout. */
  evaluate(now: number, facts: AgentFacts): Promise<PluginCheckResult>;
  /** Releases the plugin instance (its optional `stop`); never rejects. */
  stop(): Promise<void>;
}

/** What became of a notice at one notifier. */
export interface NotifierOutcome {
  notifier: string;
  plugin: string;
  ok: boolean;
  /** Why not, when not. */
  reason?: string;
}

/** Options of {@link PluginHost}. */
export interface PluginHostOptions {
  /** From `loadPlugins`. */
  plugins: readonly LoadedPlugin[];
  clock: Clock;
  /** Told of every failed call, and once more never for a disabled plugin. Must not throw. */
  onProblem(problem: PluginProblem): void;
  /** `plugins.timeout`: a call (or promise) still pending after this is abandoned. @defaultValue 5000 */
  timeoutMs?: number;
  /** `plugins.max_failures`: failed calls in a row that disable a plugin. @defaultValue 3 */
  maxFailures?: number;
  /** Where plugins' `ctx.log` lines go. @defaultValue dropped */
  log?(plugin: string, level: 'info' | 'warn' | 'error', message: string): void;
}

const REASON_MAX = 500;

type Outcome<T> = { ok: true; value: T } | { ok: false; reason: string };

interface CallOptions<T> {
  agentId?: string;
  /** The result's shape; returns what is wrong, or undefined. */
  check?: (value: T) => string | undefined;
  /** Any failure disables the plugin at once (a failed `init`). */
  disableOnFailure?: boolean;
  /** Call even a disabled plugin (to stop a strategy or check instance it left running). */
  evenIfDisabled?: boolean;
}

/** What every {@link PluginCaller} shares. */
interface CallEnv {
  clock: Clock;
  timeoutMs: number;
  maxFailures: number;
  onProblem: PluginHostOptions['onProblem'];
}

/** One loaded plugin: the isolation of its calls, its failure count, whether it is disabled. */
class PluginCaller {
  readonly name: string;
  readonly file: string;
  disabled = false;
  /** Told once when the plugin is disabled (a running strategy switches to its fallback). */
  readonly onDisabled = new Set<() => void>();
  private failures = 0;

  constructor(
    readonly plugin: WardenPlugin,
    file: string,
    private readonly env: CallEnv,
  ) {
    this.name = plugin.name;
    this.file = path.resolve(file);
  }

  /** A guarded call that must answer synchronously (strategy create / start). */
  callSync<T>(call: string, fn: () => T, options: CallOptions<T> = {}): Outcome<T> {
    if (this.disabled && !options.evenIfDisabled) return this.refused();
    let value: T;
    try {
      value = fn();
    } catch (error) {
      return this.fail(call, 'threw', `${call} threw ${describeError(error)}`, options);
    }
    return this.finish(call, value, options);
  }

  /** A guarded call that may return a promise; settles within the timeout. */
  async call<T>(
    call: string,
    fn: () => T | PromiseLike<T>,
    options: CallOptions<T> = {},
  ): Promise<Outcome<T>> {
    if (this.disabled && !options.evenIfDisabled) return this.refused();
    let returned: T | PromiseLike<T>;
    try {
      returned = fn();
    } catch (error) {
      return this.fail(call, 'threw', `${call} threw ${describeError(error)}`, options);
    }
    if (!isThenable(returned)) return this.finish(call, returned, options);
    const { clock, timeoutMs } = this.env;
    const settled = await new Promise<
      { kind: 'value'; value: T } | { kind: 'error'; error: unknown } | { kind: 'timeout' }
    >((resolve) => {
      const timer = clock.setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
      // Both handlers are attached at once, so an abandoned call that rejects later is
      // handled (and ignored), never an unhandled rejection.
      Promise.resolve(returned).then(
        (value) => {
          clock.clearTimeout(timer);
          resolve({ kind: 'value', value });
        },
        (error: unknown) => {
          clock.clearTimeout(timer);
          resolve({ kind: 'error', error });
        },
      );
    });
    if (settled.kind === 'timeout')
      return this.fail(
        call,
        'timeout',
        `${call} did not settle within ${formatDuration(timeoutMs)}; abandoned`,
        options,
      );
    if (settled.kind === 'error')
      return this.fail(
        call,
        'rejected',
        `${call} rejected with ${describeError(settled.error)}`,
        options,
      );
    return this.finish(call, settled.value, options);
  }

  /** Counts a failure, reports it, and disables the plugin at the limit. */
  fail(
    call: string,
    code: PluginProblemCode,
    what: string,
    options: Pick<CallOptions<unknown>, 'agentId' | 'disableOnFailure'>,
  ): { ok: false; reason: string } {
    const reason = clip(`plugin "${this.name}": ${what}`);
    // A call that was already in flight when the plugin was disabled says nothing more.
    if (this.disabled) return { ok: false, reason };
    this.failures += 1;
    const disabled = options.disableOnFailure === true || this.failures >= this.env.maxFailures;
    let full = reason;
    if (disabled) {
      this.disabled = true;
      full = clip(
        options.disableOnFailure === true
          ? `${reason}; plugin disabled`
          : `${reason}; plugin disabled after ${this.failures} failures in a row`,
      );
    }
    const problem: PluginProblem = { plugin: this.name, call, code, reason: full, disabled };
    if (options.agentId !== undefined) problem.agentId = options.agentId;
    try {
      this.env.onProblem(problem);
    } catch {
      // The problem sink is the supervisor's; its bug must not turn into a plugin failure.
    }
    if (disabled) for (const listener of [...this.onDisabled]) listener();
    return { ok: false, reason };
  }

  private finish<T>(call: string, value: T, options: CallOptions<T>): Outcome<T> {
    let wrong: string | undefined;
    try {
      wrong = options.check?.(value);
    } catch (error) {
      wrong = `returned a value that could not be inspected (${describeError(error)})`;
    }
    if (wrong !== undefined) return this.fail(call, 'bad_result', `${call} ${wrong}`, options);
    this.failures = 0;
    return { ok: true, value };
  }

  private refused(): { ok: false; reason: string } {
    return { ok: false, reason: `plugin "${this.name}" is disabled` };
  }
}

/**
 * Runs every call into plugin code in isolation: a sync throw, a rejection, a result of the
 * wrong shape, or a call still pending after `timeoutMs` (abandoned: its late outcome is
 * ignored and cannot surface as an unhandled rejection) is reported to `onProblem` and
 * turned into a harmless outcome — an `unknown` verdict, a failed notice, the built-in
 * `concurrent` strategy. A plugin whose calls fail `maxFailures` times in a row is disabled
 * (reported once, with `disabled: true`) and not called again; any success resets the count.
 *
 * What it cannot catch: a plugin that blocks the thread (an endless loop) or exits the
 * process; and errors its code raises outside a call — a throwing timer callback, a promise
 * it drops — which reach the process as 'uncaughtException' / 'unhandledRejection'. For
 * those, install `installPluginCrashGuard` on the plugins dir and pass what it
 * attributes to {@link PluginHost.crashed}.
 */
export class PluginHost {
  private readonly clock: Clock;
  private readonly log: PluginHostOptions['log'];
  private readonly callers = new Map<string, PluginCaller>();
  private readonly checks = new Map<string, { caller: PluginCaller; def: HealthCheckPlugin }>();
  private readonly strategyDefs = new Map<string, { caller: PluginCaller; def: StrategyPlugin }>();
  private readonly notifierDefs = new Map<string, { caller: PluginCaller; def: NotifierPlugin }>();

  constructor(options: PluginHostOptions) {
    this.clock = options.clock;
    this.log = options.log;
    const env: CallEnv = {
      clock: options.clock,
      timeoutMs: options.timeoutMs ?? 5000,
      maxFailures: options.maxFailures ?? 3,
      onProblem: options.onProblem,
    };
    for (const { plugin, file } of options.plugins) {
      // The loader already refuses clashes; a host built by hand keeps the first of a name.
      if (this.callers.has(plugin.name)) continue;
      const caller = new PluginCaller(plugin, file, env);
      this.callers.set(plugin.name, caller);
      for (const def of plugin.healthChecks ?? [])
        if (!this.checks.has(def.name)) this.checks.set(def.name, { caller, def });
      for (const def of plugin.strategies ?? [])
        if (!this.strategyDefs.has(def.name)) this.strategyDefs.set(def.name, { caller, def });
      for (const def of plugin.notifiers ?? [])
        if (!this.notifierDefs.has(def.name)) this.notifierDefs.set(def.name, { caller, def });
    }
  }

  /**
   * Calls each plugin's `init`, one after another in load order. A plugin whose init fails is
   * disabled at once. Call once, before using the plugins' parts.
   */
  async init(): Promise<void> {
    for (const caller of this.callers.values()) {
      const init = caller.plugin.init;
      if (!init) continue;
      const ctx = this.context(caller.name);
      await caller.call('init', () => init(ctx), { disableOnFailure: true });
    }
  }

  /** Names of the plugins not disabled, in load order. */
  enabledPlugins(): string[] {
    return [...this.callers.values()].filter((c) => !c.disabled).map((c) => c.name);
  }

  /** The plugin is loaded here and was disabled. */
  isDisabled(plugin: string): boolean {
    return this.callers.get(plugin)?.disabled ?? false;
  }

  /** The plugin that came from `file` (an absolute path), if any. */
  pluginForFile(file: string): string | undefined {
    const resolved = path.resolve(file);
    for (const caller of this.callers.values()) if (caller.file === resolved) return caller.name;
    return undefined;
  }

  /** Names of the health checks plugins provide. */
  healthCheckNames(): string[] {
    return [...this.checks.keys()];
  }

  /**
   * One agent's instance of the plugin check `name`, or undefined when no loaded plugin has
   * it (its plugin failed to load: the supervisor should say so about the agent's config).
   * The plugin's `create` runs lazily at the first evaluation.
   */
  healthCheck(name: string, agent: PluginAgent): HostedHealthCheck | undefined {
    const entry = this.checks.get(name);
    if (!entry) return undefined;
    return new HostedCheck(entry.caller, entry.def, {
      id: agent.id,
      config: freezeCopy(agent.config),
    });
  }

  /** Names of the notifiers plugins provide. */
  notifierNames(): string[] {
    return [...this.notifierDefs.keys()];
  }

  /**
   * Sends the notice to every notifier, or to those named in `only`, all at once; resolves
   * when each has delivered, failed or timed out. Never rejects. Disabled plugins are left
   * out.
   */
  async notify(notice: PluginNotice, only?: readonly string[]): Promise<NotifierOutcome[]> {
    const frozen: PluginNotice = Object.freeze({ ...notice });
    const targets = [...this.notifierDefs.entries()].filter(
      ([name, { caller }]) => !caller.disabled && (only === undefined || only.includes(name)),
    );
    return Promise.all(
      targets.map(async ([name, { caller, def }]) => {
        const out = await caller.call(`notifiers.${name}.send`, () => def.send(frozen), {
          agentId: notice.agentId,
        });
        const outcome: NotifierOutcome = { notifier: name, plugin: caller.name, ok: out.ok };
        if (!out.ok) outcome.reason = out.reason;
        return outcome;
      }),
    );
  }

  /**
   * The strategies plugins provide, for `createStrategy`'s `extra`. Each factory calls
   * the plugin in isolation and falls back to the built-in `concurrent` strategy (with the
   * same options) if the plugin's `create` or `start` fails, or the plugin is disabled while
   * its strategy runs.
   */
  strategies(): ReadonlyMap<string, StrategyFactory> {
    const out = new Map<string, StrategyFactory>();
    for (const [name, { caller, def }] of this.strategyDefs)
      out.set(name, (options) => new HostedStrategy(caller, def, options));
    return out;
  }

  /**
   * Records that the plugin's code crashed outside any call (from the crash guard). Counts
   * as a failure: reported with code `crashed`, and it may disable the plugin.
   */
  crashed(plugin: string, call: string, what: string): void {
    this.callers.get(plugin)?.fail(call, 'crashed', what, {});
  }

  private context(plugin: string): PluginContext {
    const write = (level: 'info' | 'warn' | 'error') => (message: string) => {
      try {
        this.log?.(plugin, level, String(message));
      } catch {
        // The log sink is ours; a plugin must not learn of its failures.
      }
    };
    return {
      log: Object.freeze({ info: write('info'), warn: write('warn'), error: write('error') }),
      clock: this.clock,
    };
  }
}

class HostedCheck implements HostedHealthCheck {
  readonly check: string;
  readonly plugin: string;
  private creating: Promise<Outcome<PluginHealthCheck>> | undefined;

  constructor(
    private readonly caller: PluginCaller,
    private readonly def: HealthCheckPlugin,
    private readonly agent: PluginAgent,
  ) {
    this.check = def.name;
    this.plugin = caller.name;
  }

  async evaluate(now: number, facts: AgentFacts): Promise<PluginCheckResult> {
    const prefix = `healthChecks.${this.check}`;
    // Evaluations that overlap before the first create settles share that one create.
    this.creating ??= this.caller
      .call(`${prefix}.create`, () => this.def.create(this.agent), {
        agentId: this.agent.id,
        check: (v) =>
          typeof v === 'object' && v !== null && typeof v.evaluate === 'function'
            ? undefined
            : `must return an object with an evaluate function (got ${typeName(v)})`,
      })
      .then((made) => {
        // A failed create is tried again at the next evaluation.
        if (!made.ok) this.creating = undefined;
        return made;
      });
    const made = await this.creating;
    if (!made.ok) return this.unknown(made.reason);
    const instance = made.value;
    const frozen = Object.freeze({ ...facts });
    const out = await this.caller.call(`${prefix}.evaluate`, () => instance.evaluate(now, frozen), {
      agentId: this.agent.id,
      check: verdictProblem,
    });
    if (!out.ok) return this.unknown(out.reason);
    return {
      check: this.check,
      plugin: this.plugin,
      health: out.value.health,
      reason: clip(out.value.reason),
    };
  }

  async stop(): Promise<void> {
    const creating = this.creating;
    this.creating = undefined;
    const made = await creating;
    const instance = made?.ok ? made.value : undefined;
    if (!instance?.stop) return;
    await this.caller.call(`healthChecks.${this.check}.stop`, () => instance.stop!(), {
      agentId: this.agent.id,
      evenIfDisabled: true,
    });
  }

  private unknown(reason: string): PluginCheckResult {
    return { check: this.check, plugin: this.plugin, health: 'unknown', reason };
  }
}

class HostedStrategy implements MonitoringStrategy {
  readonly name: string;
  private pluginStrategy: MonitoringStrategy | undefined;
  private fallback: MonitoringStrategy | undefined;
  private targets: (() => readonly MonitorTarget[]) | undefined;
  private stopped = false;
  private readonly onDisabled = () => this.switchToFallback();

  constructor(
    private readonly caller: PluginCaller,
    def: StrategyPlugin,
    private readonly options: MonitoringStrategyOptions,
  ) {
    this.name = def.name;
    const made = caller.callSync(`strategies.${def.name}.create`, () => def.create(options), {
      check: strategyProblem,
    });
    if (made.ok) {
      this.pluginStrategy = made.value;
      caller.onDisabled.add(this.onDisabled);
    } else {
      this.fallback = new ConcurrentStrategy(options);
    }
  }

  start(targets: () => readonly MonitorTarget[]): void {
    this.targets = targets;
    const plugin = this.pluginStrategy;
    if (plugin) {
      const started = this.caller.callSync(`strategies.${this.name}.start`, () =>
        plugin.start(targets),
      );
      if (started.ok) return;
      this.pluginStrategy = undefined;
      this.caller.onDisabled.delete(this.onDisabled);
      this.fallback = new ConcurrentStrategy(this.options);
    }
    this.fallback!.start(targets);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.caller.onDisabled.delete(this.onDisabled);
    const plugin = this.pluginStrategy;
    this.pluginStrategy = undefined;
    await Promise.all([
      plugin ? this.stopPlugin(plugin) : undefined,
      this.fallback ? this.fallback.stop() : undefined,
    ]);
  }

  private switchToFallback(): void {
    const plugin = this.pluginStrategy;
    if (!plugin || this.stopped) return;
    this.pluginStrategy = undefined;
    this.caller.onDisabled.delete(this.onDisabled);
    void this.stopPlugin(plugin);
    this.fallback = new ConcurrentStrategy(this.options);
    if (this.targets) this.fallback.start(this.targets);
  }

  private async stopPlugin(plugin: MonitoringStrategy): Promise<void> {
    await this.caller.call(`strategies.${this.name}.stop`, () => plugin.stop(), {
      evenIfDisabled: true,
    });
  }
}

function verdictProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null)
    return `must return { health, reason } (got ${typeName(v)})`;
  const { health, reason } = v as { health?: unknown; reason?: unknown };
  if (!(HEALTHS as readonly unknown[]).includes(health))
    return `returned health ${JSON.stringify(health) ?? 'undefined'} (expected ${HEALTHS.join(', ')})`;
  if (typeof reason !== 'string' || reason.trim() === '')
    return `returned no reason (reason must be a non-empty string)`;
  return undefined;
}

function strategyProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return `must return a strategy (got ${typeName(v)})`;
  const s = v as Record<string, unknown>;
  if (typeof s.start !== 'function') return 'must return a strategy with a start function';
  if (typeof s.stop !== 'function') return 'must return a strategy with a stop function';
  return undefined;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (isThenable(value)) return 'a promise';
  return typeof value;
}

function clip(text: string): string {
  const line = text.replace(/\s*\n\s*/g, ' ');
  return line.length <= REASON_MAX ? line : `${line.slice(0, REASON_MAX - 1)}…`;
}

/** A frozen deep copy of plain config data, so a plugin cannot change the supervisor's config. */
function freezeCopy(config: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown>;
  try {
    copy = structuredClone(config);
  } catch {
    copy = { ...config };
  }
  const freeze = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
    Object.freeze(v);
    for (const child of Object.values(v)) freeze(child);
  };
  freeze(copy);
  return copy;
}
