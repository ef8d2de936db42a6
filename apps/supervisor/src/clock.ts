/**
 * Time as the supervisor sees it: the SDK's clock (now + one-shot timers). Backoff, circuit
 * cooldowns, health checks and tmux polling all run on it, so tests drive them with a
 * {@link ManualClock} and stay fast and exact.
 */
export { systemClock } from '@warden/sdk';
export type { Clock } from '@warden/sdk';

/** Randomness, injected so jitter is exact in tests. Returns a number in [0, 1). */
export type Random = () => number;
