import type { AgentStatus, StoredEvent } from '@warden/protocol';
import { alertFingerprint } from './alert-fingerprint.js';
import {
  compare,
  forMs,
  type AbsenceRule,
  type AlertRule,
  type RateRule,
  type RuleSource,
  type ThresholdRule,
} from './alert-rule.js';
import {
  advance,
  needsTimer,
  observe,
  resolve,
  type AlertRecord,
  type Timing,
  type Transition,
} from './alert-state.js';
import { renderAnnotations } from './alert-template.js';
import { DeadlineHeap } from './deadline-heap.js';
import { compileEventMatches, type CompiledEventMatch } from './event-matcher.js';
import { LABEL_NAME_PATTERN, compileMatchers, type CompiledMatcher } from './label-matchers.js';

/** A rule made ready to evaluate. */
export interface RuleEntry {
  rule: AlertRule;
  source: RuleSource;
  selects: CompiledMatcher;
  timing: Timing;
  /** Event rules: what fires and what resolves. */
  match?: CompiledEventMatch;
  resolveOn?: CompiledEventMatch;
}

/** Labels the engine sets on every alert; agent and rule labels cannot override them. */
const RESERVED = new Set(['alertname', 'agentId', 'severity']);
const MAX_AGENT_LABELS = 64;

/** The rules that select one agent, indexed by what touches them. */
interface AgentRules {
  threshold: Map<string, RuleEntry[]>;
  rate: RuleEntry[];
  event: Map<string, RuleEntry[]>;
  absence: RuleEntry[];
  all: RuleEntry[];
}

interface AgentEntry {
  id: string;
  /** `meta.labels` of its latest status update that carried labels, plus `agentId`. */
  labels: Record<string, string>;
  status: AgentStatus | null;
  lastEventAt: number;
  rules: AgentRules | undefined;
  /** Its labels changed: `rules` is rebuilt on the next cycle (the old index says what it leaves). */
  stale: boolean;
  /** Receive times of recent errors and failed tasks (for rate rules), oldest first. */
  errors: number[];
  failed: number[];
}

export interface AgentSeed {
  agentId: string;
  labels?: Record<string, string> | undefined;
  status?: AgentStatus | null | undefined;
  lastSeen?: number | undefined;
}

/** What one cycle changed. */
export interface CycleResult {
  /** Alerts whose row must be written: created, fired, resolved. */
  changed: AlertRecord[];
  /** Pending alerts whose condition stopped before `for` (their rows are deleted). */
  dropped: AlertRecord[];
  fired: AlertRecord[];
  resolved: AlertRecord[];
  /** Agents whose labels changed (persisted so they survive a restart). */
  labels: Array<{ agentId: string; labels: Record<string, string> }>;
  /** (rule, agent) pairs looked at: the measure of incremental work. */
  pairs: number;
}

export interface RuleEvaluatorOptions {
  /** Last WebSocket heartbeat per agent (ctx.heartbeats): absence counts them as signs of life. */
  heartbeats: ReadonlyMap<string, number>;
  /** Most recent errors (or failed tasks) remembered per agent for rate rules. @defaultValue 10000 */
  maxRateEntries?: number;
  /** Most events held for event rules between two cycles; more are counted and dropped. @defaultValue 100000 */
  maxPendingEvents?: number;
}

const pairKey = (rule: string, agentId: string) => `${rule}\u0000${agentId}`;
const splitKey = (key: string): [string, string] => {
  const i = key.indexOf('\u0000');
  return [key.slice(0, i), key.slice(i + 1)];
};

/** The labels an agent carries from a status update's `meta.labels` (strings only, valid names). */
export function labelsFromMeta(meta: unknown): Record<string, string> | undefined {
  if (meta === null || typeof meta !== 'object') return undefined;
  const raw = (meta as Record<string, unknown>).labels;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string' || !LABEL_NAME_PATTERN.test(k) || RESERVED.has(k)) continue;
    if (++n > MAX_AGENT_LABELS) break;
    out[k] = v.slice(0, 1024);
  }
  return out;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

/** The matcher of a rule's `agents:` selector, over an agent's labels (which include agentId). */
export function compileSelector(rule: AlertRule): CompiledMatcher {
  const sel = rule.agents;
  if (!sel) return () => true;
  const ids = sel.ids ? new Set(sel.ids) : undefined;
  const match = sel.match ? Object.entries(sel.match) : [];
  const matchers = compileMatchers(sel.matchers ?? []);
  return (l) => {
    if (ids && !ids.has(l.agentId ?? '')) return false;
    for (const [k, v] of match) if (l[k] !== v) return false;
    return matchers(l);
  };
}

export function ruleEntry(rule: AlertRule, source: RuleSource): RuleEntry {
  const entry: RuleEntry = {
    rule,
    source,
    selects: compileSelector(rule),
    timing: { forMs: forMs(rule), keepFiringForMs: rule.keep_firing_for },
  };
  if (rule.type === 'event') {
    entry.match = compileEventMatches(rule.match);
    if (rule.resolve_on) entry.resolveOn = compileEventMatches(rule.resolve_on);
  }
  return entry;
}

/** First index in the ascending `arr` whose value is greater than `t`. */
function firstAfter(arr: readonly number[], t: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Evaluates the rules incrementally. Committed events are noted as they arrive (the latest
 * value per agent and metric, the time of each error and failed task, the events event rules
 * care about); each `cycle(now)` then looks only at the (rule, agent) pairs those events touch,
 * plus the pairs whose timers are due: pending `for`, `keep_firing_for`, absence deadlines and
 * rate windows sliding past their oldest event. Nothing is ever rescanned across every series.
 *
 * Only pairs whose condition holds have state (an alert); every other pair is implicit.
 */
export class RuleEvaluator {
  private readonly rules = new Map<string, RuleEntry>();
  private readonly agents = new Map<string, AgentEntry>();
  /** Pending and firing alerts by (rule, agent). */
  readonly active = new Map<string, AlertRecord>();
  /** Pairs whose alert has a timer running (pending, or firing while the condition is false). */
  private readonly watch = new Set<string>();
  private readonly rateDeadlines = new DeadlineHeap();
  private readonly absenceDeadlines = new DeadlineHeap();
  /** Absence pairs whose alert is on: each cycle checks whether the agent came back. */
  private readonly absent = new Set<string>();
  private readonly dirtyMetrics = new Map<string, Map<string, { value: number; at: number }>>();
  private readonly dirtyRate = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly labelsDirty = new Set<string>();
  private events: StoredEvent[] = [];
  private droppedEvents = 0;
  /** Metric names some threshold rule reads, event types some event rule reads. */
  private metricNames = new Set<string>();
  private eventTypes = new Set<string>();
  private maxWindow = { errors: 0, failed_tasks: 0 };
  private rebuildAll = true;
  /** Rate alerts restored from the database keep firing for one window while it refills. */
  private restoredAt = -Infinity;
  private readonly maxRateEntries: number;
  private readonly maxPendingEvents: number;

  constructor(private readonly opts: RuleEvaluatorOptions) {
    this.maxRateEntries = opts.maxRateEntries ?? 10_000;
    this.maxPendingEvents = opts.maxPendingEvents ?? 100_000;
  }

  /** Replaces the rule set; every agent's index is rebuilt on the next cycle. */
  setRules(entries: readonly RuleEntry[], now: number): void {
    this.rules.clear();
    this.metricNames = new Set();
    this.eventTypes = new Set();
    this.maxWindow = { errors: 0, failed_tasks: 0 };
    for (const e of entries) {
      this.rules.set(e.rule.name, e);
      const r = e.rule;
      if (r.type === 'threshold') this.metricNames.add(r.metric);
      else if (r.type === 'rate')
        this.maxWindow[r.rate.of] = Math.max(this.maxWindow[r.rate.of], r.rate.window);
      else if (r.type === 'event') {
        for (const m of [...r.match, ...(r.resolve_on ?? [])]) this.eventTypes.add(m.type);
      }
      // Agents named by id are watched (absence) even before they first report.
      for (const id of r.agents?.ids ?? []) if (!this.agents.has(id)) this.agentEntry(id, now);
    }
    this.rebuildAll = true;
  }

  rule(name: string): RuleEntry | undefined {
    return this.rules.get(name);
  }

  ruleList(): RuleEntry[] {
    return [...this.rules.values()];
  }

  /** Agents known at start (from the agents projection and the persisted labels). */
  seedAgents(seeds: readonly AgentSeed[]): void {
    for (const s of seeds) {
      const a = this.agentEntry(s.agentId, s.lastSeen ?? 0);
      if (s.labels) a.labels = { ...s.labels, agentId: s.agentId };
      if (s.status !== undefined) a.status = s.status;
      if (s.lastSeen !== undefined) a.lastEventAt = Math.max(a.lastEventAt, s.lastSeen);
    }
  }

  /** Pending and firing alerts loaded from the database after a restart. */
  restore(alerts: readonly AlertRecord[], now: number): void {
    this.restoredAt = now;
    for (const a of alerts) {
      if (a.state === 'resolved') continue;
      const key = pairKey(a.rule, a.agentId);
      this.active.set(key, a);
      if (!this.agents.has(a.agentId)) this.agentEntry(a.agentId, now);
      if (needsTimer(a)) this.watch.add(key);
    }
  }

  labelsOf(agentId: string): Record<string, string> | undefined {
    return this.agents.get(agentId)?.labels;
  }

  /** Events held for event rules that did not fit between two cycles, since the last call. */
  takeDroppedEvents(): number {
    const n = this.droppedEvents;
    this.droppedEvents = 0;
    return n;
  }

  private agentEntry(id: string, now: number): AgentEntry {
    let a = this.agents.get(id);
    if (!a) {
      a = {
        id,
        labels: { agentId: id },
        status: null,
        lastEventAt: now,
        rules: undefined,
        stale: false,
        errors: [],
        failed: [],
      };
      this.agents.set(id, a);
    }
    return a;
  }

  /** Notes committed events (called from the bus listener: quick, no evaluation here). */
  ingest(events: readonly StoredEvent[]): void {
    for (const e of events) {
      const a = this.agentEntry(e.agentId, e.receivedAt);
      if (e.receivedAt > a.lastEventAt) a.lastEventAt = e.receivedAt;
      this.seen.add(a.id);
      const d = e.data as Record<string, unknown>;
      switch (e.type) {
        case 'metric_update': {
          const ms = d.metrics as Record<string, unknown> | undefined;
          if (!ms || typeof ms !== 'object') break;
          let dm: Map<string, { value: number; at: number }> | undefined;
          for (const k in ms) {
            const v = ms[k];
            if (typeof v !== 'number' || !this.metricNames.has(k)) continue;
            dm ??= this.dirtyMetrics.get(a.id);
            if (!dm) this.dirtyMetrics.set(a.id, (dm = new Map()));
            const s = dm.get(k);
            if (s) {
              s.value = v;
              s.at = e.receivedAt;
            } else dm.set(k, { value: v, at: e.receivedAt });
          }
          break;
        }
        case 'agent_status_update': {
          a.status = d.status as AgentStatus;
          const labels = labelsFromMeta(d.meta);
          if (labels) {
            const next = { ...labels, agentId: a.id };
            if (!sameLabels(next, a.labels)) {
              a.labels = next;
              a.stale = true;
              this.labelsDirty.add(a.id);
            }
          }
          break;
        }
        case 'error_occurred':
          if (this.maxWindow.errors > 0) this.pushRate(a.errors, e.receivedAt, a.id);
          break;
        case 'task_completed':
          if (d.success === false && this.maxWindow.failed_tasks > 0)
            this.pushRate(a.failed, e.receivedAt, a.id);
          break;
      }
      if (this.eventTypes.has(e.type)) {
        if (this.events.length < this.maxPendingEvents) this.events.push(e);
        else this.droppedEvents++;
      }
    }
  }

  private pushRate(arr: number[], at: number, agentId: string): void {
    // Receive times only grow on one process; keep the array sorted if a replica's are older.
    if (arr.length > 0 && arr[arr.length - 1]! > at) arr.splice(firstAfter(arr, at), 0, at);
    else arr.push(at);
    if (arr.length > this.maxRateEntries) arr.splice(0, arr.length - this.maxRateEntries);
    this.dirtyRate.add(agentId);
  }

  /** One evaluation cycle at `now`. */
  cycle(now: number): CycleResult {
    const out: CycleResult = {
      changed: [],
      dropped: [],
      fired: [],
      resolved: [],
      labels: [],
      pairs: 0,
    };
    if (this.rebuildAll) {
      this.rebuildAll = false;
      for (const a of this.agents.values()) this.build(a, now, out);
      // Alerts of rules that are gone, or of agents the rule no longer selects.
      for (const [key, alert] of this.active) {
        const entry = this.rules.get(alert.rule);
        const agent = this.agents.get(alert.agentId);
        if (!entry || !agent || !entry.selects(agent.labels))
          this.apply(key, alert, resolve(alert, now), out);
        else if (entry.rule.type === 'absence') this.absent.add(key);
        else if (entry.rule.type === 'rate' && alert.activeAt < this.restoredAt)
          this.rateDeadlines.set(key, this.restoredAt + entry.rule.rate.window);
      }
    }
    for (const id of this.seen) {
      const a = this.agents.get(id)!;
      if (!a.rules || a.stale) this.build(a, now, out);
    }
    for (const id of this.labelsDirty) {
      const a = this.agents.get(id);
      if (a) out.labels.push({ agentId: id, labels: a.labels });
    }
    this.labelsDirty.clear();

    // Threshold rules: the latest value of each metric an agent sent since the last cycle.
    for (const [id, dm] of this.dirtyMetrics) {
      if (dm.size === 0) continue;
      const a = this.agents.get(id)!;
      const byMetric = a.rules!.threshold;
      for (const [name, s] of dm) {
        const list = byMetric.get(name);
        if (!list) continue;
        for (const entry of list) {
          const r = entry.rule as ThresholdRule;
          this.observePair(entry, a, compare(r.op, s.value, r.threshold), s.value, s.at, now, out);
        }
      }
      dm.clear();
    }

    // Rate rules: agents with new errors or failed tasks, then windows sliding past an event.
    for (const id of this.dirtyRate) {
      const a = this.agents.get(id)!;
      for (const entry of a.rules!.rate) this.evalRate(entry, a, now, out);
    }
    this.dirtyRate.clear();
    for (const key of this.rateDeadlines.popDue(now)) {
      const [name, id] = splitKey(key);
      const entry = this.rules.get(name);
      const a = this.agents.get(id);
      if (entry && a && entry.rule.type === 'rate' && a.rules?.rate.includes(entry))
        this.evalRate(entry, a, now, out);
    }

    // Event rules.
    if (this.events.length > 0) {
      const events = this.events;
      this.events = [];
      for (const e of events) this.evalEvent(e, now, out);
    }

    // Absence rules: agents seen again, due deadlines, and alerts whose agent may be back.
    for (const id of this.seen) {
      const a = this.agents.get(id)!;
      for (const entry of a.rules!.absence) {
        const key = pairKey(entry.rule.name, id);
        if (!this.absent.has(key) && !this.absenceDeadlines.has(key))
          this.checkAbsent(key, entry, a, now, out);
      }
    }
    this.seen.clear();
    for (const key of this.absenceDeadlines.popDue(now)) {
      const [name, id] = splitKey(key);
      const entry = this.rules.get(name);
      const a = this.agents.get(id);
      if (entry && a && a.rules?.absence.includes(entry)) this.checkAbsent(key, entry, a, now, out);
    }
    for (const key of this.absent) {
      const [name, id] = splitKey(key);
      const entry = this.rules.get(name);
      const a = this.agents.get(id);
      if (entry && a) this.checkAbsent(key, entry, a, now, out);
      else this.absent.delete(key);
    }

    // Timers: pending past `for`, firing past `keep_firing_for`.
    for (const key of this.watch) {
      const alert = this.active.get(key);
      const entry = alert && this.rules.get(alert.rule);
      if (!alert || !entry) {
        this.watch.delete(key);
        continue;
      }
      out.pairs++;
      this.apply(key, alert, advance(alert, now, entry.timing), out);
    }
    return out;
  }

  /**
   * Indexes the rules that select `a` (after a rule or label change). Alerts of rules that no
   * longer select it resolve; rate and absence pairs new to it are evaluated once.
   */
  private build(a: AgentEntry, now: number, out: CycleResult): void {
    const old = a.rules;
    const r: AgentRules = {
      threshold: new Map(),
      rate: [],
      event: new Map(),
      absence: [],
      all: [],
    };
    for (const entry of this.rules.values()) {
      if (!entry.selects(a.labels)) continue;
      r.all.push(entry);
      const rule = entry.rule;
      switch (rule.type) {
        case 'threshold': {
          const list = r.threshold.get(rule.metric);
          if (list) list.push(entry);
          else r.threshold.set(rule.metric, [entry]);
          break;
        }
        case 'rate':
          r.rate.push(entry);
          break;
        case 'absence':
          r.absence.push(entry);
          break;
        case 'event': {
          const types = new Set([...rule.match, ...(rule.resolve_on ?? [])].map((m) => m.type));
          for (const t of types) {
            const list = r.event.get(t);
            if (list) list.push(entry);
            else r.event.set(t, [entry]);
          }
          break;
        }
      }
    }
    a.rules = r;
    a.stale = false;
    if (old) {
      const kept = new Set(r.all.map((e) => e.rule.name));
      for (const e of old.all) {
        // Still selected (a rule replaced by the API keeps its name and its alerts).
        if (kept.has(e.rule.name)) continue;
        const key = pairKey(e.rule.name, a.id);
        const alert = this.active.get(key);
        if (alert) this.apply(key, alert, resolve(alert, now), out);
        this.absenceDeadlines.delete(key);
        this.rateDeadlines.delete(key);
        this.absent.delete(key);
      }
    }
    const had = new Set(old?.all.map((e) => e.rule.name));
    for (const entry of r.rate) if (!had.has(entry.rule.name)) this.evalRate(entry, a, now, out);
    for (const entry of r.absence) {
      const key = pairKey(entry.rule.name, a.id);
      if (!this.absent.has(key) && !this.absenceDeadlines.has(key))
        this.checkAbsent(key, entry, a, now, out);
    }
  }

  private observePair(
    entry: RuleEntry,
    a: AgentEntry,
    holds: boolean,
    value: number | null,
    at: number,
    now: number,
    out: CycleResult,
  ): AlertRecord | undefined {
    out.pairs++;
    const key = pairKey(entry.rule.name, a.id);
    let alert = this.active.get(key);
    if (!alert) {
      if (!holds) return undefined;
      alert = this.create(entry, a, value, at, now);
      this.active.set(key, alert);
      out.changed.push(alert);
    }
    this.apply(key, alert, observe(alert, holds, value, at, entry.timing, now), out);
    return this.active.get(key);
  }

  private apply(key: string, alert: AlertRecord, tr: Transition, out: CycleResult): void {
    switch (tr) {
      case 'inactive':
        this.active.delete(key);
        this.watch.delete(key);
        out.dropped.push(alert);
        return;
      case 'resolved':
        this.active.delete(key);
        this.watch.delete(key);
        this.absent.delete(key);
        out.resolved.push(alert);
        out.changed.push(alert);
        return;
      case 'firing':
        out.fired.push(alert);
        out.changed.push(alert);
        break;
    }
    if (needsTimer(alert)) this.watch.add(key);
    else this.watch.delete(key);
  }

  private create(
    entry: RuleEntry,
    a: AgentEntry,
    value: number | null,
    at: number,
    now: number,
  ): AlertRecord {
    const rule = entry.rule;
    const labels: Record<string, string> = {};
    for (const k in a.labels) if (!RESERVED.has(k)) labels[k] = a.labels[k]!;
    // An absent agent is down: the built-in inhibit rule silences its other alerts.
    if (rule.type === 'absence') labels.agent_down = 'true';
    Object.assign(labels, rule.labels);
    labels.alertname = rule.name;
    labels.agentId = a.id;
    labels.severity = rule.severity;
    const fingerprint = alertFingerprint(labels);
    return {
      id: `${fingerprint}-${at.toString(36)}`,
      fingerprint,
      rule: rule.name,
      agentId: a.id,
      severity: rule.severity,
      labels,
      annotations: renderAnnotations(rule.annotations, {
        agentId: a.id,
        rule: rule.name,
        severity: rule.severity,
        value,
        threshold: 'threshold' in rule ? rule.threshold : undefined,
        labels,
      }),
      state: 'pending',
      value,
      activeAt: at,
      firedAt: null,
      endsAt: null,
      falseSince: null,
      acknowledged: false,
      ackedBy: null,
      ackedAt: null,
      ackComment: null,
      escalated: 0,
      updatedAt: now,
    };
  }

  private evalRate(entry: RuleEntry, a: AgentEntry, now: number, out: CycleResult): void {
    const rule = entry.rule as RateRule;
    const arr = rule.rate.of === 'errors' ? a.errors : a.failed;
    // Forget what no rate rule can count any more.
    const stale = firstAfter(arr, now - this.maxWindow[rule.rate.of]);
    if (stale > 0) arr.splice(0, stale);
    const from = firstAfter(arr, now - rule.rate.window);
    const count = arr.length - from;
    const key = pairKey(rule.name, a.id);
    const holds = compare(rule.op, count, rule.threshold);
    const alert = this.active.get(key);
    if (
      !holds &&
      alert &&
      alert.activeAt < this.restoredAt &&
      now < this.restoredAt + rule.rate.window
    ) {
      // Restored after a restart: the window is refilling, so an empty count proves nothing yet.
      this.rateDeadlines.set(key, this.restoredAt + rule.rate.window);
      return;
    }
    this.observePair(entry, a, holds, count, now, now, out);
    if (count > 0) this.rateDeadlines.set(key, arr[from]! + rule.rate.window);
    else this.rateDeadlines.delete(key);
  }

  private evalEvent(e: StoredEvent, now: number, out: CycleResult): void {
    const a = this.agents.get(e.agentId);
    const list = a?.rules?.event.get(e.type);
    if (!a || !list) return;
    for (const entry of list) {
      const key = pairKey(entry.rule.name, a.id);
      if (entry.match!(e)) {
        const existing = this.active.get(key);
        const count = existing?.state === 'firing' ? (existing.value ?? 0) + 1 : 1;
        const alert = this.observePair(entry, a, true, count, e.receivedAt, now, out);
        // The condition is the event itself: it holds at that instant, and `keep_firing_for`
        // runs from the latest match.
        if (alert?.state === 'firing') {
          alert.falseSince = e.receivedAt;
          this.watch.add(key);
        }
      } else if (entry.resolveOn?.(e)) {
        const alert = this.active.get(key);
        if (alert) {
          out.pairs++;
          this.apply(key, alert, resolve(alert, now), out);
        }
      }
    }
  }

  private checkAbsent(
    key: string,
    entry: RuleEntry,
    a: AgentEntry,
    now: number,
    out: CycleResult,
  ): void {
    const rule = entry.rule as AbsenceRule;
    const lastSeen = Math.max(a.lastEventAt, this.opts.heartbeats.get(a.id) ?? 0);
    // Stopped on purpose: silence is expected. Watched again when it next reports.
    const stopped = a.status === 'stopped';
    const gone = !stopped && now - lastSeen >= rule.absent_for;
    if (gone) {
      const alert = this.observePair(
        entry,
        a,
        true,
        Math.round((now - lastSeen) / 1000),
        lastSeen + rule.absent_for,
        now,
        out,
      );
      if (alert) this.absent.add(key);
      this.absenceDeadlines.delete(key);
      return;
    }
    this.absent.delete(key);
    if (this.active.has(key))
      this.observePair(entry, a, false, null, Math.min(now, lastSeen), now, out);
    if (!stopped) this.absenceDeadlines.set(key, lastSeen + rule.absent_for);
    else this.absenceDeadlines.delete(key);
  }
}
