import type { AgentStateRecord } from '@warden/protocol';

/**
 * Where agents keep the small JSON state they resume from after a restart (SDK
 * `saveState` / `loadState`, issue 4 "Recovery"): one value per agent, last write wins.
 * SQLite and PostgreSQL pass `agent-state-store.conformance.ts`.
 */
export interface AgentStateStore {
  /** The saved state, or undefined when the agent saved none. */
  get(agentId: string): Promise<AgentStateRecord | undefined>;
  /** Replaces the agent's state with `stateJson` (already serialised and size-checked). */
  put(agentId: string, stateJson: string, now: number): Promise<AgentStateRecord>;
  /** Forgets the agent's state; false when there was none. */
  delete(agentId: string): Promise<boolean>;
  close(): Promise<void>;
}
