import type { Clock } from './clock.js';

/** Events per second over the last minute, in one-second buckets. */
export class RateMeter {
  private readonly buckets = new Float64Array(60);
  private lastSecond: number;

  constructor(private readonly clock: Clock) {
    this.lastSecond = Math.floor(clock.now() / 1000);
  }

  private advance(): number {
    const sec = Math.floor(this.clock.now() / 1000);
    const gap = Math.min(sec - this.lastSecond, 60);
    for (let i = 1; i <= gap; i++) this.buckets[(this.lastSecond + i) % 60] = 0;
    if (sec > this.lastSecond) this.lastSecond = sec;
    return sec;
  }

  add(n: number): void {
    const sec = this.advance();
    this.buckets[sec % 60]! += n;
  }

  /** Mean rate over the last 60 seconds. */
  perSecond(): number {
    this.advance();
    let sum = 0;
    for (const b of this.buckets) sum += b;
    return sum / 60;
  }
}
