import type { StoredEvent } from '@warden/protocol';
import { BusMessage } from './bus.js';

/** Reads committed events with `since < seq <= until` from the database, ascending. */
export type GapReader = (since: number, until: number) => Promise<StoredEvent[]>;

export interface SeqSequencerOptions {
  /** Highest seq already delivered (or known to be in the past) at start. */
  head: number;
  /** Receives contiguous runs of messages, in seq order, each seq once. */
  deliver: (messages: readonly BusMessage[]) => void;
  /** Fills a gap from the database once it has lasted `gapTimeoutMs`. */
  readGap: GapReader;
  gapTimeoutMs: number;
  onReadError?: (err: unknown) => void;
}

/** Widest seq range read from the database per gap-filling query. */
const GAP_READ_LIMIT = 1000;

/**
 * Puts events from several sources (this replica's commits, the Redis stream, the database) back
 * into seq order, each seq once. seq is assigned in commit order (SPEC §3), so when seq N is
 * known, every lower seq is committed: a gap that the stream does not fill soon is read from
 * the database, and a seq the database does not hold below a known one does not exist (it was
 * never assigned, or retention deleted it), so delivery moves past it.
 */
export class SeqSequencer {
  private delivered: number;
  private readonly held = new Map<number, BusMessage>();
  /** Lowest held seq, or Infinity. */
  private lowestHeld = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private closed = false;

  constructor(private readonly opts: SeqSequencerOptions) {
    this.delivered = opts.head;
  }

  /** Every seq at or below this was delivered. */
  head(): number {
    return this.delivered;
  }

  /** Events waiting for a lower seq. */
  heldCount(): number {
    return this.held.size;
  }

  /** Takes messages in any order; delivers what is contiguous, holds the rest. */
  offer(messages: readonly BusMessage[]): void {
    let run: BusMessage[] | undefined;
    for (const m of messages) {
      const seq = m.seq;
      if (seq <= this.delivered) continue;
      if (seq === this.delivered + 1 && this.held.size === 0) {
        (run ??= []).push(m);
        this.delivered = seq;
        continue;
      }
      if (!this.held.has(seq)) {
        this.held.set(seq, m);
        if (seq < this.lowestHeld) this.lowestHeld = seq;
      }
    }
    if (this.held.size > 0) run = this.release(run);
    if (run && run.length > 0) this.opts.deliver(run);
    this.arm();
  }

  /**
   * Takes every committed event with `delivered < seq <= to` (read from the database), holes
   * included: a seq missing from it does not exist, so delivery moves past it.
   */
  private acceptRange(events: readonly StoredEvent[], to: number): void {
    const bySeq = new Map<number, BusMessage>();
    for (const e of events)
      if (e.seq > this.delivered && e.seq <= to) bySeq.set(e.seq, new BusMessage(e));
    // A held message in the range is committed, so the read has it too; keep it all the same.
    for (const [seq, m] of this.held) {
      if (seq <= to) {
        if (!bySeq.has(seq)) bySeq.set(seq, m);
        this.held.delete(seq);
      }
    }
    const run = [...bySeq.values()].sort((x, y) => x.seq - y.seq);
    if (to > this.delivered) this.delivered = to;
    const more = this.release(run);
    if (more && more.length > 0) this.opts.deliver(more);
  }

  /** Appends held messages that have become contiguous to `run`. */
  private release(run: BusMessage[] | undefined): BusMessage[] | undefined {
    if (this.lowestHeld <= this.delivered) {
      // Drop what is now in the past.
      for (const seq of this.held.keys()) if (seq <= this.delivered) this.held.delete(seq);
    }
    for (;;) {
      const next = this.held.get(this.delivered + 1);
      if (!next) break;
      this.held.delete(next.seq);
      (run ??= []).push(next);
      this.delivered = next.seq;
    }
    this.lowestHeld = Infinity;
    for (const seq of this.held.keys()) if (seq < this.lowestHeld) this.lowestHeld = seq;
    return run;
  }

  private arm(): void {
    if (this.closed || this.held.size === 0 || this.timer || this.reading) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.fill();
    }, this.opts.gapTimeoutMs);
    this.timer.unref();
  }

  /** Reads the events between the delivered head and the lowest held seq from the database. */
  private async fill(): Promise<void> {
    if (this.closed || this.held.size === 0 || this.reading) return;
    // Every seq below a held one is committed (commit order), so the gap is all in the database.
    await this.readThrough(() => (this.held.size > 0 ? this.lowestHeld - 1 : undefined));
  }

  /** Reads up to `until` from the database now (a replica that fell behind, e.g. Redis down). */
  async catchUpTo(until: number): Promise<void> {
    if (until <= this.delivered || this.reading || this.closed) return;
    await this.readThrough(() => until);
  }

  /**
   * Reads from the delivered head up to `target()` (re-evaluated after every read) in ranges
   * never wider than the limit, so each read is complete for its range: what the database does
   * not return there does not exist.
   */
  private async readThrough(target: () => number | undefined): Promise<void> {
    this.reading = true;
    try {
      for (;;) {
        const until = target();
        if (this.closed || until === undefined || until <= this.delivered) break;
        const to = Math.min(until, this.delivered + GAP_READ_LIMIT);
        this.acceptRange(await this.opts.readGap(this.delivered, to), to);
      }
    } catch (err) {
      this.opts.onReadError?.(err);
    } finally {
      this.reading = false;
      this.arm();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.held.clear();
  }
}
