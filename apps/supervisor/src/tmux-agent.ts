import type { AgentStatus, Health } from '@warden/protocol';
import type { Clock } from './clock.js';
import { PaneWatcher, type PaneObservation, type PaneSource } from './pane-watcher.js';
import type { PmNotifier } from './pm-notifier.js';
import type { AgentSummary } from './process-agent.js';
import type { ResolvedTmuxAgentConfig } from './supervisor-config.js';
import type { SupervisorLog, SupervisorReporter } from './supervisor-reporter.js';
import type { TeamIdleMonitor } from './team-idle.js';

/** What a {@link TmuxAgent} needs from the supervisor around it. */
export interface TmuxAgentDeps {
  clock: Clock;
  reporter: SupervisorReporter;
  log: SupervisorLog;
  source: PaneSource;
  /** Notifications to `pm:` panes; shared by every tmux agent (throttled per PM pane). */
  pm: PmNotifier;
  teamIdle: TeamIdleMonitor;
}

/**
 * An agent that runs in a tmux pane Warden did not start (a coding agent a person launched):
 * watched, never spawned. Its screen gives `busy` / `idle` / `needs_input`; process facts give
 * a crash; tmux's answers give liveness. Each becomes a status event; a prompt waiting for a
 * person and a crash are also typed into the PM pane (`pm:`), deduplicated and throttled.
 */
export class TmuxAgent {
  readonly id: string;
  private readonly watcher: PaneWatcher;
  private statusValue: AgentStatus = 'starting';
  private reason = 'watching its pane';
  private health: Health = 'unknown';

  constructor(
    readonly config: ResolvedTmuxAgentConfig,
    private readonly deps: TmuxAgentDeps,
  ) {
    this.id = config.id;
    this.watcher = new PaneWatcher({
      target: config.tmux.target,
      source: deps.source,
      clock: deps.clock,
      pollIntervalMs: config.tmux.pollIntervalMs,
      idleAfter: config.tmux.idleAfter,
      graceMs: config.tmux.graceMs,
      onObservation: (o) => this.observe(o),
      onError: (err) =>
        deps.log.error({ agent: this.id, err }, `agent ${this.id}: watching its pane failed`),
    });
  }

  get status(): AgentStatus {
    return this.statusValue;
  }

  summary(): AgentSummary {
    return {
      id: this.id,
      kind: 'tmux',
      status: this.statusValue,
      health: this.health,
      pid: this.watcher.pane?.pid,
      restarts: 0,
      reason: this.reason,
    };
  }

  start(): void {
    this.watcher.start();
  }

  close(): void {
    this.watcher.stop();
    this.deps.teamIdle.remove(this.id);
    this.deps.pm.forget(this.id);
  }

  private observe(o: PaneObservation): void {
    const session = this.watcher.pane?.session;
    switch (o.kind) {
      case 'status': {
        const status: AgentStatus = o.status;
        this.set(status, o.reason, o.status === 'needs_input' ? 'warning' : 'healthy');
        if (session) this.deps.teamIdle.update(this.id, session, o.status);
        if (o.status === 'needs_input') this.notifyPm(`needs input: ${o.reason}`);
        else this.deps.pm.forget(this.id);
        return;
      }
      case 'crashed':
        this.set('failed', o.reason, 'critical');
        this.deps.reporter.publish(this.id, 'health_changed', {
          check: 'tmux',
          health: 'critical',
          previous: this.health === 'critical' ? 'healthy' : this.health,
          reason: o.reason,
        });
        this.deps.reporter.publish(this.id, 'escalation', {
          reason: `tmux agent ${this.id} crashed: ${o.reason}`,
          severity: 'critical',
        });
        this.deps.log.warn(
          { agent: this.id, fact: o.fact },
          `agent ${this.id} needs attention: it crashed in pane ${this.config.tmux.target} (${o.reason}). Look at the pane, start the agent again there; Warden keeps watching`,
        );
        this.notifyPm(`crashed: ${o.reason}`);
        return;
      case 'missing':
        this.set('stopped', o.reason, 'unknown');
        this.deps.log.warn({ agent: this.id }, `agent ${this.id}: pane missing: ${o.reason}`);
        this.notifyPm(`pane missing: ${o.reason}`);
        return;
      case 'liveness':
        if (o.state === 'unknown')
          this.deps.log.debug({ agent: this.id }, `agent ${this.id}: tmux unknown: ${o.reason}`);
        return;
    }
  }

  private notifyPm(text: string): void {
    if (this.config.pm) this.deps.pm.notify(this.config.pm, this.id, text);
  }

  private set(status: AgentStatus, reason: string, health: Health): void {
    this.reason = reason;
    this.health = health;
    if (status === this.statusValue) return;
    this.statusValue = status;
    this.deps.reporter.publish(this.id, 'agent_status_update', { status, message: reason });
  }
}
