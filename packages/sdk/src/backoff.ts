/** Reconnect delays: exponential with jitter. @see {@link ReconnectOptions} */
export interface ReconnectOptions {
  /** First delay. @defaultValue 250 */
  initialDelayMs?: number;
  /** Largest delay. @defaultValue 30000 */
  maxDelayMs?: number;
  /** Growth per failed attempt. @defaultValue 2 */
  multiplier?: number;
  /** Random spread, a fraction of the delay either way. @defaultValue 0.2 */
  jitter?: number;
}

/** Computes the delay of each reconnect attempt; `reset()` after a good connection. */
export class Backoff {
  private attempt = 0;
  private readonly initial: number;
  private readonly max: number;
  private readonly multiplier: number;
  private readonly jitter: number;

  constructor(
    opts: ReconnectOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initial = opts.initialDelayMs ?? 250;
    this.max = opts.maxDelayMs ?? 30_000;
    this.multiplier = opts.multiplier ?? 2;
    this.jitter = opts.jitter ?? 0.2;
  }

  /** The delay before the next attempt; each call counts one attempt. */
  next(): number {
    const base = Math.min(this.initial * this.multiplier ** this.attempt, this.max);
    this.attempt++;
    const spread = base * this.jitter * (this.random() * 2 - 1);
    return Math.max(0, Math.round(base + spread));
  }

  /** Attempts so far since the last reset. */
  attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
