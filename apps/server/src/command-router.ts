import { randomUUID } from 'node:crypto';
import { ANY_AGENT, type AgentAction, type AgentCommand } from '@warden/protocol';

/** A live connection that takes `command` frames (a supervisor's). */
export interface CommandPeer {
  /** Sends one `command` frame; false when the connection is no longer open. */
  sendCommand(command: AgentCommand): boolean;
}

/** What {@link CommandRouter.send} did with one command. */
export interface CommandDelivery {
  command: AgentCommand;
  /** Connections the frame was written to (at least one). */
  peers: number;
  /** Whether it went to `commands:*` subscribers because none held `commands:<agentId>`. */
  wildcard: boolean;
}

/**
 * Which connections of this process take commands for which agents (SPEC §12 "Commands"),
 * from their `commands:<agentId>` and `commands:*` subscriptions. A command goes to every
 * connection subscribed to its agent exactly; only when there is none (or none still open),
 * to every `commands:*` one — each supervisor acts on the agents it manages and ignores the
 * rest. Commands are not stored: a supervisor that is not connected when one is sent never
 * sees it, and the sender is told so (no peer → undefined → 409). With several replicas, only
 * this replica's connections are known here.
 */
export class CommandRouter {
  private readonly byAgent = new Map<string, Set<CommandPeer>>();
  private readonly ofPeer = new Map<CommandPeer, Set<string>>();
  private readonly newId: () => string;

  /** @param newId — command ids. @defaultValue `cmd-<uuid>` */
  constructor(newId?: () => string) {
    this.newId = newId ?? (() => `cmd-${randomUUID()}`);
  }

  /** The peer takes commands for these agents from now on (`*`: any agent). */
  add(peer: CommandPeer, agentIds: readonly string[]): void {
    if (agentIds.length === 0) return;
    let mine = this.ofPeer.get(peer);
    if (!mine) {
      mine = new Set();
      this.ofPeer.set(peer, mine);
    }
    for (const id of agentIds) {
      mine.add(id);
      let peers = this.byAgent.get(id);
      if (!peers) {
        peers = new Set();
        this.byAgent.set(id, peers);
      }
      peers.add(peer);
    }
  }

  /** The peer no longer takes commands for these agents. */
  remove(peer: CommandPeer, agentIds: readonly string[]): void {
    const mine = this.ofPeer.get(peer);
    if (!mine) return;
    for (const id of agentIds) {
      if (!mine.delete(id)) continue;
      const peers = this.byAgent.get(id);
      peers?.delete(peer);
      if (peers?.size === 0) this.byAgent.delete(id);
    }
    if (mine.size === 0) this.ofPeer.delete(peer);
  }

  /** Forgets a peer entirely (its connection closed). */
  drop(peer: CommandPeer): void {
    const mine = this.ofPeer.get(peer);
    if (mine) this.remove(peer, [...mine]);
  }

  /** Connections that take commands for some agent. */
  get size(): number {
    return this.ofPeer.size;
  }

  /**
   * Sends `action` for `agentId` to the connections that manage it; undefined when no open
   * connection takes commands for it (nothing was sent).
   */
  send(agentId: string, action: AgentAction): CommandDelivery | undefined {
    const command: AgentCommand = { id: this.newId(), agentId, action };
    const exact = agentId === ANY_AGENT ? 0 : this.deliver(this.byAgent.get(agentId), command);
    if (exact > 0) return { command, peers: exact, wildcard: false };
    const any = this.deliver(this.byAgent.get(ANY_AGENT), command);
    return any > 0 ? { command, peers: any, wildcard: true } : undefined;
  }

  private deliver(peers: ReadonlySet<CommandPeer> | undefined, command: AgentCommand): number {
    let n = 0;
    if (peers) for (const p of peers) if (p.sendCommand(command)) n++;
    return n;
  }
}
