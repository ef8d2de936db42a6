import type { Command } from 'commander';
import {
  AGENT_ACTIONS,
  AgentIdSchema,
  parseDuration,
  type AgentAction,
  type AgentCommand,
} from '@warden/protocol';
import { processIo, type CliIo } from './cli-io.js';
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
  /** Print one {@link ControlOutcome} as JSON instead of the steps. */
  json?: boolean;
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
  ts: number;
  type: string;
  agentId: string;
  data: LifecycleData;
}

/** Between polls of the event log while waiting. */
const POLL_MS = 250;

/** A lifecycle event seen while waiting, as `--json` lists it: its seq and time, then its data. */
export type SeenLifecycle = { seq: number; ts: number } & LifecycleData;

/**
 * How a control command ended: `accepted` (sent, not waited for: `--no-wait`), `done` (the
 * outcome asked for arrived), `already` (the agent was already there: nothing to wait for),
 * `failed` (its circuit opened), `timeout` (no outcome in time), `error` (refused or not sent).
 */
export type ControlVerdict = 'accepted' | 'done' | 'already' | 'failed' | 'timeout' | 'error';

/** The machine-readable outcome of `warden start|stop|restart ID --json`. */
export interface ControlOutcome {
  action: AgentAction;
  agentId: string;
  /** The command the hub accepted (202); null when it was refused before. */
  command: Partial<AgentCommand> | null;
  outcome: ControlVerdict;
  /** True for `accepted`, `done` and `already` (exit 0). */
  ok: boolean;
  /** The agent's status before the command, as the hub last heard it (when waiting). */
  statusBefore: string | null;
  /** Every lifecycle event of the agent after the command, in order. */
  events: SeenLifecycle[];
  /** The event that ended the wait (`done` or `failed`), else null. */
  final: SeenLifecycle | null;
  /** The wait's limit, ms (when waiting). */
  timeoutMs: number | null;
  /** Why it failed, as the one line on stderr says it. */
  error?: { code: string; status: number | null; message: string };
}

/** What {@link runControl} reports as it goes (the text output prints each at once). */
export interface ControlProgress {
  accepted?(cmd: Partial<AgentCommand>): void;
  event?(e: SeenLifecycle, verdict: LifecycleVerdict): void;
}

/**
 * Sends `action` for `agentId` and, with `wait`, follows the agent's lifecycle events until
 * the outcome (see {@link lifecycleVerdict}) or `timeoutMs`. Resolves with the outcome; a
 * refusal or a failure to reach the hub throws ({@link HubClientError}) with `partial` (the
 * command, when it was accepted) filled in for the caller's report.
 */
export async function runControl(
  client: HubClient,
  action: AgentAction,
  agentId: string,
  opts: {
    wait: boolean;
    timeoutMs: number;
    sleep?: (ms: number) => Promise<void>;
    now?: () => number;
    progress?: ControlProgress;
    /** Filled in as the command goes, so a caller can report how far it got when it throws. */
    partial?: ControlOutcome;
  },
): Promise<ControlOutcome> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  const out: ControlOutcome = opts.partial ?? emptyOutcome(action, agentId);
  out.timeoutMs = opts.wait ? opts.timeoutMs : null;
  const path = `/api/v1/agents/${encodeURIComponent(agentId)}`;
  // The head before the command: every outcome of it has a higher seq.
  const since = opts.wait
    ? (await client.get<{ system: { head: number } }>('/api/v1/dashboard')).system.head
    : 0;
  const status = opts.wait ? await currentStatus(client, path) : undefined;
  out.statusBefore = status ?? null;
  const cmd = await client.post<Partial<AgentCommand>>(`${path}/${action}`);
  out.command = cmd;
  opts.progress?.accepted?.(cmd);
  const finish = (outcome: ControlVerdict): ControlOutcome => {
    out.outcome = outcome;
    out.ok = outcome === 'accepted' || outcome === 'done' || outcome === 'already';
    return out;
  };
  if (!opts.wait) return finish('accepted');
  if (alreadyThere(action, status)) return finish('already');

  const deadline = now() + opts.timeoutMs;
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
      const seen: SeenLifecycle = { seq: e.seq, ts: e.ts, ...e.data };
      out.events.push(seen);
      const verdict = lifecycleVerdict(action, e.data);
      opts.progress?.event?.(seen, verdict);
      if (verdict === 'progress') continue;
      out.final = seen;
      return finish(verdict === 'done' ? 'done' : 'failed');
    }
    if (page.events.length === 100) continue;
    if (now() >= deadline) return finish('timeout');
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - now())));
  }
}

function emptyOutcome(action: AgentAction, agentId: string): ControlOutcome {
  return {
    action,
    agentId,
    command: null,
    outcome: 'error',
    ok: false,
    statusBefore: null,
    events: [],
    final: null,
    timeoutMs: null,
  };
}

/**
 * `warden start|stop|restart ID`: `POST /api/v1/agents/:id/<action>`, then (unless
 * `--no-wait`) polls `GET /api/v1/events?agentId=ID&type=agent_lifecycle&since=<head before
 * the command>` until the outcome arrives, printing each step; with `--json`, nothing but one
 * {@link ControlOutcome} object at the end (the one-line reason still goes to stderr). Exit 0
 * on the outcome asked for, 1 when the circuit opens, the wait times out or the server refuses
 * (409 when no supervisor manages the agent), 64 for a bad id or duration (no JSON then).
 */
export async function control(
  action: AgentAction,
  agentId: string,
  flags: ControlFlags,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => number = Date.now,
  io: CliIo = processIo(),
): Promise<number> {
  if (!AgentIdSchema.safeParse(agentId).success) {
    io.stderr.write(
      `warden: ${JSON.stringify(agentId)} is not an agent id (letters, digits, _ . : -)\n`,
    );
    return EXIT.usage;
  }
  const timeoutMs = parseDuration(flags.timeout);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    io.stderr.write(
      `warden: --timeout ${JSON.stringify(flags.timeout)} is not a duration (e.g. 30s, 2m)\n`,
    );
    return EXIT.usage;
  }
  const text = !flags.json;
  const say = (line: string) => {
    if (text) io.stdout.write(line + '\n');
  };
  const partial = emptyOutcome(action, agentId);
  let out: ControlOutcome;
  try {
    const client = await HubClient.connect(flags);
    out = await runControl(client, action, agentId, {
      wait: flags.wait,
      timeoutMs,
      sleep,
      now,
      partial,
      progress: {
        accepted: (cmd) => say(`${action} of ${agentId} requested (command ${cmd.id ?? '?'})`),
        event: (e, verdict) => {
          if (verdict !== 'failed') say(formatLifecycle(agentId, e));
        },
      },
    });
  } catch (err) {
    const code = reportClientError(err, io.stderr);
    if (flags.json) {
      partial.error = {
        code: err instanceof HubClientError ? err.code : 'invalid_config',
        status: err instanceof HubClientError ? (err.status ?? null) : null,
        message: (err as Error).message,
      };
      io.stdout.write(JSON.stringify(partial, null, 2) + '\n');
    }
    return code;
  }
  const seconds = Math.round(timeoutMs / 1000);
  if (out.outcome === 'already')
    say(`${agentId} was already ${out.statusBefore}: nothing to wait for`);
  if (out.outcome === 'failed') {
    io.stderr.write(
      `warden: ${action} of ${agentId} failed: ${formatLifecycle(agentId, out.final!)}\n`,
    );
  }
  if (out.outcome === 'timeout') {
    io.stderr.write(
      `warden: no outcome of ${action} ${agentId} within ${seconds}s (command ${out.command?.id ?? '?'} was sent; see warden agents)\n`,
    );
  }
  if (flags.json) io.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return out.ok ? EXIT.ok : EXIT.failure;
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

/** Registers `warden start|stop|restart ID` on `program`; `done` receives the exit code. */
export function registerControlCommands(program: Command, done: (code: number) => void): void {
  for (const action of AGENT_ACTIONS) {
    clientOptions(
      program
        .command(`${action} <id>`)
        .description(`${action} a supervised agent (waits for the outcome unless --no-wait)`)
        .option('--no-wait', 'return once the command is accepted')
        .option('--timeout <duration>', 'how long to wait for the outcome', '30s')
        .option(
          '--json',
          'print the outcome (command, lifecycle events, verdict) as one JSON object',
        ),
    ).action(async (id: string, opts: Record<string, unknown>) => {
      done(
        await control(action, id, {
          ...clientFlags(opts),
          wait: opts.wait !== false,
          timeout: typeof opts.timeout === 'string' ? opts.timeout : '30s',
          json: opts.json === true,
        }),
      );
    });
  }
}
