import type { Clock } from './clock.js';
import type { PaneStatus } from './pane-watcher.js';

/** One escalation: every agent pane of a tmux session has been idle for the configured time. */
export interface TeamIdleNotice {
  /** The tmux session the team lives in. */
  session: string;
  /** The agents of the session, all idle. */
  agentIds: string[];
  /** Epoch ms the last of them became idle: the team is idle since then. */
  idleSince: number;
  /** The configured time the team had to stay idle. */
  idleForMs: number;
  /** A sentence for the escalation event and the log line. */
  reason: string;
}

/** Options of {@link TeamIdleMonitor}. */
export interface TeamIdleMonitorOptions {
  clock: Clock;
  /**
   * How long every agent of a session must be idle together before one notice.
   * @defaultValue 600000 (10 min)
   */
  idleForMs?: number;
  /** The escalation; a throw here is swallowed so the monitor keeps working. */
  onTeamIdle: (notice: TeamIdleNotice) => void;
}

interface Member {
  session: string;
  status: PaneStatus;
  /** When the status last changed. */
  since: number;
}

interface Team {
  timer: unknown;
  /** The notice for this idle spell went out; re-armed only by a member becoming busy. */
  fired: boolean;
}

/**
 * Team idle: when every agent pane of one tmux session has been `idle` for `idleForMs`, one
 * escalation — a team with nothing to do is waiting for its person. Only `busy` re-arms it:
 * an agent that stops at a prompt and goes idle again has not worked in between. An agent
 * that `needs_input` is not idle (it has its own notice) and so holds the team timer back.
 */
export class TeamIdleMonitor {
  private readonly clock: Clock;
  private readonly idleForMs: number;
  private readonly onTeamIdle: (notice: TeamIdleNotice) => void;
  private readonly members = new Map<string, Member>();
  private readonly teams = new Map<string, Team>();

  constructor(options: TeamIdleMonitorOptions) {
    this.clock = options.clock;
    this.idleForMs = options.idleForMs ?? 600_000;
    this.onTeamIdle = options.onTeamIdle;
  }

  /**
   * The agent's pane in `session` now has `status` (repeating the same status keeps its
   * start time). An agent seen in another session than before moves there.
   */
  update(agentId: string, session: string, status: PaneStatus): void {
    const old = this.members.get(agentId);
    const since =
      old && old.status === status && old.session === session ? old.since : this.clock.now();
    this.members.set(agentId, { session, status, since });
    if (status === 'busy') this.team(session).fired = false;
    if (old && old.session !== session) this.evaluate(old.session);
    this.evaluate(session);
  }

  /** The agent left the team (crashed, missing, removed from the config). */
  remove(agentId: string): void {
    const old = this.members.get(agentId);
    if (!old) return;
    this.members.delete(agentId);
    this.evaluate(old.session);
  }

  /** Whether the session's notice went out and is not re-armed yet. */
  hasFired(session: string): boolean {
    return this.teams.get(session)?.fired ?? false;
  }

  /** Cancels every timer. Idempotent. */
  stop(): void {
    for (const team of this.teams.values()) {
      this.clock.clearTimeout(team.timer);
      team.timer = undefined;
    }
  }

  private team(session: string): Team {
    let team = this.teams.get(session);
    if (!team) {
      team = { timer: undefined, fired: false };
      this.teams.set(session, team);
    }
    return team;
  }

  private membersOf(session: string): [string, Member][] {
    return [...this.members].filter(([, m]) => m.session === session);
  }

  private evaluate(session: string): void {
    const team = this.team(session);
    this.clock.clearTimeout(team.timer);
    team.timer = undefined;
    const members = this.membersOf(session);
    if (members.length === 0) {
      this.teams.delete(session);
      return;
    }
    if (team.fired || !members.every(([, m]) => m.status === 'idle')) return;
    const idleSince = Math.max(...members.map(([, m]) => m.since));
    const wait = Math.max(0, idleSince + this.idleForMs - this.clock.now());
    team.timer = this.clock.setTimeout(() => {
      team.timer = undefined;
      team.fired = true;
      const agentIds = members.map(([id]) => id).sort();
      const notice: TeamIdleNotice = {
        session,
        agentIds,
        idleSince,
        idleForMs: this.idleForMs,
        reason: `every agent of tmux session ${session} (${agentIds.join(', ')}) has been idle for ${Math.round(this.idleForMs / 1000)} s`,
      };
      try {
        this.onTeamIdle(notice);
      } catch {
        // The owner's bug; the monitor must keep judging the other teams.
      }
    }, wait);
  }
}
