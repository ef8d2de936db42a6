import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AGENT_STATUSES } from './agent.js';
import { EVENT_TYPES, EventInputSchema } from './event.js';
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
      { numRuns: 20_000 },
    );
    // The generator must reach the accepting side often enough for this to mean something.
    expect(accepted).toBeGreaterThan(200);
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
