/** Time as the server sees it; injected so retention and expiry are tested with fake time. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
