import type { Command } from 'commander';
import type { Health } from '@warden/protocol';
import { ConfigError } from '@warden/server/config';
import { displayWidth, formatAgo, healthLabel, HEALTH_MARK } from './agents-command.js';
import { processIo, type CliIo } from './cli-io.js';
import { EXIT } from './exit-codes.js';
import { formatSpan } from './table-format.js';
import {
  HubClient,
  HubClientError,
  clientFlags,
  clientOptions,
  reportClientError,
  type ClientFlags,
} from './hub-client.js';

/**
 * Exit code of `warden health` when it could not tell: the server is unreachable, refused the
 * token, or answered something that is not Warden's dashboard (SPEC §12: "3 unknown or
 * unreachable"). Kept here, not in exit-codes.ts, because only `health` uses it.
 */
export const EXIT_UNKNOWN = 3;

/** What `warden health` concludes: a fleet health, or `unknown` when it could not ask. */
export type SystemVerdict = Health;

/** A firing alert as the verdict reads it (`GET /api/v1/dashboard` → `alerts.firing`). */
export interface FiringAlertFact {
  id: string;
  rule: string;
  agentId: string;
  severity: string;
  acknowledged: boolean;
  silencedBy: readonly string[];
  inhibitedBy: string | null;
  firedAt?: number | null;
  annotations?: Record<string, string>;
}

/** What {@link systemVerdict} weighs. */
export interface VerdictInput {
  /** Agents by health (unknown ones are stopped on purpose or silent since start). */
  byHealth: Readonly<Record<Health, number>>;
  /** Ids of the agents at each health, for the reasons (counts come from `byHealth`). */
  agentsByHealth?: Partial<Record<Health, readonly string[]>>;
  firing: readonly FiringAlertFact[];
  /** `GET /readyz` answered 200. */
  ready: boolean;
  /** Why it did not. */
  readyProblem?: string;
}

/** The verdict and why, worst first. */
export interface Verdict {
  verdict: Exclude<SystemVerdict, 'unknown'>;
  reasons: string[];
}

const RANK = { healthy: 0, warning: 1, critical: 2 } as const;

function names(ids: readonly string[] | undefined, max = 5): string {
  if (!ids || ids.length === 0) return '';
  const shown = ids.slice(0, max).join(', ');
  return ` (${shown}${ids.length > max ? `, +${ids.length - max} more` : ''})`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * The system verdict of `warden health`, from the facts one request round gives:
 *
 * - the worst agent's health (SPEC §12: fleet health is the worst agent's; `unknown` agents,
 *   stopped on purpose, are ignored, so an empty or all-stopped fleet is healthy);
 * - a firing alert of severity `critical` makes it critical, any other firing alert warning,
 *   unless it is silenced or inhibited: someone decided it needs no attention (an
 *   acknowledged alert still counts: the condition is still there);
 * - a server that answers but is not ready (`/readyz` 503: Redis is gone, or storage hiccuped
 *   — the dashboard was just read, so storage is not simply down) is at least warning.
 *
 * Unresolved error groups, pending alerts and queue depth are reported, not judged: they say
 * what to look at, not that something is broken. `unknown` is never returned: it is the
 * answer when the facts could not be read at all (exit {@link EXIT_UNKNOWN}).
 */
export function systemVerdict(input: VerdictInput): Verdict {
  let verdict: Verdict['verdict'] = 'healthy';
  const raise = (to: Verdict['verdict']) => {
    if (RANK[to] > RANK[verdict]) verdict = to;
  };
  const critical: string[] = [];
  const warning: string[] = [];
  const agents = (h: 'critical' | 'warning') => {
    const n = input.byHealth[h] ?? 0;
    if (n === 0) return;
    raise(h);
    (h === 'critical' ? critical : warning).push(
      `${plural(n, 'agent')} ${h}${names(input.agentsByHealth?.[h])}`,
    );
  };
  agents('critical');
  const live = input.firing.filter((a) => a.silencedBy.length === 0 && a.inhibitedBy === null);
  const bySeverity = (critical: boolean) =>
    live.filter((a) => (a.severity === 'critical') === critical);
  const alerts = (list: FiringAlertFact[], h: 'critical' | 'warning') => {
    if (list.length === 0) return;
    raise(h);
    (h === 'critical' ? critical : warning).push(
      `${plural(list.length, `${h} alert`)} firing${names(list.map((a) => `${a.rule} on ${a.agentId}`))}`,
    );
  };
  alerts(bySeverity(true), 'critical');
  agents('warning');
  alerts(bySeverity(false), 'warning');
  if (!input.ready) {
    raise('warning');
    warning.push(`server not ready${input.readyProblem ? `: ${input.readyProblem}` : ''}`);
  }
  return { verdict, reasons: [...critical, ...warning] };
}

/** SPEC §12: 0 healthy, 1 warning, 2 critical, 3 unknown. */
export function verdictExitCode(verdict: SystemVerdict): number {
  switch (verdict) {
    case 'healthy':
      return EXIT.ok;
    case 'warning':
      return 1;
    case 'critical':
      return 2;
    default:
      return EXIT_UNKNOWN;
  }
}

/** The part of `GET /api/v1/dashboard` that `health` reads. */
interface DashboardBody {
  fleet: {
    health: Health;
    agents: number;
    active: number;
    byStatus: Record<string, number>;
    byHealth: Record<Health, number>;
  };
  system: {
    version: string;
    uptimeSeconds: number;
    head: number;
    ingestRatePerSecond: number;
    ingestBacklog: number;
  };
  queue?: { depth: number; leased: number; ratePerMin: number };
  alerts?: { firing: FiringAlertFact[] };
}

interface ErrorGroupBody {
  groups: Array<{
    id: string;
    errorType: string;
    message: string;
    count: number;
    lastSeen: number;
    lastAgentId: string;
  }>;
  next: number | null;
}

/** Everything `warden health --json` prints: the verdict and the facts it came from. */
export interface HealthReport {
  verdict: SystemVerdict;
  exitCode: number;
  reasons: string[];
  /** The server asked, and when (epoch ms). */
  url: string;
  checkedAt: number;
  agents: {
    total: number;
    /** Neither stopped on purpose nor failed (the dashboard's "n/m active"). */
    active: number;
    byHealth: Record<Health, number>;
    byStatus: Record<string, number>;
    /** Ids of the agents that are critical or warning. */
    critical: string[];
    warning: string[];
  };
  alerts: {
    firing: number;
    pending: number;
    /** Firing alerts that count (not silenced or inhibited), by severity. */
    critical: number;
    warning: number;
    /** Firing but silenced or inhibited. */
    suppressed: number;
    unacknowledged: number;
    list: Array<{
      id: string;
      rule: string;
      agentId: string;
      severity: string;
      acknowledged: boolean;
      suppressed: boolean;
      firedAt: number | null;
      summary: string | null;
    }>;
  };
  errorGroups: {
    unresolved: number;
    /** True when there are more than were counted (500). */
    more: boolean;
    latest: ErrorGroupBody['groups'];
  };
  queue: { depth: number; leased: number; ratePerMin: number };
  server: {
    version: string;
    uptimeSeconds: number;
    ready: boolean;
    problem: string | null;
    head: number;
    ingestRatePerSecond: number;
    ingestBacklog: number;
  };
}

/** Unresolved error groups counted at most (one page of the route). */
const MAX_GROUPS = 500;

function shapeError(what: string): HubClientError {
  return new HubClientError(
    'invalid_response',
    `${what} answered an unexpected shape — is this a Warden server of the same version?`,
  );
}

/** Reads the facts from the server and judges them. */
export async function readHealth(client: HubClient, now: () => number): Promise<HealthReport> {
  const ready = client.get<unknown>('/readyz').then(
    () => ({ ready: true, problem: null as string | null }),
    (err: unknown) => {
      // 503 is an answer ("not ready"); anything else (unreachable, 401) means we cannot tell.
      if (err instanceof HubClientError && err.status === 503) {
        return { ready: false, problem: err.message.replace(/ \(HTTP 503\)$/, '') };
      }
      throw err;
    },
  );
  const [dash, list, pending, groups, readiness] = await Promise.all([
    client.get<DashboardBody>('/api/v1/dashboard'),
    client.get<{ agents: Array<{ agentId: string; health: Health }> }>('/api/v1/agents'),
    client.get<{ alerts: unknown[] }>('/api/v1/alerts', { state: 'pending', limit: 1000 }),
    client.get<ErrorGroupBody>('/api/v1/error-groups', {
      state: 'unresolved',
      limit: MAX_GROUPS,
    }),
    ready,
  ]);
  if (typeof dash?.fleet?.byHealth !== 'object' || typeof dash.system !== 'object') {
    throw shapeError('GET /api/v1/dashboard');
  }
  if (!Array.isArray(list?.agents)) throw shapeError('GET /api/v1/agents');
  if (!Array.isArray(pending?.alerts)) throw shapeError('GET /api/v1/alerts');
  if (!Array.isArray(groups?.groups)) throw shapeError('GET /api/v1/error-groups');

  const firing = Array.isArray(dash.alerts?.firing) ? dash.alerts.firing : [];
  const ids = (h: Health) =>
    list.agents
      .filter((a) => a.health === h)
      .map((a) => a.agentId)
      .sort();
  const agentsByHealth = { critical: ids('critical'), warning: ids('warning') };
  const v = systemVerdict({
    byHealth: dash.fleet.byHealth,
    agentsByHealth,
    firing,
    ready: readiness.ready,
    ...(readiness.problem ? { readyProblem: readiness.problem } : {}),
  });
  const suppressed = (a: FiringAlertFact) => a.silencedBy.length > 0 || a.inhibitedBy !== null;
  const counted = firing.filter((a) => !suppressed(a));
  return {
    verdict: v.verdict,
    exitCode: verdictExitCode(v.verdict),
    reasons: v.reasons,
    url: client.url,
    checkedAt: now(),
    agents: {
      total: dash.fleet.agents,
      active: dash.fleet.active,
      byHealth: dash.fleet.byHealth,
      byStatus: dash.fleet.byStatus,
      ...agentsByHealth,
    },
    alerts: {
      firing: firing.length,
      pending: pending.alerts.length,
      critical: counted.filter((a) => a.severity === 'critical').length,
      warning: counted.filter((a) => a.severity !== 'critical').length,
      suppressed: firing.length - counted.length,
      unacknowledged: firing.filter((a) => !a.acknowledged).length,
      list: firing.map((a) => ({
        id: a.id,
        rule: a.rule,
        agentId: a.agentId,
        severity: a.severity,
        acknowledged: a.acknowledged,
        suppressed: suppressed(a),
        firedAt: a.firedAt ?? null,
        summary: a.annotations?.summary ?? null,
      })),
    },
    errorGroups: {
      unresolved: groups.groups.length,
      more: groups.next !== null,
      latest: groups.groups.slice(0, 3).map((g) => ({
        id: g.id,
        errorType: g.errorType,
        message: g.message,
        count: g.count,
        lastSeen: g.lastSeen,
        lastAgentId: g.lastAgentId,
      })),
    },
    queue: {
      depth: dash.queue?.depth ?? 0,
      leased: dash.queue?.leased ?? 0,
      ratePerMin: dash.queue?.ratePerMin ?? 0,
    },
    server: {
      version: dash.system.version,
      uptimeSeconds: dash.system.uptimeSeconds,
      ready: readiness.ready,
      problem: readiness.problem,
      head: dash.system.head,
      ingestRatePerSecond: dash.system.ingestRatePerSecond,
      ingestBacklog: dash.system.ingestBacklog,
    },
  };
}

/** `2h 5m`, `3d 4h`, `45s`: the largest unit and the next one when it is not zero. */
export function formatUptime(seconds: number): string {
  return formatSpan(seconds * 1000);
}

function counts(byKey: Readonly<Record<string, number>>, order?: readonly string[]): string {
  const keys = order ?? Object.keys(byKey).sort();
  return keys
    .filter((k) => (byKey[k] ?? 0) > 0)
    .map((k) => `${byKey[k]} ${k}`)
    .join(', ');
}

/** Alerts shown under the Alerts line at most. */
const ALERT_LINES = 5;
/** Longest alert summary shown there (the full one is in `warden alerts`). */
const SUMMARY_MAX = 100;

/**
 * The report in a few lines, as SPEC §11's monitor header says it:
 *
 * ```
 * System: ❌ critical — 1 agent critical (deva_ts); 1 critical alert firing (agent-failed on deva_ts)
 * Agents: 1/2 active · 1 healthy, 1 critical · 1 busy, 1 failed
 * Alerts: 1 firing (1 critical; 1 unacknowledged), 0 pending
 *   ❌ agent-failed on deva_ts — deva_ts failed and is not being restarted (2m ago)
 * Errors: 1 unresolved error group, latest Crash: boom (deva_ts, 1×)
 * Queue:  0 queued, 0 leased, 0/min
 * Server: Warden 0.1.0 at http://127.0.0.1:7070, up 5m, ready, 0.2 events/s
 * ```
 */
export function formatHealth(r: HealthReport): string {
  const lines: string[] = [];
  const why =
    r.reasons.length > 0 ? ` — ${r.reasons.join('; ')}` : ' — no agent unhealthy, no alert firing';
  lines.push(`System: ${healthLabel(r.verdict)}${why}`);

  const a = r.agents;
  const health = counts(a.byHealth, ['healthy', 'warning', 'critical', 'unknown']);
  const status = counts(a.byStatus);
  lines.push(
    a.total === 0
      ? 'Agents: none yet — an agent appears with its first event or heartbeat'
      : `Agents: ${a.active}/${a.total} active · ${health}${status ? ` · ${status}` : ''}`,
  );

  const al = r.alerts;
  const sev = [
    al.critical > 0 ? `${al.critical} critical` : '',
    al.warning > 0 ? `${al.warning} warning` : '',
    al.suppressed > 0 ? `${al.suppressed} silenced or inhibited` : '',
  ].filter(Boolean);
  const unacked = al.firing > 0 ? `; ${al.unacknowledged} unacknowledged` : '';
  lines.push(
    `Alerts: ${al.firing} firing${sev.length > 0 ? ` (${sev.join(', ')}${unacked})` : ''}, ${al.pending} pending`,
  );
  for (const x of al.list.slice(0, ALERT_LINES)) {
    const mark = HEALTH_MARK[x.severity === 'critical' ? 'critical' : 'warning'];
    const notes = [
      x.firedAt !== null ? formatAgo(Math.max(0, r.checkedAt - x.firedAt)) : '',
      x.acknowledged ? 'acknowledged' : '',
      x.suppressed ? 'silenced' : '',
    ].filter(Boolean);
    const text = x.summary?.replace(/\s+/g, ' ') ?? '';
    const summary =
      text === ''
        ? ''
        : ` — ${text.length > SUMMARY_MAX ? `${text.slice(0, SUMMARY_MAX - 1)}…` : text}`;
    // A narrow mark (⚠️) gets a second space, so the rule names line up (as healthLabel does).
    const gap = displayWidth(mark) === 1 ? '  ' : ' ';
    lines.push(
      `  ${mark}${gap}${x.rule} on ${x.agentId}${summary}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`,
    );
  }
  if (al.list.length > ALERT_LINES) {
    lines.push(`  … ${al.list.length - ALERT_LINES} more: warden alerts --state firing`);
  }

  const eg = r.errorGroups;
  const latest = eg.latest[0];
  const n = `${eg.unresolved}${eg.more ? '+' : ''}`;
  lines.push(
    eg.unresolved === 0
      ? 'Errors: no unresolved error groups'
      : `Errors: ${n} unresolved error group${eg.unresolved === 1 && !eg.more ? '' : 's'}` +
          (latest
            ? `, latest ${latest.errorType}: ${latest.message.replace(/\s+/g, ' ').slice(0, 80)} (${latest.lastAgentId}, ${latest.count}×)`
            : ''),
  );

  const q = r.queue;
  lines.push(`Queue:  ${q.depth} queued, ${q.leased} leased, ${q.ratePerMin}/min`);

  const s = r.server;
  lines.push(
    `Server: Warden ${s.version} at ${r.url}, up ${formatUptime(s.uptimeSeconds)}, ` +
      `${s.ready ? 'ready' : `NOT READY (${s.problem ?? 'see /readyz'})`}, ${s.ingestRatePerSecond} events/s`,
  );
  return lines.join('\n') + '\n';
}

/** Flags of `warden health`. */
export interface HealthFlags extends ClientFlags {
  json?: boolean;
}

/**
 * `warden health [--json]`: exit 0 healthy, 1 warning, 2 critical (the verdict of
 * {@link systemVerdict}), {@link EXIT_UNKNOWN} when it could not tell (no server, unreachable,
 * token refused, invalid config), 64 for a malformed `--url`. With `--json` one JSON object on
 * stdout in every case but 64 — `{ verdict: "unknown", exitCode: 3, error }` when it could not
 * tell — so a script can read the answer without parsing text.
 */
export async function health(
  flags: HealthFlags,
  io: CliIo = processIo(),
  now: () => number = Date.now,
): Promise<number> {
  try {
    const client = await HubClient.connect(flags);
    const report = await readHealth(client, now);
    io.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatHealth(report));
    return report.exitCode;
  } catch (err) {
    const code = reportClientError(err, io.stderr);
    if (code === EXIT.usage) return code;
    if (flags.json) {
      const error =
        err instanceof ConfigError
          ? `invalid configuration: ${err.message}`
          : (err as Error).message;
      io.stdout.write(
        JSON.stringify({ verdict: 'unknown', exitCode: EXIT_UNKNOWN, reasons: [error], error }) +
          '\n',
      );
    }
    return EXIT_UNKNOWN;
  }
}

/** Registers `warden health` on `program`; `done` receives the exit code. */
export function registerHealthCommand(program: Command, done: (code: number) => void): void {
  clientOptions(
    program
      .command('health')
      .description(
        'fleet health in a few lines; exit 0 healthy, 1 warning, 2 critical, 3 could not tell',
      )
      .option('--json', 'print the verdict and the facts as one JSON object'),
  ).action(async (opts: Record<string, unknown>) => {
    done(await health({ ...clientFlags(opts), json: opts.json === true }));
  });
}
