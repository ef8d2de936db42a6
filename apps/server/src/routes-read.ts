import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AgentIdSchema, fleetHealth, worstHealth, type Health } from '@warden/protocol';
import { WardenError } from './errors.js';
import type { HubContext } from './hub-context.js';
import type { AgentLifecycle } from './lifecycle/agent-lifecycle-view.js';
import type { AgentSummary } from './store/event-store.js';
import { VERSION } from './version.js';

const HOUR = 3_600_000;
const Limit = z.coerce.number().int().min(1).max(1000).default(100);
const BoolParam = z.enum(['true', 'false']).transform((v) => v === 'true');

/** Heartbeats (not stored) count as "seen" too. */
function withHeartbeat(ctx: HubContext, a: AgentSummary): AgentSummary {
  const hb = ctx.heartbeats.get(a.agentId);
  return hb !== undefined && hb > a.lastSeen ? { ...a, lastSeen: hb } : a;
}

/** The task an agent works on now: its newest running one. */
export interface CurrentTask {
  taskId: string;
  name: string | null;
  since: number;
}

/**
 * An agent as the list and the agent page show it: the summary, its process (uptime,
 * restarts, circuit, next restart, from `agent_lifecycle` events; null for an agent no
 * supervisor runs) and its current task.
 */
function agentView(
  ctx: HubContext,
  a: AgentSummary,
  running: ReadonlyMap<string, CurrentTask>,
): AgentSummary & {
  lastHeartbeat: number | null;
  lifecycle: AgentLifecycle | null;
  currentTask: CurrentTask | null;
} {
  return {
    ...withHeartbeat(ctx, a),
    // The agent's own heartbeats alone (lastSeen also moves with events others publish about
    // it, such as its supervisor's reports).
    lastHeartbeat: ctx.heartbeats.get(a.agentId) ?? null,
    lifecycle: ctx.features.lifecycle.get(a.agentId) ?? null,
    currentTask: running.get(a.agentId) ?? null,
  };
}

/** Each agent's newest running task, from one read of the running tasks. */
async function runningTasks(ctx: HubContext, agentId?: string): Promise<Map<string, CurrentTask>> {
  const tasks = await ctx.store.listTasks({
    state: 'running',
    limit: 1000,
    ...(agentId !== undefined ? { agentId } : {}),
  });
  const byAgent = new Map<string, CurrentTask>();
  for (const t of tasks) {
    const prev = byAgent.get(t.agentId);
    const since = t.assignedAt ?? 0;
    if (!prev || since > prev.since) {
      byAgent.set(t.agentId, { taskId: t.taskId, name: t.name, since });
    }
  }
  return byAgent;
}

export function registerReadRoutes(app: FastifyInstance, ctx: HubContext): void {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get(
    '/api/v1/agents',
    {
      schema: {
        summary: 'Every known agent with status, health and latest metrics',
        tags: ['agents'],
      },
    },
    async () => {
      const [agents, running] = await Promise.all([ctx.store.listAgents(), runningTasks(ctx)]);
      return { agents: agents.map((a) => agentView(ctx, a, running)) };
    },
  );

  r.get(
    '/api/v1/agents/:id',
    {
      schema: {
        summary: 'One agent: summary, recent events and errors, tasks, last hour of metrics',
        tags: ['agents'],
        params: z.object({ id: AgentIdSchema }),
      },
    },
    async (req) => {
      const id = req.params.id;
      const agent = await ctx.store.getAgent(id);
      if (!agent) throw new WardenError('not_found', `no agent ${id}`);
      const now = ctx.clock.now();
      const [recent, errors, tasks, metrics, running] = await Promise.all([
        ctx.store.recentEvents({ agentId: id, limit: 50 }),
        ctx.store.listErrors({ agentId: id, limit: 20 }),
        ctx.store.listTasks({ agentId: id, limit: 50 }),
        ctx.store.metricHistory(id, now - HOUR, 3600),
        runningTasks(ctx, id),
      ]);
      return {
        agent: agentView(ctx, agent, running),
        recentEvents: recent,
        recentErrors: errors,
        tasks,
        metrics,
      };
    },
  );

  r.get(
    '/api/v1/dashboard',
    { schema: { summary: 'Fleet overview', tags: ['agents'] } },
    async () => {
      const agents = (await ctx.store.listAgents()).map((a) => withHeartbeat(ctx, a));
      const byStatus: Record<string, number> = {};
      const byHealth: Record<Health, number> = { healthy: 0, warning: 0, critical: 0, unknown: 0 };
      const errorsByAgent: Record<string, number> = {};
      let worst: Health = 'unknown';
      for (const a of agents) {
        const s = a.status ?? 'unknown';
        byStatus[s] = (byStatus[s] ?? 0) + 1;
        byHealth[a.health]++;
        worst = worstHealth(worst, a.health);
        if (a.unresolvedErrors > 0) errorsByAgent[a.agentId] = a.unresolvedErrors;
      }
      const head = ctx.store.head();
      const recent = await ctx.store.recentEvents({ limit: 20 });
      const mem = process.memoryUsage();
      return {
        fleet: {
          health: fleetHealth(agents.map((a) => a.health)),
          agents: agents.length,
          active: agents.filter((a) => a.health !== 'unknown' && a.status !== 'failed').length,
          byStatus,
          byHealth,
        },
        system: {
          version: VERSION,
          uptimeSeconds: Math.round((ctx.clock.now() - ctx.startedAt) / 1000),
          rssBytes: mem.rss,
          heapUsedBytes: mem.heapUsed,
          head,
          wsConnections: ctx.hub.size,
          ingestRatePerSecond: Math.round(ctx.rate.perSecond() * 100) / 100,
          ingestBacklog: ctx.ingestor.backlog(),
          // The newest host sample (metrics.system_interval); null before the first.
          host: ctx.features.metrics.latestHost() ?? null,
        },
        recentEvents: recent,
        unresolvedErrorsByAgent: errorsByAgent,
        // Task queue: total depth, leased, processing rate (per minute, last 5 min), per queue.
        queue: await ctx.queue.overview(),
        // Firing alerts, newest first (silenced and inhibited ones say so).
        alerts: { firing: ctx.features.alerts.firingViews() },
      };
    },
  );

  r.get(
    '/api/v1/errors',
    {
      schema: {
        summary: 'Reported errors, newest first',
        tags: ['errors'],
        querystring: z.strictObject({
          agentId: AgentIdSchema.optional(),
          resolved: BoolParam.optional(),
          limit: Limit,
        }),
      },
    },
    async (req) => {
      const q = req.query;
      return {
        errors: await ctx.store.listErrors({
          limit: q.limit,
          ...(q.agentId !== undefined ? { agentId: q.agentId } : {}),
          ...(q.resolved !== undefined ? { resolved: q.resolved } : {}),
        }),
      };
    },
  );

  r.patch(
    '/api/v1/errors/:id',
    {
      config: { auth: 'act' },
      schema: {
        summary: 'Resolve or reopen an error',
        tags: ['errors'],
        params: z.object({ id: z.coerce.number().int().min(1) }),
        body: z.strictObject({ resolved: z.boolean() }),
      },
    },
    async (req) => {
      const rec = await ctx.store.setErrorResolved(
        req.params.id,
        req.body.resolved,
        ctx.clock.now(),
      );
      if (!rec) throw new WardenError('not_found', `no error ${req.params.id}`);
      return rec;
    },
  );

  r.get(
    '/api/v1/tasks',
    {
      schema: {
        summary: 'Tasks derived from task events, most recently changed first',
        tags: ['tasks'],
        querystring: z.strictObject({
          agentId: AgentIdSchema.optional(),
          state: z.enum(['running', 'completed', 'failed']).optional(),
          limit: Limit,
        }),
      },
    },
    async (req) => {
      const q = req.query;
      return {
        tasks: await ctx.store.listTasks({
          limit: q.limit,
          ...(q.agentId !== undefined ? { agentId: q.agentId } : {}),
          ...(q.state !== undefined ? { state: q.state } : {}),
        }),
      };
    },
  );
}
