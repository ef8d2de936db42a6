import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AGENT_STATUSES, type StoredEvent } from '@warden/protocol';

/** The Prometheus names of SPEC §8 that the hub knows, on a registry of its own. */
export class HubMetrics {
  readonly registry = new Registry();
  private readonly agentStatus = new Map<string, string>();

  readonly eventsIngested = new Counter({
    name: 'warden_events_ingested_total',
    help: 'Events durably stored, by type (duplicates excluded).',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly wsConnections = new Gauge({
    name: 'warden_ws_connections',
    help: 'Open WebSocket connections.',
    registers: [this.registry],
  });
  readonly agentCpu = new Gauge({
    name: 'warden_agent_cpu_percent',
    help: 'Latest reported CPU usage of an agent, percent of one core.',
    labelNames: ['agent'] as const,
    registers: [this.registry],
  });
  readonly agentMemory = new Gauge({
    name: 'warden_agent_memory_bytes',
    help: 'Latest reported memory of an agent, bytes.',
    labelNames: ['agent'] as const,
    registers: [this.registry],
  });
  readonly responseTime = new Histogram({
    name: 'warden_agent_response_time_seconds',
    help: 'Response times reported by agents (metric response_time_ms).',
    labelNames: ['agent'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly tasksCompleted = new Counter({
    name: 'warden_tasks_completed_total',
    help: 'Tasks completed, by agent and outcome.',
    labelNames: ['agent', 'outcome'] as const,
    registers: [this.registry],
  });
  /**
   * Restarts of an agent's process: `agent_lifecycle` `started` events with `attempt` ≥ 1, i.e.
   * the supervisor's automatic restarts (`restart_scheduled` is only a plan that a stop may
   * cancel; a first start and a start by hand carry no attempt).
   */
  readonly agentRestarts = new Counter({
    name: 'warden_agent_restarts_total',
    help: 'Restarts of an agent by its supervisor (agent_lifecycle started with attempt >= 1).',
    labelNames: ['agent'] as const,
    registers: [this.registry],
  });
  readonly errorsTotal = new Counter({
    name: 'warden_errors_total',
    help: 'Errors reported, by agent and error type.',
    labelNames: ['agent', 'error_type'] as const,
    registers: [this.registry],
  });

  constructor() {
    const statuses = this.agentStatus;
    new Gauge({
      name: 'warden_agents',
      help: 'Known agents by latest status (unknown: never reported a status).',
      labelNames: ['status'] as const,
      registers: [this.registry],
      collect() {
        const counts = new Map<string, number>([...AGENT_STATUSES, 'unknown'].map((s) => [s, 0]));
        for (const s of statuses.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
        for (const [status, n] of counts) this.set({ status }, n);
      },
    });
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges *_total, which `promtool check metrics` rejects (a
    // _total suffix is for counters); the per-type gauges without the suffix stay.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      this.registry.removeSingleMetric(name);
    }
  }

  /** Seeds agent statuses from the store at start. */
  seedAgent(agentId: string, status: string | null): void {
    this.agentStatus.set(agentId, status ?? 'unknown');
  }

  // Children per label value, so the per-event path skips prom-client's label hashing.
  private readonly ingestedChild = new Map<string, { inc(): void }>();
  private readonly agentGauges = new Map<
    string,
    { cpu: { set(v: number): void }; memory: { set(v: number): void } }
  >();

  private gauges(agent: string) {
    let g = this.agentGauges.get(agent);
    if (!g) {
      g = { cpu: this.agentCpu.labels(agent), memory: this.agentMemory.labels(agent) };
      this.agentGauges.set(agent, g);
    }
    return g;
  }

  /** Counts newly stored events (called once per event, after commit). */
  observe(ev: StoredEvent): void {
    let child = this.ingestedChild.get(ev.type);
    if (!child) {
      child = this.eventsIngested.labels(ev.type);
      this.ingestedChild.set(ev.type, child);
    }
    child.inc();
    if (!this.agentStatus.has(ev.agentId)) this.agentStatus.set(ev.agentId, 'unknown');
    switch (ev.type) {
      case 'agent_status_update':
        this.agentStatus.set(ev.agentId, ev.data.status);
        break;
      case 'metric_update': {
        const m = ev.data.metrics;
        if (m.cpu_percent !== undefined) this.gauges(ev.agentId).cpu.set(m.cpu_percent);
        if (m.memory_mb !== undefined) {
          this.gauges(ev.agentId).memory.set(m.memory_mb * 1024 * 1024);
        }
        if (m.response_time_ms !== undefined && m.response_time_ms >= 0) {
          this.responseTime.observe({ agent: ev.agentId }, m.response_time_ms / 1000);
        }
        break;
      }
      case 'task_completed':
        this.tasksCompleted.inc({
          agent: ev.agentId,
          outcome: ev.data.success ? 'success' : 'failure',
        });
        break;
      case 'error_occurred':
        this.errorsTotal.inc({ agent: ev.agentId, error_type: ev.data.errorType });
        break;
      case 'agent_lifecycle':
        if (ev.data.action === 'started' && (ev.data.attempt ?? 0) >= 1) {
          this.agentRestarts.inc({ agent: ev.agentId });
        }
        break;
    }
  }
}
