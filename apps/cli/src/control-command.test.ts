import { describe, expect, it } from 'vitest';
import { alreadyThere, formatLifecycle, lifecycleVerdict } from './control-command.js';

describe('lifecycleVerdict', () => {
  it('a restart passes through stopped and exited, and is done once started', () => {
    expect(lifecycleVerdict('restart', { action: 'stopped' })).toBe('progress');
    expect(lifecycleVerdict('restart', { action: 'exited' })).toBe('progress');
    expect(lifecycleVerdict('restart', { action: 'started' })).toBe('done');
  });

  it('a start is done once started; a restart_scheduled on the way is progress', () => {
    expect(lifecycleVerdict('start', { action: 'restart_scheduled' })).toBe('progress');
    expect(lifecycleVerdict('start', { action: 'started' })).toBe('done');
  });

  it('a stop is done on stopped, not on started', () => {
    expect(lifecycleVerdict('stop', { action: 'started' })).toBe('progress');
    expect(lifecycleVerdict('stop', { action: 'stopped' })).toBe('done');
  });

  it('an open circuit fails a start or restart', () => {
    expect(lifecycleVerdict('start', { action: 'circuit_open' })).toBe('failed');
    expect(lifecycleVerdict('restart', { action: 'circuit_open' })).toBe('failed');
  });
});

describe('formatLifecycle', () => {
  it('names the action, the facts and the reason on one line', () => {
    expect(
      formatLifecycle('worker-1', {
        action: 'restart_scheduled',
        exitCode: 1,
        attempt: 2,
        delayMs: 2000,
        reason: 'exited with code 1\nrestart 2 of 5',
      }),
    ).toBe(
      'worker-1: restart_scheduled (exit code 1, attempt 2, in 2s) — exited with code 1 restart 2 of 5',
    );
    expect(formatLifecycle('w', { action: 'started', pid: 42 })).toBe('w: started (pid 42)');
    expect(formatLifecycle('w', { action: 'stopped', signal: 'SIGTERM', exitCode: null })).toBe(
      'w: stopped (SIGTERM)',
    );
  });
});

describe('alreadyThere', () => {
  it('a start of an agent whose process is up, or a stop of a stopped one, has nothing to wait for', () => {
    for (const s of ['starting', 'running', 'idle', 'busy', 'needs_input', 'rate_limited']) {
      expect(alreadyThere('start', s)).toBe(true);
    }
    expect(alreadyThere('stop', 'stopped')).toBe(true);
  });

  it('waits for a start of a stopped, failed, restarting or never-seen agent, and for every restart', () => {
    for (const s of ['stopped', 'failed', 'restarting', 'unresponsive', null, undefined]) {
      expect(alreadyThere('start', s)).toBe(false);
    }
    expect(alreadyThere('stop', 'running')).toBe(false);
    expect(alreadyThere('restart', 'running')).toBe(false);
  });
});
