import type { z } from 'zod';
import { EVENT_TYPES, EventInputSchema, type WardenEvent } from './event.js';
import { fastValidateEvent } from './fast-validate.js';
import { DEFAULT_LIMITS, type ProtocolLimits } from './limits.js';
import { toPointer, type ValidationIssue } from './problem.js';

/** Most issues reported for one rejected request; the rest are summarised. */
const MAX_ISSUES = 50;

export type EventBodyResult =
  | { ok: true; events: WardenEvent[]; batch: boolean }
  | {
      ok: false;
      code: 'invalid_event' | 'invalid_request' | 'payload_too_large';
      message: string;
      errors: ValidationIssue[];
    };

/** UTF-8 size of a string; Buffer where there is one (Node), TextEncoder in browsers. */
export function utf8Length(s: string): number {
  return typeof Buffer !== 'undefined' ? Buffer.byteLength(s) : new TextEncoder().encode(s).length;
}

export interface ValidateOptions {
  limits?: ProtocolLimits;
  /** Receive time, used for events without `ts`. */
  now: number;
  /**
   * Size in bytes of the raw JSON that held the body, when known. A body no larger than one
   * event's limit cannot hold an oversize event, so the per-event size check is skipped.
   */
  rawBytes?: number;
  /** Prefix for error paths, e.g. `''` for an HTTP body. */
  pathPrefix?: ReadonlyArray<string | number>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Depth of nested objects/arrays, computed without recursion so that hostile input cannot
 * overflow the stack. Stops counting once `limit` is passed.
 */
export function exceedsDepth(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d + 1 > limit) return true;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const c of children) if (typeof c === 'object' && c !== null) stack.push([c, d + 1]);
  }
  return false;
}

function zodIssues(error: z.ZodError, prefix: ReadonlyArray<string | number>): ValidationIssue[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...(issue.path as Array<string | number>)];
    if (issue.code === 'invalid_union' && issue.path.length === 0) {
      return {
        path: toPointer([...path, 'type']),
        message: `must be one of ${EVENT_TYPES.join(', ')}`,
      };
    }
    if (issue.code === 'unrecognized_keys') {
      return {
        path: toPointer(path),
        message: `unknown key(s): ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`,
      };
    }
    if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) {
      return { path: toPointer(path), message: `is required (${issue.expected})` };
    }
    return { path: toPointer(path), message: issue.message };
  });
}

/** Validates one event; returns the normalised event or the issues found. */
export function validateEvent(
  input: unknown,
  opts: ValidateOptions & { path?: ReadonlyArray<string | number> },
): { ok: true; event: WardenEvent } | { ok: false; errors: ValidationIssue[]; tooLarge?: boolean } {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const path = opts.path ?? [];
  if (!isPlainObject(input)) {
    return { ok: false, errors: [{ path: toPointer(path), message: 'must be a JSON object' }] };
  }
  // Envelope + data add two levels to whatever nesting `data` holds.
  if (exceedsDepth(input, limits.maxDepth + 2)) {
    return {
      ok: false,
      errors: [
        {
          path: toPointer([...path, 'data']),
          message: `nests deeper than ${limits.maxDepth} levels`,
        },
      ],
    };
  }
  if (opts.rawBytes === undefined || opts.rawBytes > limits.maxEventBytes) {
    const bytes = utf8Length(JSON.stringify(input));
    if (bytes > limits.maxEventBytes) {
      return {
        ok: false,
        tooLarge: true,
        errors: [
          {
            path: toPointer(path),
            message: `event is ${bytes} bytes, over the limit of ${limits.maxEventBytes}`,
          },
        ],
      };
    }
  }
  const fast = fastValidateEvent(input, opts.now);
  if (fast) return { ok: true, event: fast };
  const parsed = EventInputSchema.safeParse(input);
  if (!parsed.success) return { ok: false, errors: zodIssues(parsed.error, path) };
  const event = parsed.data as WardenEvent;
  if (event.ts === undefined) event.ts = opts.now;
  return { ok: true, event };
}

/**
 * Validates a publish body: one event, or `{ "events": [ … ] }`. A batch is valid only as a
 * whole; every issue found names its JSON Pointer (`/events/3/data/taskId`).
 */
export function validateEventBody(body: unknown, opts: ValidateOptions): EventBodyResult {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const prefix = opts.pathPrefix ?? [];
  if (!isPlainObject(body)) {
    return {
      ok: false,
      code: 'invalid_request',
      message: 'body must be one event object or { "events": [ … ] }',
      errors: [{ path: toPointer(prefix), message: 'must be a JSON object' }],
    };
  }
  if (!('events' in body)) {
    const r = validateEvent(body, { ...opts, path: prefix });
    if (r.ok) return { ok: true, events: [r.event], batch: false };
    return {
      ok: false,
      code: r.tooLarge ? 'payload_too_large' : 'invalid_event',
      message: r.errors.map((e) => `${e.path || '/'}: ${e.message}`).join('; '),
      errors: r.errors,
    };
  }
  const extra = Object.keys(body).filter((k) => k !== 'events');
  const list = body.events;
  if (!Array.isArray(list) || extra.length > 0) {
    const errors: ValidationIssue[] = [];
    if (!Array.isArray(list))
      errors.push({
        path: toPointer([...prefix, 'events']),
        message: 'must be an array of events',
      });
    if (extra.length > 0)
      errors.push({
        path: toPointer(prefix),
        message: `unknown key(s): ${extra.map((k) => JSON.stringify(k)).join(', ')}`,
      });
    return { ok: false, code: 'invalid_request', message: errors[0]!.message, errors };
  }
  if (list.length === 0) {
    const path = toPointer([...prefix, 'events']);
    return {
      ok: false,
      code: 'invalid_request',
      message: 'a batch must hold at least one event',
      errors: [{ path, message: 'must hold at least one event' }],
    };
  }
  if (list.length > limits.maxBatchEvents) {
    const message = `a batch holds at most ${limits.maxBatchEvents} events; this one has ${list.length}`;
    return {
      ok: false,
      code: 'payload_too_large',
      message,
      errors: [{ path: toPointer([...prefix, 'events']), message }],
    };
  }
  const events: WardenEvent[] = [];
  const errors: ValidationIssue[] = [];
  let tooLarge = false;
  let failed = 0;
  for (let i = 0; i < list.length; i++) {
    const r = validateEvent(list[i], { ...opts, path: [...prefix, 'events', i] });
    if (r.ok) {
      events.push(r.event);
      continue;
    }
    failed++;
    tooLarge ||= r.tooLarge === true;
    for (const e of r.errors) if (errors.length < MAX_ISSUES) errors.push(e);
  }
  if (failed > 0) {
    const first = errors[0]!;
    const more = failed > 1 ? ` (and ${failed - 1} more invalid event(s))` : '';
    return {
      ok: false,
      code: tooLarge ? 'payload_too_large' : 'invalid_event',
      message: `batch rejected, nothing stored: ${first.path}: ${first.message}${more}`,
      errors,
    };
  }
  return { ok: true, events, batch: true };
}
