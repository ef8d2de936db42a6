import type { Command } from 'commander';
import { AGENT_ID_PATTERN, METRIC_NAME_PATTERN } from '@warden/protocol';
import { formatAgo, formatMemory } from './agents-command.js';
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
import { formatTable, type Column } from './table-format.js';
import { TIME_ARG_FORMS, isRelativeTime, parseTimeArg } from './time-arg.js';

/** The fleet's own series (host, task queue, every agent's samples together). */
export const FLEET = '*';

/** Window of the series view when `--since` is not given. */
export const DEFAULT_WINDOW_MS = 3_600_000;

/** The well-known names of SPEC §3, shown first and in this order. */
const WELL_KNOWN = [
  'cpu_percent',
  'memory_mb',
  'response_time_ms',
  'queue_depth',
  'tokens',
  'cost_usd',
];

/** Series queried at once (each is one request). */
const PARALLEL = 8;

/** Flags of `warden metrics`. */
export interface MetricsFlags extends ClientFlags {
  /** One agent's series over the window, or `*` for the fleet's. */
  agent?: string;
  /** The same as `agent: "*"`. */
  fleet?: boolean;
  /** One name, or several separated by commas. */
  name?: string;
  /** Start of the window: epoch ms, ISO-8601 or back from now. @defaultValue 1h ago */
  since?: string;
  json?: boolean;
}

/** One point of `GET /api/v1/metrics/query` (the fields the window reads). */
export interface MetricPoint {
  ts: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  last: number;
}

/** One series over a window, as the table and `--json` show it. */
export interface SeriesStats {
  name: string;
  /** Samples in the window. */
  count: number;
  /** Null when the window holds no sample. */
  last: number | null;
  min: number | null;
  avg: number | null;
  max: number | null;
  /** Start of the step that holds the last sample (at most one step before it), epoch ms. */
  lastStepAt: number | null;
  /** What the server made the points from: `raw`, `1m` or `1h`. */
  source: string;
  /** Step of the points, ms. */
  step: number;
}

/**
 * A window's figures from its points: samples and extremes add up exactly (sum of sums over
 * sum of counts is the true average), `last` is the newest point's. Percentiles do not add
 * up across points, so they are left to `GET /api/v1/metrics/query` itself.
 */
export function seriesStats(
  name: string,
  points: readonly MetricPoint[],
  meta: { source: string; step: number },
): SeriesStats {
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const p of points) {
    count += p.count;
    sum += p.sum;
    if (p.min < min) min = p.min;
    if (p.max > max) max = p.max;
  }
  const last = points.length > 0 ? points[points.length - 1]! : undefined;
  const any = count > 0 && last !== undefined;
  return {
    name,
    count,
    last: any ? last.last : null,
    min: any ? min : null,
    avg: any ? sum / count : null,
    max: any ? max : null,
    lastStepAt: any ? last.ts : null,
    source: meta.source,
    step: meta.step,
  };
}

/** `1234`, `12.3`, `1.23`, `0.0123`: about three significant digits, integers as they are. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return String(Number(v.toPrecision(3)));
}

function formatBytes(v: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let n = v;
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? String(Math.round(n)) : formatNumber(n)} ${units[i]}`;
}

/**
 * A value in the unit its name says (SPEC §3 names and the hub's `host_*` ones): `*_percent`
 * → `15%`, `*_mb` → `234 MB` / `1.5 GB`, `*_bytes` → `1.5 GB`, `*_ms` → `120 ms` / `1.2 s`,
 * `*_seconds` → `3.5 s`, `*_usd` → `$0.12`; anything else as a plain number.
 */
export function formatMetricValue(name: string, v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (name.endsWith('_percent')) return `${formatNumber(v)}%`;
  if (name.endsWith('_mb')) return formatMemory(v);
  if (name.endsWith('_bytes')) return formatBytes(v);
  if (name.endsWith('_ms'))
    return Math.abs(v) >= 1000 ? `${formatNumber(v / 1000)} s` : `${formatNumber(v)} ms`;
  if (name.endsWith('_seconds')) return `${formatNumber(v)} s`;
  if (name.endsWith('_usd'))
    return `$${Math.abs(v) > 0 && Math.abs(v) < 0.01 ? v.toPrecision(2) : v.toFixed(2)}`;
  return formatNumber(v);
}

/** Well-known names first (SPEC §3 order), then the others alphabetically. */
export function orderMetricNames(names: Iterable<string>): string[] {
  const set = new Set(names);
  const known = WELL_KNOWN.filter((n) => set.has(n));
  const rest = [...set].filter((n) => !WELL_KNOWN.includes(n)).sort();
  return [...known, ...rest];
}

/** An agent's latest metrics, as `GET /api/v1/agents` has them. */
export interface AgentMetrics {
  agentId: string;
  metrics: Record<string, number>;
  lastSeen: number;
}

/**
 * The latest value of every metric per agent: one row per agent (sorted by id), one column per
 * metric name (well-known names first), `-` where an agent has not reported that name.
 * `names` restricts and orders the columns.
 */
export function formatLatestTable(
  agents: readonly AgentMetrics[],
  names?: readonly string[],
): string {
  if (agents.length === 0) {
    return 'No agents yet: an agent appears with its first event or heartbeat.\n';
  }
  const cols = names ?? orderMetricNames(agents.flatMap((a) => Object.keys(a.metrics)));
  if (cols.length === 0) {
    return 'No metrics yet: agents report them with metric_update events (cpu_percent, memory_mb, …).\n';
  }
  const sorted = [...agents].sort((a, b) =>
    a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0,
  );
  const columns: Column[] = [
    { header: 'AGENT' },
    ...cols.map((n) => ({ header: n, align: 'right' as const })),
  ];
  return formatTable(
    columns,
    sorted.map((a) => [a.agentId, ...cols.map((n) => formatMetricValue(n, a.metrics[n]))]),
  );
}

/** `the last 1h`, `since 2025-11-22T06:00:00.000Z`: how the window is named. */
export function windowLabel(from: number, to: number, relative: boolean): string {
  if (!relative) return `since ${new Date(from).toISOString()}`;
  const ms = to - from;
  for (const [u, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `the last ${ms / size}${u}`;
  }
  return `the last ${Math.round(ms / 1000)}s`;
}

/**
 * One agent's (or the fleet's) series over a window: a title line, then one row per series
 * with LAST, MIN, AVG, MAX in the series' unit, SAMPLES in the window and UPDATED (when the
 * step holding the last sample began, so at most one step early).
 */
export function formatSeriesTable(
  agentId: string,
  series: readonly SeriesStats[],
  window: { from: number; to: number; relative: boolean },
  now: number,
): string {
  const who = agentId === FLEET ? 'fleet (*)' : agentId;
  const title = `${who}: metrics over ${windowLabel(window.from, window.to, window.relative)}`;
  if (series.length === 0) {
    return agentId === FLEET
      ? 'No fleet metrics yet: they appear with the first metric_update event and the hub’s own samples.\n'
      : `No metrics for ${agentId} yet: agents report them with metric_update events.\n`;
  }
  const columns: Column[] = [
    { header: 'METRIC' },
    { header: 'LAST', align: 'right' },
    { header: 'MIN', align: 'right' },
    { header: 'AVG', align: 'right' },
    { header: 'MAX', align: 'right' },
    { header: 'SAMPLES', align: 'right' },
    { header: 'UPDATED' },
  ];
  const rows = series.map((s) => [
    s.name,
    formatMetricValue(s.name, s.last),
    formatMetricValue(s.name, s.min),
    formatMetricValue(s.name, s.avg),
    formatMetricValue(s.name, s.max),
    String(s.count),
    s.lastStepAt === null ? 'no samples' : formatAgo(Math.max(0, now - s.lastStepAt)),
  ]);
  return `${title}\n\n${formatTable(columns, rows)}`;
}

interface QueryAnswer {
  points: MetricPoint[];
  source: string;
  step: number;
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * The names of `agentId`'s series (`*`: the fleet's). The series list holds what the hub has
 * flushed (every `metrics.flush_interval`, 5 s by default), so the names among the latest
 * metrics of `GET /api/v1/agents` are added: a series that began a moment ago is shown too.
 */
async function seriesNames(client: HubClient, agentId: string): Promise<string[]> {
  const listed =
    agentId === FLEET
      ? (await client.get<{ names?: string[] }>('/api/v1/metrics/names')).names
      : ((
          await client.get<{ series?: Array<{ agentId: string; names: string[] }> }>(
            '/api/v1/metrics/query',
            { agentId },
          )
        ).series?.find((s) => s.agentId === agentId)?.names ?? []);
  if (!Array.isArray(listed)) {
    throw new HubClientError('invalid_response', 'the metrics routes answered an unexpected shape');
  }
  const agents = (await client.get<{ agents?: AgentMetrics[] }>('/api/v1/agents')).agents ?? [];
  const latest = agents
    .filter((a) => agentId === FLEET || a.agentId === agentId)
    .flatMap((a) => Object.keys(a.metrics ?? {}));
  return [...new Set([...listed, ...latest])];
}

function usage(io: CliIo, message: string): number {
  io.stderr.write(`warden: ${message}\n`);
  return EXIT.usage;
}

/** `--name a,b` as a list, or a message naming the bad one. */
function parseNames(text: string | undefined): string[] | undefined | string {
  if (text === undefined) return undefined;
  const names = text
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0) return '--name needs a metric name (e.g. cpu_percent)';
  for (const n of names) {
    if (!METRIC_NAME_PATTERN.test(n)) {
      return `--name ${JSON.stringify(n)} is not a metric name (lower case letters, digits and _, starting with a letter)`;
    }
  }
  return [...new Set(names)];
}

/**
 * `warden metrics`: without `--agent`, the latest value of each metric per agent (from
 * `GET /api/v1/agents`); with `--agent ID` (or `--agent '*'` / `--fleet` for the fleet), each
 * series' last, min, avg and max over the window from `--since` (default the last hour) to
 * now, from `GET /api/v1/metrics/names` or the agent's series list and one
 * `GET /api/v1/metrics/query` per series. Exit 0; 64 for a bad flag; 1 when the server cannot
 * be reached or refuses (404 for an agent it does not know).
 */
export async function metricsCommand(
  flags: MetricsFlags,
  io: CliIo = processIo(),
  now: () => number = Date.now,
): Promise<number> {
  if (flags.fleet && flags.agent !== undefined && flags.agent !== FLEET) {
    return usage(io, '--fleet and --agent name different series: give one');
  }
  const agentId = flags.fleet ? FLEET : flags.agent;
  if (agentId !== undefined && agentId !== FLEET && !AGENT_ID_PATTERN.test(agentId)) {
    return usage(io, `--agent ${JSON.stringify(agentId)} is not an agent id (or * for the fleet)`);
  }
  const names = parseNames(flags.name);
  if (typeof names === 'string') return usage(io, names);
  const t0 = now();
  let from = t0 - DEFAULT_WINDOW_MS;
  if (flags.since !== undefined) {
    if (agentId === undefined) {
      return usage(
        io,
        "--since is for one agent's series over time: add --agent ID (or --fleet for the fleet's)",
      );
    }
    const t = parseTimeArg(flags.since, t0);
    if (t === undefined)
      return usage(io, `--since ${JSON.stringify(flags.since)} must be ${TIME_ARG_FORMS}`);
    if (t >= t0) return usage(io, `--since ${JSON.stringify(flags.since)} is not in the past`);
    from = t;
  }
  try {
    const client = await HubClient.connect(flags);
    if (agentId === undefined) {
      const body = await client.get<{ agents?: AgentMetrics[] }>('/api/v1/agents');
      if (!Array.isArray(body.agents)) {
        throw new HubClientError(
          'invalid_response',
          'GET /api/v1/agents answered without an agents list',
        );
      }
      const agents = body.agents.map((a) => ({
        agentId: a.agentId,
        lastSeen: a.lastSeen,
        metrics: names
          ? Object.fromEntries(
              names.filter((n) => n in (a.metrics ?? {})).map((n) => [n, a.metrics[n]!]),
            )
          : (a.metrics ?? {}),
      }));
      io.stdout.write(
        flags.json ? JSON.stringify({ agents }, null, 2) + '\n' : formatLatestTable(agents, names),
      );
      return EXIT.ok;
    }

    const available = await seriesNames(client, agentId);
    const wanted = orderMetricNames(names ?? available);
    const to = t0;
    const series = await mapLimit(wanted, PARALLEL, async (name) => {
      const q = await client.get<QueryAnswer>('/api/v1/metrics/query', {
        agentId,
        name,
        from,
        to,
      });
      return seriesStats(name, Array.isArray(q.points) ? q.points : [], {
        source: q.source,
        step: q.step,
      });
    });
    if (flags.json) {
      io.stdout.write(JSON.stringify({ agentId, from, to, series }, null, 2) + '\n');
    } else {
      io.stdout.write(
        formatSeriesTable(
          agentId,
          series,
          { from, to, relative: flags.since === undefined || isRelativeTime(flags.since) },
          now(),
        ),
      );
    }
    return EXIT.ok;
  } catch (err) {
    if (err instanceof HubClientError && err.code === 'invalid_request') {
      return usage(io, err.message);
    }
    return reportClientError(err, io.stderr);
  }
}

/** Registers `warden metrics` on `program`; `done` receives the exit code. */
export function registerMetricsCommand(program: Command, done: (code: number) => void): void {
  clientOptions(
    program
      .command('metrics')
      .description(
        "latest metrics per agent; with --agent ID (or --fleet) each series' last/min/avg/max over a window",
      )
      .option('--agent <id>', "one agent's series over the window ('*' for the fleet's)")
      .option('--fleet', "the fleet's series (host, task queue, all agents together)")
      .option('--name <names>', 'only these metrics (comma-separated, e.g. cpu_percent,memory_mb)')
      .option('--since <time>', 'window start: epoch ms, ISO-8601 or back from now (default 1h)')
      .option('--json', 'print the figures as one JSON object'),
  ).action(async (opts: Record<string, unknown>) => {
    const s = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined);
    const flags: MetricsFlags = { ...clientFlags(opts) };
    if (s('agent') !== undefined) flags.agent = s('agent')!;
    if (s('name') !== undefined) flags.name = s('name')!;
    if (s('since') !== undefined) flags.since = s('since')!;
    if (opts.fleet === true) flags.fleet = true;
    if (opts.json === true) flags.json = true;
    done(await metricsCommand(flags));
  });
}
