import type { Logger } from 'pino';
import type { AgentLifecycleData, StoredEvent } from '@warden/protocol';
import type { BusMessage } from '../bus.js';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';

/** Events read from the log per page while catching up. */
const REPLAY_PAGE = 1000;

/** The state of an agent's circuit breaker (SPEC §9), as its lifecycle events tell it. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/**
 * An agent's process as its supervisor's `agent_lifecycle` events tell it: what the agents
 * table and page show as uptime, restarts, circuit and "restarting in N s".
 */
export interface AgentLifecycle {
  /** The running process, when one is. */
  pid: number | null;
  /** When the running process started (epoch ms); null while none runs. */
  startedAt: number | null;
  /** Process starts in the stored log. */
  starts: number;
  /** Starts after the first one (crash restarts and commanded ones, as pm2's ↺ counts). */
  restarts: number;
  circuit: CircuitState;
  /** When the scheduled restart is due (epoch ms), while one is scheduled. */
  nextRestartAt: number | null;
  /** The restart number of the scheduled or last restart. */
  attempt: number | null;
  /** The agent's `max_restarts`, when its supervisor said (with a scheduled restart). */
  maxRestarts: number | null;
  lastAction: AgentLifecycleData['action'];
  /** The last event's reason, as a person reads it. */
  reason: string;
  exitCode: number | null;
  signal: string | null;
  /** The last lifecycle event's time (epoch ms). */
  at: number;
}

/** Applies one lifecycle event to an agent's state (pure; exported for tests). */
export function applyLifecycle(
  prev: AgentLifecycle | undefined,
  ts: number,
  d: AgentLifecycleData,
): AgentLifecycle {
  const s: AgentLifecycle = prev
    ? { ...prev }
    : {
        pid: null,
        startedAt: null,
        starts: 0,
        restarts: 0,
        circuit: 'closed',
        nextRestartAt: null,
        attempt: null,
        maxRestarts: null,
        lastAction: d.action,
        reason: d.reason,
        exitCode: null,
        signal: null,
        at: ts,
      };
  s.lastAction = d.action;
  s.reason = d.reason;
  s.at = ts;
  switch (d.action) {
    case 'started':
      s.starts += 1;
      s.restarts = s.starts - 1;
      s.pid = d.pid ?? null;
      s.startedAt = ts;
      s.nextRestartAt = null;
      s.exitCode = null;
      s.signal = null;
      if (d.attempt !== undefined) s.attempt = d.attempt;
      break;
    case 'exited':
      s.pid = null;
      s.startedAt = null;
      s.exitCode = d.exitCode ?? null;
      s.signal = d.signal ?? null;
      break;
    case 'restart_scheduled':
      s.nextRestartAt = ts + (d.delayMs ?? 0);
      s.attempt = d.attempt ?? s.attempt;
      s.maxRestarts = d.maxRestarts ?? s.maxRestarts;
      break;
    case 'circuit_open':
      s.circuit = 'open';
      s.nextRestartAt = null;
      break;
    case 'circuit_half_open':
      s.circuit = 'half_open';
      break;
    case 'circuit_closed':
      s.circuit = 'closed';
      break;
    case 'stopped':
      s.pid = null;
      s.startedAt = null;
      s.nextRestartAt = null;
      break;
  }
  return s;
}

/**
 * Every agent's process state from the `agent_lifecycle` events (issue 6: uptime, restarts,
 * circuit and next restart in the agents table and on the agent page). A projection of the
 * bus kept in memory: on start it reads the lifecycle events from the log (only that type, so
 * a few pages even on a big log), holding live ones meanwhile, then follows the bus. Events
 * older than retention are gone, so `restarts` counts those still stored.
 */
export class AgentLifecycleView implements HubFeature {
  readonly name = 'lifecycle';
  private readonly agents = new Map<string, AgentLifecycle>();
  private cursor = 0;
  private held: StoredEvent[] | undefined = [];
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly ctx: HubContext,
    private readonly log: Logger,
  ) {}

  /** One agent's state, when it has lifecycle events. */
  get(agentId: string): AgentLifecycle | undefined {
    return this.agents.get(agentId);
  }

  async start(): Promise<void> {
    this.unsubscribe = this.ctx.bus.subscribe((messages) => this.onMessages(messages));
    try {
      const head = this.ctx.store.head();
      for (;;) {
        const page = await this.ctx.store.readEvents({
          since: this.cursor,
          until: head,
          limit: REPLAY_PAGE,
          type: 'agent_lifecycle',
        });
        for (const ev of page) this.apply(ev);
        if (page.length < REPLAY_PAGE) break;
      }
      this.cursor = Math.max(this.cursor, head);
    } catch (err) {
      this.log.error({ err }, 'reading lifecycle events failed; showing live ones only');
    }
    const held = this.held ?? [];
    this.held = undefined;
    for (const ev of held) this.apply(ev);
  }

  private onMessages(messages: readonly BusMessage[]): void {
    for (const m of messages) {
      if (m.event.type !== 'agent_lifecycle') continue;
      if (this.held) this.held.push(m.event);
      else this.apply(m.event);
    }
  }

  private apply(ev: StoredEvent): void {
    if (ev.seq <= this.cursor) return;
    this.cursor = ev.seq;
    const d = ev.data as AgentLifecycleData;
    this.agents.set(ev.agentId, applyLifecycle(this.agents.get(ev.agentId), ev.ts, d));
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
  }
}
