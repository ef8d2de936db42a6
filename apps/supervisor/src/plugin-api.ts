/**
 * The contract of a Warden supervisor plugin: what a plugin module exports and what the
 * supervisor hands it. Public API — changes here break users' plugins.
 *
 * A plugin is an ES module (`.js` or `.mjs`) in the plugins directory (`plugins.dir`, by
 * default `<data-dir>/plugins`). Its default export — or, failing that, a named export
 * `plugin` — is a {@link WardenPlugin}. Every call into a plugin is isolated: a call that
 * throws, rejects or runs past `plugins.timeout` (default 5 s) is abandoned and reported, and
 * a plugin that fails 3 calls in a row is disabled; the supervisor carries on either way.
 * Isolation works at call time and on the event loop; it cannot stop a plugin that blocks
 * the thread (an endless synchronous loop) or calls `process.exit`, so do neither.
 *
 * @example A plugin with one health check and one notifier (`plugins/disk-space.mjs`):
 * ```js
 * import { statfs } from 'node:fs/promises';
 *
 * // In TypeScript: `export default { … } satisfies WardenPlugin`.
 * export default {
 *   name: 'disk-space',
 *   version: '1.0.0',
 *   healthChecks: [
 *     {
 *       name: 'disk-free',
 *       // agent.config is the agent's options for this check, e.g. { path: '/data', min_free_mb: 500 }
 *       create(agent) {
 *         const path = String(agent.config.path ?? '/');
 *         const minFreeMb = Number(agent.config.min_free_mb ?? 500);
 *         return {
 *           async evaluate(now, facts) {
 *             const fs = await statfs(path);
 *             const freeMb = Math.round((fs.bavail * fs.bsize) / 2 ** 20);
 *             return freeMb < minFreeMb
 *               ? { health: 'warning', reason: `${freeMb} MB free on ${path}, below ${minFreeMb} MB` }
 *               : { health: 'healthy', reason: `${freeMb} MB free on ${path}` };
 *           },
 *         };
 *       },
 *     },
 *   ],
 *   notifiers: [
 *     {
 *       name: 'stderr',
 *       async send({ agentId, severity, text }) {
 *         process.stderr.write(`[${severity}] ${agentId}: ${text}\n`);
 *       },
 *     },
 *   ],
 *   init(ctx) {
 *     ctx.log.info('disk-space plugin ready');
 *   },
 * };
 * ```
 *
 * @packageDocumentation
 */
import type { AgentStatus, Health } from '@warden/protocol';
import type { Clock } from './clock.js';
import type { MonitoringStrategy, MonitoringStrategyOptions } from './monitoring-strategy.js';

/**
 * The rule for every name a plugin gives (its own, its checks', strategies' and notifiers'):
 * lower case, starting with a letter, then letters, digits, `_` or `-`. Names are unique
 * across all loaded plugins, per kind.
 */
export const PLUGIN_NAME_PATTERN = /^[a-z][a-z0-9_-]*$/;

/** A plugin module's export: one plugin, contributing any of the three kinds of extension. */
export interface WardenPlugin {
  /** Unique among loaded plugins; matches {@link PLUGIN_NAME_PATTERN}. Named in every report. */
  name: string;
  /** Free text, shown when the plugin is loaded. */
  version?: string;
  /** Extra health checks, used by agents that name them in their config. */
  healthChecks?: HealthCheckPlugin[];
  /** Extra monitoring strategies, chosen by name in `monitoring.strategy`. */
  strategies?: StrategyPlugin[];
  /** Extra places notices go (escalations, health changes). */
  notifiers?: NotifierPlugin[];
  /**
   * Called once after loading, before anything else of the plugin is used. If it throws,
   * rejects or times out, the plugin is disabled and none of its parts are used.
   */
  init?(ctx: PluginContext): void | Promise<void>;
}

/** What {@link WardenPlugin.init} is given. */
export interface PluginContext {
  /** Lines in the supervisor's log, tagged with the plugin's name. */
  log: PluginLogger;
  /** The supervisor's clock: use it for time and timers so the plugin is testable. */
  clock: Clock;
}

/** Writes to the supervisor's log. Messages are single lines for a person. */
export interface PluginLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A kind of health check; {@link HealthCheckPlugin.create} makes one instance per agent. */
export interface HealthCheckPlugin {
  /**
   * Unique among plugin health checks; the `check` of the `health_changed` events it causes.
   * Matches {@link PLUGIN_NAME_PATTERN}.
   */
  name: string;
  /**
   * Makes the check's instance for one agent. Called lazily, before the agent's first
   * evaluation; if it throws, rejects or returns no `evaluate`, that evaluation is `unknown`
   * and creation is tried again at the next one.
   */
  create(agent: PluginAgent): PluginHealthCheck | Promise<PluginHealthCheck>;
}

/** The agent a plugin check instance watches. */
export interface PluginAgent {
  /** The agent's id. */
  id: string;
  /** The agent's options for this check, as written in its config (plain JSON values). */
  config: Record<string, unknown>;
}

/** One agent's instance of a plugin health check. */
export interface PluginHealthCheck {
  /**
   * The verdict at `now` (epoch ms), from the supervisor's latest facts about the agent.
   * Called every monitoring interval; keep it well under `plugins.timeout`. A throw, a
   * rejection, a timeout or a malformed result makes the verdict `unknown` for that round
   * and is reported.
   */
  evaluate(now: number, facts: AgentFacts): PluginCheckVerdict | Promise<PluginCheckVerdict>;
  /** Releases what the instance holds (connections, timers) when the agent is removed. */
  stop?(): void | Promise<void>;
}

/**
 * What the supervisor knows about an agent when it asks a plugin check. Read-only: a frozen
 * copy. Resource numbers are for the agent's whole process tree and absent until the first
 * sample; all are absent for tmux agents the supervisor has no process of.
 */
export interface AgentFacts {
  /** Current status (SPEC §12): running, busy, idle, failed, … */
  readonly status: AgentStatus;
  /** Main process id, while a process is running. */
  readonly pid?: number;
  /** Resident memory of the process tree, in bytes, at the latest sample. */
  readonly rssBytes?: number;
  /** CPU of the process tree in percent of one core (may exceed 100), at the latest sample. */
  readonly cpuPercent?: number;
  /** Epoch ms of the last event or heartbeat from the agent. */
  readonly lastSeenAt?: number;
}

/** What a plugin check returns. */
export interface PluginCheckVerdict {
  /** `healthy`, `warning`, `critical`, or `unknown` when there is nothing to judge by yet. */
  health: Health;
  /**
   * A non-empty sentence a person can act on, with the numbers behind the verdict. Cut to
   * 500 characters.
   */
  reason: string;
}

/** A monitoring strategy a plugin provides, chosen by `monitoring.strategy: <name>`. */
export interface StrategyPlugin {
  /**
   * Unique among plugin strategies, and none of the built-in `polling`, `concurrent`,
   * `priority`. Matches {@link PLUGIN_NAME_PATTERN}.
   */
  name: string;
  /**
   * Makes the strategy; called once per supervisor start or reload. The options are the
   * built-ins' (interval, clock, error sink, concurrency, check timeout). If this throws, or
   * the strategy's `start` throws, the supervisor reports it and runs the built-in
   * `concurrent` strategy instead, so the fleet is never left unwatched.
   */
  create(options: MonitoringStrategyOptions): MonitoringStrategy;
}

/** A place notices go: chat, a pager, a file. */
export interface NotifierPlugin {
  /** Unique among plugin notifiers. Matches {@link PLUGIN_NAME_PATTERN}. */
  name: string;
  /** Delivers one notice. Resolve when delivered; reject (or throw) when it was not. */
  send(notice: PluginNotice): Promise<void>;
}

/** One notice for a person, about one agent. Read-only: a frozen copy. */
export interface PluginNotice {
  /** The agent it is about. */
  readonly agentId: string;
  /** How urgent. */
  readonly severity: 'info' | 'warning' | 'critical';
  /** One line a person can act on. */
  readonly text: string;
}
