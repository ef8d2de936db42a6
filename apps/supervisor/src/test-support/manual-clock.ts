import type { Clock } from '../clock.js';

interface PendingTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * Time that moves only when a test says so. `advance(ms)` runs every timer due within the
 * span in due order (timers set by a firing timer run too when due), then leaves the time at
 * `now + ms`.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, PendingTimer>();

  constructor(start = 1_760_000_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Pending timers' delays from now, soonest first. */
  pending(): number[] {
    return [...this.timers.values()].map((x) => x.at - this.t).sort((a, b) => a - b);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: PendingTimer | undefined;
      for (const x of this.timers.values())
        if (x.at <= end && (!next || x.at < next.at || (x.at === next.at && x.id < next.id)))
          next = x;
      if (!next) break;
      this.timers.delete(next.id);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
  /** Advances in steps, letting promises settle between them (for async code on the clock). */
  async advanceAsync(ms: number, step = ms): Promise<void> {
    for (let done = 0; done < ms; done += step) {
      this.advance(Math.min(step, ms - done));
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Moves the time `ms` forward one due timer at a time, letting promises settle after each,
   * so work that continues after a promise starts at the exact time it would in real life.
   */
  async runFor(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const next = this.pending()[0];
      if (next === undefined || this.t + next > end) break;
      this.advance(next);
    }
    this.advance(end - this.t);
    await new Promise((r) => setImmediate(r));
  }
}
