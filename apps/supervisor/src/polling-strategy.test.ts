import { describe, expect, it } from 'vitest';
import { MonitoringError } from './monitoring-strategy.js';
import type { MonitorTarget } from './monitoring-strategy.js';
import { PollingStrategy } from './polling-strategy.js';
import { ManualClock } from './test-support/manual-clock.js';

const T0 = 1_760_000_000_000;

/** Stops the strategy, moving the clock until the checks in flight have settled. */
async function stopAll(s: { stop(): Promise<void> }, clock: ManualClock): Promise<void> {
  let done = false;
  const stopped = s.stop().then(() => (done = true));
  while (!done) await clock.runFor(100);
  await stopped;
}

/** Targets whose check takes `ms` of clock time (or misbehaves), logging `at id start|end`. */
function fleet(clock: ManualClock) {
  const log: string[] = [];
  const errors: string[] = [];
  const at = () => clock.now() - T0;
  const target = (
    id: string,
    behave: { ms?: number; fail?: 'throw' | 'reject'; hang?: boolean } = {},
  ): MonitorTarget => ({
    id,
    priority: 0,
    health: () => 'healthy',
    check: () => {
      log.push(`${at()} ${id} start`);
      if (behave.fail === 'throw') throw new Error(`${id} threw`);
      if (behave.fail === 'reject') return Promise.reject(new Error(`${id} rejected`));
      if (behave.hang) return new Promise<void>(() => {});
      return new Promise<void>((resolve) =>
        clock.setTimeout(() => {
          log.push(`${at()} ${id} end`);
          resolve();
        }, behave.ms ?? 0),
      );
    },
  });
  const onError = (t: MonitorTarget, e: unknown) =>
    errors.push(`${at()} ${t.id} ${e instanceof MonitoringError ? e.code : String(e)}`);
  return { log, errors, target, onError };
}

describe('PollingStrategy', () => {
  it('checks every target one after the other, in the order given, one pass per interval', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock);
    const targets = [f.target('a', { ms: 100 }), f.target('b', { ms: 100 }), f.target('c')];
    const s = new PollingStrategy({ intervalMs: 1000, clock, onError: f.onError });
    s.start(() => targets);
    await clock.runFor(1500);
    expect(f.log).toEqual([
      '0 a start',
      '100 a end',
      '100 b start',
      '200 b end',
      '200 c start',
      '200 c end',
      '1000 a start',
      '1100 a end',
      '1100 b start',
      '1200 b end',
      '1200 c start',
      '1200 c end',
    ]);
    await stopAll(s, clock);
  });

  it('when a pass overruns the interval, the next pass starts when it ends and missed ticks are not made up', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock);
    const targets = [f.target('slow', { ms: 2500 })];
    const s = new PollingStrategy({
      intervalMs: 1000,
      clock,
      onError: f.onError,
      checkTimeoutMs: 10_000,
    });
    s.start(() => targets);
    await clock.runFor(6000);
    expect(f.log.filter((l) => l.endsWith('start'))).toEqual([
      '0 slow start',
      '2500 slow start',
      '5000 slow start',
    ]);
    await clock.runFor(2500);
    await stopAll(s, clock);
  });

  it('reads the target list at every pass, so agents added later are checked', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock);
    const targets = [f.target('a')];
    const s = new PollingStrategy({ intervalMs: 1000, clock, onError: f.onError });
    s.start(() => targets);
    await clock.runFor(500);
    targets.push(f.target('b'));
    await clock.runFor(1000);
    expect(f.log.filter((l) => l.endsWith('start'))).toEqual([
      '0 a start',
      '1000 a start',
      '1000 b start',
    ]);
    await stopAll(s, clock);
  });

  it('a check that throws or rejects is reported and the pass and the next passes go on', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock);
    const targets = [
      f.target('thrower', { fail: 'throw' }),
      f.target('rejecter', { fail: 'reject' }),
      f.target('fine'),
    ];
    const s = new PollingStrategy({ intervalMs: 1000, clock, onError: f.onError });
    s.start(() => targets);
    await clock.runFor(1000);
    expect(f.errors).toEqual([
      '0 thrower Error: thrower threw',
      '0 rejecter Error: rejecter rejected',
      '1000 thrower Error: thrower threw',
      '1000 rejecter Error: rejecter rejected',
    ]);
    expect(f.log.filter((l) => l.includes('fine'))).toEqual([
      '0 fine start',
      '0 fine end',
      '1000 fine start',
      '1000 fine end',
    ]);
    await stopAll(s, clock);
  });

  it('a check that hangs is reported after the timeout (twice the interval by default) and the pass moves on', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock);
    const targets = [f.target('hanger', { hang: true }), f.target('next')];
    const s = new PollingStrategy({ intervalMs: 1000, clock, onError: f.onError });
    s.start(() => targets);
    await clock.runFor(1999);
    expect(f.errors).toEqual([]);
    expect(f.log).toEqual(['0 hanger start']);
    await clock.runFor(1);
    expect(f.errors).toEqual(['2000 hanger check_timeout']);
    // The pass overran, so the next one starts at once; the abandoned check does not block it.
    expect(f.log).toEqual([
      '0 hanger start',
      '2000 next start',
      '2000 next end',
      '2000 hanger start',
    ]);
    await clock.runFor(2000);
    await stopAll(s, clock);
  });

  it('an error sink that throws does not stop the checks', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock);
    const targets = [f.target('thrower', { fail: 'throw' }), f.target('fine')];
    const s = new PollingStrategy({
      intervalMs: 1000,
      clock,
      onError: () => {
        throw new Error('sink bug');
      },
    });
    s.start(() => targets);
    await clock.runFor(1000);
    expect(f.log.filter((l) => l.includes('fine start'))).toEqual([
      '0 fine start',
      '1000 fine start',
    ]);
    await stopAll(s, clock);
  });

  it('stop waits for the check in flight, drops the rest of the pass and schedules nothing more', async () => {
    const clock = new ManualClock(T0);
    const f = fleet(clock);
    const targets = [f.target('a', { ms: 500 }), f.target('b')];
    const s = new PollingStrategy({ intervalMs: 1000, clock, onError: f.onError });
    s.start(() => targets);
    await clock.runFor(100);
    let stopped = false;
    void s.stop().then(() => (stopped = true));
    await clock.runFor(300);
    expect(stopped).toBe(false);
    await clock.runFor(100);
    expect(stopped).toBe(true);
    await clock.runFor(5000);
    expect(f.log).toEqual(['0 a start', '500 a end']);
    expect(clock.pending()).toEqual([]);
  });

  it('is started once: a second start throws already_started', async () => {
    const clock = new ManualClock(T0);
    const s = new PollingStrategy({ intervalMs: 1000, clock, onError: () => {} });
    s.start(() => []);
    expect(() => s.start(() => [])).toThrow(
      expect.objectContaining({ code: 'already_started' }) as Error,
    );
    await stopAll(s, clock);
  });
});
