import type { StoredEvent } from './types';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'signed-out';

type EventListener = (events: StoredEvent[]) => void;
type StateListener = (state: LiveState) => void;

/** Reconnect delays: quick at first, then at most every 10 s. */
const BACKOFF_MS = [250, 500, 1000, 2000, 5000, 10_000];

/**
 * The dashboard's one WebSocket (SPEC §5): subscribes to every event, delivers them to the
 * pages in batches (one per animation frame, so a burst re-renders once), and reconnects
 * after a drop resuming with `since` = the last seq seen — no gap, no duplicate, and no
 * polling. A close with 4401 (the session expired or ended) stops it.
 */
export class LiveConnection {
  private ws: WebSocket | undefined;
  private lastSeq: number | undefined;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private pending: StoredEvent[] = [];
  private frame = 0;
  private readonly events = new Set<EventListener>();
  private readonly states = new Set<StateListener>();
  state: LiveState = 'connecting';
  /** Seq of the newest stored event when the subscription began (for snapshot-then-live). */
  head: number | undefined;

  constructor(private readonly token: string) {
    this.open();
  }

  onEvents(fn: EventListener): () => void {
    this.events.add(fn);
    return () => this.events.delete(fn);
  }

  onState(fn: StateListener): () => void {
    this.states.add(fn);
    return () => this.states.delete(fn);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    cancelAnimationFrame(this.frame);
    this.ws?.close(1000);
  }

  private setState(s: LiveState): void {
    if (this.state === s) return;
    this.state = s;
    for (const fn of this.states) fn(s);
  }

  private open(): void {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(
      `${proto}//${location.host}/ws?token=${encodeURIComponent(this.token)}`,
    );
    this.ws = ws;
    ws.onopen = () => {
      const sub: Record<string, unknown> = { op: 'subscribe', topics: ['events'] };
      if (this.lastSeq !== undefined) sub.since = this.lastSeq;
      ws.send(JSON.stringify(sub));
    };
    ws.onmessage = (m) => this.onFrame(String(m.data));
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (this.closed) return;
      if (e.code === 4401) {
        this.setState('signed-out');
        return;
      }
      this.setState('reconnecting');
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]!;
      this.attempt++;
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  private onFrame(text: string): void {
    let f: { op?: string; seq?: number; event?: StoredEvent; head?: number };
    try {
      f = JSON.parse(text) as typeof f;
    } catch {
      return;
    }
    if (f.op === 'subscribed') {
      this.attempt = 0;
      if (this.lastSeq === undefined) this.lastSeq = f.head ?? 0;
      this.head ??= f.head;
      this.setState('live');
      return;
    }
    if (f.op === 'event' && f.event && typeof f.seq === 'number') {
      if (this.lastSeq !== undefined && f.seq <= this.lastSeq) return;
      this.lastSeq = f.seq;
      this.pending.push({ ...f.event, seq: f.seq });
      if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
    }
  }

  private flush(): void {
    this.frame = 0;
    const batch = this.pending;
    this.pending = [];
    for (const fn of this.events) fn(batch);
  }
}
