import type { Health } from '@warden/protocol';
import { HEALTH_MARK, formatMemory } from '../agents-command.js';
import type { LogLine } from '../logs-command.js';
import {
  fleetSummary,
  sortedRows,
  type AgentRow,
  type FleetState,
  type PendingRestart,
} from './fleet-model.js';
import type { LogTail } from './log-tail.js';
import { cells, fitCells, oneLineSafe, truncateCells } from './text-cells.js';

/** A run of text with one style; a colour always comes with a word or a mark, never alone. */
export interface Segment {
  text: string;
  color?: 'green' | 'yellow' | 'red' | 'gray' | 'cyan';
  bold?: boolean;
  dim?: boolean;
  inverse?: boolean;
}

/** One screen line: exactly the screen's width in columns. */
export type ScreenLine = Segment[];

/** The WebSocket as the header tells it. */
export interface ConnectionState {
  state: 'connecting' | 'live' | 'reconnecting';
  /** Epoch ms the state began. */
  since: number;
  /** The last reason a (re)connect failed. */
  reason?: string;
}

/** The status line: the result of the last action. */
export interface StatusMessage {
  text: string;
  tone: 'info' | 'ok' | 'error';
}

/** Everything one frame is drawn from. */
export interface ScreenInput {
  fleet: FleetState;
  /** Whether the first snapshot is in (before it, "connecting"). */
  loaded: boolean;
  now: number;
  /** Terminal columns. */
  width: number;
  /** Lines to draw (one less than the terminal's rows, so the frame never scrolls). */
  height: number;
  connection: ConnectionState;
  /** The selected agent's id. */
  selected: string | undefined;
  message: StatusMessage | undefined;
  /** Set in the log view. */
  logs: LogTail | undefined;
  /** Where the server is, for "connecting to …". */
  url: string;
}

/** Smallest screen the frame is drawn on; below it one line says so. */
export const MIN_WIDTH = 40;
export const MIN_HEIGHT = 8;

const HEALTH_COLOR: Record<Health, Segment['color']> = {
  healthy: 'green',
  warning: 'yellow',
  critical: 'red',
  unknown: 'gray',
};

/** ⚠️ without its variation selector: terminals and ink then agree it is one column. */
function mark(health: Health): string {
  return (HEALTH_MARK[health] ?? '?').replace(/\uFE0F/g, '');
}

/** `45s`, `2m`, `1h5m` — the age of a task, as in SPEC §11's "(2m)". */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return m > 0 ? `${h}h${m}m` : `${h}h`;
}

function attempts(r: PendingRestart): string {
  return r.maxAttempts !== undefined
    ? `attempt ${r.attempt}/${r.maxAttempts}`
    : `attempt ${r.attempt}`;
}

/** "restarting in 30 s (attempt 2/3)", or "restarting now …" once it is due. */
export function restartText(r: PendingRestart, now: number): string {
  const left = Math.ceil((r.at - now) / 1000);
  return left > 0 ? `restarting in ${left} s (${attempts(r)})` : `restarting now (${attempts(r)})`;
}

/** Statuses whose message says what the agent waits for (a prompt, a provider's limit). */
const WAITING: ReadonlySet<string> = new Set(['needs_input', 'rate_limited', 'unresponsive']);

/**
 * What the row's last column says, most urgent first, in at most `width` columns: a task's
 * name (its id when it has none; ids are often UUIDs) is cut first, so its age stays.
 */
export function rowDetail(row: AgentRow, now: number, width = Infinity): Segment {
  if (row.restart && row.status !== null && ['restarting', 'failed'].includes(row.status)) {
    return { text: restartText(row.restart, now), color: 'yellow' };
  }
  if (row.status === 'failed') {
    return { text: oneLineSafe(row.statusMessage ?? 'failed'), color: 'red' };
  }
  const parts: string[] = [];
  if (row.trial) {
    parts.push(
      `half-open trial ${row.trial.trial}${row.trial.of !== undefined ? `/${row.trial.of}` : ''}`,
    );
  }
  // Waiting on a person or a provider: why comes before what it was doing.
  if (row.statusMessage && row.status !== null && WAITING.has(row.status)) {
    parts.push(row.statusMessage);
  }
  let taskAt = -1;
  let task: { label: string; suffix: string } | undefined;
  if (row.task) {
    const t = row.task;
    const pct = t.percent !== undefined ? ` ${Math.round(t.percent)}%` : '';
    task = {
      label: oneLineSafe(t.name || t.taskId),
      suffix: ` (${formatSpan(now - t.since)})${pct}`,
    };
    taskAt = parts.length;
    parts.push('');
  }
  const failing = Object.entries(row.checks)
    .filter(([, v]) => v.health === 'warning' || v.health === 'critical')
    .sort(([, a], [, b]) => (a.health === b.health ? 0 : a.health === 'critical' ? -1 : 1));
  if (failing.length > 0 && row.status !== 'stopped') {
    const [check, v] = failing[0]!;
    parts.push(`${check}: ${v.reason}`);
  } else if (
    parts.length === 0 &&
    row.statusMessage &&
    row.status !== 'running' &&
    !(row.status !== null && WAITING.has(row.status))
  ) {
    parts.push(row.statusMessage);
  }
  if (task) {
    const others = parts.reduce((n, p, i) => (i === taskAt ? n : n + cells(oneLineSafe(p)) + 3), 0);
    const room = width - others - cells('task ') - cells(task.suffix);
    const label = room >= 4 ? truncateCells(task.label, room) : task.label;
    parts[taskAt] = `task ${label}${task.suffix}`;
  }
  return { text: oneLineSafe(parts.join(' · ')) };
}

/** Columns of the agent rows for a given inner width. */
interface RowLayout {
  id: number;
  status: number;
  cpu: boolean;
  ram: boolean;
}

const CPU_COLS = 8; // "CPU 100%"
const RAM_COLS = 11; // "RAM 1023 MB"

function rowLayout(rows: readonly AgentRow[], inner: number): RowLayout {
  const longest = Math.max(2, ...rows.map((r) => cells(r.agentId)));
  // Room for "restarting", so a crash-looping agent does not shift every column back and
  // forth; wider only while a longer status ("rate_limited", 12) is shown.
  const status = Math.max(10, ...rows.map((r) => cells(r.status ?? '-')));
  // marker 2, id, space, mark 2 + space, status, then the optional columns and the detail.
  const fixed = (id: number) => 2 + id + 1 + 3 + status;
  let id = Math.min(longest, Math.max(8, Math.floor(inner * 0.3)));
  const room = (l: RowLayout) =>
    inner - fixed(l.id) - (l.cpu ? CPU_COLS + 2 : 0) - (l.ram ? RAM_COLS + 2 : 0) - 1;
  const layout: RowLayout = { id, status, cpu: true, ram: true };
  // RAM goes first when the detail would get under 12 columns; CPU only when nothing is left.
  if (room(layout) < 12) layout.ram = false;
  if (room(layout) < 0) layout.cpu = false;
  if (room(layout) < 0) {
    id = Math.max(4, id + room(layout));
    layout.id = id;
  }
  return layout;
}

/** Processes that are not running have no CPU or RAM worth showing. */
const NO_PROCESS = new Set(['restarting', 'failed', 'stopped']);

function agentLine(
  row: AgentRow,
  layout: RowLayout,
  inner: number,
  selected: boolean,
  now: number,
): ScreenLine {
  const color = HEALTH_COLOR[row.health];
  const m = mark(row.health);
  const segs: Segment[] = [
    { text: selected ? '› ' : '  ', bold: selected },
    { text: fitCells(row.agentId, layout.id) + ' ', bold: selected },
    { text: m + ' '.repeat(3 - cells(m)), color },
    { text: fitCells(row.status ?? '-', layout.status), color },
  ];
  // A process that is not running has no CPU or RAM: its detail (the restart countdown,
  // why it failed) takes their columns.
  const dead = row.status !== null && NO_PROCESS.has(row.status);
  if (layout.cpu && !dead) {
    const cpu = row.metrics.cpu_percent;
    const text = cpu === undefined ? '' : `CPU ${String(Math.round(cpu)).padStart(3)}%`;
    segs.push({ text: '  ' + fitCells(text, CPU_COLS) });
  }
  if (layout.ram && !dead) {
    const mem = row.metrics.memory_mb;
    const text = mem === undefined ? '' : `RAM ${formatMemory(mem).padStart(7)}`;
    segs.push({ text: '  ' + fitCells(text, RAM_COLS) });
  }
  const used = segs.reduce((n, s) => n + cells(s.text), 0);
  const room = Math.max(0, inner - used - 1);
  const detail = rowDetail(row, now, room);
  segs.push({ ...detail, text: ' ' + fitCells(detail.text, room) });
  if (selected) for (const s of segs) s.inverse = true;
  return segs;
}

function framed(inner: number, content: Segment[]): ScreenLine {
  const used = content.reduce((n, s) => n + cells(s.text), 0);
  const pad = used < inner ? [{ text: ' '.repeat(inner - used) }] : [];
  return [{ text: '│ ', dim: true }, ...content, ...pad, { text: ' │', dim: true }];
}

/** `├─ text ───┤` (or `┌`/`└`), `right` text placed at the right end. */
function rule(
  width: number,
  ends: [string, string],
  left: Segment | undefined,
  right?: Segment,
): ScreenLine {
  const segs: Segment[] = [{ text: ends[0] + '─', dim: true }];
  let used = 2 + 1; // both ends and the first dash
  const room = width - used;
  let leftSeg: Segment | undefined;
  let rightSeg: Segment | undefined;
  if (left) {
    leftSeg = { ...left, text: truncateCells(` ${left.text} `, Math.max(0, room)) };
    used += cells(leftSeg.text);
  }
  if (right && width - used - 1 >= cells(right.text) + 2) {
    rightSeg = { ...right, text: ` ${right.text} ` };
    used += cells(rightSeg.text) + 1;
  }
  if (leftSeg) segs.push(leftSeg);
  segs.push({ text: '─'.repeat(Math.max(0, width - used)), dim: true });
  if (rightSeg) segs.push(rightSeg, { text: '─', dim: true });
  segs.push({ text: ends[1], dim: true });
  return segs;
}

function connectionSegment(c: ConnectionState, now: number): Segment {
  if (c.state === 'live') return { text: '● live', color: 'green' };
  const secs = Math.max(0, Math.floor((now - c.since) / 1000));
  if (c.state === 'connecting') return { text: '… connecting', color: 'yellow' };
  return { text: `↻ reconnecting… ${secs}s`, color: 'yellow', bold: true };
}

const HEALTH_WORD: Record<Health, string> = {
  healthy: 'Healthy',
  warning: 'Warning',
  critical: 'Critical',
  unknown: 'Unknown',
};

/** `System: ✅ Healthy   Agents: 4/5 active   Queue: 12   Rate: 3.2/min`, cut to fit. */
function headerLine(input: ScreenInput, inner: number): Segment[] {
  const wide = headerSegments(input, '   ');
  if (wide.reduce((n, s) => n + cells(s.text), 0) <= inner) return wide;
  return clip(headerSegments(input, '  '), inner);
}

function headerSegments(input: ScreenInput, gap: string): Segment[] {
  const s = fleetSummary(input.fleet);
  const segs: Segment[] = [
    { text: 'System: ' },
    {
      text: input.loaded ? `${mark(s.health)} ${HEALTH_WORD[s.health]}` : '…',
      color: input.loaded ? HEALTH_COLOR[s.health] : undefined,
      bold: true,
    },
    { text: `${gap}Agents: ${s.active}/${s.total} active` },
    { text: `${gap}Queue: ${s.queue ? s.queue.depth : '-'}` },
    { text: `${gap}Rate: ${s.queue ? `${s.queue.ratePerMin}/min` : '-'}` },
  ];
  // What the header says is as of the outage: say so in words, not only by the title's colour.
  if (input.connection.state !== 'live') segs.push({ text: `${gap}(stale)`, color: 'yellow' });
  return segs;
}

/** Segments cut to `width` columns in total. */
function clip(segs: readonly Segment[], width: number): Segment[] {
  const out: Segment[] = [];
  let left = width;
  for (const s of segs) {
    if (left <= 0) break;
    const w = cells(s.text);
    if (w <= left) {
      out.push(s);
      left -= w;
    } else {
      out.push({ ...s, text: truncateCells(s.text, left) });
      left = 0;
    }
  }
  return out;
}

const LEVEL_COLOR: Record<string, Segment['color']> = {
  debug: 'gray',
  info: 'green',
  warn: 'yellow',
  error: 'red',
};

function clockTime(ts: number): string {
  const d = new Date(ts);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `12:00:01 WARN  disk almost full`, the level as a word and a colour. */
function logLine(l: LogLine, inner: number): Segment[] {
  return clip(
    [
      { text: clockTime(l.ts) + ' ', dim: true },
      { text: l.level.toUpperCase().padEnd(6), color: LEVEL_COLOR[l.level] },
      { text: oneLineSafe(l.message) },
    ],
    inner,
  );
}

/**
 * One frame of `warden monitor`, exactly `height` lines of exactly `width` columns: the title
 * rule with the connection state, the header of SPEC §11, one row per agent (or the log view),
 * the status line and the keys. Rows that do not fit scroll so the selected one stays
 * visible. Pure: the same input draws the same frame.
 */
export function monitorScreen(input: ScreenInput): ScreenLine[] {
  const { width, height, now } = input;
  if (width < MIN_WIDTH || height < MIN_HEIGHT) {
    const text = truncateCells(
      `terminal too small for warden monitor: ${width}×${height + 1}, needs ${MIN_WIDTH}×${MIN_HEIGHT + 1} (q quits)`,
      width,
    );
    const lines: ScreenLine[] = [[{ text: fitCells(text, width) }]];
    while (lines.length < height) lines.push([{ text: ' '.repeat(width) }]);
    return lines.slice(0, Math.max(1, height));
  }
  const inner = width - 4;
  const title = input.logs ? `Warden — logs of ${input.logs.agentId}` : 'Warden — fleet monitor';
  const lines: ScreenLine[] = [
    rule(width, ['┌', '┐'], { text: title, bold: true }, connectionSegment(input.connection, now)),
    framed(inner, headerLine(input, inner)),
  ];
  const area = height - 7;
  let below: string | undefined;
  if (input.logs) {
    lines.push(rule(width, ['├', '┤'], undefined));
    const body = logBody(input.logs, inner, area);
    for (const l of body) lines.push(framed(inner, l));
  } else {
    lines.push(rule(width, ['├', '┤'], undefined));
    const { body, hiddenAbove, hiddenBelow } = fleetBody(input, inner, area);
    for (const l of body) lines.push(framed(inner, l));
    const hidden = [
      hiddenAbove > 0 ? `${hiddenAbove} above` : '',
      hiddenBelow > 0 ? `${hiddenBelow} below` : '',
    ].filter(Boolean);
    if (hidden.length > 0) below = `${hidden.join(', ')} (↑/↓ scrolls)`;
  }
  lines.push(rule(width, ['├', '┤'], below !== undefined ? { text: below, dim: true } : undefined));
  const msg = input.message;
  lines.push(
    framed(
      inner,
      msg
        ? clip(
            [
              {
                text: msg.tone === 'error' ? '✗ ' : msg.tone === 'ok' ? '✓ ' : '» ',
                color: msg.tone === 'error' ? 'red' : msg.tone === 'ok' ? 'green' : 'cyan',
              },
              { text: oneLineSafe(msg.text) },
            ],
            inner,
          )
        : [],
    ),
  );
  const keys = input.logs
    ? 'l/Esc back to the fleet   q quit'
    : '↑/↓ select   r restart   l logs   q quit';
  lines.push(framed(inner, clip([{ text: keys, dim: true }], inner)));
  lines.push(rule(width, ['└', '┘'], undefined));
  return lines;
}

function fleetBody(
  input: ScreenInput,
  inner: number,
  area: number,
): { body: Segment[][]; hiddenAbove: number; hiddenBelow: number } {
  const rows = sortedRows(input.fleet);
  const body: Segment[][] = [];
  if (!input.loaded) {
    body.push(clip([{ text: `Connecting to ${input.url}…` }], inner));
  } else if (rows.length === 0) {
    body.push(
      clip([{ text: 'No agents yet: an agent appears with its first event or heartbeat.' }], inner),
    );
  }
  let hiddenAbove = 0;
  let hiddenBelow = 0;
  if (rows.length > 0) {
    const layout = rowLayout(rows, inner);
    const sel = Math.max(
      0,
      rows.findIndex((r) => r.agentId === input.selected),
    );
    const offset =
      rows.length <= area
        ? 0
        : Math.max(0, Math.min(sel - Math.floor(area / 2), rows.length - area));
    const shown = rows.slice(offset, offset + area);
    hiddenAbove = offset;
    hiddenBelow = rows.length - offset - shown.length;
    for (const r of shown) {
      body.push(agentLine(r, layout, inner, r.agentId === input.selected, input.now));
    }
  }
  while (body.length < area) body.push([]);
  return { body, hiddenAbove, hiddenBelow };
}

function logBody(tail: LogTail, inner: number, area: number): Segment[][] {
  const body: Segment[][] = [];
  const note =
    tail.error !== undefined
      ? { text: `cannot read the log history: ${tail.error}`, color: 'red' as const }
      : tail.loading
        ? { text: 'loading the log history…' }
        : tail.lines.length === 0
          ? { text: `no log lines from ${tail.agentId} yet; new ones appear here` }
          : undefined;
  const room = note ? area - 1 : area;
  const shown = tail.lines.slice(Math.max(0, tail.lines.length - room));
  if (note) body.push(clip([note], inner));
  for (const l of shown) body.push(logLine(l, inner));
  while (body.length < area) body.push([]);
  return body;
}
