import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { StoredEvent } from '@warden/protocol';
import { ConfigError, WardenError } from '../errors.js';
import type { WardenApp } from '../app.js';
import type { HubContext } from '../hub-context.js';
import type { HubFeature } from '../hub-feature.js';
import {
  AlertDispatcher,
  type NotificationLogEntry,
  type NotificationSink,
  type Route,
} from './alert-dispatcher.js';
import {
  AlertRuleSchema,
  ruleReceiverRefs,
  type AlertRule,
  type RuleSource,
} from './alert-rule.js';
import type { AlertRecord, AlertState } from './alert-state.js';
import { renderAnnotations } from './alert-template.js';
import type { AlertsConfig } from './alerts-config.js';
import { AlertsMetrics } from './alerts-metrics.js';
import { registerAlertRoutes } from './alerts-routes.js';
import { AlertsStore } from './alerts-store.js';
import { buildReceivers } from './build-receivers.js';
import { builtinRules } from './builtin-rules.js';
import {
  BUILTIN_INHIBIT_RULES,
  compileInhibitRules,
  inhibition,
  type CompiledInhibitRule,
} from './inhibitor.js';
import { NotificationDelivery } from './notification-delivery.js';
import { RuleEvaluator, ruleEntry, type RuleEntry } from './rule-evaluator.js';
import { Silences, type Silence, type SilenceInput } from './silence.js';

/** The slice of NotificationDelivery the engine uses. */
export interface AlertDelivery extends NotificationSink {
  has(name: string): boolean;
  close(): Promise<void>;
}

/** An alert as the API shows it. */
export interface AlertView {
  id: string;
  rule: string;
  fingerprint: string;
  agentId: string;
  severity: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: AlertState;
  value: number | null;
  startsAt: number;
  firedAt: number | null;
  endsAt: number | null;
  acknowledged: boolean;
  ackedBy: string | null;
  ackedAt: number | null;
  ackComment: string | null;
  silencedBy: string[];
  inhibitedBy: string | null;
}

interface ApiRule {
  rule: AlertRule;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

/** The alert engine: rules, evaluation, grouping, inhibition, silences, acknowledgement, escalation, notification log (issue 5 point 2). */
export class AlertEngine implements HubFeature {
  readonly name = 'alerts';
  readonly cfg: AlertsConfig;
  readonly evaluator: RuleEvaluator;
  readonly dispatcher: AlertDispatcher;
  readonly silences = new Silences();
  private readonly delivery: AlertDelivery;
  private readonly defaults: string[];
  /** Built-in and config rules (read-only through the API), by name. */
  private readonly fixedRules = new Map<string, { rule: AlertRule; source: RuleSource }>();
  private readonly apiRules = new Map<string, ApiRule>();
  private readonly inhibitRules: CompiledInhibitRule[];
  private readonly metrics: AlertsMetrics;
  private store: AlertsStore | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Events that arrived while the state was loading. */
  private early: StoredEvent[] | undefined = [];
  private readonly dirty = {
    alerts: new Map<string, AlertRecord>(),
    deletes: new Set<string>(),
    log: new Map<string, NotificationLogEntry>(),
    labels: new Map<string, Record<string, string>>(),
  };
  private writing: Promise<void> | undefined;
  private closed = false;
  /** Cost of the last cycles, for the dashboard and the bench. */
  readonly stats = { cycles: 0, totalMs: 0, lastMs: 0, lastPairs: 0 };

  constructor(
    readonly ctx: HubContext,
    readonly log: Logger,
    opts: { delivery?: AlertDelivery; defaults?: string[] } = {},
  ) {
    this.cfg = ctx.config.alerts;
    if (opts.delivery) {
      this.delivery = opts.delivery;
      this.defaults = opts.defaults ?? this.cfg.default_receivers ?? ['console'];
    } else {
      const built = buildReceivers({ alerts: this.cfg, monitoring: ctx.config.monitoring, log });
      this.delivery = new NotificationDelivery({
        receivers: built.receivers,
        clock: ctx.clock,
        log,
        registry: ctx.metrics.registry,
      });
      const d = this.cfg.default_receivers ?? built.defaults;
      this.defaults = d.length > 0 ? d : ['console'];
    }
    if (this.cfg.builtin_rules) {
      for (const r of builtinRules(ctx.config.monitoring))
        this.fixedRules.set(r.name, { rule: r, source: 'builtin' });
    }
    this.cfg.rules.forEach((r, n) => {
      const unknown = this.unknownReceiver(r);
      if (unknown) {
        throw new ConfigError(
          `alerts.rules.${n}.${unknown.path}: names no receiver ${JSON.stringify(unknown.name)}`,
          `alerts.rules.${n}.${unknown.path}`,
        );
      }
      this.fixedRules.set(r.name, { rule: r, source: 'config' });
    });
    this.inhibitRules = compileInhibitRules([
      ...(this.cfg.builtin_inhibit_rules ? BUILTIN_INHIBIT_RULES : []),
      ...this.cfg.inhibit_rules,
    ]);
    this.evaluator = new RuleEvaluator({ heartbeats: ctx.heartbeats });
    this.dispatcher = new AlertDispatcher({
      sink: this.delivery,
      groupWaitMs: this.cfg.group_wait,
      groupIntervalMs: this.cfg.group_interval,
      repeatIntervalMs: this.cfg.repeat_interval,
      route: (rule) => this.route(rule),
      annotate: (a) => this.annotate(a),
      onLogged: (e) => {
        this.dirty.log.set(`${e.groupKey}\u0000${e.receiver}`, e);
        this.flushWrites();
      },
      onEscalated: (a) => this.dirty.alerts.set(a.id, a),
      log,
    });
    this.metrics = new AlertsMetrics(ctx.metrics.registry, () => this.evaluator.active.values());
  }

  /** The first receiver a rule names that does not exist, with its path inside the rule. */
  private unknownReceiver(rule: AlertRule): { name: string; path: string } | undefined {
    for (const ref of ruleReceiverRefs(rule)) {
      if (!this.delivery.has(ref.name)) return { name: ref.name, path: ref.path.join('.') };
    }
    return undefined;
  }

  private route(rule: string): Route | undefined {
    const r = this.fixedRules.get(rule)?.rule ?? this.apiRules.get(rule)?.rule;
    if (!r) return undefined;
    return {
      receivers: r.receivers ?? this.defaults,
      groupBy: r.group_by ?? this.cfg.group_by,
      escalate: r.escalate,
    };
  }

  private annotate(a: AlertRecord): Record<string, string> {
    const r = this.evaluator.rule(a.rule)?.rule;
    if (!r) return a.annotations;
    return renderAnnotations(r.annotations, {
      agentId: a.agentId,
      rule: a.rule,
      severity: a.severity,
      value: a.value,
      threshold: 'threshold' in r ? r.threshold : undefined,
      labels: a.labels,
    });
  }

  registerRoutes(app: WardenApp): void {
    registerAlertRoutes(app, this.ctx, this);
  }

  async start(): Promise<void> {
    // Subscribed first, so nothing committed while the state loads is missed.
    this.unsubscribe = this.ctx.bus.subscribe((msgs) => {
      if (this.early) for (const m of msgs) this.early.push(m.event);
      else this.evaluator.ingest(msgs.map((m) => m.event));
    });
    const store = (this.store = AlertsStore.open(this.ctx.config.databaseUrl));
    const now = this.ctx.clock.now();
    for (const row of await store.loadRules()) {
      const parsed = AlertRuleSchema.safeParse(row.definition);
      if (!parsed.success || this.fixedRules.has(row.name)) {
        this.log.warn(
          { rule: row.name },
          'stored alert rule skipped: invalid now, or a config rule has its name',
        );
        continue;
      }
      this.apiRules.set(row.name, {
        rule: parsed.data,
        createdBy: row.createdBy,
        createdAt: row.createdAt,
        updatedAt: row.updatedAt,
      });
    }
    const labels = new Map((await store.loadAgentLabels()).map((l) => [l.agentId, l.labels]));
    const agents = await this.ctx.store.listAgents();
    this.evaluator.seedAgents([
      ...agents.map((a) => ({
        agentId: a.agentId,
        status: a.status,
        lastSeen: a.lastSeen,
        labels: labels.get(a.agentId),
      })),
      ...[...labels]
        .filter(([id]) => !agents.some((a) => a.agentId === id))
        .map(([agentId, l]) => ({ agentId, labels: l })),
    ]);
    this.evaluator.setRules(this.entries(), now);
    const active = await store.loadActiveAlerts();
    this.evaluator.restore(active, now);
    this.silences.load(await store.loadSilences());
    this.dispatcher.restoreLog(await store.loadNotificationLog());
    for (const a of active) if (a.state === 'firing') this.dispatcher.add(a, now);
    for (const a of await store.loadResolvedSince(now - this.cfg.repeat_interval))
      this.dispatcher.add(a, now);
    const early = this.early ?? [];
    this.early = undefined;
    this.evaluator.ingest(early);
    this.timer = setInterval(() => this.runCycle(), this.cfg.evaluation_interval);
    this.timer.unref();
  }

  private entries(): RuleEntry[] {
    return [
      ...[...this.fixedRules.values()].map((r) => ruleEntry(r.rule, r.source)),
      ...[...this.apiRules.values()].map((r) => ruleEntry(r.rule, 'api')),
    ];
  }

  /** One evaluation cycle at the clock's time (the timer calls it; tests call it on a manual clock). */
  runCycle(now = this.ctx.clock.now()): void {
    if (this.closed || this.early) return;
    const t0 = performance.now();
    const r = this.evaluator.cycle(now);
    for (const a of r.fired) this.dispatcher.add(a, now);
    for (const a of r.resolved) this.dispatcher.add(a, now);
    for (const a of r.changed) {
      this.dirty.alerts.set(a.id, a);
      this.dirty.deletes.delete(a.id);
    }
    for (const a of r.dropped) {
      this.dirty.alerts.delete(a.id);
      this.dirty.deletes.add(a.id);
    }
    for (const l of r.labels) this.dirty.labels.set(l.agentId, l.labels);
    for (const a of r.fired)
      this.log.info(
        { alert: a.id, rule: a.rule, agent: a.agentId, value: a.value },
        'alert firing',
      );
    this.dispatcher.tick(now, () => this.suppression(now));
    const dropped = this.evaluator.takeDroppedEvents();
    if (dropped > 0)
      this.log.warn(
        { dropped },
        'events for event rules dropped: more than fit between two cycles',
      );
    const ms = performance.now() - t0;
    this.stats.cycles++;
    this.stats.totalMs += ms;
    this.stats.lastMs = ms;
    this.stats.lastPairs = r.pairs;
    this.metrics.evaluations.inc();
    this.metrics.evaluationSeconds.inc(ms / 1000);
    this.flushWrites();
  }

  /** Silenced or inhibited, given the silences and the alerts firing now. */
  private suppression(now: number): (a: AlertRecord) => boolean {
    const silenced = this.silences.matcher(now);
    const inhibited = inhibition(this.inhibitRules, this.firing());
    return (a) => silenced(a.labels).length > 0 || inhibited(a) !== undefined;
  }

  private *firing(): Iterable<AlertRecord> {
    for (const a of this.evaluator.active.values()) if (a.state === 'firing') yield a;
  }

  /** Writes what changed, one batch at a time (the next batch waits for this one). */
  private flushWrites(): void {
    if (this.writing || !this.store) return;
    const d = this.dirty;
    if (d.alerts.size + d.deletes.size + d.log.size + d.labels.size === 0) return;
    const alerts = [...d.alerts.values()];
    const deletes = [...d.deletes];
    const log = [...d.log.values()];
    const labels = [...d.labels].map(([agentId, l]) => ({ agentId, labels: l }));
    d.alerts.clear();
    d.deletes.clear();
    d.log.clear();
    d.labels.clear();
    const store = this.store;
    const now = this.ctx.clock.now();
    this.writing = (async () => {
      if (alerts.length) await store.writeAlerts(alerts);
      if (deletes.length) await store.deleteAlerts(deletes);
      if (log.length) await store.saveNotificationLog(log);
      if (labels.length) await store.saveAgentLabels(labels, now);
    })()
      .catch((err: unknown) => {
        // Kept for the next attempt: state in memory stays right, the rows catch up.
        this.log.error({ err }, 'writing alert state failed; retried with the next cycle');
        for (const a of alerts) if (!d.alerts.has(a.id)) d.alerts.set(a.id, a);
        for (const e of log) d.log.set(`${e.groupKey}\u0000${e.receiver}`, e);
      })
      .finally(() => {
        this.writing = undefined;
        if (!this.closed) this.flushWrites();
      });
  }

  private async drainWrites(): Promise<void> {
    for (let i = 0; i < 10; i++) {
      if (this.writing) await this.writing;
      this.flushWrites();
      if (!this.writing) return;
    }
  }

  // ---------------------------------------------------------------------------------------
  // What the routes call

  /** Every rule: built-in and config ones (read-only) first, then the API's. */
  rules(): Array<{ rule: AlertRule; source: RuleSource; meta: Omit<ApiRule, 'rule'> | undefined }> {
    return [
      ...[...this.fixedRules.values()].map((r) => ({ ...r, meta: undefined })),
      ...[...this.apiRules.values()].map(({ rule, ...meta }) => ({
        rule,
        source: 'api' as const,
        meta,
      })),
    ];
  }

  ruleByName(name: string) {
    return this.rules().find((r) => r.rule.name === name);
  }

  private checkReceivers(rule: AlertRule): void {
    const unknown = this.unknownReceiver(rule);
    if (unknown) {
      const path = '/' + unknown.path.replace(/\./g, '/');
      throw new WardenError(
        'invalid_request',
        `${path}: names no receiver ${JSON.stringify(unknown.name)}`,
        {
          errors: [{ path, message: `names no receiver ${JSON.stringify(unknown.name)}` }],
        },
      );
    }
  }

  private readOnly(name: string): void {
    const fixed = this.fixedRules.get(name);
    if (fixed) {
      throw new WardenError(
        'conflict',
        `rule ${name} comes from ${fixed.source === 'builtin' ? 'the built-in rules (turn them off with alerts.builtin_rules: false, or override it in alerts.rules)' : 'the config file'} and is read-only here; change it there`,
      );
    }
  }

  async addRule(rule: AlertRule, by: string | null): Promise<ApiRule> {
    this.checkReceivers(rule);
    if (this.fixedRules.has(rule.name) || this.apiRules.has(rule.name)) {
      throw new WardenError(
        'conflict',
        `a rule named ${rule.name} exists already (PUT /api/v1/alert-rules/${rule.name} changes it)`,
      );
    }
    const now = this.ctx.clock.now();
    if (!(await this.requireStore().insertRule(rule, by, now))) {
      throw new WardenError('conflict', `a rule named ${rule.name} exists already`);
    }
    const r = { rule, createdBy: by, createdAt: now, updatedAt: now };
    this.apiRules.set(rule.name, r);
    this.evaluator.setRules(this.entries(), now);
    return r;
  }

  async replaceRule(rule: AlertRule): Promise<ApiRule> {
    this.readOnly(rule.name);
    const old = this.apiRules.get(rule.name);
    if (!old) throw new WardenError('not_found', `no alert rule ${rule.name}`);
    this.checkReceivers(rule);
    const now = this.ctx.clock.now();
    await this.requireStore().updateRule(rule, now);
    const r = { ...old, rule, updatedAt: now };
    this.apiRules.set(rule.name, r);
    this.evaluator.setRules(this.entries(), now);
    return r;
  }

  async deleteRule(name: string): Promise<void> {
    this.readOnly(name);
    if (!this.apiRules.has(name)) throw new WardenError('not_found', `no alert rule ${name}`);
    await this.requireStore().deleteRule(name);
    this.apiRules.delete(name);
    // Its alerts resolve on the next cycle.
    this.evaluator.setRules(this.entries(), this.ctx.clock.now());
  }

  private requireStore(): AlertsStore {
    if (!this.store) throw new WardenError('unavailable', 'the alert engine is starting');
    return this.store;
  }

  view(
    a: AlertRecord,
    now: number,
    sup?: {
      silenced: (l: Record<string, string>) => string[];
      inhibited: (a: AlertRecord) => string | undefined;
    },
  ): AlertView {
    const s = sup ?? this.suppressors(now);
    const active = a.state !== 'resolved';
    return {
      id: a.id,
      rule: a.rule,
      fingerprint: a.fingerprint,
      agentId: a.agentId,
      severity: a.severity,
      labels: a.labels,
      annotations: active ? this.annotate(a) : a.annotations,
      state: a.state,
      value: a.value,
      startsAt: a.activeAt,
      firedAt: a.firedAt,
      endsAt: a.endsAt,
      acknowledged: a.acknowledged,
      ackedBy: a.ackedBy,
      ackedAt: a.ackedAt,
      ackComment: a.ackComment,
      silencedBy: active ? s.silenced(a.labels) : [],
      inhibitedBy: a.state === 'firing' ? (s.inhibited(a) ?? null) : null,
    };
  }

  suppressors(now: number) {
    return {
      silenced: this.silences.matcher(now),
      inhibited: inhibition(this.inhibitRules, this.firing()),
    };
  }

  /** Alerts in the given states, newest first: pending and firing from memory, resolved from the history. */
  async listAlerts(q: {
    states: AlertState[];
    limit: number;
    rule?: string;
    agentId?: string;
  }): Promise<AlertView[]> {
    const now = this.ctx.clock.now();
    const sup = this.suppressors(now);
    const live = [...this.evaluator.active.values()]
      .filter(
        (a) =>
          q.states.includes(a.state) &&
          (q.rule === undefined || a.rule === q.rule) &&
          (q.agentId === undefined || a.agentId === q.agentId),
      )
      .sort((x, y) => y.activeAt - x.activeAt);
    const out = live.slice(0, q.limit).map((a) => this.view(a, now, sup));
    if (q.states.includes('resolved') && out.length < q.limit) {
      const rows = await this.requireStore().listAlerts({
        ...q,
        states: ['resolved'],
        limit: q.limit - out.length,
      });
      for (const a of rows) out.push(this.view(a, now, sup));
    }
    return out;
  }

  private activeById(id: string): AlertRecord | undefined {
    for (const a of this.evaluator.active.values()) if (a.id === id) return a;
    return undefined;
  }

  async getAlert(id: string): Promise<AlertView> {
    const now = this.ctx.clock.now();
    const a =
      this.activeById(id) ?? this.dirty.alerts.get(id) ?? (await this.requireStore().getAlert(id));
    if (!a) throw new WardenError('not_found', `no alert ${id}`);
    return this.view(a, now);
  }

  /** Acknowledges a pending or firing alert: its escalation stops. */
  ack(id: string, by: string, comment?: string): AlertView {
    const a = this.activeById(id);
    if (!a) {
      throw new WardenError(
        'not_found',
        `no pending or firing alert ${id} (resolved alerts need no acknowledgement)`,
      );
    }
    const now = this.ctx.clock.now();
    if (!a.acknowledged) {
      a.acknowledged = true;
      a.ackedBy = by;
      a.ackedAt = now;
      a.ackComment = comment ?? null;
      a.updatedAt = now;
      this.dispatcher.acknowledged(a);
      this.dirty.alerts.set(a.id, a);
      this.flushWrites();
    }
    return this.view(a, now);
  }

  async putSilence(input: SilenceInput, by: string): Promise<Silence> {
    const now = this.ctx.clock.now();
    if (input.id !== undefined && !this.silences.get(input.id))
      throw new WardenError('not_found', `no silence ${input.id}`);
    const startsAt = input.startsAt ?? now;
    if (input.endsAt <= startsAt) {
      throw new WardenError('invalid_request', '/endsAt: must be after startsAt', {
        errors: [{ path: '/endsAt', message: 'must be after startsAt (default: now)' }],
      });
    }
    const s: Silence = {
      id: input.id ?? randomUUID(),
      matchers: input.matchers,
      startsAt,
      endsAt: input.endsAt,
      createdBy: input.createdBy ?? by,
      comment: input.comment,
      updatedAt: now,
    };
    await this.requireStore().saveSilence(s);
    this.silences.put(s);
    return s;
  }

  /** Expires a silence now (Alertmanager keeps expired silences; retention removes them). */
  async expireSilence(id: string): Promise<Silence> {
    const s = this.silences.get(id);
    if (!s) throw new WardenError('not_found', `no silence ${id}`);
    const now = this.ctx.clock.now();
    if (s.endsAt <= now) return s;
    const next = { ...s, startsAt: Math.min(s.startsAt, now), endsAt: now, updatedAt: now };
    await this.requireStore().saveSilence(next);
    this.silences.put(next);
    return next;
  }

  /** Firing alerts, for the dashboard. */
  firingViews(): AlertView[] {
    const now = this.ctx.clock.now();
    const sup = this.suppressors(now);
    return [...this.firing()]
      .sort((x, y) => (y.firedAt ?? 0) - (x.firedAt ?? 0))
      .map((a) => this.view(a, now, sup));
  }

  async retain(now: number): Promise<Record<string, number>> {
    if (!this.store) return {};
    const before = now - this.cfg.history_retention;
    this.silences.prune(before);
    return this.store.retain(before);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    // Notifications in flight get a moment to finish (their log entries must be written);
    // then delivery aborts what is left.
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.dispatcher.settle(), new Promise((r) => (t = setTimeout(r, 5000)))]);
    clearTimeout(t);
    await this.delivery.close();
    await this.dispatcher.settle();
    // The latest values of alerts still on (values are not written every cycle).
    for (const a of this.evaluator.active.values()) this.dirty.alerts.set(a.id, a);
    this.closed = false;
    await this.drainWrites();
    this.closed = true;
    await this.store?.close();
  }
}
