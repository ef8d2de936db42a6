import { AGENT_ID_PATTERN, AGENT_STATUSES, HEALTHS } from './agent.js';
import {
  HEALTH_CHECKS,
  PLUGIN_CHECK_PATTERN,
  LIFECYCLE_ACTIONS,
  LOG_LEVELS,
  LOG_STREAMS,
  METRIC_NAME_PATTERN,
  SEVERITIES,
  type WardenEvent,
} from './event.js';

/** Largest epoch-ms timestamp accepted (matches TimestampSchema). */
const MAX_TS = 253402300799999;
const ENVELOPE_KEYS = new Set(['id', 'type', 'agentId', 'ts', 'correlationId', 'data']);
const STATUSES: ReadonlySet<string> = new Set(AGENT_STATUSES);
const LEVELS: ReadonlySet<unknown> = new Set(LOG_LEVELS);
const STREAMS: ReadonlySet<unknown> = new Set(LOG_STREAMS);
const ACTIONS: ReadonlySet<unknown> = new Set(LIFECYCLE_ACTIONS);
const CHECKS: ReadonlySet<unknown> = new Set(HEALTH_CHECKS);
const HEALTH: ReadonlySet<unknown> = new Set(HEALTHS);
const SEVERITY: ReadonlySet<unknown> = new Set(SEVERITIES);

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, min: number, max: number): boolean =>
  typeof v === 'string' && v.length >= min && v.length <= max;
const optStr = (v: unknown, min: number, max: number): boolean =>
  v === undefined || str(v, min, max);
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** zod's `.int()` takes safe integers only. */
const int = (v: unknown, min: number): boolean =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const optInt = (v: unknown, min: number): boolean => v === undefined || int(v, min);

function dataOk(type: string, d: Obj): boolean {
  switch (type) {
    case 'metric_update': {
      const m = d.metrics;
      if (!isObj(m)) return false;
      let n = 0;
      for (const k in m) {
        if (!Object.prototype.hasOwnProperty.call(m, k)) continue;
        if (!METRIC_NAME_PATTERN.test(k) || !finite(m[k])) return false;
        n++;
      }
      return n > 0;
    }
    case 'agent_status_update':
      return (
        typeof d.status === 'string' &&
        STATUSES.has(d.status) &&
        optStr(d.message, 0, 4096) &&
        (d.meta === undefined || isObj(d.meta))
      );
    case 'task_assigned':
      return (
        str(d.taskId, 1, 256) &&
        optStr(d.name, 0, 1024) &&
        optStr(d.queue, 0, 256) &&
        (d.priority === undefined || finite(d.priority))
      );
    case 'task_completed':
      return (
        str(d.taskId, 1, 256) &&
        typeof d.success === 'boolean' &&
        (d.durationMs === undefined || (finite(d.durationMs) && d.durationMs >= 0)) &&
        optStr(d.error, 0, Infinity)
      );
    case 'error_occurred':
      return (
        str(d.errorType, 1, 256) &&
        str(d.message, 0, 16384) &&
        optStr(d.stack, 0, Infinity) &&
        optStr(d.taskId, 1, 256) &&
        (d.fatal === undefined || typeof d.fatal === 'boolean') &&
        optStr(d.fingerprint, 0, 256)
      );
    case 'log':
      return (
        LEVELS.has(d.level) &&
        str(d.message, 0, 65_536) &&
        (d.stream === undefined || STREAMS.has(d.stream))
      );
    case 'task_progress':
      return (
        str(d.taskId, 1, 256) &&
        (d.percent === undefined || (finite(d.percent) && d.percent >= 0 && d.percent <= 100)) &&
        optStr(d.message, 0, 4096)
      );
    case 'agent_lifecycle':
      return (
        ACTIONS.has(d.action) &&
        str(d.reason, 1, 4096) &&
        optInt(d.pid, 1) &&
        (d.exitCode === undefined || d.exitCode === null || int(d.exitCode, -Infinity)) &&
        (d.signal === undefined || d.signal === null || str(d.signal, 0, 64)) &&
        optInt(d.attempt, 0) &&
        (d.delayMs === undefined || (finite(d.delayMs) && d.delayMs >= 0)) &&
        optInt(d.maxRestarts, 0)
      );
    case 'health_changed':
      return (
        (CHECKS.has(d.check) ||
          (typeof d.check === 'string' && PLUGIN_CHECK_PATTERN.test(d.check))) &&
        HEALTH.has(d.health) &&
        HEALTH.has(d.previous) &&
        str(d.reason, 1, 4096)
      );
    case 'escalation':
      return SEVERITY.has(d.severity) && str(d.reason, 1, 4096) && optInt(d.attempts, 0);
    default:
      return false;
  }
}

/**
 * The hot path of validation: an event of any known type that is plainly valid is accepted here
 * without building zod's copy. Anything else — an ISO `ts`, an unusual shape, any error —
 * returns undefined and goes through the zod schema, which alone produces error messages. A
 * property test holds this to: whatever it accepts, the schema accepts with the same output.
 */
export function fastValidateEvent(input: Obj, now: number): WardenEvent | undefined {
  for (const k in input) if (!ENVELOPE_KEYS.has(k)) return undefined;
  const { id, type, agentId, ts, correlationId, data } = input;
  if (!str(id, 1, 128) || typeof agentId !== 'string' || !AGENT_ID_PATTERN.test(agentId)) {
    return undefined;
  }
  // U+0000 in an id is refused; zod names it.
  if (
    (id as string).includes('\u0000') ||
    (typeof correlationId === 'string' && correlationId.includes('\u0000'))
  ) {
    return undefined;
  }
  if (ts !== undefined && !(finite(ts) && ts >= 0 && ts <= MAX_TS)) return undefined;
  if (!optStr(correlationId, 1, 128) || typeof type !== 'string' || !isObj(data)) return undefined;
  if (!dataOk(type, data)) return undefined;
  const ev: Obj = { id, type, agentId, ts: ts === undefined ? now : Math.round(ts), data };
  if (correlationId !== undefined) ev.correlationId = correlationId;
  return ev as unknown as WardenEvent;
}
