import type { AgentStatus, Health } from '@warden/protocol';
import { AgentHealth, type AgentHealthVerdict } from './agent-health.js';
import { AgentLogFile } from './agent-log-file.js';
import type { Clock, Random } from './clock.js';
import { formatDuration } from './health-check.js';
import type { ProbeFetch } from './http-probe-check.js';
import type { HostedHealthCheck } from './plugin-host.js';
import {
  ManagedProcess,
  type OutputLine,
  type ProcessExit,
  type Spawner,
} from './managed-process.js';
import type { ProcessSample } from './process-tree.js';
import {
  RestartPolicy,
  RestartPolicySnapshotSchema,
  lifecycleData,
  type ExitDecision,
  type RestartPolicyDecision,
  type RestartPolicySnapshot,
} from './restart-policy.js';
import type { ErrorRetryVerdict, ErrorRunFacts } from './error-retry-guard.js';
import type { ResolvedProcessAgentConfig } from './supervisor-config.js';
import type { SupervisorLog, SupervisorReporter } from './supervisor-reporter.js';

/** What a {@link ProcessAgent} needs from the supervisor around it. */
export interface ProcessAgentDeps {
  clock: Clock;
  random?: Random;
  reporter: SupervisorReporter;
  log: SupervisorLog;
  /**
   * The Warden variables an agent starts with (`WARDEN_URL`, `WARDEN_TOKEN` minted for this
   * start, `WARDEN_AGENT_ID`). A rejection fails the start like a missing binary would.
   */
  agentEnv: (agentId: string) => Promise<Record<string, string>>;
  spawner?: Spawner;
  /** Each run's pid right after its spawn (see `ManagedProcessOptions.adopt`). */
  adopt?: (pid: number) => void;
  fetch?: ProbeFetch;
  /** The agent's state changed in a way worth persisting (see {@link ProcessAgent.snapshot}). */
  onChange?: () => void;
  /**
   * The agent has something to judge before {@link ProcessAgent.dueAt} said: an event, a
   * heartbeat, a status change, a probe that settled. The supervisor's next pass looks at it.
   */
  onDue?: () => void;
  /** Output lines published per second per agent; the rest are counted and summarised. @defaultValue 200 */
  maxLogLinesPerSec?: number;
  /** Health checks from plugins (`checks:`), behind the plugin host's isolation. */
  pluginChecks?: readonly HostedHealthCheck[];
  /**
   * The hub's retry policy for the error that ended a run (issue 5 point 4), asked when a
   * restart is due; `stop` leaves the agent failed, `escalate` raises an escalation.
   */
  errorVerdict?: (run: ErrorRunFacts) => ErrorRetryVerdict | undefined;
}

/** What the daemon keeps of an agent across its own restarts. */
export interface ProcessAgentState {
  /** Whether a person (or the config) wants it running: a stopped agent stays stopped. */
  wanted: 'running' | 'stopped';
  policy: RestartPolicySnapshot;
}

/**
 * A published metric is refreshed at least this often even when it does not move, on the
 * minute of the clock: the refreshes of a whole idle fleet fall in one pass and travel to the
 * hub together.
 */
const METRIC_REFRESH_MS = 60_000;

/** The first minute boundary after `ts`: when a metric published at `ts` is refreshed. */
function refreshAfter(ts: number): number {
  return (Math.floor(ts / METRIC_REFRESH_MS) + 1) * METRIC_REFRESH_MS;
}

/** One line of what the fleet view shows for an agent. */
export interface AgentSummary {
  id: string;
  kind: 'process' | 'tmux';
  status: AgentStatus;
  health: Health;
  pid: number | undefined;
  /** Restarts since the backoff last reset. */
  restarts: number;
  /** Why it is in its status, in a person's words. */
  reason: string;
}

/**
 * One supervised process agent: its runs (a {@link ManagedProcess} each), its restart policy
 * and its health checks, and every fact about them reported to the hub — `agent_lifecycle`
 * for each start, exit and decision, `agent_status_update` on each status change,
 * `health_changed`, `escalation`, `log` for its output lines and `metric_update` for its
 * process tree's CPU and memory. Timers run on the injected clock.
 */
export class ProcessAgent {
  readonly id: string;
  private proc: ManagedProcess | undefined;
  private readonly policy: RestartPolicy;
  private readonly health: AgentHealth;
  private statusValue: AgentStatus = 'stopped';
  private reason = 'not started';
  private wanted: 'running' | 'stopped' = 'stopped';
  private restartTimer: unknown;
  private halfOpenTimer: unknown;
  private stableTimer: unknown;
  /** Set while the supervisor kills the process for its health: the exit is a failure. */
  private killCause: string | undefined;
  /** An operator restart is stopping the process: start it again at once when it exits. */
  private restartOnExit = false;
  private starting = false;
  private closed = false;
  /** The hung task already acted on (one action per hang). */
  private hungTask: string | undefined;
  private lastMetric: { cpu: number; mem: number; at: number } | undefined;
  /** Its status moved since the last {@link evaluate}, which must then run. */
  private statusMoved = true;
  private logWindow = { start: 0, count: 0, dropped: 0 };
  /** Plugin checks' last verdicts; a move is reported once one first needs attention. */
  private readonly pluginHealth = new Map<string, { health: Health; announced: boolean }>();
  private lastResources: { cpuPercent: number; rssBytes: number } | undefined;
  private lastSeenAt: number | undefined;
  /** The current run's start and last stderr lines, for {@link ProcessAgentDeps.errorVerdict}. */
  private runStartedAt = 0;
  private stderrTail: string[] = [];
  /** Its output on disk (`logs.files`), every line, past the hub's rate limit too. */
  private readonly logFile: AgentLogFile | undefined;

  constructor(
    readonly config: ResolvedProcessAgentConfig,
    private readonly deps: ProcessAgentDeps,
  ) {
    this.id = config.id;
    this.policy = new RestartPolicy(
      { ...config.restart, circuitBreakerThreshold: config.circuitBreakerThreshold },
      deps.clock,
      deps.random,
    );
    this.health = AgentHealth.fromOptions(
      // A process that never talks to the hub has no heartbeat to miss.
      { ...config.health, heartbeatArmOnFirstSeen: true },
      {
        clock: deps.clock,
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
        onProbeSettled: () => deps.onDue?.(),
      },
    );
    this.logFile =
      config.logFile &&
      new AgentLogFile(config.logFile, (err, action) =>
        deps.log.warn(
          { agent: this.id, err },
          `agent ${this.id}: ${action} failed: ${err.message}`,
        ),
      );
  }

  get status(): AgentStatus {
    return this.statusValue;
  }

  /** The running process's pid. */
  get pid(): number | undefined {
    return this.proc?.running ? this.proc.pid : undefined;
  }

  summary(): AgentSummary {
    return {
      id: this.id,
      kind: 'process',
      status: this.statusValue,
      health: this.healthNow(),
      pid: this.pid,
      restarts: this.policy.snapshot().attempt,
      reason: this.reason,
    };
  }

  /** The agent's health: its status's (SPEC §12), raised by any failing check. */
  healthNow(): Health {
    const s = this.statusValue;
    const base: Health =
      s === 'failed'
        ? 'critical'
        : s === 'stopped'
          ? 'unknown'
          : s === 'restarting' || s === 'unresponsive'
            ? 'warning'
            : 'healthy';
    const rank = { unknown: 0, healthy: 1, warning: 2, critical: 3 } as const;
    if (base === 'unknown') return base;
    let worst: Health = this.health.health();
    for (const p of this.pluginHealth.values()) if (rank[p.health] > rank[worst]) worst = p.health;
    return rank[worst] > rank[base] ? worst : base;
  }

  /**
   * Starts the agent. `command`: a person asked (operator start): an open circuit or a failed
   * agent is given a fresh start. `config`: autostart or a reload.
   */
  start(by: 'command' | 'config' = 'config'): void {
    if (this.closed) return;
    this.wanted = 'running';
    this.deps.onChange?.();
    if (this.proc?.running || this.starting) return;
    if (by === 'command') {
      this.policy.reset();
      this.clearTimer('restartTimer');
      this.clearTimer('halfOpenTimer');
    } else if (this.restartTimer !== undefined || this.halfOpenTimer !== undefined) {
      return; // a restart or a trial is already scheduled
    }
    void this.spawn(by === 'command' ? 'started on request' : 'started');
  }

  /** Stops the agent on request (SIGTERM to its tree, SIGKILL after `kill_timeout`). */
  async stop(reason = 'stopped on request'): Promise<void> {
    this.wanted = 'stopped';
    this.deps.onChange?.();
    this.restartOnExit = false;
    await this.halt(reason);
  }

  /** Stops and starts again on request, past any backoff or open circuit. */
  async restart(): Promise<void> {
    this.wanted = 'running';
    this.deps.onChange?.();
    if (!this.proc?.running) {
      this.start('command');
      return;
    }
    this.restartOnExit = true;
    this.setStatus('stopping', 'restarting on request');
    await this.proc.stop({ killTimeoutMs: this.config.killTimeoutMs });
  }

  /** Shutdown of the supervisor: stops the process but keeps what is wanted for the next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.restartOnExit = false;
    await this.halt('supervisor shutting down');
    this.closed = true;
    this.health.stop();
    await this.logFile?.close();
    await Promise.all((this.deps.pluginChecks ?? []).map((c) => c.stop()));
  }

  private async halt(reason: string): Promise<void> {
    this.clearTimer('restartTimer');
    this.clearTimer('halfOpenTimer');
    this.clearTimer('stableTimer');
    const proc = this.proc;
    if (proc?.running) {
      this.setStatus('stopping', reason);
      await proc.stop({ killTimeoutMs: this.config.killTimeoutMs });
      return;
    }
    if (this.statusValue !== 'stopped') {
      const d = this.policy.stop();
      this.report('agent_lifecycle', { action: 'stopped', reason });
      this.setStatus('stopped', d.reason === '' ? reason : reason);
    }
  }

  /** An event the agent published (from the hub): a sign of life, and task progress. */
  observe(event: { type: string; ts: number; data: Record<string, unknown> }): void {
    this.health.seen(event.ts);
    this.deps.onDue?.();
    if (this.lastSeenAt === undefined || event.ts > this.lastSeenAt) this.lastSeenAt = event.ts;
    const taskId = typeof event.data.taskId === 'string' ? event.data.taskId : undefined;
    if (taskId === undefined) return;
    if (event.type === 'task_assigned') this.health.taskStarted(taskId, event.ts);
    else if (event.type === 'task_progress') this.health.taskProgress(taskId, event.ts);
    else if (event.type === 'task_completed') this.health.taskEnded(taskId);
  }

  /** The agent was seen alive without an event (a heartbeat, as the hub's last-seen shows). */
  seen(ts: number): void {
    this.health.seen(ts);
    this.deps.onDue?.();
    if (this.lastSeenAt === undefined || ts > this.lastSeenAt) this.lastSeenAt = ts;
  }

  /**
   * When this agent next needs a {@link sample} and an {@link evaluate} although its samples
   * are idle (no CPU, the same RSS and processes; see `ProcessSample.idle`): `-Infinity` for
   * the next pass (something happened, a check cannot tell, plugin checks), an epoch ms (a
   * check's deadline such as a heartbeat timeout, or the once-a-minute metric refresh), or
   * `Infinity` (not running: nothing to sample). A sample that is not idle is always due.
   */
  dueAt(): number {
    if (!this.proc?.running || this.statusValue === 'stopping') return Infinity;
    if (this.statusMoved || this.hasPluginChecks) return -Infinity;
    const m = this.lastMetric;
    if (m === undefined) return -Infinity;
    const refresh = refreshAfter(m.at);
    const quiet = this.health.quietUntil();
    return quiet < refresh ? quiet : refresh;
  }

  /** A resource sample of its process tree (undefined: not running). */
  sample(sample: ProcessSample | undefined): void {
    if (!sample || !this.proc?.running) return;
    // The sampler makes a new sample every pass, so the checks may keep this one as it is.
    this.health.sample(sample);
    if (this.hasPluginChecks)
      this.lastResources = { cpuPercent: sample.cpuPercent, rssBytes: sample.rssBytes };
    if (sample.intervalMs === 0) return;
    const cpu = Math.round(sample.cpuPercent * 10) / 10;
    const mem = Math.round((sample.rssBytes / 1048576) * 10) / 10;
    const last = this.lastMetric;
    // Published when it moves (1 point of CPU, 1 MB) or on the minute: a fleet of idle agents
    // costs the hub one batch a minute.
    if (
      last &&
      Math.abs(last.cpu - cpu) < 1 &&
      Math.abs(last.mem - mem) < 1 &&
      sample.ts < refreshAfter(last.at)
    )
      return;
    this.lastMetric = { cpu, mem, at: sample.ts };
    this.report('metric_update', { metrics: { cpu_percent: cpu, memory_mb: mem } }, sample.ts);
  }

  /** Judges health now: publishes moves, sets `unresponsive`, acts on a hung task. */
  evaluate(): AgentHealthVerdict | undefined {
    if (!this.proc?.running || this.statusValue === 'stopping') return undefined;
    const now = this.deps.clock.now();
    this.statusMoved = false;
    const verdict = this.health.evaluate(now);
    // Indexed: run for every agent every pass, and a for-of allocates until V8 optimises it.
    for (let i = 0; i < verdict.changes.length; i++) {
      const c = verdict.changes[i]!;
      this.report('health_changed', { ...c });
      const bad = c.health === 'warning' || c.health === 'critical';
      this.deps.log[bad ? 'warn' : 'info'](
        { agent: this.id, check: c.check, health: c.health, previous: c.previous },
        `agent ${this.id}: ${c.check} ${c.previous} → ${c.health}: ${c.reason}`,
      );
    }
    if (verdict.unresponsive && this.statusValue === 'running') {
      const r = verdict.results.find((x) => x.check === 'heartbeat')?.reason ?? 'no heartbeat';
      this.setStatus('unresponsive', r);
    } else if (!verdict.unresponsive && this.statusValue === 'unresponsive') {
      this.setStatus('running', 'responding again');
    }
    const hung = verdict.hung;
    if (!hung) this.hungTask = undefined;
    else if (this.hungTask !== hung.taskId) {
      this.hungTask = hung.taskId;
      const reason = hung.reason.includes(hung.taskId)
        ? `hung: ${hung.reason}`
        : `task ${hung.taskId} is hung: ${hung.reason}`;
      if (this.config.onHung === 'restart') {
        this.deps.log.warn(
          { agent: this.id, task: hung.taskId, check: hung.check },
          `agent ${this.id}: ${reason}; restarting it (on_hung: restart)`,
        );
        this.killCause = `hung: ${hung.reason}`;
        this.setStatus('stopping', `${reason}; restarting`);
        void this.proc.stop({ killTimeoutMs: this.config.killTimeoutMs });
      } else {
        this.escalate(`${reason} (on_hung: alert)`, 'warning');
      }
    }
    return verdict;
  }

  /** Whether this agent has checks from plugins (they run after {@link evaluate}, async). */
  get hasPluginChecks(): boolean {
    return (this.deps.pluginChecks?.length ?? 0) > 0;
  }

  /**
   * Runs the plugin checks with the facts known now; publishes `health_changed` as
   * `plugin:<name>` when one moves. Never rejects: the host turns a failing plugin into
   * `unknown` with the reason.
   */
  async evaluatePlugins(): Promise<void> {
    const checks = this.deps.pluginChecks;
    if (!checks || !this.proc?.running) return;
    const now = this.deps.clock.now();
    const pid = this.pid;
    const r = this.lastResources;
    const facts = {
      status: this.statusValue,
      ...(pid !== undefined ? { pid } : {}),
      ...(r ? { rssBytes: r.rssBytes, cpuPercent: r.cpuPercent } : {}),
      ...(this.lastSeenAt !== undefined ? { lastSeenAt: this.lastSeenAt } : {}),
    };
    const results = await Promise.all(checks.map((c) => c.evaluate(now, facts)));
    for (const res of results) {
      const seen = this.pluginHealth.get(res.check) ?? {
        health: 'unknown' as Health,
        announced: false,
      };
      const previous = seen.health;
      if (res.health === previous) continue;
      const attention = res.health === 'warning' || res.health === 'critical';
      if (seen.announced || attention) {
        const check = `plugin:${res.check}`;
        this.report('health_changed', { check, health: res.health, previous, reason: res.reason });
        this.deps.log[attention ? 'warn' : 'info'](
          { agent: this.id, check, plugin: res.plugin },
          `agent ${this.id}: ${check} ${previous} → ${res.health}: ${res.reason}`,
        );
        seen.announced = true;
      }
      seen.health = res.health;
      this.pluginHealth.set(res.check, seen);
    }
  }

  snapshot(): ProcessAgentState {
    return { wanted: this.wanted, policy: this.policy.snapshot() };
  }

  /** Takes back a {@link snapshot} (before the first start); a bad one is ignored with a log line. */
  restore(state: unknown): void {
    const s = state as Partial<ProcessAgentState> | undefined;
    const policy = RestartPolicySnapshotSchema.safeParse(s?.policy);
    if (!policy.success || (s?.wanted !== 'running' && s?.wanted !== 'stopped')) {
      this.deps.log.warn({ agent: this.id }, `agent ${this.id}: saved state unreadable, ignored`);
      return;
    }
    this.policy.restore(policy.data);
    this.wanted = s.wanted;
    const st = this.policy.status;
    if (st === 'failed') this.setStatus('failed', 'failed before the supervisor restarted');
    else if (st === 'circuit_open') {
      this.setStatus('failed', 'circuit open before the supervisor restarted');
      this.scheduleHalfOpen(this.policy.reopensInMs() ?? 0);
    }
  }

  /** Whether the agent should run now (wanted, and not held by an open circuit or failure). */
  shouldAutostart(): boolean {
    const st = this.policy.status;
    return this.wanted === 'running' && st !== 'failed' && st !== 'circuit_open';
  }

  private async spawn(reason: string): Promise<void> {
    if (this.closed) return;
    this.starting = true;
    this.setStatus('starting', reason);
    let wardenEnv: Record<string, string>;
    try {
      wardenEnv = await this.deps.agentEnv(this.id);
    } catch (err) {
      this.starting = false;
      this.onExit({
        pid: undefined,
        code: null,
        signal: null,
        startedAt: this.deps.clock.now(),
        exitedAt: this.deps.clock.now(),
        requested: false,
        escalated: false,
        leftovers: false,
        reason: `could not get a token for the agent: ${(err as Error).message}`,
      });
      return;
    }
    if (this.closed || this.wanted === 'stopped') {
      this.starting = false;
      this.setStatus('stopped', 'stopped before it started');
      return;
    }
    const proc = ManagedProcess.start({
      command: this.config.command,
      ...(this.config.cwd !== undefined ? { cwd: this.config.cwd } : {}),
      env: { ...this.config.env, ...wardenEnv },
      killTimeoutMs: this.config.killTimeoutMs,
      clock: this.deps.clock,
      ...(this.deps.spawner ? { spawner: this.deps.spawner } : {}),
      ...(this.deps.adopt ? { adopt: this.deps.adopt } : {}),
      onLine: (line) => this.onLine(line),
      onExit: (exit) => {
        if (this.proc === proc) this.onExit(exit);
      },
    });
    this.proc = proc;
    this.starting = false;
    this.runStartedAt = this.deps.clock.now();
    this.stderrTail = [];
    if (proc.pid === undefined) return; // the spawn failed; its exit follows
    const now = this.deps.clock.now();
    this.health.reset(now);
    this.health.start();
    this.lastMetric = undefined;
    const started = this.policy.onStarted();
    this.report(
      'agent_lifecycle',
      lifecycleData(started, proc.pid) as unknown as Record<string, unknown>,
    );
    this.deps.log.info(
      { agent: this.id, pid: proc.pid },
      `agent ${this.id}: ${started.reason} (pid ${proc.pid})`,
    );
    this.setStatus('running', started.reason);
    this.deps.onChange?.();
    this.clearTimer('stableTimer');
    this.stableTimer = this.deps.clock.setTimeout(() => {
      this.stableTimer = undefined;
      const d = this.policy.onStableCheck();
      if (!d) return;
      this.deps.log.info({ agent: this.id }, `agent ${this.id}: ${d.reason}`);
      const data = lifecycleData(d, this.pid);
      if (data) this.report('agent_lifecycle', data as unknown as Record<string, unknown>);
      this.deps.onChange?.();
    }, started.stableAfterMs);
  }

  private onExit(exit: ProcessExit): void {
    this.clearTimer('stableTimer');
    this.health.stop();
    this.hungTask = undefined;
    if (this.logWindow.dropped > 0) this.flushDropped();
    const killCause = this.killCause;
    this.killCause = undefined;
    // A kill for health is a failure (SPEC §9 on_hung); any other stop we asked for is not.
    const requested = exit.requested && killCause === undefined;
    const reason = killCause
      ? `${exit.reason.replace(/^stopped on request/, 'stopped by the supervisor')} (${killCause})`
      : exit.reason;
    this.report('agent_lifecycle', {
      action: 'exited',
      ...(exit.pid !== undefined ? { pid: exit.pid } : {}),
      exitCode: exit.code,
      signal: exit.signal,
      reason,
    });
    const level = requested ? 'info' : 'warn';
    this.deps.log[level](
      { agent: this.id, pid: exit.pid, code: exit.code, signal: exit.signal },
      `agent ${this.id}: ${reason}`,
    );
    const decision = this.policy.onExit({
      code: exit.code,
      signal: exit.signal,
      requested,
      ...(killCause ? { cause: killCause } : {}),
    });
    if (this.restartOnExit && !this.closed) {
      this.restartOnExit = false;
      this.policy.reset();
      void this.spawn('restarted on request');
      return;
    }
    this.apply(decision, exit.pid);
    this.deps.onChange?.();
  }

  private apply(decision: ExitDecision, pid: number | undefined): void {
    const data = lifecycleData(decision as RestartPolicyDecision, pid);
    if (data) this.report('agent_lifecycle', data as unknown as Record<string, unknown>);
    switch (decision.action) {
      case 'restart':
        this.deps.log.info({ agent: this.id }, `agent ${this.id}: ${decision.reason}`);
        this.setStatus('restarting', decision.reason);
        if (this.closed) return;
        this.restartTimer = this.deps.clock.setTimeout(() => {
          this.restartTimer = undefined;
          // Asked now, not at the exit: a fatal error the agent reported just before exiting
          // reaches the supervisor through the hub, possibly after the exit itself.
          const verdict = this.deps.errorVerdict?.({
            agentId: this.id,
            startedAt: this.runStartedAt,
            attempt: decision.attempt,
            stderrTail: this.stderrTail,
          });
          if (verdict?.escalate) this.escalate(verdict.reason, 'critical');
          if (verdict?.stop) {
            this.policy.stop();
            this.report('agent_lifecycle', { action: 'stopped', reason: verdict.reason });
            this.setStatus('failed', verdict.reason);
            this.deps.onChange?.();
            return;
          }
          void this.spawn(`restart ${decision.attempt}`);
        }, decision.delayMs);
        return;
      case 'circuit_open':
        this.setStatus('failed', decision.reason);
        this.escalate(decision.reason, decision.severity, decision.attempts);
        if (!this.closed) this.scheduleHalfOpen(decision.reopenInMs);
        return;
      case 'failed':
        this.setStatus('failed', decision.reason);
        this.escalate(decision.reason, decision.severity, decision.attempts);
        return;
      case 'stay_stopped':
        this.setStatus(decision.status, decision.reason);
        return;
    }
  }

  private scheduleHalfOpen(ms: number): void {
    this.clearTimer('halfOpenTimer');
    this.halfOpenTimer = this.deps.clock.setTimeout(() => {
      this.halfOpenTimer = undefined;
      if (this.closed || this.wanted === 'stopped') return;
      const d = this.policy.halfOpen();
      if (!d) {
        this.scheduleHalfOpen(this.policy.reopensInMs() ?? 1000);
        return;
      }
      this.report('agent_lifecycle', lifecycleData(d)! as unknown as Record<string, unknown>);
      this.deps.log.info({ agent: this.id }, `agent ${this.id}: ${d.reason}`);
      void this.spawn(d.reason);
    }, ms);
  }

  /**
   * Needs a person: an `escalation` event for the alert engine, and a WARN line naming the
   * agent, the reason and what to do.
   */
  private escalate(reason: string, severity: 'warning' | 'critical', attempts?: number): void {
    this.report('escalation', {
      reason,
      severity,
      ...(attempts !== undefined ? { attempts } : {}),
    });
    this.deps.log.warn(
      { agent: this.id, severity, attempts },
      `agent ${this.id} needs attention: ${reason}. Look at its output (warden logs --agent ${this.id}), fix the cause, then run: warden restart ${this.id}`,
    );
  }

  private onLine(line: OutputLine): void {
    if (line.stream === 'stderr' && this.stderrTail.push(line.line) > 40) this.stderrTail.shift();
    this.logFile?.write(line.ts, line.stream, line.partial ? `${line.line} …` : line.line);
    const max = this.deps.maxLogLinesPerSec ?? 200;
    const w = this.logWindow;
    if (line.ts - w.start >= 1000) {
      if (w.dropped > 0) this.flushDropped();
      w.start = line.ts;
      w.count = 0;
    }
    if (++w.count > max) {
      w.dropped++;
      return;
    }
    this.report(
      'log',
      {
        level: line.stream === 'stderr' ? 'warn' : 'info',
        message: line.partial ? `${line.line} …` : line.line,
        stream: line.stream,
      },
      line.ts,
    );
  }

  private flushDropped(): void {
    const w = this.logWindow;
    this.report('log', {
      level: 'warn',
      message: `[warden] ${w.dropped} output lines dropped (more than ${this.deps.maxLogLinesPerSec ?? 200} lines/s)`,
    });
    w.dropped = 0;
  }

  private setStatus(status: AgentStatus, reason: string): void {
    const changed = status !== this.statusValue || reason !== this.reason;
    this.reason = reason;
    if (status === this.statusValue || !changed) return;
    this.statusValue = status;
    this.statusMoved = true;
    this.deps.onDue?.();
    this.report('agent_status_update', { status, message: reason });
  }

  private report(type: string, data: Record<string, unknown>, ts?: number): void {
    this.deps.reporter.publish(this.id, type, data, ts);
  }

  private clearTimer(name: 'restartTimer' | 'halfOpenTimer' | 'stableTimer'): void {
    if (this[name] !== undefined) this.deps.clock.clearTimeout(this[name]);
    this[name] = undefined;
  }
}

/** "restarting in 30 s (attempt 2/3)" for the fleet view. */
export function describeRestart(delayMs: number, attempt: number, max: number): string {
  return `restarting in ${formatDuration(delayMs)} (attempt ${attempt}/${max})`;
}
