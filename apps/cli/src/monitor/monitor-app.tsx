import { useEffect, useState, useSyncExternalStore } from 'react';
import { Box, Text, render, useApp, useInput, useStdout } from 'ink';
import { sortedRows } from './fleet-model.js';
import type { FleetFeed } from './fleet-feed.js';
import { monitorScreen, type ScreenLine } from './monitor-screen.js';
import { topAnchoredStdout } from './top-anchored-stdout.js';

/** Props of {@link MonitorApp}. */
export interface MonitorAppProps {
  feed: FleetFeed;
  /** Where the server is, for "connecting to …". */
  url: string;
  now?: () => number;
}

/** Terminal size, following resizes. */
function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}

/** The clock the countdowns and task ages read, ticking once a second. */
function useNow(now: () => number): number {
  const [t, setT] = useState(now);
  useEffect(() => {
    const timer = setInterval(() => setT(now()), 1000);
    return () => clearInterval(timer);
  }, [now]);
  return t;
}

function Line({ line }: { line: ScreenLine }) {
  return (
    <Text wrap="truncate">
      {line.map((s, i) => (
        <Text
          key={i}
          {...(s.color !== undefined ? { color: s.color } : {})}
          bold={s.bold === true}
          dimColor={s.dim === true}
          inverse={s.inverse === true}
        >
          {s.text}
        </Text>
      ))}
    </Text>
  );
}

/**
 * `warden monitor`: the frame of {@link monitorScreen} over the {@link FleetFeed}'s data. Keys:
 * ↑/↓ (or k/j) select, `r` restarts the selected agent, `l` opens its logs (`l` or Esc back),
 * `q` or Ctrl-C quits.
 */
export function MonitorApp({ feed, url, now = Date.now }: MonitorAppProps) {
  const data = useSyncExternalStore(feed.subscribe, feed.getData);
  const { exit } = useApp();
  const { columns, rows } = useTerminalSize();
  const tick = useNow(now);
  const [chosen, setChosen] = useState<string | undefined>(undefined);
  const ids = sortedRows(data.fleet).map((r) => r.agentId);
  // The selection follows the agent, not the position; a vanished one falls back to the first.
  const selected = chosen !== undefined && ids.includes(chosen) ? chosen : ids[0];

  useInput((input, key) => {
    if (input === 'q' || (key.ctrl && input === 'c')) {
      exit();
      return;
    }
    if (data.logs) {
      if (key.escape || input === 'l') feed.hideLogs();
      return;
    }
    const at = selected === undefined ? -1 : ids.indexOf(selected);
    if (key.upArrow || input === 'k') {
      if (at > 0) setChosen(ids[at - 1]);
    } else if (key.downArrow || input === 'j') {
      if (at >= 0 && at < ids.length - 1) setChosen(ids[at + 1]);
    } else if (key.pageUp) {
      setChosen(ids[Math.max(0, at - Math.max(1, rows - 8))]);
    } else if (key.pageDown) {
      setChosen(ids[Math.min(ids.length - 1, at + Math.max(1, rows - 8))]);
    } else if (input === 'r' && selected !== undefined) {
      void feed.restart(selected);
    } else if (input === 'l' && selected !== undefined) {
      feed.showLogs(selected);
    }
  });

  const lines = monitorScreen({
    fleet: data.fleet,
    loaded: data.loaded,
    now: Math.max(tick, now()),
    width: columns,
    // One line short of the screen: a frame as tall as the terminal would make ink clear
    // the whole screen on every redraw (its "fullscreen" path), which flickers.
    height: Math.max(1, rows - 1),
    connection: data.connection,
    selected,
    message: data.message,
    logs: data.logs,
    url,
  });
  return (
    <Box flexDirection="column" width={columns}>
      {lines.map((l, i) => (
        <Line key={i} line={l} />
      ))}
    </Box>
  );
}

/** Alternate screen on, cursor home; and back, so the shell's screen returns as it was. */
const ENTER_SCREEN = '\x1b[?1049h\x1b[H';
const LEAVE_SCREEN = '\x1b[?25h\x1b[?1049l';

/**
 * Runs the monitor full-screen on the terminal until `q`, Ctrl-C, SIGTERM or SIGHUP, then
 * restores the terminal (main screen, cursor, cooked mode) — also when the process exits
 * some other way. Renders at most 10 frames a second and rewrites only the lines that changed
 * (see {@link topAnchoredStdout} for why ink gets a wrapped stdout).
 */
export async function runMonitorApp(props: MonitorAppProps): Promise<void> {
  const stdout = process.stdout;
  stdout.write(ENTER_SCREEN);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    stdout.write(LEAVE_SCREEN);
  };
  process.once('exit', restore);
  const app = render(<MonitorApp {...props} />, {
    stdout: topAnchoredStdout(stdout),
    exitOnCtrlC: false,
    patchConsole: true,
    maxFps: 10,
    incrementalRendering: true,
  });
  const stop = () => app.unmount();
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  try {
    await app.waitUntilExit();
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGHUP', stop);
    app.cleanup();
    restore();
    process.off('exit', restore);
  }
}
