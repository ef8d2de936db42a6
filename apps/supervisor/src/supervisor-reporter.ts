/**
 * Where the supervisor reports what it learns: one event for one agent, in the shapes of SPEC
 * §3 and §12. Fire and forget — the implementation queues (the SDK's outbox) and never throws,
 * so a hub that is away never stops supervision.
 */
export interface SupervisorReporter {
  /** @param ts when it happened (epoch ms); the send time when absent. */
  publish(agentId: string, type: string, data: Record<string, unknown>, ts?: number): void;
  /**
   * Called at the start of every check pass (once a `check_interval`), while the process is
   * awake anyway: a reporter with a connection to keep alive does that here rather than on a
   * timer of its own, which would wake the process once more. Must not throw.
   */
  tick?(): void;
}

/** The supervisor's own log (pino's Logger fits). */
export interface SupervisorLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A log that drops everything (tests, embedding). */
export const silentLog: SupervisorLog = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Reports kept in memory, in order (tests, and `warden supervise --dry-run` style tools). */
export class MemoryReporter implements SupervisorReporter {
  readonly events: Array<{
    agentId: string;
    type: string;
    data: Record<string, unknown>;
    ts?: number;
  }> = [];
  /** Check passes begun (see {@link SupervisorReporter.tick}). */
  ticks = 0;
  publish(agentId: string, type: string, data: Record<string, unknown>, ts?: number): void {
    this.events.push({ agentId, type, data, ...(ts !== undefined ? { ts } : {}) });
  }
  tick(): void {
    this.ticks++;
  }
  /** The events of one agent and type, in order. */
  of(agentId: string, type: string): Array<Record<string, unknown>> {
    return this.events.filter((e) => e.agentId === agentId && e.type === type).map((e) => e.data);
  }
}
