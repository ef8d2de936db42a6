import { randomBytes } from 'node:crypto';
import { RetryPolicyClient, connect, type WardenClient } from '@warden/sdk';
import type { Clock } from './clock.js';
import { ErrorRetryGuard } from './error-retry-guard.js';
import { systemClock } from './clock.js';
import type { FleetCgroupSetting } from './fleet-cgroup.js';
import type { StrategyFactory } from './monitoring-strategy.js';
import type { PluginHost } from './plugin-host.js';
import type { MonitoringStrategyConfig } from './monitoring-strategy.js';
import type { ResolvedAgentConfig } from './supervisor-config.js';
import type { SupervisorLog, SupervisorReporter } from './supervisor-reporter.js';
import { Supervisor, type AgentCommand, type ReloadResult } from './supervisor.js';
import { TmuxClient, execFileTmuxRunner } from './tmux-client.js';

/** Options of {@link startHubSupervisor}. */
export interface HubSupervisorOptions {
  /** The hub's base URL (`http://127.0.0.1:7070`). */
  url: string;
  /** A supervisor token (role agent, `agent_id: "*"`), or a function asked at each (re)connect. */
  token: string | (() => string | Promise<string>);
  agents: readonly ResolvedAgentConfig[];
  log: SupervisorLog;
  /** `monitoring.check_interval`, ms. @defaultValue 5000 */
  checkIntervalMs?: number;
  /** `monitoring.cgroup` (see `SupervisorOptions.cgroup`). @defaultValue "auto" */
  cgroup?: FleetCgroupSetting;
  strategy?: MonitoringStrategyConfig;
  extraStrategies?: ReadonlyMap<string, StrategyFactory>;
  /** A token for one agent's run. @defaultValue asked of the hub (`POST /api/v1/agents/:id/token`) */
  mintAgentToken?: (agentId: string) => Promise<string>;
  stateFile?: string;
  /** Loaded plugins (checks, strategies, notifiers). */
  plugins?: PluginHost;
  /** `monitoring.tmux.pm_cooldown`, ms. */
  pmCooldownMs?: number;
  /** `monitoring.tmux.team_idle`, ms. */
  teamIdleMs?: number;
  clock?: Clock;
}

/** A supervisor connected to a hub. */
export interface HubSupervisor {
  supervisor: Supervisor;
  client: WardenClient;
  reload(agents: readonly ResolvedAgentConfig[]): Promise<ReloadResult>;
  /** Stops every agent gracefully, flushes what is left to report, disconnects. */
  close(): Promise<void>;
}

/** Heartbeats (which the hub does not store) are read from its agent list at most this often. */
const SEEN_POLL_MIN_MS = 5000;

/**
 * Every event id a supervisor publishes starts with this (then a random part per supervisor
 * process): what comes back with it is the supervisor's report about an agent, never the
 * agent speaking for itself. SDK ids are ULIDs (upper case), so they never do.
 */
export const SUPERVISOR_EVENT_ID_PREFIX = 'sv-';
/**
 * Agent tokens asked of the hub at once. A fleet starting together would otherwise open one
 * connection per agent (fetch opens as many as there are requests in flight), and each of
 * them lingers until its keep-alive times out.
 */
const MINT_CONCURRENCY = 4;

/** Runs at most `n` of the calls given to it at once, the rest in order as others finish. */
function concurrencyLimit(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    // A finishing call hands its slot straight to the next waiter, so none is taken meanwhile.
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/**
 * Runs a {@link Supervisor} as a client of the hub, like any agent (DESIGN "The shape"): what
 * it learns goes out through one SDK connection (outbox, acks, replay after a reconnect); it
 * takes `start|stop|restart` commands for its agents from the command channel; it reads its
 * agents' events (signs of life, task progress) from their `agent:<id>` topics, and their
 * heartbeats from the hub's agent list.
 */
export function startHubSupervisor(opts: HubSupervisorOptions): HubSupervisor {
  const clock = opts.clock ?? systemClock;
  const base = opts.url.replace(/\/+$/, '');
  const client = connect({ url: base, token: opts.token, clock });
  const bearer = async () =>
    `Bearer ${typeof opts.token === 'string' ? opts.token : await opts.token()}`;
  let outboxFullLogged = false;
  // What a supervisor reports comes back on its agents' topics — this one's, and after a
  // restart its predecessor's, replayed — and is not the agent speaking: its ids tell it apart.
  const ownIdPrefix = `${SUPERVISOR_EVENT_ID_PREFIX}${randomBytes(6).toString('hex')}-`;
  let ownIds = 0;
  const reporter: SupervisorReporter = {
    publish(agentId, type, data, ts) {
      client
        .publish({
          id: `${ownIdPrefix}${(ownIds++).toString(36)}`,
          type,
          agentId,
          data,
          ...(ts !== undefined ? { ts } : {}),
        })
        .then(() => {
          outboxFullLogged = false;
        })
        .catch((err: Error & { code?: string }) => {
          if (err.code === 'outbox_full') {
            if (!outboxFullLogged)
              opts.log.warn({}, `hub unreachable and outbox full: ${err.message}`);
            outboxFullLogged = true;
            return;
          }
          if (err.code === 'closed') return;
          opts.log.error({ agent: agentId, type }, `report to the hub refused: ${err.message}`);
        });
    },
    // The connection's ping rides the check pass, at most a pass (and 5 s) early: its own
    // timer would wake the process 4 more times a minute.
    tick: () => client.keepalive(Math.min(opts.checkIntervalMs ?? 5000, 5000)),
  };
  const limited = concurrencyLimit(MINT_CONCURRENCY);
  const mintFromHub =
    opts.mintAgentToken ??
    (async (agentId: string) => {
      const res = await fetch(`${base}/api/v1/agents/${encodeURIComponent(agentId)}/token`, {
        method: 'POST',
        headers: { authorization: await bearer(), 'content-type': 'application/json' },
        body: '{}',
      });
      const body = (await res.json().catch(() => ({}))) as { token?: string; detail?: string };
      if (!res.ok || !body.token)
        throw new Error(
          `the hub refused a token for ${agentId} (${res.status}: ${body.detail ?? ''})`,
        );
      return body.token;
    });
  const mint = (agentId: string) => limited(() => mintFromHub(agentId));
  // The hub's retry policies per error pattern, in restart decisions (issue 5 point 4).
  const guard = new ErrorRetryGuard(
    new RetryPolicyClient({ url: base, token: opts.token, clock }),
    () => clock.now(),
  );
  const supervisor = new Supervisor({
    agents: opts.agents,
    errorVerdict: (run) => guard.verdict(run),
    reporter,
    log: opts.log,
    agentEnv: async (agentId) => ({
      WARDEN_URL: base,
      WARDEN_TOKEN: await mint(agentId),
      WARDEN_AGENT_ID: agentId,
    }),
    ...(opts.checkIntervalMs !== undefined ? { checkIntervalMs: opts.checkIntervalMs } : {}),
    ...(opts.cgroup !== undefined ? { cgroup: opts.cgroup } : {}),
    ...(opts.strategy ? { strategy: opts.strategy } : {}),
    ...(opts.extraStrategies ? { extraStrategies: opts.extraStrategies } : {}),
    ...(opts.stateFile ? { stateFile: opts.stateFile } : {}),
    ...(opts.plugins ? { plugins: opts.plugins } : {}),
    ...(opts.pmCooldownMs !== undefined ? { pmCooldownMs: opts.pmCooldownMs } : {}),
    ...(opts.teamIdleMs !== undefined ? { teamIdleMs: opts.teamIdleMs } : {}),
    ...(opts.agents.some((a) => a.kind === 'tmux' || a.pm)
      ? { tmux: new TmuxClient({ runner: execFileTmuxRunner() }) }
      : {}),
    clock,
  });

  // Commands and events follow the agent list (a reload changes both).
  let unsubscribe: Array<() => void> = [];
  const follow = () => {
    for (const u of unsubscribe) u();
    const ids = supervisor.agentIds();
    unsubscribe = [];
    if (ids.length === 0) return;
    unsubscribe.push(
      client.onCommand(
        (cmd) => {
          void supervisor
            .command(cmd as AgentCommand)
            .catch((err: Error) =>
              opts.log.error({ agent: cmd.agentId }, `command ${cmd.id} failed: ${err.message}`),
            );
        },
        { agents: ids },
      ),
    );
    unsubscribe.push(
      client.subscribe(
        ids.map((id) => `agent:${id}`),
        (event) => {
          guard.observe(event as { agentId: string; type: string; data: Record<string, unknown> });
          if (event.id.startsWith(SUPERVISOR_EVENT_ID_PREFIX)) return;
          everSeen.add(event.agentId);
          // The first agent that speaks for itself starts the polls (none ran until then: a
          // timer that wakes the process for nothing costs it more than the work it does).
          if (pollTimer === undefined && !polling && !closed)
            pollTimer = clock.setTimeout(() => void poll(), pollMs);
          supervisor.observe({
            agentId: event.agentId,
            type: event.type,
            ts: event.ts,
            data: event.data as Record<string, unknown>,
          });
        },
      ),
    );
  };

  // Heartbeats are not stored events: the hub's agent list says when each agent last sent one
  // (`lastHeartbeat`; not `lastSeen`, which the supervisor's own reports move too). Read only
  // once some agent has spoken for itself (a fleet of plain processes never needs it).
  const everSeen = new Set<string>();
  const pollMs = Math.max(SEEN_POLL_MIN_MS, opts.checkIntervalMs ?? 5000);
  let pollTimer: unknown;
  let polling = false;
  let closed = false;
  const poll = async () => {
    pollTimer = undefined;
    if (closed) return;
    polling = true;
    if (everSeen.size > 0) {
      try {
        const res = await fetch(`${base}/api/v1/agents`, {
          headers: { authorization: await bearer() },
        });
        if (res.ok) {
          const body = (await res.json()) as {
            agents: Array<{ agentId: string; lastHeartbeat?: number | null }>;
          };
          for (const a of body.agents)
            if (typeof a.lastHeartbeat === 'number' && a.lastHeartbeat > 0)
              supervisor.seen(a.agentId, a.lastHeartbeat);
        }
      } catch {
        // The hub is away; the SDK connection reports that, and checks wait for it.
      }
    }
    polling = false;
    if (!closed) pollTimer = clock.setTimeout(() => void poll(), pollMs);
  };

  follow();
  guard.warm();
  supervisor.start();

  return {
    supervisor,
    client,
    async reload(agents) {
      const result = await supervisor.reload(agents);
      follow();
      return result;
    },
    async close() {
      closed = true;
      if (pollTimer !== undefined) clock.clearTimeout(pollTimer);
      for (const u of unsubscribe) u();
      await supervisor.close();
      await client.close({ timeoutMs: 5000 });
    },
  };
}
