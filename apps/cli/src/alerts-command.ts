import type { Command } from 'commander';
import { AGENT_ID_PATTERN, parseDuration } from '@warden/protocol';
import { formatAgo, healthLabel } from './agents-command.js';
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
import { formatSpan, formatTable, type Column } from './table-format.js';
import { parseTimeArg } from './time-arg.js';

/** An alert as `GET /api/v1/alerts` shows it (SPEC §10). */
export interface AlertItem {
  id: string;
  rule: string;
  agentId: string;
  severity: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing' | 'resolved';
  value: number | null;
  startsAt: number;
  firedAt: number | null;
  endsAt: number | null;
  acknowledged: boolean;
  ackedBy: string | null;
  ackedAt: number | null;
  silencedBy: string[];
  inhibitedBy: string | null;
}

/** Alertmanager's matcher, as `POST /api/v1/silences` takes it. */
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

/** A silence as `GET /api/v1/silences` shows it. */
export interface SilenceItem {
  id: string;
  matchers: Matcher[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  updatedAt: number;
  status: { state: 'pending' | 'active' | 'expired' };
}

const STATES = ['pending', 'firing', 'resolved', 'all'] as const;
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
/** Longest regex the server takes in a matcher. */
const MAX_PATTERN = 1024;

/** Silence length when neither `--duration` nor `--until` is given (amtool's default). */
export const DEFAULT_SILENCE_MS = 3_600_000;

/**
 * One matcher in amtool's syntax: `name=value`, `name!=value`, `name=~regex`, `name!~regex`;
 * the value may be in double quotes (`alertname="agent-cpu-high"`). A regex must match the
 * whole label value (the server anchors it). Returns the matcher, or a one-line message.
 */
export function parseMatcher(text: string): Matcher | string {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(text);
  if (!m) {
    return `matcher ${JSON.stringify(text)} is not name=value, name!=value, name=~regex or name!~regex`;
  }
  const [, name, op, raw] = m as unknown as [string, string, string, string];
  if (!LABEL_NAME.test(name)) {
    return `matcher ${JSON.stringify(text)}: label names are at most 100 letters, digits and _`;
  }
  const value =
    raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  const isRegex = op === '=~' || op === '!~';
  if (value.length > MAX_PATTERN) {
    return `matcher ${JSON.stringify(name + op)}…: the value is longer than ${MAX_PATTERN} characters`;
  }
  if (isRegex) {
    try {
      new RegExp(`^(?:${value})$`);
    } catch (err) {
      return `matcher ${JSON.stringify(text)}: not a valid regular expression (${(err as Error).message})`;
    }
  }
  return { name, value, isRegex, isEqual: op === '=' || op === '=~' };
}

/** A matcher back in amtool's syntax, value quoted: `agentId="worker-1"`, `alertname=~"cpu.*"`. */
export function formatMatcher(m: Matcher): string {
  const op = m.isRegex ? (m.isEqual ? '=~' : '!~') : m.isEqual ? '=' : '!=';
  return `${m.name}${op}${JSON.stringify(m.value)}`;
}

function alertSince(a: AlertItem, now: number): string {
  if (a.state === 'resolved' && a.endsAt !== null) return `resolved ${formatAgo(now - a.endsAt)}`;
  const t = a.state === 'firing' && a.firedAt !== null ? a.firedAt : a.startsAt;
  return formatAgo(Math.max(0, now - t));
}

function alertNotes(a: AlertItem): string {
  const notes: string[] = [];
  if (a.acknowledged) notes.push(`acked by ${a.ackedBy ?? '?'}`);
  if (a.silencedBy.length > 0) notes.push(`silenced (${a.silencedBy.join(', ')})`);
  if (a.inhibitedBy) notes.push(`inhibited by ${a.inhibitedBy}`);
  return notes.join(', ');
}

function severityLabel(severity: string): string {
  return healthLabel(severity === 'critical' ? 'critical' : 'warning').replace(
    /(critical|warning)$/,
    severity,
  );
}

/**
 * Alerts as a table: ID (for `ack` and `silence --alert`), STATE, SEVERITY (mark and word),
 * RULE, AGENT, VALUE, SINCE (firing: since it fired; pending: since the condition began;
 * resolved: when it ended), NOTES (acknowledged, silenced, inhibited) and the summary; in the
 * order the server gives (newest first), with a count by state.
 */
export function formatAlertsTable(
  alerts: readonly AlertItem[],
  now: number,
  states: string,
): string {
  if (alerts.length === 0) {
    if (states === 'all') return 'No alerts.\n';
    return `No ${states.replace(/,/g, ' or ')} alerts. (--state all shows the resolved ones too)\n`;
  }
  const columns: Column[] = [
    { header: 'ID' },
    { header: 'STATE' },
    { header: 'SEVERITY' },
    { header: 'RULE' },
    { header: 'AGENT' },
    { header: 'VALUE', align: 'right' },
    { header: 'SINCE' },
    { header: 'NOTES' },
    { header: 'SUMMARY' },
  ];
  const rows = alerts.map((a) => [
    a.id,
    a.state,
    severityLabel(a.severity),
    a.rule,
    a.agentId,
    a.value === null ? '-' : String(Math.round(a.value * 1000) / 1000),
    alertSince(a, now),
    alertNotes(a) || '-',
    a.annotations?.summary ?? '',
  ]);
  const by: Record<string, number> = {};
  for (const a of alerts) by[a.state] = (by[a.state] ?? 0) + 1;
  const summary = ['firing', 'pending', 'resolved']
    .filter((s) => by[s])
    .map((s) => `${by[s]} ${s}`)
    .join(', ');
  return `${formatTable(columns, rows)}\n${alerts.length} alert${alerts.length === 1 ? '' : 's'}: ${summary}\n`;
}

/**
 * Silences as a table: ID, STATE, MATCHERS, ENDS (in how long, or how long ago), CREATED BY and
 * COMMENT, newest change first as the server gives them.
 */
export function formatSilencesTable(
  silences: readonly SilenceItem[],
  now: number,
  all: boolean,
): string {
  if (silences.length === 0) {
    return all
      ? 'No silences.\n'
      : 'No active or pending silences. (--all shows expired ones too)\n';
  }
  const columns: Column[] = [
    { header: 'ID' },
    { header: 'STATE' },
    { header: 'MATCHERS' },
    { header: 'ENDS' },
    { header: 'CREATED BY' },
    { header: 'COMMENT' },
  ];
  const rows = silences.map((s) => [
    s.id,
    s.status.state,
    s.matchers.map(formatMatcher).join(', '),
    s.endsAt > now ? `in ${formatSpan(s.endsAt - now)}` : formatAgo(now - s.endsAt),
    s.createdBy,
    s.comment,
  ]);
  return formatTable(columns, rows);
}

/** Flags of `warden alerts [list]`. */
export interface AlertsListFlags extends ClientFlags {
  /** pending, firing, resolved or all, or a comma-separated list. @defaultValue "pending,firing" */
  state?: string;
  agent?: string;
  rule?: string;
  /** @defaultValue 100 */
  limit?: string;
  json?: boolean;
}

/** Flags of `warden alerts ack ID`. */
export interface AckFlags extends ClientFlags {
  comment?: string;
  json?: boolean;
}

/** Flags of `warden alerts silence [add] MATCHER…`. */
export interface SilenceFlags extends ClientFlags {
  /** Adds `agentId="<id>"`. */
  agent?: string;
  /** Adds `alertname="<rule>"`. */
  rule?: string;
  /** Silences this alert: one equality matcher per label. */
  alert?: string;
  /** How long from now, e.g. `2h`. @defaultValue 1h */
  duration?: string;
  /** Absolute end, epoch ms or ISO-8601 (instead of `--duration`). */
  until?: string;
  /** Why; the server requires one. */
  comment?: string;
  json?: boolean;
}

/** Flags of `warden alerts silence list`. */
export interface SilenceListFlags extends ClientFlags {
  all?: boolean;
  json?: boolean;
}

function usage(io: CliIo, message: string): number {
  io.stderr.write(`warden: ${message}\n`);
  return EXIT.usage;
}

/**
 * The server's 400 for a request the CLI built from flags names the bad flag's value: a usage
 * error (64), like one found before sending. Everything else goes to reportClientError.
 */
function report(err: unknown, io: CliIo): number {
  if (err instanceof HubClientError && err.code === 'invalid_request') {
    return usage(io, err.message);
  }
  return reportClientError(err, io.stderr);
}

function json(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** `warden alerts [list]`: `GET /api/v1/alerts`. Exit 0; 64 for a bad flag; 1 on failure. */
export async function listAlerts(
  flags: AlertsListFlags,
  io: CliIo = processIo(),
  now: () => number = Date.now,
): Promise<number> {
  const state = (flags.state ?? 'pending,firing')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = state.find((s) => !(STATES as readonly string[]).includes(s));
  if (state.length === 0 || bad !== undefined) {
    return usage(
      io,
      `--state ${JSON.stringify(flags.state)} must be pending, firing, resolved or all (or a comma-separated list)`,
    );
  }
  if (flags.agent !== undefined && !AGENT_ID_PATTERN.test(flags.agent)) {
    return usage(io, `--agent ${JSON.stringify(flags.agent)} is not an agent id`);
  }
  const limit = flags.limit === undefined ? 100 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return usage(io, `--limit ${JSON.stringify(flags.limit)} must be a whole number 1..1000`);
  }
  const states = state.includes('all') ? 'all' : state.join(',');
  try {
    const client = await HubClient.connect(flags);
    const body = await client.get<{ alerts?: AlertItem[] }>('/api/v1/alerts', {
      state: states,
      agentId: flags.agent,
      rule: flags.rule,
      limit,
    });
    if (!Array.isArray(body.alerts)) {
      throw new HubClientError(
        'invalid_response',
        'GET /api/v1/alerts answered without an alerts list',
      );
    }
    if (flags.json) json(io, body.alerts);
    else io.stdout.write(formatAlertsTable(body.alerts, now(), states));
    return EXIT.ok;
  } catch (err) {
    return report(err, io);
  }
}

/**
 * `warden alerts ack ID`: `POST /api/v1/alerts/ID/ack` (operator and up; a viewer gets the
 * server's 403). Exit 0; 1 for an unknown or resolved alert (404) or a refusal.
 */
export async function ackAlert(
  id: string,
  flags: AckFlags,
  io: CliIo = processIo(),
): Promise<number> {
  if (id.trim() === '' || id.length > 256)
    return usage(io, `${JSON.stringify(id)} is not an alert id`);
  if (flags.comment !== undefined && flags.comment.length > 4096) {
    return usage(io, '--comment is longer than 4096 characters');
  }
  try {
    const client = await HubClient.connect(flags);
    const a = await client.post<AlertItem>(
      `/api/v1/alerts/${encodeURIComponent(id)}/ack`,
      flags.comment !== undefined ? { comment: flags.comment } : {},
    );
    if (flags.json) json(io, a);
    else {
      const when = a.ackedAt !== null ? ` at ${new Date(a.ackedAt).toISOString()}` : '';
      io.stdout.write(
        `acknowledged ${a.id}: ${a.rule} on ${a.agentId} (${a.state}), by ${a.ackedBy ?? '?'}${when}; its escalation stops\n`,
      );
    }
    return EXIT.ok;
  } catch (err) {
    return report(err, io);
  }
}

/**
 * `warden alerts silence [add] MATCHER…`: `POST /api/v1/silences` with the matchers (amtool's
 * syntax, plus `--agent`, `--rule` and `--alert ID` for the labels of one alert), ending after
 * `--duration` (default 1h) or at `--until`, with `--comment`. Prints the silence's id and
 * how many pending or firing alerts it silences now. Exit 0; 64 for a bad matcher, duration,
 * time or a missing comment; 1 on failure (403 for a viewer, 404 for an unknown `--alert`).
 */
export async function addSilence(
  args: readonly string[],
  flags: SilenceFlags,
  io: CliIo = processIo(),
  now: () => number = Date.now,
): Promise<number> {
  const matchers: Matcher[] = [];
  for (const a of args) {
    const m = parseMatcher(a);
    if (typeof m === 'string') return usage(io, m);
    matchers.push(m);
  }
  if (flags.agent !== undefined) {
    if (!AGENT_ID_PATTERN.test(flags.agent)) {
      return usage(io, `--agent ${JSON.stringify(flags.agent)} is not an agent id`);
    }
    matchers.push({ name: 'agentId', value: flags.agent, isRegex: false, isEqual: true });
  }
  if (flags.rule !== undefined) {
    matchers.push({ name: 'alertname', value: flags.rule, isRegex: false, isEqual: true });
  }
  if (matchers.length === 0 && flags.alert === undefined) {
    return usage(
      io,
      'a silence needs at least one matcher: name=value (e.g. agentId=worker-1), --agent, --rule or --alert ID',
    );
  }
  if (flags.comment === undefined || flags.comment.trim() === '') {
    return usage(io, 'a silence needs --comment saying why (e.g. --comment "deploying worker-1")');
  }
  if (flags.duration !== undefined && flags.until !== undefined) {
    return usage(io, '--duration and --until both say when the silence ends: give one');
  }
  const t0 = now();
  let endsAt = t0 + DEFAULT_SILENCE_MS;
  if (flags.duration !== undefined) {
    const ms = parseDuration(flags.duration);
    if (ms === undefined || ms <= 0) {
      return usage(
        io,
        `--duration ${JSON.stringify(flags.duration)} is not a duration (e.g. 30m, 2h, 1d)`,
      );
    }
    endsAt = t0 + ms;
  }
  if (flags.until !== undefined) {
    const t = parseTimeArg(flags.until, t0, { relative: false });
    if (t === undefined) {
      return usage(
        io,
        `--until ${JSON.stringify(flags.until)} must be epoch milliseconds or ISO-8601 (2025-11-22T18:00:00Z); for a length use --duration`,
      );
    }
    if (t <= t0) return usage(io, `--until ${JSON.stringify(flags.until)} is not in the future`);
    endsAt = t;
  }
  try {
    const client = await HubClient.connect(flags);
    if (flags.alert !== undefined) {
      const a = await client.get<AlertItem>(`/api/v1/alerts/${encodeURIComponent(flags.alert)}`);
      for (const [name, value] of Object.entries(a.labels ?? {}).sort(([x], [y]) =>
        x < y ? -1 : 1,
      )) {
        if (!matchers.some((m) => m.name === name)) {
          matchers.push({ name, value, isRegex: false, isEqual: true });
        }
      }
    }
    const s = await client.post<SilenceItem & { silenceID: string }>('/api/v1/silences', {
      matchers,
      endsAt,
      comment: flags.comment,
    });
    const active = await client.get<{ alerts?: AlertItem[] }>('/api/v1/alerts', { limit: 1000 });
    const silenced = (active.alerts ?? []).filter((a) => a.silencedBy.includes(s.id));
    if (flags.json) {
      json(io, { ...s, silencing: silenced.map((a) => a.id) });
    } else {
      const when =
        s.status.state === 'pending' ? `from ${new Date(s.startsAt).toISOString()} ` : '';
      io.stdout.write(
        `silence ${s.id} ${s.status.state} ${when}until ${new Date(s.endsAt).toISOString()} (${formatSpan(s.endsAt - now())}): ${s.matchers.map(formatMatcher).join(', ')}\n` +
          `it silences ${silenced.length} pending or firing alert${silenced.length === 1 ? '' : 's'} now; end it early with: warden alerts silence expire ${s.id}\n`,
      );
    }
    return EXIT.ok;
  } catch (err) {
    return report(err, io);
  }
}

/** `warden alerts silence list`: `GET /api/v1/silences`, without expired ones unless `--all`. */
export async function listSilences(
  flags: SilenceListFlags,
  io: CliIo = processIo(),
  now: () => number = Date.now,
): Promise<number> {
  try {
    const client = await HubClient.connect(flags);
    const body = await client.get<{ silences?: SilenceItem[] }>('/api/v1/silences');
    if (!Array.isArray(body.silences)) {
      throw new HubClientError(
        'invalid_response',
        'GET /api/v1/silences answered without a silences list',
      );
    }
    const shown = flags.all
      ? body.silences
      : body.silences.filter((s) => s.status.state !== 'expired');
    if (flags.json) json(io, shown);
    else io.stdout.write(formatSilencesTable(shown, now(), flags.all === true));
    return EXIT.ok;
  } catch (err) {
    return report(err, io);
  }
}

/** `warden alerts silence expire ID`: `DELETE /api/v1/silences/ID`; it stays listed as expired. */
export async function expireSilence(
  id: string,
  flags: ClientFlags & { json?: boolean },
  io: CliIo = processIo(),
): Promise<number> {
  if (id.trim() === '' || id.length > 256)
    return usage(io, `${JSON.stringify(id)} is not a silence id`);
  try {
    const client = await HubClient.connect(flags);
    const s = await client.delete<SilenceItem>(`/api/v1/silences/${encodeURIComponent(id)}`);
    if (flags.json) json(io, s);
    else {
      io.stdout.write(
        `silence ${s.id} expired at ${new Date(s.endsAt).toISOString()}: ${s.matchers.map(formatMatcher).join(', ')}\n`,
      );
    }
    return EXIT.ok;
  } catch (err) {
    return report(err, io);
  }
}

/**
 * Registers `warden alerts` on `program`: `list` (the default: `warden alerts --state all`),
 * `ack ID`, and `silence` with `add` (the default: `warden alerts silence agentId=w1 …`),
 * `list` and `expire ID`. `done` receives the exit code.
 */
export function registerAlertsCommand(program: Command, done: (code: number) => void): void {
  const alerts = program
    .command('alerts')
    .description('list alerts (default), acknowledge them, silence them');
  const s = (opts: Record<string, unknown>, k: string) =>
    typeof opts[k] === 'string' ? (opts[k] as string) : undefined;

  clientOptions(
    alerts
      .command('list', { isDefault: true })
      .description('alerts by state: pending and firing unless --state says otherwise')
      .option(
        '--state <states>',
        'pending, firing, resolved or all (comma-separated)',
        'pending,firing',
      )
      .option('--agent <id>', "only this agent's alerts")
      .option('--rule <name>', "only this rule's alerts")
      .option('--limit <n>', 'at most this many (1..1000)', '100')
      .option('--json', 'print the alerts as a JSON array'),
  ).action(async (opts: Record<string, unknown>) => {
    const flags: AlertsListFlags = { ...clientFlags(opts) };
    for (const k of ['state', 'agent', 'rule', 'limit'] as const) {
      const v = s(opts, k);
      if (v !== undefined) flags[k] = v;
    }
    if (opts.json === true) flags.json = true;
    done(await listAlerts(flags));
  });

  clientOptions(
    alerts
      .command('ack <id>')
      .description('acknowledge a pending or firing alert: its escalation stops (operator)')
      .option('--comment <text>', 'why, or who is on it')
      .option('--json', 'print the acknowledged alert as JSON'),
  ).action(async (id: string, opts: Record<string, unknown>) => {
    const flags: AckFlags = { ...clientFlags(opts) };
    if (s(opts, 'comment') !== undefined) flags.comment = s(opts, 'comment')!;
    if (opts.json === true) flags.json = true;
    done(await ackAlert(id, flags));
  });

  const silence = alerts
    .command('silence')
    .description('silence alerts by label matchers (add, the default), list or expire silences');

  clientOptions(
    silence
      .command('add [matchers...]', { isDefault: true })
      .description(
        'silence alerts whose labels match: name=value, name!=value, name=~regex, name!~regex (operator)',
      )
      .option('--agent <id>', 'match agentId=<id>')
      .option('--rule <name>', 'match alertname=<name>')
      .option('--alert <id>', 'match every label of this alert')
      .option('--duration <d>', 'how long from now, e.g. 30m, 2h, 1d (default 1h)')
      .option('--until <time>', 'end at this time instead: epoch ms or ISO-8601')
      .option('--comment <text>', 'why (required)')
      .option('--json', 'print the silence as JSON'),
  ).action(async (matchers: string[], opts: Record<string, unknown>) => {
    const flags: SilenceFlags = { ...clientFlags(opts) };
    for (const k of ['agent', 'rule', 'alert', 'duration', 'until', 'comment'] as const) {
      const v = s(opts, k);
      if (v !== undefined) flags[k] = v;
    }
    if (opts.json === true) flags.json = true;
    done(await addSilence(matchers ?? [], flags));
  });

  clientOptions(
    silence
      .command('list')
      .description('silences that are active or pending (--all: expired ones too)')
      .option('--all', 'include expired silences')
      .option('--json', 'print the silences as a JSON array'),
  ).action(async (opts: Record<string, unknown>) => {
    done(
      await listSilences({
        ...clientFlags(opts),
        all: opts.all === true,
        json: opts.json === true,
      }),
    );
  });

  clientOptions(
    silence
      .command('expire <id>')
      .description('end a silence now; it stays listed as expired (operator)')
      .option('--json', 'print the expired silence as JSON'),
  ).action(async (id: string, opts: Record<string, unknown>) => {
    done(await expireSilence(id, { ...clientFlags(opts), json: opts.json === true }));
  });
}
