import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import {
  ConfigError,
  TokenService,
  ensureSecret,
  loadConfig,
  type ConfigFlags,
  type ResolvedConfig,
} from '@warden/server/config';
import {
  PluginHost,
  installPluginCrashGuard,
  loadPlugins,
  resolveAgents,
  startHubSupervisor,
  systemClock,
  type HubSupervisor,
  type ResolvedAgentConfig,
} from '@warden/supervisor';
import { EXIT } from './exit-codes.js';
import { readServerFile } from './hub-client.js';

/** Tokens for supervised agents live 30 days (SPEC §12); the supervisor's own as long. */
const AGENT_TOKEN_TTL_MS = 30 * 86_400_000;

/**
 * The agents of a config, resolved: monitoring defaults applied, and a relative `cwd` (and
 * log file) taken from the config file's folder (where the person who wrote it was looking),
 * else the current folder. Log files go to `logs.files.dir`, by default `<data-dir>/logs`.
 */
export function fleetOf(config: ResolvedConfig, cwd = process.cwd()): ResolvedAgentConfig[] {
  const base = config.configFile ? dirname(config.configFile) : cwd;
  const files = config.logs.files;
  const logFiles = {
    ...files,
    dir: files.dir ? resolve(base, files.dir) : join(config.dataDir, 'logs'),
    baseDir: base,
  };
  return resolveAgents(config.agents, config.monitoring, logFiles).map((a) =>
    a.kind === 'process'
      ? { ...a, cwd: a.cwd === undefined ? base : isAbsolute(a.cwd) ? a.cwd : resolve(base, a.cwd) }
      : a,
  );
}

/**
 * Loads the plugins of `plugins.dir` (default `<data-dir>/plugins`; relative to the config
 * file's folder). A bad plugin file is skipped with a log line; a plugin that fails later is
 * isolated, reported, and disabled after `plugins.max_failures` failures in a row.
 */
export async function loadFleetPlugins(config: ResolvedConfig, log: Logger): Promise<PluginHost> {
  const base = config.configFile ? dirname(config.configFile) : process.cwd();
  const dir = config.plugins.dir
    ? resolve(base, config.plugins.dir)
    : join(config.dataDir, 'plugins');
  const plog = log.child({ component: 'plugins' });
  const loaded = await loadPlugins(dir, {
    log: { info: (m) => plog.info({}, m), warn: (m) => plog.warn({}, m) },
    importTimeoutMs: config.plugins.timeout,
  });
  for (const f of loaded.failures) plog.warn({ file: f.file }, `plugin skipped: ${f.reason}`);
  const host = new PluginHost({
    plugins: loaded.plugins,
    clock: systemClock,
    timeoutMs: config.plugins.timeout,
    maxFailures: config.plugins.max_failures,
    onProblem: (p) =>
      plog[p.disabled ? 'error' : 'warn'](
        { plugin: p.plugin, call: p.call, code: p.code, agent: p.agentId },
        p.reason,
      ),
    log: (plugin, level, message) => plog[level]({ plugin }, message),
  });
  await host.init();
  if (loaded.plugins.length > 0) {
    // Errors plugin code raises outside any call (a timer, a dangling promise) are theirs.
    installPluginCrashGuard(dir, (c) => host.crashed(c.plugin, c.call, c.reason), {
      pluginForFile: (f) => host.pluginForFile(f),
    });
  }
  return host;
}

/**
 * Starts the supervisor of a config against a hub. With `tokens` (the hub's own process, or
 * its machine) agent tokens are minted locally; else they are asked of the hub.
 */
export async function superviseFleet(
  config: ResolvedConfig,
  hub: { url: string; token: string | (() => Promise<string>); tokens?: TokenService },
  log: Logger,
): Promise<HubSupervisor> {
  const tokens = hub.tokens;
  const plugins = await loadFleetPlugins(config, log);
  return startHubSupervisor({
    url: hub.url,
    token: hub.token,
    agents: fleetOf(config),
    log: log.child({ component: 'supervisor' }),
    checkIntervalMs: config.monitoring.check_interval,
    strategy: config.monitoring,
    plugins,
    stateFile: join(config.dataDir, 'supervisor-state.json'),
    ...(config.monitoring.cgroup !== undefined ? { cgroup: config.monitoring.cgroup } : {}),
    ...(config.monitoring.tmux?.pm_cooldown !== undefined
      ? { pmCooldownMs: config.monitoring.tmux.pm_cooldown }
      : {}),
    ...(config.monitoring.tmux?.team_idle !== undefined
      ? { teamIdleMs: config.monitoring.tmux.team_idle }
      : {}),
    ...(tokens
      ? {
          mintAgentToken: (agentId: string) =>
            tokens.mint({ role: 'agent', agentId, ttlMs: AGENT_TOKEN_TTL_MS }),
        }
      : {}),
  });
}

/** Reloads the config on SIGHUP: added, removed and changed agents only. */
export function reloadOnHangup(flags: ConfigFlags, fleet: HubSupervisor, log: Logger): () => void {
  const onHup = () => {
    let config: ResolvedConfig;
    try {
      config = loadConfig(flags);
    } catch (err) {
      log.error({}, `SIGHUP: config not reloaded: ${(err as Error).message}`);
      return;
    }
    fleet.reload(fleetOf(config)).catch((err: Error) => {
      log.error({}, `SIGHUP: reload failed: ${err.message}`);
    });
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}

export interface SuperviseFlags extends ConfigFlags {
  url?: string;
  token?: string;
}

/**
 * `warden supervise`: the supervisor alone, against a hub at `--url` with a supervisor token
 * (`--token`, role agent, agent id `*`). On the hub's machine both default from the data dir.
 */
export async function supervise(flags: SuperviseFlags): Promise<number> {
  let config: ResolvedConfig;
  try {
    config = loadConfig(flags);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`warden: invalid configuration: ${err.message}\n`);
      return EXIT.config;
    }
    throw err;
  }
  const log = pino({ level: config.server.log_level, redact: ['*.token'] });
  let url = flags.url ?? process.env.WARDEN_URL;
  let token = flags.token ?? process.env.WARDEN_TOKEN;
  let tokens: TokenService | undefined;
  if (!url) url = readServerFile(config.dataDir)?.url;
  if (!url) {
    process.stderr.write(
      `warden: no hub to report to: pass --url (or WARDEN_URL), or run warden serve with data dir ${config.dataDir}\n`,
    );
    return EXIT.usage;
  }
  if (!token) {
    try {
      tokens = new TokenService(ensureSecret(config.dataDir, config.auth.jwt_secret));
      token = await tokens.mint({ role: 'agent', agentId: '*', ttlMs: AGENT_TOKEN_TTL_MS });
    } catch (err) {
      process.stderr.write(
        `warden: no --token and no secret to mint one: ${(err as Error).message}\n`,
      );
      return EXIT.usage;
    }
  }
  const fleet = await superviseFleet(config, { url, token, ...(tokens ? { tokens } : {}) }, log);
  const stopReload = reloadOnHangup(flags, fleet, log);
  process.stderr.write(
    `Warden supervising ${fleet.supervisor.agentIds().length} agents, reporting to ${url}\n`,
  );
  return new Promise((resolvePromise) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      stopReload();
      process.stderr.write(`warden: ${signal} received, stopping agents\n`);
      fleet.close().then(
        () => resolvePromise(EXIT.ok),
        (err: unknown) => {
          process.stderr.write(`warden: shutdown failed: ${(err as Error).message}\n`);
          resolvePromise(EXIT.failure);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
