import type { Warden } from '@warden/server';
import {
  ConfigError,
  loadConfig,
  type ConfigFlags,
  type ResolvedConfig,
} from '@warden/server/config';
import type { HubSupervisor } from '@warden/supervisor';
import { EXIT } from './exit-codes.js';
import { fleetOf, superviseFleet } from './supervise-command.js';

/** A day: the in-process supervisor's own token is renewed well before it could expire. */
const SUPERVISOR_TOKEN_TTL_MS = 30 * 86_400_000;

/**
 * The line Jupyter prints: a one-time admin login link for the dashboard. Only on a
 * terminal: where stderr is a log file (`warden daemon`), the link would be a secret in a
 * log, so the line says to run `warden open` instead.
 */
async function printLoginLink(warden: Warden, url: string): Promise<void> {
  if (!process.stderr.isTTY) {
    process.stderr.write(`Dashboard: ${url}/  (sign in with the link \`warden open\` prints)\n`);
    return;
  }
  const admin = { sub: 'role:admin', role: 'admin' as const, expiresAt: Number.MAX_SAFE_INTEGER };
  const { code, expiresAt } = await warden.ctx.features.sessions.createLoginCode(admin, 'admin');
  const minutes = Math.round((expiresAt - Date.now()) / 60_000);
  process.stderr.write(
    `Dashboard: open ${url}/login#code=${code}\n  (a one-time link, valid ${minutes} min; \`warden open\` prints another)\n`,
  );
}

/** `warden serve`: runs the hub until SIGINT/SIGTERM. Resolves with the exit code. */
export async function serve(flags: ConfigFlags): Promise<number> {
  let warden;
  let config: ResolvedConfig;
  try {
    config = loadConfig(flags);
    // The hub is loaded only here: the other commands start without it.
    const { createWarden } = await import('@warden/server');
    warden = await createWarden({ config });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`warden: invalid configuration: ${err.message}\n`);
      return EXIT.config;
    }
    throw err;
  }
  let url: string;
  try {
    url = await warden.listen();
  } catch (err) {
    // Listening failed (port taken, data dir unwritable): close what was opened, so the
    // process exits instead of idling with a database and Redis connections open.
    await warden.close().catch(() => undefined);
    throw err;
  }
  process.stderr.write(`Warden listening on ${url}  (API docs: ${url}/docs)\n`);
  await printLoginLink(warden, url);
  const hub = warden;
  // `warden serve` supervises the config's agents in-process, as a client of itself.
  let fleet: HubSupervisor | undefined;
  const supervise = async (c: ResolvedConfig) => {
    fleet = await superviseFleet(
      c,
      {
        url,
        tokens: hub.ctx.tokens,
        token: () =>
          hub.ctx.tokens.mint({ role: 'agent', agentId: '*', ttlMs: SUPERVISOR_TOKEN_TTL_MS }),
      },
      hub.log,
    );
  };
  if (config.agents.length > 0) await supervise(config);
  // SIGHUP: the config again; added, removed and changed agents only.
  const onHup = () => {
    let next: ResolvedConfig;
    try {
      next = loadConfig(flags);
    } catch (err) {
      hub.log.error({}, `SIGHUP: config not reloaded: ${(err as Error).message}`);
      return;
    }
    if (!fleet) {
      if (next.agents.length > 0)
        supervise(next).catch((err: Error) =>
          hub.log.error({}, `SIGHUP: supervisor did not start: ${err.message}`),
        );
      return;
    }
    fleet.reload(fleetOf(next)).catch((err: Error) => {
      hub.log.error({}, `SIGHUP: reload failed: ${err.message}`);
    });
  };
  process.on('SIGHUP', onHup);
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.off('SIGHUP', onHup);
      process.stderr.write(`warden: ${signal} received, shutting down\n`);
      // Agents stop first (gracefully), while the hub still takes their last reports.
      (fleet?.close() ?? Promise.resolve())
        .catch((err: unknown) =>
          process.stderr.write(`warden: stopping agents failed: ${(err as Error).message}\n`),
        )
        .then(() => hub.close())
        .then(
          () => resolve(EXIT.ok),
          (err: unknown) => {
            process.stderr.write(`warden: shutdown failed: ${(err as Error).message}\n`);
            resolve(EXIT.failure);
          },
        );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
