import type { Clock } from '../clock.js';

/** A timer set on a {@link FakeClock}. */
export interface Timer {
  id: number;
  ms: number;
  fn: () => void;
}

/**
 * Time that moves only when a test fires a timer; sockets stay real. `next()` waits (in real
 * time) for the next timer the SDK sets and hands it over, so the test sees each delay exactly.
 */
export class FakeClock implements Clock {
  private t = 1_760_000_000_000;
  private seq = 0;
  readonly timers = new Map<number, Timer>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { id, ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** The earliest pending timer matching `pred`, once there is one. */
  async next(pred: (t: Timer) => boolean = () => true, ms = 10_000): Promise<Timer> {
    const end = Date.now() + ms;
    for (;;) {
      const found = [...this.timers.values()].find(pred);
      if (found) return found;
      if (Date.now() > end) throw new Error('no timer was set in time');
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  /** Moves the time forward without firing anything. */
  advance(ms: number): void {
    this.t += ms;
  }
  /** Runs a timer now, moving the time forward by its delay. */
  fire(timer: Timer): void {
    if (!this.timers.delete(timer.id)) throw new Error('timer is not pending');
    this.t += timer.ms;
    timer.fn();
  }
}
