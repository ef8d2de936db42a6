import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from './limits.js';
import { exceedsDepth, validateEventBody } from './validate.js';

const now = 1_700_000_000_000;
const ok = (data: Record<string, unknown>, type = 'task_assigned') => ({
  id: 'e-1',
  type,
  agentId: 'deva_python',
  data,
});

describe('validateEventBody', () => {
  it('accepts one event and fills ts with the receive time', () => {
    const r = validateEventBody(ok({ taskId: 't-1' }), { now });
    expect(r).toMatchObject({ ok: true, batch: false, events: [{ ts: now }] });
  });

  it('refuses U+0000 in an id or correlationId, naming the field', () => {
    for (const [key, path] of [
      ['id', '/id'],
      ['correlationId', '/correlationId'],
    ] as const) {
      const r = validateEventBody({ ...ok({ taskId: 't' }), [key]: 'a\u0000b' }, { now });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.code).toBe('invalid_event');
      expect(r.errors).toEqual([{ path, message: 'must not contain U+0000' }]);
    }
  });

  it('normalises an ISO-8601 ts to epoch milliseconds', () => {
    const r = validateEventBody({ ...ok({ taskId: 't' }), ts: '2025-11-22T06:00:00Z' }, { now });
    expect(r.ok && r.events[0]!.ts).toBe(Date.parse('2025-11-22T06:00:00Z'));
  });

  it('names the index and field of the bad event in a batch', () => {
    const events = [ok({ taskId: 'a' }), ok({ taskId: 'b' }), ok({ taskId: 'c' }), ok({})];
    const r = validateEventBody({ events }, { now });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.code).toBe('invalid_event');
    expect(r.errors).toEqual([{ path: '/events/3/data/taskId', message: 'is required (string)' }]);
  });

  it('rejects unknown types, naming /type', () => {
    const r = validateEventBody({ ...ok({}), type: 'nope' }, { now });
    expect(!r.ok && r.errors[0]!.path).toBe('/type');
  });

  it('rejects unknown envelope keys', () => {
    const r = validateEventBody({ ...ok({ taskId: 'x' }), extra: 1 }, { now });
    expect(!r.ok && r.errors[0]!.message).toMatch(/unknown key/);
  });

  it('rejects a bad agent id and a bad metric name', () => {
    const r1 = validateEventBody({ ...ok({ taskId: 'x' }), agentId: '-bad' }, { now });
    expect(!r1.ok && r1.errors[0]!.path).toBe('/agentId');
    const r2 = validateEventBody(ok({ metrics: { 'Bad-Name': 1 } }, 'metric_update'), { now });
    expect(!r2.ok && r2.errors[0]!.path).toMatch(/^\/data\/metrics/);
  });

  it('refuses batches over the event count with payload_too_large', () => {
    const events = Array.from({ length: DEFAULT_LIMITS.maxBatchEvents + 1 }, () =>
      ok({ taskId: 'x' }),
    );
    const r = validateEventBody({ events }, { now });
    expect(!r.ok && r.code).toBe('payload_too_large');
  });

  it('refuses an event over 64 KiB with payload_too_large', () => {
    const r = validateEventBody(
      ok({ errorType: 'E', message: 'x'.repeat(70_000) }, 'error_occurred'),
      { now },
    );
    expect(!r.ok && r.code).toBe('payload_too_large');
  });

  it('refuses deep nesting without overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const r = validateEventBody(ok({ status: 'running', meta: { deep } }, 'agent_status_update'), {
      now,
    });
    expect(!r.ok && r.errors[0]!.message).toMatch(/deeper than/);
  });

  it('rejects an empty batch and a non-object body', () => {
    expect(validateEventBody({ events: [] }, { now }).ok).toBe(false);
    expect(validateEventBody([1, 2], { now }).ok).toBe(false);
    expect(validateEventBody(null, { now }).ok).toBe(false);
  });
});

describe('system event types (SPEC §12)', () => {
  const refused = (type: string, data: Record<string, unknown>) => {
    const r = validateEventBody({ events: [ok({ taskId: 'x' }), ok(data, type)] }, { now });
    expect(r.ok).toBe(false);
    return r.ok ? [] : r.errors;
  };

  it('accepts each system type with its documented fields', () => {
    const events = [
      ok({ level: 'warn', message: 'disk 91% full', stream: 'stderr' }, 'log'),
      ok({ taskId: 't-1', percent: 100, message: 'done' }, 'task_progress'),
      ok(
        { action: 'exited', pid: 77, exitCode: null, signal: 'SIGSEGV', reason: 'crashed' },
        'agent_lifecycle',
      ),
      ok(
        { check: 'heartbeat', health: 'warning', previous: 'unknown', reason: '3 misses' },
        'health_changed',
      ),
      ok({ reason: 'circuit stays open', severity: 'critical', attempts: 3 }, 'escalation'),
    ];
    const r = validateEventBody({ events }, { now });
    expect(r.ok && r.events.map((e) => e.type)).toEqual([
      'log',
      'task_progress',
      'agent_lifecycle',
      'health_changed',
      'escalation',
    ]);
  });

  it('names a lifecycle action that does not exist, and a missing reason', () => {
    const errors = refused('agent_lifecycle', { action: 'crashed' });
    expect(errors.map((e) => e.path)).toEqual(['/events/1/data/action', '/events/1/data/reason']);
    expect(errors[0]!.message).toMatch(/started/);
    expect(errors[1]!.message).toBe('is required (string)');
  });

  it('refuses an empty reason, a fractional exit code and a negative restart delay', () => {
    const errors = refused('agent_lifecycle', {
      action: 'restart_scheduled',
      exitCode: 1.5,
      delayMs: -1,
      reason: '',
    });
    expect(errors.map((e) => e.path).sort()).toEqual([
      '/events/1/data/delayMs',
      '/events/1/data/exitCode',
      '/events/1/data/reason',
    ]);
  });

  it('names a bad log level and stream, an out-of-range percent, a bad check and severity', () => {
    expect(
      refused('log', { level: 'fatal', message: 'x', stream: 'stdin' }).map((e) => e.path),
    ).toEqual(['/events/1/data/level', '/events/1/data/stream']);
    expect(refused('task_progress', { taskId: 't', percent: 101 })[0]!.path).toBe(
      '/events/1/data/percent',
    );
    expect(
      refused('health_changed', {
        check: 'disk',
        health: 'green',
        previous: 'healthy',
        reason: 'r',
      }).map((e) => e.path),
    ).toEqual(['/events/1/data/check', '/events/1/data/health']);
    expect(refused('escalation', { reason: 'r', severity: 'info' })[0]!.path).toBe(
      '/events/1/data/severity',
    );
  });

  it('takes a plugin check as plugin:<name>, and names the rule for any other check', () => {
    const r = validateEventBody(
      ok(
        { check: 'plugin:disk-space', health: 'critical', previous: 'healthy', reason: 'full' },
        'health_changed',
      ),
      { now },
    );
    expect(r.ok).toBe(true);
    const errors = refused('health_changed', {
      check: 'plugin:Disk space',
      health: 'critical',
      previous: 'healthy',
      reason: 'r',
    });
    expect(errors[0]).toMatchObject({ path: '/events/1/data/check' });
    expect(errors[0]!.message).toMatch(/plugin:<name>/);
  });

  it('lists the system types among the allowed ones for an unknown type', () => {
    const r = validateEventBody({ ...ok({}), type: 'lifecycle' }, { now });
    expect(!r.ok && r.errors[0]).toEqual({
      path: '/type',
      message: expect.stringContaining("'agent_lifecycle' | 'health_changed' | 'escalation'"),
    });
  });
});

describe('exceedsDepth', () => {
  it('counts objects and arrays', () => {
    expect(exceedsDepth({ a: { b: [1] } }, 3)).toBe(false);
    expect(exceedsDepth({ a: { b: [[1]] } }, 3)).toBe(true);
  });
});
