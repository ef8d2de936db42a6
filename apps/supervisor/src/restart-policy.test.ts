import { describe, expect, it } from 'vitest';
import {
  RestartPolicy,
  RestartPolicySnapshotSchema,
  describeExit,
  formatDuration,
  lifecycleData,
} from './restart-policy.js';
import type { ExitDecision, ProcessExit, RestartPolicyOptions } from './restart-policy.js';
import { ManualClock } from './test-support/manual-clock.js';

const SEC = 1000;
const MIN = 60 * SEC;

/** SPEC §9 defaults, jitter off unless a test turns it on. */
function options(over: Partial<RestartPolicyOptions> = {}): RestartPolicyOptions {
  return {
    policy: 'on-failure',
    initialDelayMs: 1 * SEC,
    multiplier: 2,
    maxDelayMs: 5 * MIN,
    jitter: 0,
    resetAfterMs: 10 * MIN,
    maxRestarts: 5,
    windowMs: 10 * MIN,
    circuitCooldownMs: 15 * MIN,
    circuitBreakerThreshold: 5,
    ...over,
  };
}

const crash: ProcessExit = { code: 1, signal: null, requested: false };

function setup(over: Partial<RestartPolicyOptions> = {}, random: () => number = () => 0.5) {
  const clock = new ManualClock();
  const policy = new RestartPolicy(options(over), clock, random);
  /** Start, run for `ranMs`, then exit. */
  const runFor = (ranMs: number, exit: ProcessExit = crash): ExitDecision => {
    policy.onStarted();
    clock.advance(ranMs);
    return policy.onExit(exit);
  };
  /** Waits out a restart decision's delay, then runs for `ranMs` and exits. */
  const restartAndRunFor = (d: ExitDecision, ranMs: number, exit: ProcessExit = crash) => {
    if (d.action !== 'restart') throw new Error(`expected a restart, got ${d.action}`);
    clock.advance(d.delayMs);
    return runFor(ranMs, exit);
  };
  return { clock, policy, runFor, restartAndRunFor };
}

function delays(decisions: ExitDecision[]): number[] {
  return decisions.map((d) => (d.action === 'restart' ? d.delayMs : -1));
}

/** Crashes quickly `n` times in a row, following each restart. */
function crashLoop(s: ReturnType<typeof setup>, n: number, ranMs = 100): ExitDecision[] {
  const out = [s.runFor(ranMs)];
  while (out.length < n) out.push(s.restartAndRunFor(out[out.length - 1]!, ranMs));
  return out;
}

describe('geometric backoff', () => {
  it('when the agent exits twice within the window, the second restart waits twice as long', () => {
    const s = setup();
    const first = s.runFor(100);
    const second = s.restartAndRunFor(first, 100);
    expect(first).toMatchObject({ action: 'restart', attempt: 1, delayMs: 1000 });
    expect(second).toMatchObject({ action: 'restart', attempt: 2, delayMs: 2000 });
  });

  it('waits 1s, 2s, 4s, 8s, 16s for restarts 1–5 with initial_delay 1s and multiplier 2', () => {
    const s = setup({ maxRestarts: 100 });
    const ds = crashLoop(s, 5);
    expect(delays(ds)).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect(ds.map((d) => (d.action === 'restart' ? d.attempt : 0))).toEqual([1, 2, 3, 4, 5]);
  });

  it('multiplies by a non-integer multiplier exactly', () => {
    const s = setup({ maxRestarts: 100, initialDelayMs: 400, multiplier: 1.5 });
    expect(delays(crashLoop(s, 4))).toEqual([400, 600, 900, 1350]);
  });

  it('never waits longer than max_delay: 1s, 2s, 4s, 8s, then 10s and 10s', () => {
    const s = setup({ maxRestarts: 100, maxDelayMs: 10 * SEC });
    expect(delays(crashLoop(s, 6))).toEqual([1000, 2000, 4000, 8000, 10000, 10000]);
  });

  it('stays at max_delay however long the sequence gets (no overflow)', () => {
    const s = setup({ maxRestarts: 10_000, windowMs: 1, maxDelayMs: 7 * SEC });
    const ds = crashLoop(s, 1100, 0);
    expect(ds[1099]).toMatchObject({ action: 'restart', attempt: 1100, delayMs: 7000 });
  });

  it('restarts at once when initial_delay is 0, however many restarts came before', () => {
    const s = setup({ maxRestarts: 10_000, windowMs: 1, initialDelayMs: 0, maxDelayMs: 0 });
    const ds = crashLoop(s, 1100, 0);
    expect(new Set(delays(ds))).toEqual(new Set([0]));
  });
});

describe('jitter', () => {
  // delay × (1 + jitter × (2r − 1)), rounded, clamped to [0, max_delay]
  it('with r = 0.5 the delay is exactly the backoff', () => {
    const s = setup({ jitter: 0.1, maxRestarts: 100 }, () => 0.5);
    expect(delays(crashLoop(s, 3))).toEqual([1000, 2000, 4000]);
  });

  it('with r = 0 the delay is the backoff less the jitter fraction', () => {
    const s = setup({ jitter: 0.1, maxRestarts: 100 }, () => 0);
    expect(delays(crashLoop(s, 3))).toEqual([900, 1800, 3600]);
  });

  it('with r just under 1 the delay is the backoff plus the jitter fraction', () => {
    const s = setup({ jitter: 0.1, maxRestarts: 100 }, () => 0.9999999);
    expect(delays(crashLoop(s, 3))).toEqual([1100, 2200, 4400]);
  });

  it('jitter 0.25 with r = 0.2 takes 15 % off (1 + 0.25 × −0.6)', () => {
    const s = setup({ jitter: 0.25 }, () => 0.2);
    expect(s.runFor(100)).toMatchObject({ delayMs: 850 });
  });

  it('at the cap only shortens the wait: max_delay stays the longest wait', () => {
    const high = setup({ jitter: 0.1, maxDelayMs: 2 * SEC, maxRestarts: 100 }, () => 0.9999999);
    expect(delays(crashLoop(high, 3))).toEqual([1100, 2000, 2000]);
    const low = setup({ jitter: 0.1, maxDelayMs: 2 * SEC, maxRestarts: 100 }, () => 0);
    expect(delays(crashLoop(low, 3))).toEqual([900, 1800, 1800]);
  });

  it('draws one random number per restart', () => {
    const rs = [0, 1 - 1e-9, 0.5];
    const s = setup({ jitter: 0.5, maxRestarts: 100 }, () => rs.shift()!);
    expect(delays(crashLoop(s, 3))).toEqual([500, 3000, 4000]);
  });
});

describe('stable runs reset the backoff', () => {
  it('when a run lasts reset_after, the next restart waits initial_delay again', () => {
    const s = setup();
    const d1 = s.runFor(100);
    const d2 = s.restartAndRunFor(d1, 100);
    expect(d2).toMatchObject({ attempt: 2, delayMs: 2000 });
    const d3 = s.restartAndRunFor(d2, 10 * MIN);
    expect(d3).toMatchObject({ action: 'restart', attempt: 1, delayMs: 1000 });
  });

  it('a run 1 ms short of reset_after keeps the sequence going', () => {
    const s = setup();
    const d2 = s.restartAndRunFor(s.runFor(100), 10 * MIN - 1);
    expect(d2).toMatchObject({ attempt: 2, delayMs: 2000 });
  });

  it('onStableCheck resets the backoff once reset_after has passed, not before', () => {
    const s = setup();
    const d1 = s.runFor(100);
    s.clock.advance((d1 as { delayMs: number }).delayMs);
    const started = s.policy.onStarted();
    expect(started).toMatchObject({ action: 'started', attempt: 1, stableAfterMs: 10 * MIN });
    s.clock.advance(10 * MIN - 1);
    expect(s.policy.isStable()).toBe(false);
    expect(s.policy.onStableCheck()).toBeUndefined();
    s.clock.advance(1);
    expect(s.policy.isStable()).toBe(true);
    expect(s.policy.onStableCheck()).toEqual({
      action: 'backoff_reset',
      status: 'running',
      reason: 'ran stable for 10m: backoff reset',
    });
    expect(s.policy.onStableCheck()).toBeUndefined();
  });

  it('a stable first run has nothing to reset', () => {
    const s = setup();
    s.policy.onStarted();
    s.clock.advance(10 * MIN);
    expect(s.policy.onStableCheck()).toBeUndefined();
  });
});

describe('the sliding window and the circuit', () => {
  it('opens the circuit on the 6th exit within 10m with max_restarts 5, instead of restarting', () => {
    const s = setup();
    const ds = crashLoop(s, 6);
    expect(ds.slice(0, 5).map((d) => d.action)).toEqual(Array(5).fill('restart'));
    expect(ds[5]).toEqual({
      action: 'circuit_open',
      status: 'failed',
      reopenInMs: 15 * MIN,
      attempts: 6,
      exitCode: 1,
      ranMs: 100,
      escalate: true,
      severity: 'warning',
      reason:
        'exited with code 1: 6 exits within 10m (max_restarts 5): circuit open, next trial in 15m',
    });
    expect(s.policy.status).toBe('circuit_open');
    expect(s.policy.reopensInMs()).toBe(15 * MIN);
  });

  it('lets old exits fall out of the window: an exit counts while it is less than window old', () => {
    const s = setup({ maxRestarts: 2 });
    s.runFor(0); // exit at t0
    s.clock.advance(4 * MIN);
    s.runFor(0); // t0 + 4m
    s.clock.advance(6 * MIN);
    // t0 + 10m: the first exit is exactly `window` old and no longer counts → 2 in the window.
    expect(s.runFor(0)).toMatchObject({ action: 'restart', attempt: 3 });
  });

  it('counts exits that are still inside the window', () => {
    const s = setup({ maxRestarts: 2 });
    s.runFor(0);
    s.clock.advance(4 * MIN);
    s.runFor(0);
    s.clock.advance(6 * MIN - 1);
    expect(s.runFor(0)).toMatchObject({
      action: 'circuit_open',
      attempts: 3,
      reason:
        'exited with code 1: 3 exits within 10m (max_restarts 2): circuit open, next trial in 15m',
    });
  });

  it('with max_restarts 0 the first failure opens the circuit', () => {
    const s = setup({ maxRestarts: 0 });
    expect(s.runFor(100)).toMatchObject({
      action: 'circuit_open',
      reason:
        'exited with code 1: 1 exit within 10m (max_restarts 0): circuit open, next trial in 15m',
    });
  });

  it('a stable run resets the backoff but the window keeps counting', () => {
    const s = setup({ maxRestarts: 2, resetAfterMs: 1 * MIN });
    const d1 = s.runFor(100);
    const d2 = s.restartAndRunFor(d1, 1 * MIN);
    expect(d2).toMatchObject({ action: 'restart', attempt: 1 });
    expect(s.restartAndRunFor(d2, 100)).toMatchObject({ action: 'circuit_open', attempts: 3 });
  });
});

describe('half-open trials', () => {
  function openCircuit(over: Partial<RestartPolicyOptions> = {}) {
    const s = setup(over);
    crashLoop(s, (over.maxRestarts ?? 5) + 1);
    expect(s.policy.status).toBe('circuit_open');
    return s;
  }

  it('grants no trial before circuit_cooldown has passed', () => {
    const s = openCircuit();
    s.clock.advance(15 * MIN - 1);
    expect(s.policy.reopensInMs()).toBe(1);
    expect(s.policy.halfOpen()).toBeUndefined();
    expect(s.policy.status).toBe('circuit_open');
  });

  it('grants one trial after circuit_cooldown', () => {
    const s = openCircuit();
    s.clock.advance(15 * MIN);
    expect(s.policy.reopensInMs()).toBe(0);
    expect(s.policy.halfOpen()).toEqual({
      action: 'circuit_half_open',
      status: 'restarting',
      trial: 1,
      reason: 'circuit half-open after 15m: trial 1 of 5',
    });
    expect(s.policy.status).toBe('half_open');
    expect(s.policy.halfOpen()).toBeUndefined();
    expect(s.policy.onStarted()).toMatchObject({
      action: 'started',
      trial: 1,
      stableAfterMs: 10 * MIN,
      reason: 'started half-open trial 1 of 5; the circuit closes after 10m of stable running',
    });
  });

  it('closes the circuit when the trial runs stable for reset_after, and forgets the history', () => {
    const s = openCircuit();
    s.clock.advance(15 * MIN);
    s.policy.halfOpen();
    s.policy.onStarted();
    s.clock.advance(10 * MIN - 1);
    expect(s.policy.onStableCheck()).toBeUndefined();
    s.clock.advance(1);
    expect(s.policy.onStableCheck()).toEqual({
      action: 'circuit_closed',
      status: 'running',
      reason: 'half-open trial 1 ran stable for 10m: circuit closed',
    });
    expect(s.policy.status).toBe('running');
    s.clock.advance(5 * SEC);
    expect(s.policy.onExit(crash)).toMatchObject({ action: 'restart', attempt: 1, delayMs: 1000 });
  });

  it('a trial that exits after reset_after without a stable check also closes the circuit', () => {
    const s = openCircuit();
    s.clock.advance(15 * MIN);
    s.policy.halfOpen();
    expect(s.runFor(10 * MIN)).toMatchObject({ action: 'restart', attempt: 1, delayMs: 1000 });
  });

  it('re-opens the circuit when the trial exits early, and counts the failed trial', () => {
    const s = openCircuit();
    s.clock.advance(15 * MIN);
    s.policy.halfOpen();
    expect(s.runFor(3 * SEC)).toEqual({
      action: 'circuit_open',
      status: 'failed',
      reopenInMs: 15 * MIN,
      attempts: 1,
      trial: 1,
      exitCode: 1,
      ranMs: 3000,
      escalate: true,
      severity: 'warning',
      reason:
        'exited with code 1 after 3.0s in half-open trial 1 of 5: circuit open again, next trial in 15m',
    });
    s.clock.advance(15 * MIN);
    expect(s.policy.halfOpen()).toMatchObject({
      trial: 2,
      reason: 'circuit half-open after 15m: trial 2 of 5',
    });
  });

  it('fails for good with an escalation at circuit_breaker_threshold failed trials', () => {
    const s = openCircuit({ circuitBreakerThreshold: 3 });
    const results: ExitDecision[] = [];
    for (let i = 0; i < 3; i++) {
      s.clock.advance(15 * MIN);
      expect(s.policy.halfOpen()).toMatchObject({ trial: i + 1 });
      results.push(s.runFor(2 * SEC));
    }
    expect(results.map((d) => d.action)).toEqual(['circuit_open', 'circuit_open', 'failed']);
    expect(results[2]).toEqual({
      action: 'failed',
      status: 'failed',
      attempts: 3,
      exitCode: 1,
      ranMs: 2000,
      escalate: true,
      severity: 'critical',
      reason:
        'exited with code 1 after 2.0s in half-open trial 3 of 3: agent failed for good after 3 failed trials; fix the cause, then start it by hand',
    });
    expect(s.policy.status).toBe('failed');
    s.clock.advance(60 * MIN);
    expect(s.policy.halfOpen()).toBeUndefined();
    expect(s.policy.reopensInMs()).toBeUndefined();
  });

  it('with threshold 1 the first failed trial is final', () => {
    const s = openCircuit({ circuitBreakerThreshold: 1 });
    s.clock.advance(15 * MIN);
    s.policy.halfOpen();
    expect(s.runFor(1)).toMatchObject({ action: 'failed', attempts: 1 });
  });

  it('a successful trial clears the failed-trial count', () => {
    const s = openCircuit({ maxRestarts: 0, circuitBreakerThreshold: 2 });
    s.clock.advance(15 * MIN);
    s.policy.halfOpen();
    s.runFor(1); // failed trial 1 of 2
    s.clock.advance(15 * MIN);
    s.policy.halfOpen();
    s.policy.onStarted();
    s.clock.advance(10 * MIN);
    expect(s.policy.onStableCheck()?.action).toBe('circuit_closed');
    s.policy.onExit(crash); // max_restarts 0: opens again
    s.clock.advance(15 * MIN);
    expect(s.policy.halfOpen()).toMatchObject({
      trial: 1,
      reason: 'circuit half-open after 15m: trial 1 of 2',
    });
  });
});

describe('policies', () => {
  it('on-failure restarts after a non-zero exit code', () => {
    const s = setup();
    expect(s.runFor(100)).toEqual({
      action: 'restart',
      status: 'restarting',
      attempt: 1,
      delayMs: 1000,
      maxRestarts: 5,
      exitCode: 1,
      ranMs: 100,
      reason: 'exited with code 1 (on-failure): restart 1 in 1.0s',
    });
  });

  it('on-failure restarts after a signal nobody asked for', () => {
    const s = setup();
    expect(s.runFor(100, { code: null, signal: 'SIGSEGV', requested: false })).toMatchObject({
      action: 'restart',
      signal: 'SIGSEGV',
      reason: 'was killed by SIGSEGV (on-failure): restart 1 in 1.0s',
    });
  });

  it('on-failure restarts an agent the supervisor stopped for its health, even when it exited 0', () => {
    const s = setup();
    expect(
      s.runFor(100, { code: 0, signal: null, requested: false, cause: 'hung: no progress for 3m' }),
    ).toMatchObject({ action: 'restart', attempt: 1 });
  });

  it('on-failure leaves a clean exit (code 0) stopped', () => {
    const s = setup();
    expect(s.runFor(100, { code: 0, signal: null, requested: false })).toEqual({
      action: 'stay_stopped',
      status: 'stopped',
      exitCode: 0,
      ranMs: 100,
      reason: 'exited with code 0 (on-failure): not restarted',
    });
    expect(s.policy.status).toBe('stopped');
  });

  it('on-failure restarts a start that never ran (spawn error: no code, no signal)', () => {
    const s = setup();
    expect(
      s.policy.onExit({ code: null, signal: null, requested: false, cause: 'spawn node ENOENT' }),
    ).toMatchObject({
      action: 'restart',
      ranMs: 0,
      reason: 'did not start (spawn node ENOENT) (on-failure): restart 1 in 1.0s',
    });
  });

  it('always restarts after a clean exit too, and counts it toward the circuit', () => {
    const s = setup({ policy: 'always', maxRestarts: 1 });
    const clean: ProcessExit = { code: 0, signal: null, requested: false };
    const d1 = s.runFor(100, clean);
    expect(d1).toMatchObject({
      action: 'restart',
      reason: 'exited with code 0 (always): restart 1 in 1.0s',
    });
    expect(s.restartAndRunFor(d1, 100, clean)).toMatchObject({ action: 'circuit_open' });
  });

  it('never leaves a crashed agent down, status failed', () => {
    const s = setup({ policy: 'never' });
    expect(s.runFor(100)).toMatchObject({
      action: 'stay_stopped',
      status: 'failed',
      reason: 'exited with code 1 (never): not restarted',
    });
  });

  it('never leaves a cleanly exited agent down, status stopped', () => {
    const s = setup({ policy: 'never' });
    expect(s.runFor(100, { code: 0, signal: null, requested: false })).toMatchObject({
      action: 'stay_stopped',
      status: 'stopped',
    });
  });

  it.each(['always', 'on-failure', 'never'] as const)(
    'a requested stop is not restarted under %s',
    (policy) => {
      const s = setup({ policy });
      expect(s.runFor(100, { code: null, signal: 'SIGTERM', requested: true })).toEqual({
        action: 'stay_stopped',
        status: 'stopped',
        signal: 'SIGTERM',
        ranMs: 100,
        reason: 'was killed by SIGTERM on request: stopped',
      });
    },
  );

  it('a kill by a health check is a failure, restarted with its cause in the reason', () => {
    const s = setup();
    expect(
      s.runFor(100, {
        code: null,
        signal: 'SIGKILL',
        requested: false,
        cause: 'hung: no task progress for 3m',
      }),
    ).toMatchObject({
      action: 'restart',
      reason:
        'was killed by SIGKILL (hung: no task progress for 3m) (on-failure): restart 1 in 1.0s',
    });
  });
});

describe('operator actions', () => {
  it('stop() during a backoff wait cancels the restart', () => {
    const s = setup();
    s.runFor(100);
    expect(s.policy.restartsInMs()).toBe(1000);
    expect(s.policy.stop()).toEqual({
      action: 'stay_stopped',
      status: 'stopped',
      reason: 'stopped on request',
    });
    expect(s.policy.status).toBe('stopped');
    expect(s.policy.restartsInMs()).toBeUndefined();
  });

  it('reset() on a manual start clears a failed circuit: the next crash waits initial_delay', () => {
    const s = setup({ circuitBreakerThreshold: 1 });
    crashLoop(s, 6);
    s.clock.advance(15 * MIN);
    s.policy.halfOpen();
    expect(s.runFor(1)).toMatchObject({ action: 'failed' });
    s.policy.reset();
    expect(s.policy.status).toBe('stopped');
    expect(s.policy.onStarted()).toMatchObject({ attempt: 0, reason: 'started' });
    s.clock.advance(100);
    expect(s.policy.onExit(crash)).toMatchObject({ action: 'restart', attempt: 1, delayMs: 1000 });
  });

  it('reports restarts in the start reason', () => {
    const s = setup();
    s.clock.advance((s.runFor(100) as { delayMs: number }).delayMs);
    expect(s.policy.onStarted()).toEqual({
      action: 'started',
      status: 'running',
      attempt: 1,
      stableAfterMs: 10 * MIN,
      reason: 'started (restart 1)',
    });
  });
});

describe('snapshot and restore', () => {
  it('round-trips through JSON and carries on the same backoff sequence', () => {
    const s = setup();
    const d2 = s.restartAndRunFor(s.runFor(100), 100);
    expect(d2).toMatchObject({ attempt: 2 });
    const json = JSON.parse(JSON.stringify(s.policy.snapshot())) as unknown;
    const snap = RestartPolicySnapshotSchema.parse(json);
    expect(snap).toMatchObject({ version: 1, status: 'restarting', attempt: 2, failedTrials: 0 });
    expect(snap.exits).toHaveLength(2);

    const restored = new RestartPolicy(options(), s.clock, () => 0.5);
    restored.restore(snap);
    // The scheduled restart's process is gone with the old daemon: stopped, counters kept.
    expect(restored.status).toBe('stopped');
    restored.onStarted();
    s.clock.advance(100);
    expect(restored.onExit(crash)).toMatchObject({ action: 'restart', attempt: 3, delayMs: 4000 });
  });

  it('keeps the window: restored exits still count toward the circuit', () => {
    const s = setup({ maxRestarts: 2 });
    crashLoop(s, 2);
    const restored = new RestartPolicy(options({ maxRestarts: 2 }), s.clock);
    restored.restore(s.policy.snapshot());
    restored.onStarted();
    expect(restored.onExit(crash)).toMatchObject({ action: 'circuit_open', attempts: 3 });
  });

  it('keeps an open circuit and its reopen time', () => {
    const s = setup();
    crashLoop(s, 6);
    s.clock.advance(5 * MIN);
    const restored = new RestartPolicy(options(), s.clock);
    restored.restore(s.policy.snapshot());
    expect(restored.status).toBe('circuit_open');
    expect(restored.reopensInMs()).toBe(10 * MIN);
  });

  it('brings an interrupted half-open trial back as an open circuit due now', () => {
    const s = setup();
    crashLoop(s, 6);
    s.clock.advance(15 * MIN);
    s.policy.halfOpen();
    s.policy.onStarted();
    const restored = new RestartPolicy(options(), s.clock);
    restored.restore(s.policy.snapshot());
    expect(restored.status).toBe('circuit_open');
    expect(restored.reopensInMs()).toBe(0);
    expect(restored.halfOpen()).toMatchObject({ trial: 1 });
  });

  it('keeps failed as failed', () => {
    const s = setup({ circuitBreakerThreshold: 1 });
    crashLoop(s, 6);
    s.clock.advance(15 * MIN);
    s.policy.halfOpen();
    s.runFor(1);
    const restored = new RestartPolicy(options({ circuitBreakerThreshold: 1 }), s.clock);
    restored.restore(s.policy.snapshot());
    expect(restored.status).toBe('failed');
  });

  it('refuses a snapshot that is not one', () => {
    expect(RestartPolicySnapshotSchema.safeParse({ version: 2 }).success).toBe(false);
    expect(
      RestartPolicySnapshotSchema.safeParse({
        version: 1,
        status: 'dancing',
        attempt: 0,
        exits: [],
        failedTrials: 0,
      }).success,
    ).toBe(false);
  });
});

describe('agent_lifecycle data', () => {
  it('maps a restart to restart_scheduled with attempt, delay, max_restarts and the exit facts', () => {
    const s = setup();
    expect(lifecycleData(s.runFor(100), 4242)).toEqual({
      action: 'restart_scheduled',
      pid: 4242,
      exitCode: 1,
      attempt: 1,
      delayMs: 1000,
      maxRestarts: 5,
      reason: 'exited with code 1 (on-failure): restart 1 in 1.0s',
    });
  });

  it('maps stay_stopped to stopped, and circuit_open and failed to circuit_open', () => {
    const s = setup({ circuitBreakerThreshold: 1 });
    expect(lifecycleData(s.runFor(1, { code: null, signal: 'SIGTERM', requested: true }))).toEqual({
      action: 'stopped',
      signal: 'SIGTERM',
      reason: 'was killed by SIGTERM on request: stopped',
    });
    const open = crashLoop(s, 6)[5]!;
    expect(lifecycleData(open)).toEqual({
      action: 'circuit_open',
      exitCode: 1,
      reason: open.reason,
    });
    s.clock.advance(15 * MIN);
    const half = s.policy.halfOpen()!;
    expect(lifecycleData(half)).toEqual({
      action: 'circuit_half_open',
      attempt: 1,
      reason: 'circuit half-open after 15m: trial 1 of 1',
    });
    const failed = s.runFor(1);
    expect(lifecycleData(failed)).toEqual({
      action: 'circuit_open',
      exitCode: 1,
      reason: failed.reason,
    });
  });

  it('maps started and circuit_closed; a backoff reset is a log line only', () => {
    const s = setup();
    expect(lifecycleData(s.policy.onStarted(), 7)).toEqual({
      action: 'started',
      pid: 7,
      reason: 'started',
    });
    expect(
      lifecycleData({ action: 'circuit_closed', status: 'running', reason: 'closed' }, 7),
    ).toEqual({ action: 'circuit_closed', pid: 7, reason: 'closed' });
    expect(
      lifecycleData({ action: 'backoff_reset', status: 'running', reason: 'reset' }),
    ).toBeUndefined();
  });
});

describe('reasons people read', () => {
  it('formats durations short', () => {
    expect(
      [0, 300, 1000, 2000, 59_500, 120_000, 125_000, 900_000, 3_600_000, 5_400_000].map(
        formatDuration,
      ),
    ).toEqual(['0ms', '300ms', '1.0s', '2.0s', '59.5s', '2m', '2m5s', '15m', '1h', '1h30m']);
  });

  it('describes how a process ended', () => {
    expect(describeExit({ code: 2, signal: null })).toBe('exited with code 2');
    expect(describeExit({ code: null, signal: 'SIGKILL' })).toBe('was killed by SIGKILL');
    expect(describeExit({ code: null, signal: null, cause: 'spawn x ENOENT' })).toBe(
      'did not start (spawn x ENOENT)',
    );
  });

  it('names the restart number and its wait: "restart 2 in 2.0s"', () => {
    const s = setup();
    expect(s.restartAndRunFor(s.runFor(100), 100).reason).toBe(
      'exited with code 1 (on-failure): restart 2 in 2.0s',
    );
  });
});
