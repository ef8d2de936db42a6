import type { Command } from 'commander';
import {
  AGENT_ACTIONS,
  AgentIdSchema,
  parseDuration,
  type AgentAction,
  type AgentCommand,
} from '@warden/protocol';
import { EXIT } from './exit-codes.js';
import {
  HubClient,
  HubClientError,
  clientFlags,
  clientOptions,
  reportClientError,
  type ClientFlags,
} from './hub-client.js';

/** Flags of `warden start|stop|restart ID`. */
export interface ControlFlags extends ClientFlags {
  /** Wait for the outcome (an `agent_lifecycle` event). @defaultValue true */
  wait: boolean;
  /** How long to wait, e.g. `30s`. @defaultValue "30s" */
  timeout: string;
}

/** The `data` of an `agent_lifecycle` event (SPEC §12), as far as the CLI reads it. */
export interface LifecycleData {
  action: string;
  pid?: number;
  exitCode?: number | null;
  signal?: string | null;
  attempt?: number;
  delayMs?: number;
  reason?: string;
}

/** What one lifecycle event means for a command waiting on it. */
export type LifecycleVerdict = 'done' | 'failed' | 'progress';

/**
 * Whether `event` ends the wait for `action`: `start` and `restart` end when the agent has
 * `started` (a restart passes through `stopped` first) and fail when its circuit opens;
 * `stop` ends on `stopped`. Anything else on the way (`exited`, `restart_scheduled`, …) is
 * progress worth printing.
 */
export function lifecycleVerdict(action: AgentAction, event: LifecycleData): LifecycleVerdict {
  if (event.action === 'circuit_open') return 'failed';
  if (action === 'stop') return event.action === 'stopped' ? 'done' : 'progress';
  return event.action === 'started' ? 'done' : 'progress';
}

/** Statuses of an agent whose process is up: a `start` of it changes nothing. */
const UP_STATUSES = new Set(['starting', 'running', 'idle', 'busy', 'needs_input', 'rate_limited']);

/**
 * Whether an agent with `status` is already where `action` would take it, so no lifecycle
 * event will follow (the supervisor does nothing for a start of a running agent or a stop
 * of a stopped one) and waiting for one would only time out.
 */
export function alreadyThere(action: AgentAction, status: string | null | undefined): boolean {
  if (action === 'start') return status != null && UP_STATUSES.has(status);
  if (action === 'stop') return status === 'stopped';
  return false;
}

/** One line for a lifecycle event: `worker-1: started (pid 4242) — reason`. */
export function formatLifecycle(agentId: string, d: LifecycleData): string {
  const facts: string[] = [];
  if (d.pid !== undefined) facts.push(`pid ${d.pid}`);
  if (d.exitCode !== undefined && d.exitCode !== null) facts.push(`exit code ${d.exitCode}`);
  if (d.signal) facts.push(d.signal);
  if (d.attempt !== undefined) facts.push(`attempt ${d.attempt}`);
  if (d.delayMs !== undefined) facts.push(`in ${Math.round(d.delayMs / 100) / 10}s`);
  const paren = facts.length > 0 ? ` (${facts.join(', ')})` : '';
  const reason = d.reason ? ` — ${d.reason.replace(/\s+/g, ' ')}` : '';
  return `${agentId}: ${d.action}${paren}${reason}`;
}

interface StoredLifecycle {
  seq: number;
  type: string;
  agentId: string;
  data: LifecycleData;
}

/** Between polls of the event log while waiting. */
const POLL_MS = 250;

/**
 * `warden start|stop|restart ID`: `POST /api/v1/agents/:id/<action>`, then (unless
 * `--no-wait`) polls `GET /api/v1/events?agentId=ID&type=agent_lifecycle&since=<head before
 * the command>` until the outcome arrives. Exit 0 on the outcome asked for, 1 when the
 * circuit opens, the wait times out or the server refuses (409 when no supervisor manages
 * the agent), 64 for a bad id or duration.
 */
export async function control(
  action: AgentAction,
  agentId: string,
  flags: ControlFlags,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => number = Date.now,
): Promise<number> {
  if (!AgentIdSchema.safeParse(agentId).success) {
    process.stderr.write(
      `warden: ${JSON.stringify(agentId)} is not an agent id (letters, digits, _ . : -)\n`,
    );
    return EXIT.usage;
  }
  const timeoutMs = parseDuration(flags.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    process.stderr.write(
      `warden: --timeout ${JSON.stringify(flags.timeout)} is not a duration (e.g. 30s, 2m)\n`,
    );
    return EXIT.usage;
  }
  try {
    const client = await HubClient.connect(flags);
    const path = `/api/v1/agents/${encodeURIComponent(agentId)}`;
    // The head before the command: every outcome of it has a higher seq.
    const since = flags.wait
      ? (await client.get<{ system: { head: number } }>('/api/v1/dashboard')).system.head
      : 0;
    const status = flags.wait ? await currentStatus(client, path) : undefined;
    const cmd = await client.post<Partial<AgentCommand>>(`${path}/${action}`);
    process.stdout.write(`${action} of ${agentId} requested (command ${cmd.id ?? '?'})\n`);
    if (!flags.wait) return EXIT.ok;
    if (alreadyThere(action, status)) {
      process.stdout.write(`${agentId} was already ${status}: nothing to wait for\n`);
      return EXIT.ok;
    }
    return await waitForOutcome(client, action, agentId, since, timeoutMs, sleep, now, cmd.id);
  } catch (err) {
    return reportClientError(err);
  }
}

/** The agent's status as the hub last heard it; undefined for an agent it has not seen. */
async function currentStatus(client: HubClient, path: string): Promise<string | undefined> {
  try {
    const body = await client.get<{ agent?: { status?: string | null } }>(path);
    return body.agent?.status ?? undefined;
  } catch (err) {
    // Unknown to the hub (never reported yet): the command route decides what happens.
    if (err instanceof HubClientError && err.code === 'not_found') return undefined;
    throw err;
  }
}

async function waitForOutcome(
  client: HubClient,
  action: AgentAction,
  agentId: string,
  since: number,
  timeoutMs: number,
  sleep: (ms: number) => Promise<void>,
  now: () => number,
  commandId: string | undefined,
): Promise<number> {
  const deadline = now() + timeoutMs;
  let cursor = since;
  for (;;) {
    const page = await client.get<{ events: StoredLifecycle[] }>('/api/v1/events', {
      agentId,
      type: 'agent_lifecycle',
      since: cursor,
      limit: 100,
    });
    for (const e of page.events) {
      cursor = e.seq;
      const verdict = lifecycleVerdict(action, e.data);
      if (verdict === 'progress') {
        process.stdout.write(formatLifecycle(agentId, e.data) + '\n');
        continue;
      }
      const text = formatLifecycle(agentId, e.data);
      if (verdict === 'done') {
        process.stdout.write(text + '\n');
        return EXIT.ok;
      }
      process.stderr.write(`warden: ${action} of ${agentId} failed: ${text}\n`);
      return EXIT.failure;
    }
    if (page.events.length === 100) continue;
    if (now() >= deadline) {
      process.stderr.write(
        `warden: no outcome of ${action} ${agentId} within ${Math.round(timeoutMs / 1000)}s (command ${commandId ?? '?'} was sent; see warden agents)\n`,
      );
      return EXIT.failure;
    }
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - now())));
  }
}

/** Registers `warden start|stop|restart ID` on `program`; `done` receives the exit code. */
export function registerControlCommands(program: Command, done: (code: number) => void): void {
  for (const action of AGENT_ACTIONS) {
    clientOptions(
      program
        .command(`${action} <id>`)
        .description(`${action} a supervised agent (waits for the outcome unless --no-wait)`)
        .option('--no-wait', 'return once the command is accepted')
        .option('--timeout <duration>', 'how long to wait for the outcome', '30s'),
    ).action(async (id: string, opts: Record<string, unknown>) => {
      done(
        await control(action, id, {
          ...clientFlags(opts),
          wait: opts.wait !== false,
          timeout: typeof opts.timeout === 'string' ? opts.timeout : '30s',
        }),
      );
    });
  }
}
