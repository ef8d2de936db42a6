import type { Command } from 'commander';
import { loadConfig } from '@warden/server/config';
import { connect, systemClock } from '@warden/sdk';
import { resolveAgents } from '@warden/supervisor';
import { EXIT } from './exit-codes.js';
import {
  HubClient,
  clientFlags,
  clientOptions,
  reportClientError,
  type ClientFlags,
} from './hub-client.js';
import { FleetFeed } from './monitor/fleet-feed.js';
import { freshClients } from './monitor/fresh-client.js';

/**
 * `max_restarts` of each agent the local config supervises, for "attempt a/b": the lifecycle
 * events carry the attempt but not the limit. Empty when there is no config here or it does
 * not load (a remote monitor has none; that is not an error).
 */
export function localMaxRestarts(flags: ClientFlags): Record<string, number> {
  try {
    const config = loadConfig(flags);
    const out: Record<string, number> = {};
    for (const a of resolveAgents(config.agents, config.monitoring)) {
      // A watched tmux pane is not restarted by the supervisor: no limit to show.
      if ('restart' in a) out[a.id] = a.restart.maxRestarts;
    }
    return out;
  } catch {
    return {};
  }
}

/**
 * `warden monitor`: the live full-screen fleet view of SPEC §11 on the terminal. Needs a
 * terminal on stdin and stdout. Exit 0 after `q`; 1 when the server cannot be read at start
 * (after that it rides out outages, showing "reconnecting…"); 2 for an invalid config.
 */
export async function monitor(flags: ClientFlags): Promise<number> {
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    process.stderr.write(
      'warden: monitor needs a terminal (stdin and stdout a TTY); for scripts use `warden agents --json` or `warden logs --follow`\n',
    );
    return EXIT.failure;
  }
  let feed: FleetFeed;
  let url: string;
  try {
    const first = await HubClient.connect(flags);
    url = first.url;
    feed = new FleetFeed({
      clients: freshClients(first, () => HubClient.connect(flags)),
      openSocket: (socketUrl, token) =>
        connect({
          url: socketUrl,
          token: async () => (await token()) ?? '',
          heartbeatMs: 0,
          // A server restart should show as recovered within a couple of seconds.
          reconnect: { initialDelayMs: 250, maxDelayMs: 2000 },
        }),
      clock: systemClock,
      maxRestarts: localMaxRestarts(flags),
    });
    await feed.start();
  } catch (err) {
    return reportClientError(err);
  }
  // ink decides once, when it is loaded, whether it runs under CI (CI=true and friends) and
  // then draws nothing until it exits. On a terminal the user is looking at, it must draw.
  for (const k of ['CI', 'CONTINUOUS_INTEGRATION']) delete process.env[k];
  // Loaded only here, so no other command pays for React and ink at start-up.
  const { runMonitorApp } = await import('./monitor/monitor-app.js');
  try {
    await runMonitorApp({ feed, url });
  } finally {
    await feed.close();
  }
  return EXIT.ok;
}

/** Registers `warden monitor` on `program`; `done` receives the exit code. */
export function registerMonitorCommand(program: Command, done: (code: number) => void): void {
  clientOptions(
    program
      .command('monitor')
      .description(
        'live full-screen view of the fleet: ↑/↓ select, r restart, l logs, q quit (needs a terminal)',
      ),
  ).action(async (opts: Record<string, unknown>) => {
    done(await monitor(clientFlags(opts)));
  });
}
