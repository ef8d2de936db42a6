import type { Command } from 'commander';
import type { Health } from '@warden/protocol';
import { EXIT } from './exit-codes.js';
import {
  HubClient,
  clientFlags,
  clientOptions,
  reportClientError,
  type ClientFlags,
} from './hub-client.js';

/** The part of `GET /api/v1/agents` the table shows (the server sends more). */
export interface AgentListItem {
  agentId: string;
  status: string | null;
  statusMessage: string | null;
  health: Health;
  metrics: Record<string, number>;
  openTasks: number;
  unresolvedErrors: number;
  /** Epoch ms of the last event or heartbeat. */
  lastSeen: number;
}

/** Flags of `warden agents`. */
export interface AgentsFlags extends ClientFlags {
  /** Print the array as JSON instead of the table. */
  json?: boolean;
}

/** Health as SPEC §1 colours it (green / yellow / red / grey), in the marks of SPEC §11. */
export const HEALTH_MARK: Record<Health, string> = {
  healthy: '✅',
  warning: '⚠️',
  critical: '❌',
  unknown: '⚪',
};

/** Marks terminals draw two columns wide (East Asian Width "W"); ⚠ is one wide, even as ⚠️. */
const WIDE_MARKS = new Set(['✅', '❌', '⚪']);

/** Terminal columns of `text`: the wide marks count two, the variation selector none. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    if (ch === '\uFE0F') continue;
    width += WIDE_MARKS.has(ch) ? 2 : 1;
  }
  return width;
}

/**
 * `✅ healthy`, `⚠️  warning`: a narrow mark gets a second space so the words line up, as in
 * the fleet view of SPEC §11.
 */
export function healthLabel(health: Health): string {
  const mark = HEALTH_MARK[health] ?? '?';
  return `${mark}${displayWidth(mark) === 1 ? '  ' : ' '}${health}`;
}

function pad(text: string, width: number, right = false): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return right ? fill + text : text + fill;
}

/** `3s ago`, `5m ago`, `2h ago`, `3d ago`; `just now` under a second, and for clock skew. */
export function formatAgo(ms: number): string {
  if (ms < 1000) return 'just now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/** `234 MB`, `1.5 GB` from megabytes. */
export function formatMemory(mb: number): string {
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}

/**
 * The fleet as a table: agent, status, health (mark and word), CPU, RAM, open tasks,
 * unresolved errors, last seen, and the status message when any agent has one; sorted by
 * id, with a summary line by health. `now` is the epoch ms "last seen" is measured from.
 */
export function formatAgentsTable(agents: readonly AgentListItem[], now: number): string {
  if (agents.length === 0) {
    return 'No agents yet: an agent appears with its first event or heartbeat.\n';
  }
  const sorted = [...agents].sort((a, b) =>
    a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0,
  );
  const withMessage = sorted.some((a) => a.statusMessage);
  const header = ['AGENT', 'STATUS', 'HEALTH', 'CPU', 'RAM', 'TASKS', 'ERRORS', 'LAST SEEN'];
  if (withMessage) header.push('MESSAGE');
  const rightAligned = new Set([3, 4, 5, 6]);
  const rows = sorted.map((a) => {
    const cpu = a.metrics.cpu_percent;
    const mem = a.metrics.memory_mb;
    const row = [
      a.agentId,
      a.status ?? '-',
      healthLabel(a.health),
      cpu === undefined ? '-' : `${Math.round(cpu)}%`,
      mem === undefined ? '-' : formatMemory(mem),
      String(a.openTasks),
      String(a.unresolvedErrors),
      formatAgo(now - a.lastSeen),
    ];
    if (withMessage) row.push((a.statusMessage ?? '').replace(/\s+/g, ' '));
    return row;
  });
  const widths = header.map((h, i) =>
    Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i]!))),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i]!, rightAligned.has(i))))
      .join('  ')
      .trimEnd();
  const counts: Record<Health, number> = { healthy: 0, warning: 0, critical: 0, unknown: 0 };
  for (const a of sorted) counts[a.health] = (counts[a.health] ?? 0) + 1;
  const summary = (['healthy', 'warning', 'critical', 'unknown'] as const)
    .filter((h) => counts[h] > 0)
    .map((h) => `${counts[h]} ${h}`)
    .join(', ');
  const noun = sorted.length === 1 ? 'agent' : 'agents';
  return (
    [line(header), ...rows.map(line), '', `${sorted.length} ${noun}: ${summary}`].join('\n') + '\n'
  );
}

/** `warden agents [--json]`: the fleet from `GET /api/v1/agents`. Resolves with the exit code. */
export async function agents(flags: AgentsFlags, now: () => number = Date.now): Promise<number> {
  try {
    const client = await HubClient.connect(flags);
    const body = await client.get<{ agents?: AgentListItem[] }>('/api/v1/agents');
    if (!Array.isArray(body.agents)) {
      process.stderr.write(`warden: ${client.url}/api/v1/agents answered without an agents list\n`);
      return EXIT.failure;
    }
    process.stdout.write(
      flags.json
        ? JSON.stringify(body.agents, null, 2) + '\n'
        : formatAgentsTable(body.agents, now()),
    );
    return EXIT.ok;
  } catch (err) {
    return reportClientError(err);
  }
}

/** Registers `warden agents` on `program`; `done` receives the exit code. */
export function registerAgentsCommand(program: Command, done: (code: number) => void): void {
  clientOptions(
    program
      .command('agents')
      .description('list the fleet: status, health, CPU, RAM, open tasks, errors, last seen')
      .option('--json', 'print the agents as a JSON array'),
  ).action(async (opts: Record<string, unknown>) => {
    done(await agents({ ...clientFlags(opts), json: opts.json === true }));
  });
}
