/** One committed event on its way to subscribers, serialised once. */
export interface BusMessage {
  seq: number;
  agentId: string;
  type: string;
  /** The `{"op":"event",…}` frame text. */
  frame: string;
  /** The frame as a ready WebSocket frame, built once on first use and shared by all peers. */
  wire?: Buffer;
}

export type BusListener = (messages: readonly BusMessage[]) => void;

/**
 * Delivers committed events to this process's subscribers, in seq order. The in-process bus
 * is the only one until the Redis stream bus (issue 3) joins replicas.
 */
export interface Bus {
  /** Highest seq delivered so far: every event at or below it is committed and was delivered. */
  head(): number;
  publish(messages: readonly BusMessage[]): void;
  subscribe(listener: BusListener): () => void;
}

export class LocalBus implements Bus {
  private readonly listeners = new Set<BusListener>();
  private lastSeq: number;

  constructor(initialHead: number) {
    this.lastSeq = initialHead;
  }

  head(): number {
    return this.lastSeq;
  }

  publish(messages: readonly BusMessage[]): void {
    if (messages.length === 0) return;
    this.lastSeq = messages[messages.length - 1]!.seq;
    for (const l of this.listeners) l(messages);
  }

  subscribe(listener: BusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
