import type { Logger } from 'pino';
import type { WardenApp } from '../app.js';
import { WardenError } from '../errors.js';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';
import { HostSampler, type HostSample } from './host-sampler.js';
import { MetricsAccumulator } from './metrics-accumulator.js';
import type { MetricsConfig } from './metrics-config.js';
import {
  runMetricsQuery,
  type LiveSamples,
  type MetricsAnswer,
  type MetricsQuery,
} from './metrics-query.js';
import { registerMetricsRoutes } from './metrics-routes.js';
import { PgRollupStore } from './pg-rollup-store.js';
import { RollupAgg } from './rollup-agg.js';
import { FLEET, HOUR, MINUTE, type MinuteDelta, type RollupStore } from './rollup-store.js';
import { SqliteRollupStore } from './sqlite-rollup-store.js';

/** Events read per replay page at start. */
const REPLAY_PAGE = 5000;
/** An hour is rolled up this long after it ends; later samples merge into its row directly. */
const HOUR_GRACE = MINUTE;

/**
 * Metrics history (issue 5 point 1): every `metric_update` value and the derived series
 * (task_success, task_duration_ms, errors, restarts; fleet-only task_queue_depth and host_*)
 * per agent and fleet-wide, as 1-minute and 1-hour rollups with p50/p95/p99; raw samples are
 * the stored `metric_update` events themselves, kept for `retention.metrics_raw`.
 *
 * Samples are gathered from `ctx.ingestor.observe` (this process's commits only, so replicas
 * do not add an event twice) into a {@link MetricsAccumulator}, and flushed every
 * `flush_interval` in one transaction that merges them into the stored rows and records the
 * last folded seq in `projection_state` (`metrics`). At start the events after that seq are
 * replayed, so a crash between two flushes loses and doubles nothing (on SQLite, and on
 * PostgreSQL with one hub; see the README for several replicas).
 */
export class MetricsHistory implements HubFeature {
  readonly name = 'metrics';
  private readonly cfg: MetricsConfig;
  private readonly acc: MetricsAccumulator;
  private readonly host: HostSampler;
  private lastHost: (HostSample & { at: number }) | undefined;
  private rollups: RollupStore | undefined;
  private unobserve: (() => void) | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private systemTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private ready: Promise<void> | undefined;
  private droppedLogged = 0;
  /** Deltas of the flush in progress (still visible to queries until it commits). */
  private inflight: readonly MinuteDelta[] = [];
  private commits = 0;
  private readonly live: LiveSamples = {
    generation: () => this.commits,
    peek: (agentId, name, from, to, into) => {
      this.acc.peek(agentId, name, from, to, into);
      for (const d of this.inflight) {
        if (d.agentId !== agentId || d.name !== name || d.bucket < from || d.bucket >= to) continue;
        const had = into.get(d.bucket);
        if (had) had.merge(d.agg);
        else into.set(d.bucket, new RollupAgg().merge(d.agg));
      }
    },
  };

  constructor(
    readonly ctx: HubContext,
    readonly log: Logger,
  ) {
    this.cfg = ctx.config.metrics;
    this.acc = new MetricsAccumulator(this.cfg.max_series);
    ctx.metrics.configure({
      perAgentLabels: this.cfg.per_agent_labels,
      maxAgentSeries: this.cfg.max_agent_series,
      maxErrorTypes: this.cfg.max_error_types,
    });
    this.host = new HostSampler(ctx.config.dataDir, ctx.metrics.registry);
  }

  registerRoutes(app: WardenApp): void {
    registerMetricsRoutes(app, this);
  }

  /** The hub's clock (queries default to "the last hour before now"). */
  now(): number {
    return this.ctx.clock.now();
  }

  private get store(): RollupStore {
    if (!this.rollups) throw new WardenError('unavailable', 'metrics history is not started');
    return this.rollups;
  }

  /**
   * Opens the rollup store, replays the events committed after the last flush, then follows
   * this process's commits and starts the flush and system-sample timers.
   */
  async start(): Promise<void> {
    const url = this.ctx.config.databaseUrl;
    this.rollups = url.startsWith('sqlite:')
      ? SqliteRollupStore.open(url)
      : PgRollupStore.open(url);
    // Events up to `until` come from the replay; later ones from the observer. Both are set up
    // in the same turn, so no commit falls between them.
    const until = this.ctx.store.head();
    this.unobserve = this.ctx.ingestor.observe((events) => {
      for (const ev of events) if (ev.seq > until) this.acc.addEvent(ev);
    });
    this.ready = this.replay(until);
    await this.ready;
    this.acc.seedSeries((await this.store.listSeries()).length);
    this.flushTimer = setInterval(() => void this.flushLogged(), this.cfg.flush_interval);
    this.flushTimer.unref();
    this.systemTimer = setInterval(() => void this.sampleSystem(), this.cfg.system_interval);
    this.systemTimer.unref();
  }

  private async replay(until: number): Promise<void> {
    let after = await this.store.checkpoint();
    const from = after;
    let n = 0;
    while (after < until) {
      const rows = await this.store.eventsAfter(after, until, REPLAY_PAGE);
      if (rows.length === 0) break;
      for (const r of rows) {
        this.acc.addEvent({ ...r, data: JSON.parse(r.data) as unknown });
        n++;
      }
      after = rows[rows.length - 1]!.seq;
    }
    // Every event up to `until` is now held (those of other types need no rollup).
    if (until > this.acc.lastSeq) this.acc.lastSeq = until;
    if (n > 0)
      this.log.info({ from, until, events: n }, 'metrics: replayed events after the last flush');
  }

  private async flushLogged(): Promise<void> {
    try {
      await this.flush();
    } catch (err) {
      this.log.error({ err }, 'metrics flush failed; its samples are kept for the next one');
    }
  }

  /**
   * Merges everything gathered into the rollup rows, in one transaction with the checkpoint.
   * Flushes run one at a time; a failed one puts its samples back.
   */
  flush(): Promise<void> {
    const run = async () => {
      await this.ready;
      const minutes = this.acc.take();
      const checkpoint = this.acc.lastSeq;
      const now = this.now();
      const closeHoursBefore = Math.floor((now - HOUR_GRACE) / HOUR) * HOUR;
      this.inflight = minutes;
      try {
        await this.store.flush({ minutes, checkpoint, closeHoursBefore });
        this.commits++;
      } catch (err) {
        this.acc.restore(minutes);
        throw err;
      } finally {
        this.inflight = [];
      }
      if (this.acc.dropped > this.droppedLogged) {
        this.log.warn(
          { dropped: this.acc.dropped, maxSeries: this.cfg.max_series },
          'metrics: samples of series past metrics.max_series were dropped',
        );
        this.droppedLogged = this.acc.dropped;
      }
    };
    const next = (this.flushing ?? Promise.resolve()).catch(() => undefined).then(run);
    this.flushing = next;
    void next
      .finally(() => {
        if (this.flushing === next) this.flushing = undefined;
      })
      .catch(() => undefined);
    return next;
  }

  /** The newest host sample (CPU, memory, load, disk) and its time; undefined before the first. */
  latestHost(): (HostSample & { at: number }) | undefined {
    return this.lastHost;
  }

  /** Host CPU, memory, load, disk and the task queue's depth, into the fleet's series. */
  async sampleSystem(): Promise<void> {
    const ts = this.now();
    const h = this.host.sample();
    this.lastHost = { ...h, at: ts };
    const put = (name: string, v: number | undefined) => {
      if (v !== undefined && Number.isFinite(v)) this.acc.sample(FLEET, name, v, ts);
    };
    put('host_cpu_percent', h.cpuPercent);
    put('host_memory_used_bytes', h.memoryUsedBytes);
    put('host_memory_total_bytes', h.memoryTotalBytes);
    put('host_load1', h.load1);
    put('host_load5', h.load5);
    put('host_load15', h.load15);
    put('host_disk_used_bytes', h.diskUsedBytes);
    put('host_disk_free_bytes', h.diskFreeBytes);
    try {
      const stats = await this.ctx.queue.stats();
      put(
        'task_queue_depth',
        stats.reduce((n, s) => n + s.depth, 0),
      );
    } catch (err) {
      this.log.warn({ err }, 'metrics: task queue depth could not be read');
    }
  }

  /** One series' history (see metrics-query.ts). */
  async query(q: MetricsQuery): Promise<MetricsAnswer> {
    await this.ready;
    if (q.agentId !== FLEET) {
      const id = await this.store.seriesId(q.agentId, q.name);
      if (id === undefined) await this.requireAgent(q.agentId);
    }
    const r = this.ctx.config.retention;
    return runMetricsQuery(
      q,
      {
        now: this.now(),
        rawRetention: r.metrics_raw,
        minuteRetention: r.metrics_1m,
        rawMaxRange: this.cfg.raw_max_range,
      },
      this.store,
      this.live,
    );
  }

  /** 404 unless the agent has series or is known to the hub. */
  async requireAgent(agentId: string): Promise<void> {
    if ((await this.store.listSeries(agentId)).length > 0) return;
    if (await this.ctx.store.getAgent(agentId)) return;
    throw new WardenError('not_found', `no agent ${agentId}`);
  }

  /** Series kept, grouped by agent (`*` is the fleet). */
  async listSeries(agentId?: string): Promise<Array<{ agentId: string; names: string[] }>> {
    const out = new Map<string, string[]>();
    for (const s of await this.store.listSeries(agentId)) {
      let names = out.get(s.agentId);
      if (!names) out.set(s.agentId, (names = []));
      names.push(s.name);
    }
    return [...out.entries()].map(([id, names]) => ({ agentId: id, names }));
  }

  /** Every metric name with a series (the fleet holds every agent's names, and host_*). */
  async names(): Promise<string[]> {
    return (await this.store.listSeries(FLEET)).map((s) => s.name);
  }

  /** Rows per table (storage bench, tests). */
  rowCounts(): Promise<Record<string, number>> {
    return this.store.rowCounts();
  }

  /**
   * SPEC §7 for metrics: `metric_update` events (the raw samples) older than
   * `retention.metrics_raw`, 1-minute rows older than `metrics_1m` and 1-hour rows older
   * than `metrics_1h` are deleted, then the space is given back.
   */
  async retain(now: number): Promise<Record<string, number>> {
    if (!this.rollups) return {};
    // Hours that closed are rolled up first; minute rows of an hour not rolled up yet stay.
    await this.flush();
    const hourMark = await this.store.hourMark();
    const r = this.ctx.config.retention;
    return this.store.retain({
      raw: now - r.metrics_raw,
      minute: Math.min(now - r.metrics_1m, hourMark),
      hour: now - r.metrics_1h,
    });
  }

  /** Stops the timers and the observer, writes what is held, closes the connection. */
  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.systemTimer);
    this.unobserve?.();
    if (!this.rollups) return;
    try {
      await this.flush();
    } finally {
      await this.rollups.close();
      this.rollups = undefined;
    }
  }
}
