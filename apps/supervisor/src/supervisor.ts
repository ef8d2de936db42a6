import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Health } from '@warden/protocol';
import { systemClock, type Clock, type Random } from './clock.js';
import type { ProbeFetch } from './http-probe-check.js';
import { FleetCgroup, type FleetCgroupOptions, type FleetCgroupSetting } from './fleet-cgroup.js';
import type { Spawner } from './managed-process.js';
import {
  CHECK_DONE,
  createStrategy,
  strategyOptionsFromConfig,
  type MonitoringStrategy,
  type MonitoringStrategyConfig,
  type MonitorTarget,
  type StrategyFactory,
} from './monitoring-strategy.js';
import type { PaneSource } from './pane-watcher.js';
import type { HostedHealthCheck, PluginHost } from './plugin-host.js';
import { PmNotifier, type PaneTyper } from './pm-notifier.js';
import { ProcessAgent, type AgentSummary, type ProcessAgentDeps } from './process-agent.js';
import { ProcessSampler, ProcessTreeScanner, type ProcessSample } from './process-tree.js';
import type { ResolvedAgentConfig } from './supervisor-config.js';
import type { SupervisorLog, SupervisorReporter } from './supervisor-reporter.js';
import { TeamIdleMonitor } from './team-idle.js';
import { TmuxAgent } from './tmux-agent.js';

/** A command from the hub's command channel (SPEC §12). */
export interface AgentCommand {
  id: string;
  agentId: string;
  action: 'start' | 'stop' | 'restart';
}

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  agents: readonly ResolvedAgentConfig[];
  reporter: SupervisorReporter;
  log: SupervisorLog;
  /** `WARDEN_URL`, a freshly minted `WARDEN_TOKEN` and `WARDEN_AGENT_ID` for one start. */
  agentEnv: (agentId: string) => Promise<Record<string, string>>;
  /** How often resources are sampled and health is judged (`monitoring.check_interval`). @defaultValue 5000 */
  checkIntervalMs?: number;
  /**
   * `monitoring.cgroup`: the fleet cgroup that lets an idle fleet be sampled with one read
   * (see fleet-cgroup.ts); `off` reads every process every sample. @defaultValue "auto"
   */
  cgroup?: FleetCgroupSetting;
  /** Where the fleet cgroup is looked for (tests). @defaultValue this machine's /proc */
  cgroupOptions?: Omit<FleetCgroupOptions, 'log'>;
  /** `monitoring.strategy` and its keys. @defaultValue concurrent, 8 at once */
  strategy?: MonitoringStrategyConfig;
  /** Strategies plugins provide, by name. */
  extraStrategies?: ReadonlyMap<string, StrategyFactory>;
  /** Where agent state is kept across supervisor restarts (JSON, 0600). @defaultValue none */
  stateFile?: string;
  /** tmux, for `tmux:` agents and `pm:` notifications. @defaultValue none (tmux agents are refused) */
  tmux?: PaneSource & PaneTyper;
  /** Cooldown of PM pane notifications. @defaultValue 30000 */
  pmCooldownMs?: number;
  /** Every agent of a tmux session idle this long escalates. @defaultValue 600000 */
  teamIdleMs?: number;
  clock?: Clock;
  random?: Random;
  spawner?: Spawner;
  fetch?: ProbeFetch;
  /**
   * Loaded plugins: their health checks (per agent `checks:`), their strategies (by name in
   * `monitoring.strategy`) and their notifiers (every escalation is sent to each).
   */
  plugins?: PluginHost;
  /** The hub's retry policies in restart decisions (see error-retry-guard.ts). */
  errorVerdict?: ProcessAgentDeps['errorVerdict'];
}

type Agent = ProcessAgent | TmuxAgent;

/** What {@link Supervisor.reload} changed. */
export interface ReloadResult {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

/**
 * Runs and watches the agents of one machine (SPEC §9): process agents it starts and restarts,
 * tmux agents it watches. Resources of every process tree are read with one /proc scan per
 * check pass; the checks run under the configured monitoring strategy. Everything it learns
 * goes to the hub through the reporter; commands come in through {@link Supervisor.command}.
 */
export class Supervisor {
  private readonly agentsById = new Map<string, Agent>();
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private scanner = new ProcessTreeScanner();
  private fleetCgroup: FleetCgroup | undefined;
  private readonly sampler: ProcessSampler;
  private samples: ReadonlyMap<number, ProcessSample> = new Map();
  private lastScanAt = -Infinity;
  private strategy: MonitoringStrategy | undefined;
  private readonly pm: PmNotifier | undefined;
  private readonly teamIdle: TeamIdleMonitor;
  private saveTimer: unknown;
  private savedState: Record<string, unknown> = {};
  private closed = false;
  private readonly reporter: SupervisorReporter;

  constructor(private readonly opts: SupervisorOptions) {
    this.clock = opts.clock ?? systemClock;
    const plugins = opts.plugins;
    // Escalations also go to the plugins' notifiers (isolated: a failing one is only reported).
    this.reporter = plugins
      ? {
          publish: (agentId, type, data, ts) => {
            opts.reporter.publish(agentId, type, data, ts);
            if (type !== 'escalation') return;
            const severity = data.severity === 'critical' ? 'critical' : 'warning';
            void plugins.notify({ agentId, severity, text: String(data.reason) });
          },
          ...(opts.reporter.tick ? { tick: () => opts.reporter.tick!() } : {}),
        }
      : opts.reporter;
    this.intervalMs = opts.checkIntervalMs ?? 5000;
    this.sampler = new ProcessSampler({ clock: this.clock });
    this.pm = opts.tmux
      ? new PmNotifier({
          typer: opts.tmux,
          clock: this.clock,
          ...(opts.pmCooldownMs !== undefined ? { cooldownMs: opts.pmCooldownMs } : {}),
          onFailed: (pm, reason) =>
            opts.log.warn({ pm }, `notification to PM pane ${pm} failed: ${reason}`),
        })
      : undefined;
    this.teamIdle = new TeamIdleMonitor({
      clock: this.clock,
      ...(opts.teamIdleMs !== undefined ? { idleForMs: opts.teamIdleMs } : {}),
      onTeamIdle: (notice) => {
        for (const id of notice.agentIds)
          this.reporter.publish(id, 'escalation', { reason: notice.reason, severity: 'warning' });
        opts.log.warn(
          { session: notice.session, agents: notice.agentIds },
          `tmux session ${notice.session} needs attention: ${notice.reason}. Give the team work or stop it`,
        );
      },
    });
    if (opts.stateFile) this.savedState = readState(opts.stateFile, opts.log);
    for (const config of opts.agents) this.add(config);
  }

  /** Starts the agents that should run, and the checks. */
  start(): void {
    this.openFleetCgroup();
    for (const agent of this.agentsById.values()) this.startAgent(agent, true);
    const strategyConfig = this.opts.strategy ?? {
      strategy: 'concurrent',
      concurrency: 8,
      healthy_every: 2,
    };
    const options = strategyOptionsFromConfig(strategyConfig, {
      intervalMs: this.intervalMs,
      clock: this.clock,
      onError: (target, err) =>
        this.opts.log.error(
          { agent: target.id, err },
          `health check of agent ${target.id} failed: ${(err as Error).message ?? String(err)}`,
        ),
    });
    try {
      this.strategy = createStrategy(
        strategyConfig.strategy,
        options,
        this.opts.extraStrategies ?? this.opts.plugins?.strategies(),
      );
    } catch (err) {
      this.opts.log.error({ err }, `${(err as Error).message}; using "concurrent"`);
      this.strategy = createStrategy('concurrent', options);
    }
    this.strategy.start(() => this.targets());
  }

  /** The fleet as the supervisor sees it. */
  list(): AgentSummary[] {
    return [...this.agentsById.values()].map((a) => a.summary());
  }

  /** The ids of the agents it manages (the command topics it answers). */
  agentIds(): string[] {
    return [...this.agentsById.keys()];
  }

  /** Carries out a hub command; false when the agent is not one of this supervisor's. */
  async command(cmd: AgentCommand): Promise<boolean> {
    const agent = this.agentsById.get(cmd.agentId);
    if (!agent) return false;
    this.opts.log.info(
      { agent: cmd.agentId, command: cmd.id },
      `agent ${cmd.agentId}: ${cmd.action} requested (command ${cmd.id})`,
    );
    if (agent instanceof TmuxAgent) {
      // Warden watches tmux panes; it does not own the process in them.
      this.reporter.publish(cmd.agentId, 'log', {
        level: 'warn',
        message: `[warden] ${cmd.action} ignored: ${cmd.agentId} is a tmux agent, watched and not run by Warden`,
      });
      return true;
    }
    switch (cmd.action) {
      case 'start':
        agent.start('command');
        break;
      case 'stop':
        await agent.stop();
        break;
      case 'restart':
        await agent.restart();
        break;
    }
    return true;
  }

  /** An event an agent published (from the hub): signs of life and task progress. */
  observe(event: {
    agentId: string;
    type: string;
    ts: number;
    data: Record<string, unknown>;
  }): void {
    const agent = this.agentsById.get(event.agentId);
    if (agent instanceof ProcessAgent) agent.observe(event);
  }

  /** The hub saw the agent alive at `ts` (heartbeats included). */
  seen(agentId: string, ts: number): void {
    const agent = this.agentsById.get(agentId);
    if (agent instanceof ProcessAgent) agent.seen(ts);
  }

  /**
   * Applies a new agent list (SIGHUP): new agents are added and started, removed ones stopped,
   * changed ones stopped and started with the new config; the others are left alone.
   */
  async reload(configs: readonly ResolvedAgentConfig[]): Promise<ReloadResult> {
    const result: ReloadResult = { added: [], removed: [], changed: [], unchanged: [] };
    const next = new Map(configs.map((c) => [c.id, c]));
    for (const [id, agent] of [...this.agentsById]) {
      const config = next.get(id);
      if (!config) {
        result.removed.push(id);
        this.agentsById.delete(id);
        if (agent instanceof ProcessAgent) this.owed.delete(agent);
        this.alwaysDue = undefined;
        await agent.close();
        continue;
      }
      if (JSON.stringify(config) === JSON.stringify(agent.config)) {
        result.unchanged.push(id);
        continue;
      }
      result.changed.push(id);
      this.agentsById.delete(id);
      if (agent instanceof ProcessAgent) this.owed.delete(agent);
      this.alwaysDue = undefined;
      const saved = agent instanceof ProcessAgent ? agent.snapshot() : undefined;
      await agent.close();
      const fresh = this.add(config);
      if (fresh instanceof ProcessAgent && saved) fresh.restore(saved);
      this.startAgent(fresh, true);
    }
    for (const config of configs) {
      if (this.agentsById.has(config.id)) continue;
      result.added.push(config.id);
      this.startAgent(this.add(config), true);
    }
    this.scheduleSave();
    this.opts.log.info(
      { ...result },
      `config reloaded: ${result.added.length} added, ${result.removed.length} removed, ${result.changed.length} changed`,
    );
    return result;
  }

  /** Stops the checks and every agent (gracefully: SIGTERM, then SIGKILL after kill_timeout). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.strategy?.stop();
    this.save();
    await Promise.all([...this.agentsById.values()].map((a) => a.close()));
    if (this.saveTimer !== undefined) this.clock.clearTimeout(this.saveTimer);
    this.pm?.close();
    this.teamIdle.stop();
    this.scanner.close();
    await this.fleetCgroup?.close();
  }

  /** The fleet cgroup in use, if any (see {@link SupervisorOptions.cgroup}). */
  get cgroup(): FleetCgroup | undefined {
    return this.fleetCgroup;
  }

  /** Before any agent starts, so that each is moved in right after its spawn. */
  private openFleetCgroup(): void {
    const log = this.opts.log;
    const r = FleetCgroup.open(this.opts.cgroup ?? 'auto', { ...this.opts.cgroupOptions, log });
    this.fleetCgroup = r.cgroup;
    if (r.cgroup) {
      this.scanner = new ProcessTreeScanner({ gate: r.cgroup });
      log.info(
        { cgroup: r.cgroup.dir, version: r.cgroup.version },
        `resource sampling: agents run in the fleet cgroup ${r.cgroup.describe()}; a sample in which no agent process ran reads only its CPU counter`,
      );
    } else
      log.info(
        { cgroup: null },
        `resource sampling: each agent process is read from /proc every sample (no fleet cgroup: ${r.reason})`,
      );
  }

  private add(config: ResolvedAgentConfig): Agent {
    let agent: Agent;
    if (config.kind === 'tmux') {
      if (!this.opts.tmux || !this.pm)
        throw new Error(`agent ${config.id}: tmux agents need tmux (none configured)`);
      agent = new TmuxAgent(config, {
        clock: this.clock,
        reporter: this.reporter,
        log: this.opts.log,
        source: this.opts.tmux,
        pm: this.pm,
        teamIdle: this.teamIdle,
      });
    } else {
      agent = new ProcessAgent(config, {
        clock: this.clock,
        ...(this.opts.random ? { random: this.opts.random } : {}),
        reporter: this.reporter,
        log: this.opts.log,
        agentEnv: this.opts.agentEnv,
        ...(this.opts.spawner ? { spawner: this.opts.spawner } : {}),
        ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
        adopt: (pid) => void this.fleetCgroup?.adopt(pid),
        onChange: () => this.scheduleSave(),
        onDue: () => {
          this.fleetDirty = true;
        },
        pluginChecks: this.pluginChecksFor(config.id, config.pluginChecks),
        ...(this.opts.errorVerdict ? { errorVerdict: this.opts.errorVerdict } : {}),
      });
      const saved = this.savedState[config.id];
      if (saved !== undefined) agent.restore(saved);
    }
    this.agentsById.set(config.id, agent);
    this.alwaysDue = undefined;
    return agent;
  }

  private pluginChecksFor(
    agentId: string,
    wanted: Record<string, Record<string, unknown>>,
  ): HostedHealthCheck[] {
    const out: HostedHealthCheck[] = [];
    for (const [name, config] of Object.entries(wanted)) {
      const hc = this.opts.plugins?.healthCheck(name, { id: agentId, config });
      if (hc) out.push(hc);
      else
        this.opts.log.error(
          { agent: agentId, check: name },
          `agent ${agentId}: health check "${name}" is not provided by any loaded plugin (loaded: ${this.opts.plugins?.healthCheckNames().join(', ') || 'none'}); the agent runs without it`,
        );
    }
    return out;
  }

  private startAgent(agent: Agent, initial: boolean): void {
    if (agent instanceof TmuxAgent) {
      agent.start();
      return;
    }
    const fromState = this.savedState[agent.id] !== undefined;
    const wanted = fromState ? agent.shouldAutostart() : agent.config.autostart;
    if (initial && wanted) agent.start('config');
  }

  /** One target per agent, made once (a pass every second must not allocate per agent). */
  private readonly targetOf = new WeakMap<Agent, MonitorTarget>();
  /**
   * The targets due every pass (see {@link isAlwaysDue}); dropped whenever the agent list
   * changes (add, reload) and made again on the next pass.
   */
  private alwaysDue: MonitorTarget[] | undefined;
  /** An agent asked to be looked at (see `ProcessAgentDeps.onDue`) since the last full look. */
  private fleetDirty = true;
  /** The earliest {@link ProcessAgent.dueAt} of the agents not looked at. */
  private nextDueAt = -Infinity;
  /**
   * Agents a pass found due that the strategy has not checked yet (`priority` checks a
   * healthy one only every `healthy_every` passes): due in every pass until it does.
   */
  private readonly owed = new Set<ProcessAgent>();

  /** tmux agents (a screen poll each) and agents with plugin checks are judged every pass. */
  private isAlwaysDue(agent: Agent): boolean {
    return !(agent instanceof ProcessAgent) || agent.hasPluginChecks;
  }

  private targetFor(agent: Agent): MonitorTarget {
    let t = this.targetOf.get(agent);
    if (!t) {
      t = {
        id: agent.id,
        priority: agent.config.priority,
        health: (): Health => agent.summary().health,
        check: () => this.check(agent),
      };
      this.targetOf.set(agent, t);
    }
    return t;
  }

  /**
   * The targets of one pass: the agents with something to judge. The pass's /proc scan runs
   * here, first. An agent whose sample is idle (it did not run: no CPU, the same RSS and
   * processes) and whose checks cannot move before {@link ProcessAgent.dueAt} is left out, and
   * its idle sample withheld (the checks allow it: `HealthCheck.quietUntil`). When the scan was
   * quiet (the fleet cgroup's CPU counter did not move), nothing was observed and no agent is
   * due, the pass touches no agent at all: an idle fleet costs one read a second.
   */
  private targets(): readonly MonitorTarget[] {
    this.reporter.tick?.();
    const now = this.clock.now();
    if (!this.alwaysDue) {
      const always: MonitorTarget[] = [];
      for (const agent of this.agentsById.values())
        if (this.isAlwaysDue(agent)) always.push(this.targetFor(agent));
      this.alwaysDue = always;
      this.fleetDirty = true;
    }
    if (now - this.lastScanAt >= this.intervalMs / 2) this.scan(now, this.fleetDirty);
    const quiet = this.sampler.quiet;
    const owed = this.owed;
    if (quiet && !this.fleetDirty && owed.size === 0 && now < this.nextDueAt) return this.alwaysDue;
    this.fleetDirty = false;
    const due: MonitorTarget[] = [];
    const samples = this.samples;
    let next = Infinity;
    // forEach: see scan.
    this.agentsById.forEach((agent) => {
      if (this.isAlwaysDue(agent) || !(agent instanceof ProcessAgent)) {
        due.push(this.targetFor(agent));
        return;
      }
      const at = agent.dueAt();
      if (at === Infinity) return;
      const pid = agent.pid;
      const sample = quiet || pid === undefined ? undefined : samples.get(pid);
      if (at <= now || owed.has(agent) || (sample !== undefined && !sample.idle)) {
        due.push(this.targetFor(agent));
        owed.add(agent);
      } else if (at < next) next = at;
    });
    this.nextDueAt = next;
    return due;
  }

  /** One agent's check pass, on the samples of the pass's scan (see {@link targets}). */
  private check(agent: Agent): Promise<void> {
    // CHECK_DONE: finished synchronously, so the strategy arms no timeout for it.
    if (!(agent instanceof ProcessAgent)) return CHECK_DONE;
    this.owed.delete(agent);
    const now = this.clock.now();
    // A strategy that checks without asking for targets first still gets fresh samples.
    if (now - this.lastScanAt >= this.intervalMs / 2) this.scan(now, true);
    const pid = agent.pid;
    if (pid !== undefined)
      agent.sample(this.sampler.quiet ? this.sampler.repeat(pid) : this.samples.get(pid));
    agent.evaluate();
    const at = agent.dueAt();
    if (at < this.nextDueAt) this.nextDueAt = at;
    return agent.hasPluginChecks ? agent.evaluatePlugins() : CHECK_DONE;
  }

  /** The pids scanned, refilled in place when they may have changed. */
  private readonly roots: number[] = [];
  private scansSinceRoots = 0;

  /**
   * Scans the agents' trees. `rootsMoved`: an agent asked to be looked at since the last scan
   * (a run starts or ends with a status change, which does), so the pids are collected again;
   * otherwise they are as last collected (and collected anyway every 60 scans).
   */
  private scan(now: number, rootsMoved: boolean): void {
    this.lastScanAt = now;
    const roots = this.roots;
    if (rootsMoved || ++this.scansSinceRoots >= 60) {
      this.scansSinceRoots = 0;
      let n = 0;
      // forEach: a for-of in a function run once a pass allocates per agent until V8 optimises it.
      this.agentsById.forEach((a) => {
        if (a instanceof ProcessAgent && a.pid !== undefined) roots[n++] = a.pid;
      });
      // Shortened, never emptied: `length = 0` would drop the array's storage every pass.
      if (roots.length !== n) roots.length = n;
    }
    this.samples = this.sampler.sample(this.scanner.scan(roots));
  }

  private scheduleSave(): void {
    if (!this.opts.stateFile || this.saveTimer !== undefined || this.closed) return;
    this.saveTimer = this.clock.setTimeout(() => {
      this.saveTimer = undefined;
      this.save();
    }, 200);
  }

  private save(): void {
    const file = this.opts.stateFile;
    if (!file) return;
    const agents: Record<string, unknown> = {};
    for (const a of this.agentsById.values())
      if (a instanceof ProcessAgent) agents[a.id] = a.snapshot();
    try {
      mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.tmp`;
      writeFileSync(tmp, JSON.stringify({ version: 1, agents }) + '\n', { mode: 0o600 });
      renameSync(tmp, file);
    } catch (err) {
      this.opts.log.error({ err }, `could not save supervisor state to ${file}`);
    }
  }
}

function readState(file: string, log: SupervisorLog): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as { version?: number; agents?: Record<string, unknown> };
    if (parsed.version === 1 && parsed.agents && typeof parsed.agents === 'object')
      return parsed.agents;
  } catch {
    // reported below
  }
  log.warn({ file }, `supervisor state in ${file} is unreadable; starting from the config`);
  return {};
}
