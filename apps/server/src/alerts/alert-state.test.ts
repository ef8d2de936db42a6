import { describe, expect, it } from 'vitest';
import { advance, needsTimer, observe, resolve, type AlertRecord } from './alert-state.js';

const T0 = 1_760_000_000_000;

function pending(at = T0): AlertRecord {
  return {
    id: 'a',
    fingerprint: 'f',
    rule: 'r',
    agentId: 'x',
    severity: 'warning',
    labels: {},
    annotations: {},
    state: 'pending',
    value: 1,
    activeAt: at,
    firedAt: null,
    endsAt: null,
    falseSince: null,
    acknowledged: false,
    ackedBy: null,
    ackedAt: null,
    ackComment: null,
    escalated: 0,
    updatedAt: at,
  };
}

describe('alert state machine', () => {
  const t = { forMs: 60_000, keepFiringForMs: 0 };

  it('stays pending until the condition has held for `for`, then fires', () => {
    const a = pending();
    expect(observe(a, true, 2, T0 + 30_000, t, T0 + 30_000)).toBeUndefined();
    expect(a.state).toBe('pending');
    expect(a.value).toBe(2);
    expect(advance(a, T0 + 59_999, t)).toBeUndefined();
    expect(advance(a, T0 + 60_000, t)).toBe('firing');
    expect(a.firedAt).toBe(T0 + 60_000);
    expect(a.activeAt).toBe(T0);
  });

  it('a pending alert whose condition stops goes back to inactive', () => {
    const a = pending();
    expect(observe(a, false, null, T0 + 10_000, t, T0 + 10_000)).toBe('inactive');
  });

  it('with for 0 the alert fires on the first cycle', () => {
    const a = pending();
    expect(advance(a, T0, { forMs: 0, keepFiringForMs: 0 })).toBe('firing');
  });

  it('a firing alert resolves when the condition stops (keep_firing_for 0)', () => {
    const a = pending();
    advance(a, T0 + 60_000, t);
    expect(observe(a, false, null, T0 + 70_000, t, T0 + 70_000)).toBe('resolved');
    expect(a.state).toBe('resolved');
    expect(a.endsAt).toBe(T0 + 70_000);
  });

  it('keep_firing_for holds a firing alert after the condition stops, and a return of the condition cancels it', () => {
    const k = { forMs: 0, keepFiringForMs: 120_000 };
    const a = pending();
    advance(a, T0, k);
    expect(observe(a, false, null, T0 + 10_000, k, T0 + 10_000)).toBeUndefined();
    expect(needsTimer(a)).toBe(true);
    expect(advance(a, T0 + 129_999, k)).toBeUndefined();
    // The condition holds again: the hold is cancelled.
    observe(a, true, 5, T0 + 130_000, k, T0 + 130_000);
    expect(a.falseSince).toBeNull();
    expect(needsTimer(a)).toBe(false);
    expect(advance(a, T0 + 1_000_000, k)).toBeUndefined();
    observe(a, false, null, T0 + 1_000_000, k, T0 + 1_000_000);
    expect(advance(a, T0 + 1_120_000, k)).toBe('resolved');
  });

  it('resolve ends a firing alert and drops a pending one', () => {
    const f = pending();
    advance(f, T0 + 60_000, t);
    expect(resolve(f, T0 + 61_000)).toBe('resolved');
    expect(resolve(pending(), T0)).toBe('inactive');
  });
});
