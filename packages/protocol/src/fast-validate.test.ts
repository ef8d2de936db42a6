import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AGENT_STATUSES, HEALTHS } from './agent.js';
import {
  EVENT_TYPES,
  EventInputSchema,
  HEALTH_CHECKS,
  LIFECYCLE_ACTIONS,
  LOG_LEVELS,
  LOG_STREAMS,
  SEVERITIES,
  SYSTEM_EVENT_TYPES,
} from './event.js';
import { fastValidateEvent } from './fast-validate.js';

const now = 1_763_791_200_000;

/** Values near the edges of what each field accepts, plus wrong types. */
const anyValue = fc.oneof(
  fc.string({ maxLength: 5 }),
  fc.constantFrom(
    '',
    'x'.repeat(129),
    'x'.repeat(257),
    'x'.repeat(4097),
    'running',
    'Bad Key',
    'cpu_percent',
  ),
  fc.double(),
  fc.integer(),
  fc.constantFrom(-1, 0, 253402300799999, 253402300800000, 1.5, -0),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);

const metrics = fc.dictionary(
  fc.oneof(
    fc.constantFrom('cpu_percent', 'memory_mb', 'a', 'A', '1x', 'x-y', ''),
    fc.string({ maxLength: 6 }),
  ),
  fc.oneof(fc.double(), fc.integer(), fc.constant(null), fc.string({ maxLength: 2 })),
  { maxKeys: 3 },
);

/** Mostly a valid value, sometimes a hostile one, sometimes absent. */
const field = (valid: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 8, arbitrary: valid },
    { weight: 1, arbitrary: anyValue },
    { weight: 2, arbitrary: fc.constant(undefined) },
  );
const str = (max: number) => fc.string({ maxLength: max });
/** Usually `good`, sometimes one of the edge values just past what the schema takes. */
const mostly = (good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 9, arbitrary: good }, { weight: 1, arbitrary: bad });
/** Like `field`, valid more often: the system types have more fields to get right at once. */
const often = (valid: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 24, arbitrary: valid },
    { weight: 1, arbitrary: anyValue },
    { weight: 2, arbitrary: fc.constant(undefined) },
  );

const dataByType: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  agent_status_update: fc.record({
    status: field(fc.constantFrom(...AGENT_STATUSES)),
    message: field(str(10)),
    meta: field(fc.dictionary(str(3), fc.integer(), { maxKeys: 2 })),
    extra: field(anyValue),
  }),
  task_assigned: fc.record({
    taskId: field(fc.string({ minLength: 1, maxLength: 5 })),
    name: field(str(5)),
    queue: field(str(5)),
    priority: field(fc.double()),
  }),
  task_completed: fc.record({
    taskId: field(fc.string({ minLength: 1, maxLength: 5 })),
    success: field(fc.boolean()),
    durationMs: field(fc.double()),
    error: field(str(5)),
    result: field(anyValue),
  }),
  error_occurred: fc.record({
    errorType: field(fc.string({ minLength: 1, maxLength: 5 })),
    message: field(str(5)),
    stack: field(str(5)),
    taskId: field(str(3)),
    fatal: field(fc.boolean()),
    fingerprint: field(str(5)),
  }),
  metric_update: fc.record({ metrics: field(metrics), extra: field(anyValue) }),
  log: fc.record({
    level: often(fc.constantFrom(...LOG_LEVELS, 'warning', 'INFO')),
    message: often(fc.oneof(str(8), fc.constant('x'.repeat(65_537)))),
    stream: often(fc.constantFrom(...LOG_STREAMS, 'stdin')),
    extra: often(anyValue),
  }),
  task_progress: fc.record({
    taskId: often(fc.string({ minLength: 1, maxLength: 5 })),
    percent: often(fc.oneof(fc.double(), fc.constantFrom(0, 100, 100.5, -0.1, 42.5))),
    message: often(str(5)),
  }),
  agent_lifecycle: fc.record({
    action: often(fc.constantFrom(...LIFECYCLE_ACTIONS, 'crashed')),
    pid: often(mostly(fc.integer({ min: 1, max: 70_000 }), fc.constantFrom(0, -1, 2 ** 53))),
    exitCode: often(
      mostly(fc.oneof(fc.integer({ min: -255, max: 255 }), fc.constant(null)), fc.constant(1.5)),
    ),
    signal: often(
      mostly(
        fc.oneof(fc.constantFrom('SIGTERM', 'SIGKILL'), fc.constant(null)),
        fc.constant('x'.repeat(65)),
      ),
    ),
    attempt: often(mostly(fc.integer({ min: 0, max: 10 }), fc.constantFrom(-1, 2 ** 53 + 2))),
    delayMs: often(mostly(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constantFrom(-1, -0.5))),
    reason: often(mostly(fc.string({ minLength: 1, maxLength: 8 }), fc.constant(''))),
  }),
  health_changed: fc.record({
    check: often(fc.constantFrom(...HEALTH_CHECKS, 'disk')),
    health: often(fc.constantFrom(...HEALTHS, 'green')),
    previous: often(fc.constantFrom(...HEALTHS)),
    reason: often(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constant(''))),
  }),
  escalation: fc.record({
    reason: often(fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constant(''))),
    severity: often(fc.constantFrom(...SEVERITIES, 'info')),
    attempts: often(fc.oneof(fc.integer({ min: -1, max: 10 }), fc.double())),
  }),
};

const event = fc
  .constantFrom(...EVENT_TYPES)
  .chain((type) =>
    fc.record({
      id: field(fc.string({ minLength: 1, maxLength: 8 })),
      type: fc.oneof(
        { weight: 9, arbitrary: fc.constant<unknown>(type) },
        { weight: 1, arbitrary: anyValue },
      ),
      agentId: field(fc.constantFrom('deva_python', 'a:b.c-d', '-bad', 'x'.repeat(129))),
      ts: field(
        fc.oneof(
          fc.integer({ min: 0, max: 2 ** 45 }),
          fc.double(),
          fc.constant('2025-11-22T06:00:00Z'),
        ),
      ),
      correlationId: field(fc.string({ maxLength: 3 })),
      data: fc.oneof(
        { weight: 9, arbitrary: dataByType[type]! },
        { weight: 1, arbitrary: anyValue },
      ),
      bogus: fc.oneof(
        { weight: 9, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: anyValue },
      ),
    }),
  )
  // Absent means absent: JSON has no undefined values.
  .map((e) => JSON.parse(JSON.stringify(e)) as unknown);

/** A system-type event in a valid envelope, so each data generator reaches both sides. */
const systemEvent = fc
  .constantFrom(...SYSTEM_EVENT_TYPES)
  .chain((type) =>
    fc.record({
      id: fc.string({ minLength: 1, maxLength: 8 }),
      type: fc.constant(type),
      agentId: fc.constant('worker-1'),
      ts: fc.integer({ min: 0, max: 2 ** 45 }),
      data: dataByType[type]!,
    }),
  )
  .map((e) => JSON.parse(JSON.stringify(e)) as unknown);

describe('fastValidateEvent', () => {
  it('accepts only what the zod schema accepts, with the same result', () => {
    let accepted = 0;
    fc.assert(
      fc.property(event, (input) => {
        const fast = fastValidateEvent(input as Record<string, unknown>, now);
        if (fast === undefined) return;
        accepted++;
        const slow = EventInputSchema.safeParse(input);
        expect(slow.success).toBe(true);
        const expected = { ...slow.data, ts: slow.data!.ts ?? now };
        expect(fast).toEqual(expected);
      }),
      { numRuns: 30_000 },
    );
    // The generator must reach the accepting side often enough for this to mean something.
    expect(accepted).toBeGreaterThan(300);
  });

  it('agrees with the schema on system types, and reaches both sides of each', () => {
    const sides = new Map<string, { fast: number; refused: number }>();
    fc.assert(
      fc.property(systemEvent, (input) => {
        const type = (input as { type: string }).type;
        const slow = EventInputSchema.safeParse(input);
        const fast = fastValidateEvent(input as Record<string, unknown>, now);
        if (fast) {
          expect(slow.success).toBe(true);
          expect(fast).toEqual(slow.data);
        }
        const s = sides.get(type) ?? { fast: 0, refused: 0 };
        if (fast) s.fast++;
        if (!slow.success) s.refused++;
        sides.set(type, s);
      }),
      { numRuns: 10_000 },
    );
    for (const type of SYSTEM_EVENT_TYPES) {
      const s = sides.get(type)!;
      expect({ type, fast: s.fast > 100, refused: s.refused > 100 }).toEqual({
        type,
        fast: true,
        refused: true,
      });
    }
  });

  it('takes a typical event of each system type', () => {
    const base = { id: 'e', agentId: 'a', ts: 1 };
    const typical: Record<string, Record<string, unknown>> = {
      log: { level: 'info', message: 'listening on :9000', stream: 'stdout' },
      task_progress: { taskId: 't', percent: 40, message: 'epoch 4/10' },
      agent_lifecycle: {
        action: 'restart_scheduled',
        pid: 4242,
        exitCode: null,
        signal: 'SIGKILL',
        attempt: 2,
        delayMs: 2000,
        reason: 'was killed by SIGKILL (on-failure): restart 2 in 2.0s',
      },
      health_changed: {
        check: 'memory',
        health: 'critical',
        previous: 'healthy',
        reason: 'tree RSS 1.2 GiB over 1 GiB for 2m',
      },
      escalation: { reason: 'circuit open after 5 restarts in 10m', severity: 'critical' },
    };
    for (const [type, data] of Object.entries(typical)) {
      expect({ type, fast: fastValidateEvent({ ...base, type, data }, now) }).toEqual({
        type,
        fast: { ...base, type, data },
      });
    }
  });

  it('takes a typical event of each core type', () => {
    const base = { id: 'e', agentId: 'a', ts: 1 };
    expect(
      fastValidateEvent(
        { ...base, type: 'metric_update', data: { metrics: { cpu_percent: 1 } } },
        now,
      ),
    ).toBeDefined();
    expect(
      fastValidateEvent({ ...base, type: 'agent_status_update', data: { status: 'idle' } }, now),
    ).toBeDefined();
    expect(
      fastValidateEvent({ ...base, type: 'task_assigned', data: { taskId: 't' } }, now),
    ).toBeDefined();
    expect(
      fastValidateEvent(
        { ...base, type: 'task_completed', data: { taskId: 't', success: false } },
        now,
      ),
    ).toBeDefined();
    expect(
      fastValidateEvent(
        { ...base, type: 'error_occurred', data: { errorType: 'E', message: '' } },
        now,
      ),
    ).toBeDefined();
  });
});
