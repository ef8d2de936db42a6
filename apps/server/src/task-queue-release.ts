import type { StoredEvent } from '@warden/protocol';
import type { Logger } from 'pino';
import type { Bus } from './bus.js';
import type { TaskQueue } from './task-queue.js';

/** `agent_lifecycle` actions after which the agent holds nothing any more. */
const GONE_ACTIONS = new Set(['exited', 'stopped', 'circuit_open']);
/** `health_changed` checks that mean the agent is hung on its task (SPEC §9 `on_hung`). */
const HUNG_CHECKS = new Set(['task_stale', 'task_duration']);

const text = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : undefined;

/**
 * Why the agent of `ev` can no longer work on its leased tasks, or undefined when `ev` says
 * nothing of the kind. Matched on the type string and data fields, so it needs no protocol
 * schema for the system types of SPEC §12:
 * - `agent_lifecycle` with action `exited`, `stopped` or `circuit_open`;
 * - `health_changed` with check `task_stale` or `task_duration` and health `critical`;
 * - `agent_status_update` with status `failed`.
 */
export function agentFailureReason(ev: StoredEvent): string | undefined {
  const type = ev.type as string;
  const data = ev.data as Record<string, unknown>;
  const agent = `agent ${ev.agentId}`;
  if (type === 'agent_lifecycle' && GONE_ACTIONS.has(data.action as string)) {
    const why = text(data.reason);
    const what =
      data.action === 'circuit_open'
        ? 'opened its circuit'
        : data.action === 'exited'
          ? `exited${typeof data.exitCode === 'number' ? ` with code ${data.exitCode}` : ''}${text(data.signal) ? ` on ${String(data.signal)}` : ''}`
          : 'was stopped';
    return `${agent} ${what}${why ? `: ${why}` : ''}`;
  }
  if (type === 'health_changed' && HUNG_CHECKS.has(data.check as string)) {
    if (data.health !== 'critical') return undefined;
    const why = text(data.reason);
    return `${agent} is hung (${String(data.check)})${why ? `: ${why}` : ''}`;
  }
  if (type === 'agent_status_update' && data.status === 'failed') {
    const why = text(data.message);
    return `${agent} failed${why ? `: ${why}` : ''}`;
  }
  return undefined;
}

/**
 * Watches every committed event (on every replica: the bus carries them all) and returns the
 * leased tasks of an agent that failed, hung or opened its circuit to their queues at once.
 * Releases are idempotent, so replicas that all see the event do no harm. Returns the
 * unsubscribe function.
 */
export function releaseTasksOnAgentFailure(
  bus: Pick<Bus, 'subscribe'>,
  queue: Pick<TaskQueue, 'releaseAgentTasks'>,
  log: Pick<Logger, 'error'>,
): () => void {
  return bus.subscribe((messages) => {
    for (const m of messages) {
      const reason = agentFailureReason(m.event);
      if (reason === undefined) continue;
      const agentId = m.event.agentId;
      queue.releaseAgentTasks(agentId, reason).catch((err: unknown) => {
        // Not lost for good: the leases still expire and go back then.
        log.error({ err, agentId }, 'queue: releasing the tasks of a failed agent failed');
      });
    }
  });
}
