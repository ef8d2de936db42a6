import type { Logger } from 'pino';
import type { AlertRecord } from './alert-state.js';
import { formatValue } from './alert-template.js';
import { DeadlineHeap } from './deadline-heap.js';
import type { AlertNotification, NotifiedAlert } from './receiver.js';

/** The slice of NotificationDelivery the dispatcher uses (never rejects). */
export interface NotificationSink {
  deliver(n: AlertNotification): Promise<{ ok: boolean; attempts: number; error?: string }>;
}

/** What was last sent to one receiver about one group: the firing fingerprints, and when. */
export interface NotificationLogEntry {
  groupKey: string;
  receiver: string;
  firing: string[];
  sentAt: number;
}

/** How one rule's alerts are routed. */
export interface Route {
  receivers: readonly string[];
  groupBy: readonly string[];
  escalate: ReadonlyArray<{ after: number; receivers: readonly string[] }>;
}

export interface DispatcherOptions {
  sink: NotificationSink;
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  /** The route of a rule, or undefined when the rule is gone (its alerts still resolve). */
  route(rule: string): Route | undefined;
  /** Annotations rendered with the alert's current value. */
  annotate(a: AlertRecord): Record<string, string>;
  /** Written after every successful notification (so a restart never sends it again). */
  onLogged(entry: NotificationLogEntry): void;
  /** An alert whose escalation tier was notified (its row must be written). */
  onEscalated(a: AlertRecord): void;
  log: Logger;
}

/** Why an alert is not notified now: the silences or the inhibiting alert, or undefined. */
export type Suppression = (a: AlertRecord) => boolean;

interface Group {
  key: string;
  rule: string;
  labels: Record<string, string>;
  alerts: Map<string, AlertRecord>;
  inflight: number;
}

const TEXT_MAX = 2000;

export function groupKeyOf(
  a: AlertRecord,
  groupBy: readonly string[],
): { key: string; labels: Record<string, string> } {
  const labels: Record<string, string> = {};
  const parts: string[] = [];
  for (const k of groupBy) {
    const v = a.labels[k] ?? '';
    labels[k] = v;
    parts.push(`${k}=${JSON.stringify(v)}`);
  }
  return { key: `${a.rule}:{${parts.join(',')}}`, labels };
}

function common(maps: ReadonlyArray<Record<string, string>>): Record<string, string> {
  if (maps.length === 0) return {};
  const out: Record<string, string> = { ...maps[0] };
  for (const m of maps.slice(1))
    for (const k of Object.keys(out)) if (m[k] !== out[k]) delete out[k];
  return out;
}

function humanMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

/**
 * Groups alerts and decides when each receiver hears about a group, as Alertmanager does: a new
 * group waits `group_wait` for company, later changes go out at most every `group_interval`, an
 * unchanged firing group is repeated after `repeat_interval`. What was sent is logged per
 * (group, receiver) and persisted, so after a restart the same notification is not sent again.
 * Escalation tiers are per alert: still firing and unacknowledged `after` its firing, the tier's
 * receivers get one notification (grouped with the others due at the same moment).
 */
export class AlertDispatcher {
  private readonly groups = new Map<string, Group>();
  private readonly flushes = new DeadlineHeap();
  private readonly logEntries = new Map<string, NotificationLogEntry>();
  private readonly escalations = new DeadlineHeap();
  private readonly firingById = new Map<string, AlertRecord>();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(private readonly o: DispatcherOptions) {}

  private logKey(groupKey: string, receiver: string): string {
    return `${groupKey}\u0000${receiver}`;
  }

  /** The notification log as loaded after a restart. */
  restoreLog(entries: readonly NotificationLogEntry[]): void {
    for (const e of entries) this.logEntries.set(this.logKey(e.groupKey, e.receiver), e);
  }

  logEntry(groupKey: string, receiver: string): NotificationLogEntry | undefined {
    return this.logEntries.get(this.logKey(groupKey, receiver));
  }

  /** Takes an alert that fired or resolved (or was restored in either state). */
  add(a: AlertRecord, now: number): void {
    const route = this.o.route(a.rule);
    const { key, labels } = groupKeyOf(a, route?.groupBy ?? ['alertname']);
    let g = this.groups.get(key);
    if (a.state === 'resolved') {
      this.firingById.delete(a.id);
      this.escalations.delete(a.id);
      // Nothing to tell about an alert no receiver heard of (silenced, or within group_wait).
      if (!this.notifiedAnywhere(key, a.fingerprint, route)) {
        g?.alerts.delete(a.fingerprint);
        return;
      }
    } else if (a.state === 'firing') {
      this.firingById.set(a.id, a);
      this.trackEscalation(a, route);
    } else return;
    if (!g) {
      g = { key, rule: a.rule, labels, alerts: new Map(), inflight: 0 };
      this.groups.set(key, g);
      this.flushes.set(key, this.firstFlushAt(g, route, now));
    }
    g.alerts.set(a.fingerprint, a);
  }

  /** Drops an acknowledged alert's remaining escalation tiers. */
  acknowledged(a: AlertRecord): void {
    this.escalations.delete(a.id);
  }

  private notifiedAnywhere(groupKey: string, fp: string, route: Route | undefined): boolean {
    if (route) return route.receivers.some((r) => this.logEntry(groupKey, r)?.firing.includes(fp));
    // The rule is gone: whoever heard of the alert is in the log.
    for (const e of this.logEntries.values())
      if (e.groupKey === groupKey && e.firing.includes(fp)) return true;
    return false;
  }

  /**
   * A group heard of before (this run or the previous one) goes on at its interval from the last
   * notification; a new one waits `group_wait` from now.
   */
  private firstFlushAt(g: Group, route: Route | undefined, now: number): number {
    let last = -Infinity;
    for (const r of route?.receivers ?? []) {
      const e = this.logEntry(g.key, r);
      if (e && e.firing.length > 0) last = Math.max(last, e.sentAt);
    }
    if (last === -Infinity) return now + this.o.groupWaitMs;
    return Math.max(now, last + this.o.groupIntervalMs);
  }

  private trackEscalation(a: AlertRecord, route: Route | undefined): void {
    const tier = route?.escalate[a.escalated];
    if (!tier || a.acknowledged || a.firedAt === null) {
      this.escalations.delete(a.id);
      return;
    }
    this.escalations.set(a.id, a.firedAt + tier.after);
  }

  /** Flushes the groups and escalations that are due. */
  tick(now: number, suppressed: () => Suppression): void {
    let sup: Suppression | undefined;
    const s = () => (sup ??= suppressed());
    for (const key of this.flushes.popDue(now)) {
      const g = this.groups.get(key);
      if (g) this.flush(g, now, s());
    }
    const due = this.escalations.popDue(now);
    if (due.length > 0) this.escalate(due, now, s());
  }

  private flush(g: Group, now: number, suppressed: Suppression): void {
    const route = this.o.route(g.rule);
    const receivers = route?.receivers ?? [];
    if (g.inflight > 0) {
      // The last notification is still being delivered (retries): look again next cycle.
      this.flushes.set(g.key, now + 1);
      return;
    }
    // Resolved alerts every receiver has been told about (or never heard of) are done.
    for (const [fp, a] of g.alerts) {
      if (a.state !== 'resolved') continue;
      if (!receivers.some((r) => this.logEntry(g.key, r)?.firing.includes(fp))) g.alerts.delete(fp);
    }
    if (g.alerts.size === 0) {
      this.groups.delete(g.key);
      return;
    }
    const firing: AlertRecord[] = [];
    const hidden = new Set<string>();
    for (const a of g.alerts.values()) {
      if (a.state !== 'firing') continue;
      if (suppressed(a)) hidden.add(a.fingerprint);
      else firing.push(a);
    }
    for (const receiver of receivers) {
      const entry = this.logEntry(g.key, receiver);
      const prev = new Set(entry?.firing ?? []);
      const resolved: AlertRecord[] = [];
      for (const fp of prev) {
        const a = g.alerts.get(fp);
        if (a?.state === 'resolved') resolved.push(a);
      }
      const added = firing.some((a) => !prev.has(a.fingerprint));
      const repeat =
        firing.length > 0 && entry !== undefined && now - entry.sentAt >= this.o.repeatIntervalMs;
      if (!added && resolved.length === 0 && !repeat) continue;
      // Still firing but silenced now: the receiver was told it fires and nothing since.
      const stillFiring = [
        ...firing.map((a) => a.fingerprint),
        ...[...prev].filter((fp) => hidden.has(fp)),
      ];
      const n = this.notification(receiver, g, [...firing, ...resolved], now);
      g.inflight++;
      const p = this.o.sink
        .deliver(n)
        .then((r) => {
          if (!r.ok) {
            this.o.log.warn(
              { receiver, group: g.key, error: r.error, attempts: r.attempts },
              'notification not delivered; retried at the next group interval',
            );
            return;
          }
          const logged: NotificationLogEntry = {
            groupKey: g.key,
            receiver,
            firing: stillFiring,
            sentAt: now,
          };
          this.logEntries.set(this.logKey(g.key, receiver), logged);
          this.o.onLogged(logged);
        })
        .finally(() => {
          g.inflight--;
          this.inflight.delete(p);
        });
      this.inflight.add(p);
    }
    this.flushes.set(g.key, now + this.o.groupIntervalMs);
  }

  private escalate(ids: readonly string[], now: number, suppressed: Suppression): void {
    const batches = new Map<
      string,
      { receivers: readonly string[]; tier: number; after: number; g: Group; alerts: AlertRecord[] }
    >();
    for (const id of ids) {
      const a = this.firingById.get(id);
      if (!a || a.state !== 'firing' || a.acknowledged) continue;
      const route = this.o.route(a.rule);
      const tier = route?.escalate[a.escalated];
      if (!route || !tier) continue;
      if (suppressed(a)) {
        // Silenced or inhibited: not escalated while it lasts; looked at again next cycle.
        this.escalations.set(a.id, now + 1);
        continue;
      }
      const { key, labels } = groupKeyOf(a, route.groupBy);
      const bkey = `${key}\u0000${a.escalated}`;
      let b = batches.get(bkey);
      if (!b) {
        const g = this.groups.get(key) ?? {
          key,
          rule: a.rule,
          labels,
          alerts: new Map(),
          inflight: 0,
        };
        b = { receivers: tier.receivers, tier: a.escalated, after: tier.after, g, alerts: [] };
        batches.set(bkey, b);
      }
      b.alerts.push(a);
      a.escalated++;
      this.o.onEscalated(a);
      this.trackEscalation(a, route);
    }
    for (const b of batches.values()) {
      for (const receiver of b.receivers) {
        const n = this.notification(receiver, b.g, b.alerts, now, {
          tier: b.tier,
          afterMs: b.after,
        });
        const p = this.o.sink.deliver(n).then((r) => {
          if (!r.ok)
            this.o.log.warn(
              { receiver, group: b.g.key, tier: b.tier, error: r.error },
              'escalation not delivered',
            );
        });
        const tracked = p.finally(() => this.inflight.delete(tracked));
        this.inflight.add(tracked);
      }
    }
  }

  private notification(
    receiver: string,
    g: Group,
    alerts: readonly AlertRecord[],
    now: number,
    escalation?: { tier: number; afterMs: number },
  ): AlertNotification {
    const notified: NotifiedAlert[] = alerts.map((a) => ({
      id: a.id,
      rule: a.rule,
      status: a.state === 'resolved' ? 'resolved' : 'firing',
      labels: a.labels,
      annotations: a.state === 'resolved' ? a.annotations : this.o.annotate(a),
      value: a.value,
      startsAt: a.activeAt,
      endsAt: a.endsAt,
      acknowledged: a.acknowledged,
      fingerprint: a.fingerprint,
    }));
    const firing = notified.filter((a) => a.status === 'firing');
    const status = firing.length > 0 ? 'firing' : 'resolved';
    const shown = firing.length > 0 ? firing : notified;
    const head = escalation
      ? `[ESCALATED after ${humanMs(escalation.afterMs)}] `
      : status === 'firing'
        ? `[FIRING:${firing.length}] `
        : `[RESOLVED] `;
    const severity = notified[0]?.labels.severity;
    const lines = shown.map(
      (a) =>
        a.annotations.summary ??
        a.annotations.description ??
        `${a.labels.agentId ?? ''} value ${formatValue(a.value)}`,
    );
    let text = `${head}${g.rule}${severity ? ` (${severity})` : ''}: ${lines.join('; ')}`;
    if (text.length > TEXT_MAX) text = text.slice(0, TEXT_MAX - 1) + '…';
    return {
      receiver,
      groupKey: g.key,
      status,
      groupLabels: g.labels,
      commonLabels: common(notified.map((a) => a.labels)),
      commonAnnotations: common(notified.map((a) => a.annotations)),
      alerts: notified,
      ...(escalation ? { escalation } : {}),
      text,
      at: now,
    };
  }

  /** Waits for the notifications in flight (delivery bounds each by its timeouts). */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Groups now held, for tests and the dashboard. */
  groupCount(): number {
    return this.groups.size;
  }
}
