import type { Ack, StoredEvent, WardenEvent } from '@warden/protocol';
import { BusMessage, type Bus } from './bus.js';
import type { Clock } from './clock.js';
import { WardenError } from './errors.js';
import type { HubMetrics } from './hub-metrics.js';
import type { AppendResult, EventStore } from './store/event-store.js';

/** Commits handed to the store at once (see drain). */
const MAX_IN_FLIGHT = 2;

interface Pending {
  events: readonly WardenEvent[];
  resolve: (acks: Ack[]) => void;
  reject: (err: Error) => void;
}

/** Sees the events this process committed, once per commit, in seq order. */
export type CommitObserver = (events: readonly StoredEvent[]) => void;

export interface IngestorOptions {
  /** Most events per transaction; a request is never split across two. */
  maxGroupEvents: number;
  clock: Clock;
  /** Counts newly stored events (ingest rate). */
  onStored?: (count: number) => void;
  onCommitError?: (err: unknown) => void;
  /** A commit observer threw (the commit itself stands). */
  onObserverError?: (err: unknown) => void;
}

/**
 * Group commit: every publish waiting when the store is free goes into one transaction (one
 * fsync), and each caller gets its acks once that transaction is durable. Results are handled
 * in commit order, so events reach the bus in seq order.
 */
export class Ingestor {
  private queue: Pending[] = [];
  private queuedEvents = 0;
  private inFlight = 0;
  private tail: Promise<void> = Promise.resolve();
  private scheduled = false;
  private readonly observers = new Set<CommitObserver>();
  private readonly tick = () => {
    this.scheduled = false;
    this.drain();
  };

  constructor(
    private readonly store: EventStore,
    private readonly bus: Bus,
    private readonly metrics: HubMetrics,
    private readonly opts: IngestorOptions,
  ) {}

  /** Stores the events (all or none) and resolves with one ack per event, in order. */
  submit(events: readonly WardenEvent[]): Promise<Ack[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ events, resolve, reject });
      this.queuedEvents += events.length;
      if (this.inFlight < MAX_IN_FLIGHT && !this.scheduled) {
        this.scheduled = true;
        // setImmediate lets every frame already read from the sockets join this group.
        setImmediate(this.tick);
      }
    });
  }

  /**
   * Calls `observer` with the events of each commit of this process (not other replicas':
   * for counts that must not be added once per replica). Runs on the commit path before the
   * acks are sent, so it must be quick and must not throw (a throw goes to `onObserverError`;
   * the commit stands). Returns the unsubscribe function.
   */
  observe(observer: CommitObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Events waiting for a commit. */
  backlog(): number {
    return this.queuedEvents;
  }

  /**
   * Resolves once every submitted publish has been committed (or failed) and handed to the
   * bus, so a shutdown closes the store only after the last acked events are out.
   */
  async settle(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight > 0 || this.scheduled) {
      await this.tail;
      await new Promise((r) => setImmediate(r));
    }
  }

  private takeGroup(): Pending[] {
    let n = 0;
    let i = 0;
    while (i < this.queue.length) {
      const size = this.queue[i]!.events.length;
      if (i > 0 && n + size > this.opts.maxGroupEvents) break;
      n += size;
      i++;
    }
    this.queuedEvents -= n;
    return this.queue.splice(0, i);
  }

  /**
   * Starts commits while fewer than MAX_IN_FLIGHT are running: with a writer thread the next
   * group is already being written while this thread sends the acks of the previous one.
   * Results are handled strictly in the order the groups were taken, so seq order holds.
   */
  private drain(): void {
    while (this.queue.length > 0 && this.inFlight < MAX_IN_FLIGHT) {
      const group = this.takeGroup();
      const all: WardenEvent[] = [];
      for (const p of group) for (const e of p.events) all.push(e);
      this.inFlight++;
      let written: Promise<AppendResult[]>;
      try {
        written = this.store.append(all, this.opts.clock.now());
      } catch (err) {
        written = Promise.reject(err as Error);
      }
      // Keep every link settled so one failed commit does not stall the ones after it.
      written.catch(() => undefined);
      this.tail = this.tail.then(async () => {
        try {
          this.finish(group, await written);
        } catch (err) {
          this.fail(group, err);
        } finally {
          this.inFlight--;
          this.drain();
        }
      });
    }
  }

  private fail(group: Pending[], err: unknown): void {
    this.opts.onCommitError?.(err);
    const failure = new WardenError('unavailable', 'storage failed; nothing was stored', {
      cause: err,
    });
    for (const p of group) p.reject(failure);
  }

  private finish(group: Pending[], results: AppendResult[]): void {
    const messages: BusMessage[] = [];
    const stored: StoredEvent[] = [];
    for (const r of results) {
      if (r.stored === undefined) continue;
      this.metrics.observe(r.stored);
      stored.push(r.stored);
      messages.push(new BusMessage(r.stored, undefined, r.dataJson));
    }
    this.bus.publish(messages);
    if (stored.length > 0) {
      for (const o of this.observers) {
        try {
          o(stored);
        } catch (err) {
          this.opts.onObserverError?.(err);
        }
      }
    }
    if (messages.length > 0) this.opts.onStored?.(messages.length);
    let i = 0;
    for (const p of group) {
      const acks: Ack[] = [];
      for (const e of p.events) {
        const r = results[i++]!;
        acks.push(
          r.duplicate ? { id: e.id, seq: r.seq, duplicate: true } : { id: e.id, seq: r.seq },
        );
      }
      p.resolve(acks);
    }
  }
}
