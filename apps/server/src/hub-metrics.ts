import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AGENT_STATUSES, type StoredEvent } from '@warden/protocol';
import { collectNodeMetrics } from './event-loop-delay.js';

/** How many label values the per-agent families may carry (`metrics:` config). */
export interface LabelLimits {
  /** Label the agent families with `agent`; off: one fleet-wide series per family. */
  perAgentLabels: boolean;
  /** Agents (first seen first) with series of their own; the rest share `agent="_other"`. */
  maxAgentSeries: number;
  /** Distinct `error_type` values of `warden_errors_total`; the rest count as `_other`. */
  maxErrorTypes: number;
}

/** The label value shared by agents past the cap (no agent id can start with `_`). */
export const OTHER_LABEL = '_other';

/** A latest-value gauge over several agents folded into one label: the sum of their values. */
interface SharedGauge {
  set(v: number): void;
}

/**
 * The Prometheus names of SPEC §8 that the hub knows, on a registry of its own.
 *
 * Cardinality is bounded: at most `maxAgentSeries` agents get an `agent` label value of their
 * own and the rest are folded into `agent="_other"` (counters and the histogram add up;
 * the cpu and memory gauges hold the sum of the folded agents' latest values); with
 * `perAgentLabels` off every agent is folded and the families carry no `agent` label at all.
 * `error_type` values (chosen by the agents) are capped the same way.
 */
export class HubMetrics {
  readonly registry = new Registry();
  private readonly agentStatus = new Map<string, string>();
  private limits: LabelLimits = {
    perAgentLabels: true,
    maxAgentSeries: 1000,
    maxErrorTypes: 200,
  };
  /** Agent id → its label value ('' when folded and perAgentLabels is off). */
  private readonly agentLabel = new Map<string, string>();
  private labelled = 0;
  private readonly errorTypes = new Set<string>();

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
    collectNodeMetrics(this.registry);
  }

  /** Sets the label limits; call before the first event is observed (MetricsHistory does). */
  configure(limits: LabelLimits): void {
    this.limits = { ...limits };
  }

  /** The `agent` label value for an agent ('' = no agent label). */
  private labelOf(agentId: string): string {
    let l = this.agentLabel.get(agentId);
    if (l === undefined) {
      if (!this.limits.perAgentLabels) l = '';
      else if (this.labelled < this.limits.maxAgentSeries) {
        l = agentId;
        this.labelled++;
      } else l = OTHER_LABEL;
      this.agentLabel.set(agentId, l);
    }
    return l;
  }

  private errorTypeLabel(type: string): string {
    if (this.errorTypes.has(type)) return type;
    if (this.errorTypes.size >= this.limits.maxErrorTypes) return OTHER_LABEL;
    this.errorTypes.add(type);
    return type;
  }

  /** Labels with `agent` only when it has a value (off: the family is fleet-wide). */
  private static withAgent<T extends Record<string, string>>(
    label: string,
    rest: T,
  ): T & { agent?: string } {
    return label === '' ? rest : { agent: label, ...rest };
  }

  /** Seeds agent statuses from the store at start. */
  seedAgent(agentId: string, status: string | null): void {
    this.agentStatus.set(agentId, status ?? 'unknown');
  }

  // Children per label value, so the per-event path skips prom-client's label hashing.
  private readonly ingestedChild = new Map<string, { inc(): void }>();
  private readonly agentGauges = new Map<string, { cpu: SharedGauge; memory: SharedGauge }>();
  /** Per folded label: each agent's latest value and their running sum. */
  private readonly folded = new Map<
    string,
    { cpu: Map<string, number>; memory: Map<string, number>; cpuSum: number; memorySum: number }
  >();

  private gauges(agentId: string) {
    let g = this.agentGauges.get(agentId);
    if (!g) {
      const label = this.labelOf(agentId);
      if (label === agentId) {
        g = { cpu: this.agentCpu.labels(label), memory: this.agentMemory.labels(label) };
      } else {
        const cpu = label === '' ? this.agentCpu : this.agentCpu.labels(label);
        const memory = label === '' ? this.agentMemory : this.agentMemory.labels(label);
        let f = this.folded.get(label);
        if (!f) {
          f = { cpu: new Map(), memory: new Map(), cpuSum: 0, memorySum: 0 };
          this.folded.set(label, f);
        }
        const sums = f;
        g = {
          cpu: {
            set(v) {
              sums.cpuSum += v - (sums.cpu.get(agentId) ?? 0);
              sums.cpu.set(agentId, v);
              cpu.set(sums.cpuSum);
            },
          },
          memory: {
            set(v) {
              sums.memorySum += v - (sums.memory.get(agentId) ?? 0);
              sums.memory.set(agentId, v);
              memory.set(sums.memorySum);
            },
          },
        };
      }
      this.agentGauges.set(agentId, g);
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
          this.responseTime.observe(
            HubMetrics.withAgent(this.labelOf(ev.agentId), {}),
            m.response_time_ms / 1000,
          );
        }
        break;
      }
      case 'task_completed':
        this.tasksCompleted.inc(
          HubMetrics.withAgent(this.labelOf(ev.agentId), {
            outcome: ev.data.success ? 'success' : 'failure',
          }),
        );
        break;
      case 'error_occurred':
        this.errorsTotal.inc(
          HubMetrics.withAgent(this.labelOf(ev.agentId), {
            error_type: this.errorTypeLabel(ev.data.errorType),
          }),
        );
        break;
      case 'agent_lifecycle':
        if (ev.data.action === 'started' && (ev.data.attempt ?? 0) >= 1) {
          this.agentRestarts.inc(HubMetrics.withAgent(this.labelOf(ev.agentId), {}));
        }
        break;
    }
  }
}
