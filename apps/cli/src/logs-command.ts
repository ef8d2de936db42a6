import { Option, type Command } from 'commander';
import { AGENT_ID_PATTERN, LOG_LEVELS, type LogLevel, type StoredEvent } from '@warden/protocol';
import { connect, type WardenClient } from '@warden/sdk';
import { EXIT } from './exit-codes.js';
import {
  HubClient,
  HubClientError,
  clientFlags,
  clientOptions,
  reportClientError,
  type ClientFlags,
} from './hub-client.js';

/** One line as `GET /api/v1/logs` returns it. */
export interface LogLine {
  seq: number;
  agentId: string;
  ts: number;
  level: LogLevel;
  stream?: 'stdout' | 'stderr';
  message: string;
  correlationId?: string;
}

interface LogsPage {
  logs: LogLine[];
  next: number | null;
  head: number;
}

/** Flags of `warden logs` (SPEC §11). */
export interface LogsFlags extends ClientFlags {
  agent?: string;
  follow?: boolean;
  level?: string;
  /** A JavaScript regular expression the message must match. */
  grep?: string;
  /** Epoch ms, ISO-8601 or a duration back from now (`10m`). */
  since?: string;
  /** History lines shown before following. @defaultValue 100 */
  lines?: string;
  json?: boolean;
}

/** Where the command writes, and when it stops following (tests; SIGINT otherwise). */
export interface LogsIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Colours only on a terminal. */
  color: boolean;
  /** Ends `--follow`; default: SIGINT or SIGTERM. */
  signal?: AbortSignal;
}

/** History pages read at most while `--grep` looks for enough matching lines. */
const MAX_SCAN_PAGES = 20;
const PAGE = 1000;

const COLORS: Record<LogLevel, string> = {
  debug: '\x1b[90m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
};
const CYAN = '\x1b[36m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/**
 * `2025-11-22T06:00:00.000Z worker-1 WARN  disk almost full`: one line per log line, the
 * level padded so messages line up; with `color`, the level, the agent and the time coloured.
 * Control characters in the message (an ANSI escape from an agent) are shown escaped, so an
 * agent's output cannot rewrite the terminal.
 */
export function formatLogLine(l: LogLine, color: boolean): string {
  const ts = new Date(l.ts).toISOString();
  const level = l.level.toUpperCase().padEnd(5);
  // eslint-disable-next-line no-control-regex
  const message = l.message.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) =>
    c === '\t' ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  if (!color) return `${ts} ${l.agentId} ${level} ${message}\n`;
  return `${DIM}${ts}${RESET} ${CYAN}${l.agentId}${RESET} ${COLORS[l.level]}${level}${RESET} ${message}\n`;
}

/** The `--json` line: the stored line as one JSON object. */
export function jsonLogLine(l: LogLine): string {
  return JSON.stringify(l) + '\n';
}

/** A stored `log` event as a {@link LogLine}. */
export function lineOfEvent(ev: StoredEvent): LogLine {
  const d = ev.data as { level?: unknown; message?: unknown; stream?: unknown };
  return {
    seq: ev.seq,
    agentId: ev.agentId,
    ts: ev.ts,
    level: (LOG_LEVELS as readonly unknown[]).includes(d.level) ? (d.level as LogLevel) : 'info',
    ...(d.stream === 'stdout' || d.stream === 'stderr' ? { stream: d.stream } : {}),
    message: typeof d.message === 'string' ? d.message : String(d.message),
    ...(ev.correlationId !== undefined ? { correlationId: ev.correlationId } : {}),
  };
}

/** A regular expression with no special characters: the server can narrow by it (`q`). */
function literalOf(re: string): string | undefined {
  return /^[^\\^$.*+?()[\]{}|]+$/.test(re) ? re : undefined;
}

interface Options {
  agent: string | undefined;
  level: LogLevel | undefined;
  grep: RegExp | undefined;
  q: string | undefined;
  since: string | undefined;
  lines: number;
}

function usage(io: LogsIo, message: string): number {
  io.stderr.write(`warden: ${message}\n`);
  return EXIT.usage;
}

function parseOptions(flags: LogsFlags, io: LogsIo): Options | number {
  if (flags.agent !== undefined && !AGENT_ID_PATTERN.test(flags.agent)) {
    return usage(io, `--agent ${JSON.stringify(flags.agent)} is not an agent id`);
  }
  if (flags.level !== undefined && !(LOG_LEVELS as readonly string[]).includes(flags.level)) {
    return usage(
      io,
      `--level ${JSON.stringify(flags.level)} is not a level (one of ${LOG_LEVELS.join(', ')})`,
    );
  }
  let grep: RegExp | undefined;
  if (flags.grep !== undefined) {
    try {
      grep = new RegExp(flags.grep);
    } catch (err) {
      return usage(io, `--grep: ${(err as Error).message}`);
    }
  }
  const lines = flags.lines === undefined ? 100 : Number(flags.lines);
  if (!Number.isInteger(lines) || lines < 0 || lines > 100_000) {
    return usage(io, `--lines ${JSON.stringify(flags.lines)} must be a whole number 0..100000`);
  }
  const literal = flags.grep !== undefined ? literalOf(flags.grep) : undefined;
  return {
    agent: flags.agent,
    level: flags.level as LogLevel | undefined,
    grep,
    // The server's `q` ignores case; the regular expression then keeps exact matches only.
    q: literal,
    since: flags.since,
    lines,
  };
}

/**
 * The newest `lines` matching lines, oldest first, and the seq up to which the history was
 * searched (where following starts).
 */
async function history(client: HubClient, o: Options): Promise<{ lines: LogLine[]; head: number }> {
  const found: LogLine[] = [];
  let head: number | undefined;
  let cursor: number | undefined;
  for (let page = 0; page < (o.grep && !o.q ? MAX_SCAN_PAGES : 1e9); page++) {
    const want = o.lines - found.length;
    const res = await client.get<LogsPage>('/api/v1/logs', {
      agentId: o.agent,
      level: o.level,
      q: o.q,
      since: o.since,
      // Without --grep the server's page is exactly what is shown.
      limit: o.grep ? PAGE : Math.max(1, Math.min(PAGE, want)),
      cursor,
    });
    if (!Array.isArray(res?.logs) || typeof res.head !== 'number') {
      throw new HubClientError('invalid_response', 'GET /api/v1/logs answered an unexpected shape');
    }
    head ??= res.head;
    for (const l of res.logs) {
      if (found.length >= o.lines) break;
      if (!o.grep || o.grep.test(l.message)) found.push(l);
    }
    if (found.length >= o.lines || res.next === null) break;
    cursor = res.next;
    // Only the head's page fixes where live lines start: later pages are older.
    // (A cursor keeps every later page at or below that head.)
  }
  return { lines: found.reverse(), head: head ?? 0 };
}

/**
 * `warden logs`: the newest lines from `GET /api/v1/logs`, then with `--follow` the live ones
 * over the WebSocket (`logs:<agentId>`, or `type:log` for every agent) from the history's
 * `head` on, so no line is missed or shown twice. Exit 0 (also when `--follow` ends on
 * Ctrl-C), 64 for a bad flag, 1 when the server cannot be reached or refuses.
 */
export async function logsCommand(
  flags: LogsFlags,
  io: LogsIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    color: process.stdout.isTTY === true && !process.env.NO_COLOR,
  },
): Promise<number> {
  const o = parseOptions(flags, io);
  if (typeof o === 'number') return o;
  const print = (l: LogLine) =>
    io.stdout.write(flags.json ? jsonLogLine(l) : formatLogLine(l, io.color));
  let client: HubClient;
  let head: number;
  try {
    client = await HubClient.connect(flags);
    const h = await history(client, o);
    head = h.head;
    for (const l of h.lines) print(l);
  } catch (err) {
    if (err instanceof HubClientError && err.code === 'invalid_request') {
      return usage(io, err.message);
    }
    return reportClientError(err, io.stderr);
  }
  if (!flags.follow) return EXIT.ok;
  return follow(client, o, head, print, io);
}

async function follow(
  client: HubClient,
  o: Options,
  head: number,
  print: (l: LogLine) => void,
  io: LogsIo,
): Promise<number> {
  const minLevel = o.level ? LOG_LEVELS.indexOf(o.level) : 0;
  const ws: WardenClient = connect({
    url: client.url,
    ...(client.token !== undefined ? { token: client.token } : {}),
    heartbeatMs: 0,
  });
  let lastProblem = '';
  ws.on('error', (err) => {
    if (err.message !== lastProblem) io.stderr.write(`warden: ${err.message}\n`);
    lastProblem = err.message;
  });
  ws.on('connected', () => (lastProblem = ''));
  ws.subscribe(
    [o.agent ? `logs:${o.agent}` : 'type:log'],
    (ev) => {
      if (ev.type !== 'log') return;
      const l = lineOfEvent(ev);
      if (LOG_LEVELS.indexOf(l.level) < minLevel) return;
      if (o.grep && !o.grep.test(l.message)) return;
      print(l);
    },
    { since: head },
  );
  await new Promise<void>((resolve) => {
    if (io.signal) {
      if (io.signal.aborted) resolve();
      io.signal.addEventListener('abort', () => resolve(), { once: true });
      return;
    }
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await ws.close();
  return EXIT.ok;
}

/** Registers `warden logs` (SPEC §11). */
export function registerLogsCommand(program: Command, setCode: (code: number) => void): void {
  clientOptions(
    program
      .command('logs')
      .description('show agents’ logs (newest last); --follow keeps printing new lines')
      .option('--agent <id>', 'only this agent')
      .option('-f, --follow', 'keep printing lines as they arrive')
      .addOption(new Option('--level <level>', 'this level and above').choices([...LOG_LEVELS]))
      .option('--grep <regex>', 'only lines whose message matches (JavaScript regular expression)')
      .option('--since <time>', 'from this time: epoch ms, ISO-8601, or back from now (10m, 2h)')
      .option('-n, --lines <n>', 'history lines shown first', '100')
      .option('--json', 'one JSON object per line'),
  ).action(async (opts: Record<string, unknown>) => {
    const s = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined);
    const flags: LogsFlags = { ...clientFlags(opts) };
    if (s('agent') !== undefined) flags.agent = s('agent')!;
    if (s('level') !== undefined) flags.level = s('level')!;
    if (s('grep') !== undefined) flags.grep = s('grep')!;
    if (s('since') !== undefined) flags.since = s('since')!;
    if (s('lines') !== undefined) flags.lines = s('lines')!;
    if (opts.follow === true) flags.follow = true;
    if (opts.json === true) flags.json = true;
    setCode(await logsCommand(flags));
  });
}
