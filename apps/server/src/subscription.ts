import { parseTopic, topicName, type Topic } from '@warden/protocol';

/** The topic set of one connection, with a fast match for the broadcast loop. */
export class TopicFilter {
  private readonly topics = new Map<string, Topic>();
  private all = false;
  private readonly agentIds = new Set<string>();
  private readonly types = new Set<string>();
  /** Agents whose `log` events match (`logs:<id>`). */
  private readonly logAgentIds = new Set<string>();

  /** Parses and checks topics; returns an error message for the first bad one. */
  static parse(raw: readonly string[]): Topic[] | string {
    const out: Topic[] = [];
    for (const r of raw) {
      const t = parseTopic(r);
      if (typeof t === 'string') return t;
      out.push(t);
    }
    return out;
  }

  add(topics: readonly Topic[]): void {
    for (const t of topics) this.topics.set(topicName(t), t);
    this.rebuild();
  }

  remove(names: readonly string[]): void {
    for (const n of names) this.topics.delete(n);
    this.rebuild();
  }

  private rebuild(): void {
    this.all = false;
    this.agentIds.clear();
    this.types.clear();
    this.logAgentIds.clear();
    for (const t of this.topics.values()) {
      switch (t.kind) {
        case 'events':
          this.all = true;
          break;
        case 'agent':
          this.agentIds.add(t.agentId);
          break;
        case 'type':
          this.types.add(t.type);
          break;
        case 'logs':
          this.logAgentIds.add(t.agentId);
          break;
        case 'commands':
          // Not an event stream: the command router keeps these (see CommandRouter).
          break;
      }
    }
  }

  get empty(): boolean {
    return this.topics.size === 0;
  }

  names(): string[] {
    return [...this.topics.keys()];
  }

  /** The agent ids of the `commands:` topics held (`*` for `commands:*`). */
  commandAgents(): string[] {
    const out: string[] = [];
    for (const t of this.topics.values()) if (t.kind === 'commands') out.push(t.agentId);
    return out;
  }

  matches(agentId: string, type: string): boolean {
    return (
      this.all ||
      this.agentIds.has(agentId) ||
      this.types.has(type) ||
      (type === 'log' && this.logAgentIds.has(agentId))
    );
  }

  /** The store query for a replay of this filter. */
  query(): { all: boolean; agentIds: string[]; types: string[]; logAgentIds: string[] } {
    return {
      all: this.all,
      agentIds: [...this.agentIds],
      types: [...this.types],
      logAgentIds: [...this.logAgentIds],
    };
  }
}
