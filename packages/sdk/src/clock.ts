/**
 * Time as the SDK sees it: the current time and one-shot timers. Heartbeats, reconnect
 * backoff, publish retries and flush timeouts all run on it, so a test can inject a fake
 * clock and drive them exactly, without waiting.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a pending timer; a no-op for one that fired or an undefined handle. */
  clearTimeout(handle: unknown): void;
}

/** The real clock: `Date.now()` and the global timers (Node and browsers). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
