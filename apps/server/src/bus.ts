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

  /**
   * @param eventJson the stored event's JSON when already known (read from the stream).
   * @param dataJson `JSON.stringify(event.data)` when already known (made by the store).
   */
  constructor(
    readonly event: StoredEvent,
    private eventJson?: string,
    private readonly dataJson?: string,
  ) {}

  get seq(): number {
    return this.event.seq;
  }

  /** The stored event as JSON (what the Redis stream holds). */
  json(): string {
    return (this.eventJson ??= serializeStoredEvent(
      this.event,
      this.dataJson ?? JSON.stringify(this.event.data),
    ));
  }

  /** The `{"op":"event",…}` frame text. */
  frame(): string {
    return (this.text ??= eventFrame(this.event.seq, this.json()));
  }

  /** The frame as a complete WebSocket frame, written as is to every subscriber's socket. */
  wire(): Buffer {
    return (this.bytes ??= textFrame(this.frame()));
  }
}

export type BusListener = (messages: readonly BusMessage[]) => void;

/**
 * Delivers committed events to this process's subscribers, in seq order. `LocalBus` serves one
 * process; `RedisStreamBus` joins replicas through the Redis stream.
 */
export interface Bus {
  /** Highest seq delivered so far: every event at or below it is committed and was delivered. */
  head(): number;
  /** Events this process committed, in commit order. */
  publish(messages: readonly BusMessage[]): void;
  subscribe(listener: BusListener): () => void;
  /** Why the bus cannot do all of its work now (for /readyz), or undefined when it can. */
  problem(): string | undefined;
  close(): Promise<void>;
}

export class LocalBus implements Bus {
  private readonly listeners = new Set<BusListener>();
  private lastSeq: number;

  /** @param problem what else keeps the hub from its work (e.g. the writer thread's stream). */
  constructor(
    initialHead: number,
    private readonly problemOf: () => string | undefined = () => undefined,
  ) {
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

  problem(): string | undefined {
    return this.problemOf();
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}
