import type { StoredEvent } from '@warden/protocol';
import { eventFrame, serializeStoredEvent } from './store/serialize.js';
import { textFrame } from './ws-frame.js';

/**
 * One committed event on its way to subscribers. Its frame is serialised on first use only
 * (an event nobody subscribed to is never stringified again) and then shared by every peer.
 */
export class BusMessage {
  private text: string | undefined;
  private bytes: Buffer | undefined;

  constructor(readonly event: StoredEvent) {}

  get seq(): number {
    return this.event.seq;
  }

  /** The `{"op":"event",…}` frame text. */
  frame(): string {
    return (this.text ??= eventFrame(
      this.event.seq,
      serializeStoredEvent(this.event, JSON.stringify(this.event.data)),
    ));
  }

  /** The frame as a complete WebSocket frame, written as is to every subscriber's socket. */
  wire(): Buffer {
    return (this.bytes ??= textFrame(this.frame()));
  }
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
