import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import type { AgentLogFileOptions, LogFilesConfig } from './agent-log-file-config.js';
import { MonitoringStrategyConfigSchema } from './monitoring-strategy.js';
import { AgentIdSchema, DurationSchema } from '@warden/protocol';

// Per-agent keys are parsed WITHOUT defaults: "per-agent keys win" over the `monitoring:` block
// (SPEC §9), so resolveAgents must see whether a key was written. The defaults live in
// AGENT_DEFAULTS and are applied there; the TSDoc `@defaultValue` of each key names them.

const duration = DurationSchema;
const positiveDuration = DurationSchema.refine((ms) => ms > 0, 'must be more than 0');
const positiveNumber = z.number().finite().positive();
const positiveInt = z.number().int().positive();

/** The defaults of SPEC §9, in milliseconds where they are durations. */
export const AGENT_DEFAULTS = {
  restart: {
    policy: 'on-failure',
    initialDelayMs: 1_000,
    multiplier: 2,
    maxDelayMs: 5 * 60_000,
    jitter: 0.1,
    resetAfterMs: 10 * 60_000,
    maxRestarts: 5,
    windowMs: 10 * 60_000,
    circuitCooldownMs: 15 * 60_000,
  },
  circuitBreakerThreshold: 5,
  heartbeatTimeoutMs: 30_000,
  unresponsiveAfterMisses: 1,
  sustainedForMs: 2 * 60_000,
  memoryLeak: { windowMs: 10 * 60_000, minGrowthMb: 50, minSamples: 10 },
  http: { intervalMs: 10_000, timeoutMs: 2_000, failureThreshold: 3 },
  onHung: 'restart',
  killTimeoutMs: 10_000,
  tmux: { pollIntervalMs: 1_000, idleAfter: 5 },
  autostart: true,
  sampleIntervalMs: 5_000,
} as const;

/** How an agent is brought back after its process exits (SPEC §9 `restart:`). */
export const RestartConfigSchema = z.strictObject({
  /**
   * `always` restarts after any exit that was not asked for; `on-failure` only after a
   * non-zero exit code or a signal; `never` leaves the agent down.
   * @defaultValue "on-failure"
   */
  policy: z.enum(['always', 'on-failure', 'never']).optional(),
  /** Wait before the first restart of a sequence. @defaultValue 1s */
  initial_delay: duration.optional(),
  /**
   * Each further restart of a sequence waits this many times longer.
   * Fallback: `monitoring.recovery.backoff_multiplier`. @defaultValue 2
   */
  multiplier: z.number().finite().min(1, 'must be at least 1').optional(),
  /** Longest wait between restarts, jitter included. @defaultValue 5m */
  max_delay: duration.optional(),
  /** Random spread of each wait, as a fraction (0.1 = ±10 %). @defaultValue 0.1 */
  jitter: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
  /** A run at least this long is stable and resets the backoff. @defaultValue 10m */
  reset_after: duration.optional(),
  /**
   * More restarts than this within `window` open the circuit.
   * Fallback: `monitoring.recovery.restart_attempts`. @defaultValue 5
   */
  max_restarts: z.number().int().min(0).optional(),
  /** Sliding window over which restarts are counted. @defaultValue 10m */
  window: positiveDuration.optional(),
  /** How long an open circuit waits before its one half-open trial. @defaultValue 15m */
  circuit_cooldown: duration.optional(),
});

/** Least-squares leak detection over tree RSS (SPEC §9 `health.memory_leak`). Off unless given. */
export const MemoryLeakConfigSchema = z.strictObject({
  /** Span of samples the slope is fitted over. @defaultValue 10m */
  window: positiveDuration.optional(),
  /** Growth over the window, in MB, that counts as a leak. @defaultValue 50 */
  min_growth_mb: positiveNumber.optional(),
  /** Samples needed in the window before a verdict. @defaultValue 10 */
  min_samples: z.number().int().min(3, 'must be at least 3').optional(),
});

/** Optional HTTP connectivity probe (SPEC §9 `health.http`). Off unless given. */
export const HttpProbeConfigSchema = z.strictObject({
  /** URL probed with GET; a 2xx answer is healthy. */
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  /** Time between probes. @defaultValue 10s */
  interval: positiveDuration.optional(),
  /** A probe slower than this fails. @defaultValue 2s */
  timeout: positiveDuration.optional(),
  /** Consecutive failures before the probe check turns unhealthy. @defaultValue 3 */
  failure_threshold: positiveInt.optional(),
});

/** Health checks of one agent (SPEC §9 `health:`). A check that is not configured is off. */
export const HealthConfigSchema = z.strictObject({
  /**
   * No event from the agent for this long → `unresponsive`. Fallback:
   * `monitoring.health_checks.agent_response.timeout`. On by default for command agents
   * only (agents that use the SDK send heartbeats); the check arms at the agent's first event,
   * so a process that never talks to the hub is not judged. Off for tmux agents unless given
   * here. @defaultValue 30s (command agents)
   */
  heartbeat_timeout: positiveDuration.optional(),
  /**
   * CPU of the process tree, in percent of one core, sustained for `for`.
   * Fallback: `monitoring.health_checks.resource_usage.max_cpu_percent`. @defaultValue off
   */
  max_cpu_percent: positiveNumber.optional(),
  /**
   * RSS of the whole process tree in MB, sustained for `for`.
   * Fallback: `monitoring.health_checks.resource_usage.max_memory_mb`. @defaultValue off
   */
  max_memory_mb: positiveNumber.optional(),
  /** How long a CPU or memory limit must be exceeded before it counts. @defaultValue 2m */
  for: duration.optional(),
  /**
   * A task running longer is hung (`task_duration`). Off by default so long jobs are not
   * cut off. Fallback: `monitoring.health_checks.task_progress.max_task_duration`.
   * @defaultValue off
   */
  max_task_duration: positiveDuration.optional(),
  /**
   * A running task with no `task_progress` for this long is hung (`task_stale`).
   * Fallback: `monitoring.health_checks.task_progress.stale_task_threshold`. @defaultValue off
   */
  stale_task_threshold: positiveDuration.optional(),
  /** Memory-leak detection. @defaultValue off */
  memory_leak: MemoryLeakConfigSchema.optional(),
  /** HTTP probe. @defaultValue off */
  http: HttpProbeConfigSchema.optional(),
});

/** A pane watched by the supervisor (SPEC §9 `tmux:`). */
export const TmuxConfigSchema = z.strictObject({
  /** tmux target of the pane, e.g. `fleet:0.1` or `%3`. */
  target: z.string().trim().min(1, 'must name a tmux pane, e.g. "fleet:0.1"'),
  /** Time between screen polls. @defaultValue 1s */
  poll_interval: positiveDuration.optional(),
  /** Polls without a screen change before the agent is `idle`. @defaultValue 5 */
  idle_after: positiveInt.optional(),
  /** After the watch starts, a pane not found does not count as missing for this long. @defaultValue 10s */
  grace: DurationSchema.optional(),
});

const ArgvSchema = z
  .array(z.string().min(1, 'must not be empty'))
  .min(1, 'needs at least the program to run');

/** `command:` — an argv list run directly, or a string run by `/bin/sh -c`. */
export const CommandSchema = z.union([ArgvSchema, z.string().trim().min(1, 'must not be empty')], {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? 'must be an argv list such as ["node", "worker.js"] or a shell command string'
      : undefined,
});

// YAML writes `PORT: 8080` as a number; the environment only holds strings.
const EnvValueSchema = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const EnvNameSchema = z
  .string()
  .regex(/^[^=\0]+$/, 'an environment variable name must be non-empty without "=" or NUL');

/** Keys that only make sense for a process the supervisor runs itself. */
const COMMAND_ONLY_KEYS = ['cwd', 'env', 'kill_timeout', 'restart', 'log_file'] as const;

/** One entry of `agents:` (SPEC §9), as written: keys left out stay undefined. */
export const AgentConfigSchema = z
  .strictObject({
    /** Agent id (SPEC §1), unique in the list. */
    id: AgentIdSchema,
    /** Process to run: argv list, or a shell string. Exactly one of `command` or `tmux`. */
    command: CommandSchema.optional(),
    /** Working directory of the process. @defaultValue the supervisor's working directory */
    cwd: z.string().min(1).optional(),
    /**
     * Extra environment, on top of the supervisor's own and `WARDEN_URL`, `WARDEN_TOKEN`,
     * `WARDEN_AGENT_ID`. Numbers and booleans are turned into strings. @defaultValue {}
     */
    env: z.record(EnvNameSchema, EnvValueSchema).optional(),
    /** Restart policy and circuit breaker. */
    restart: RestartConfigSchema.optional(),
    /** Health checks. */
    health: HealthConfigSchema.optional(),
    /**
     * What to do with a hung agent (`task_stale`, `task_duration`): kill and restart it through
     * the restart policy, or only raise the alert. tmux agents can only `alert`.
     * @defaultValue "restart" ("alert" for tmux agents)
     */
    on_hung: z.enum(['restart', 'alert']).optional(),
    /** Wait after SIGTERM to the whole tree before SIGKILL. @defaultValue 10s */
    kill_timeout: duration.optional(),
    /** Watch an existing tmux pane instead of running a process. */
    tmux: TmuxConfigSchema.optional(),
    /** tmux target of the PM pane that receives notifications via send-keys. @defaultValue none */
    pm: z.string().trim().min(1, 'must name a tmux pane, e.g. "fleet:0.0"').optional(),
    /** Task queue (SPEC §12) this agent serves; its leases go back there when it fails. @defaultValue none */
    queue: z.string().min(1).max(256).optional(),
    /** Start the agent when the supervisor starts. @defaultValue true */
    autostart: z.boolean().optional(),
    /**
     * Health checks from plugins, by the check's name, each with its own settings (handed to
     * the plugin as they are): `checks: { disk-space: { min_free_gb: 5 } }`. Reported as
     * `plugin:<name>`. @defaultValue none
     */
    checks: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be a plugin check name (a-z, 0-9, _ -)'),
        z.record(z.string(), z.unknown()),
      )
      .optional(),
    /** Order under the `priority` strategy: higher is checked first. @defaultValue 0 */
    priority: z.number().int().min(-1000).max(1000).optional(),
    /**
     * This agent's log file (relative: from the config file's folder), or `false` for none;
     * rotation as `logs.files`. @defaultValue "<logs.files.dir>/<id>.log"
     */
    log_file: z.union([z.literal(false), z.string().trim().min(1)]).optional(),
  })
  .superRefine((agent, ctx) => {
    const hasCommand = agent.command !== undefined;
    const hasTmux = agent.tmux !== undefined;
    if (hasCommand === hasTmux) {
      ctx.addIssue({
        code: 'custom',
        path: hasCommand ? ['tmux'] : [],
        message: hasCommand
          ? 'an agent has either `command` (a process to run) or `tmux` (a pane to watch), not both'
          : 'an agent needs `command` (a process to run) or `tmux` (a pane to watch)',
      });
    }
    if (hasTmux && !hasCommand) {
      for (const key of COMMAND_ONLY_KEYS) {
        if (agent[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `\`${key}\` applies to command agents only; a tmux agent watches a pane it did not start`,
          });
        }
      }
      if (agent.on_hung === 'restart') {
        ctx.addIssue({
          code: 'custom',
          path: ['on_hung'],
          message: 'a tmux agent cannot be restarted by the supervisor; use `alert`',
        });
      }
    }
  });

/** The `agents:` list; ids are unique. */
export const AgentsConfigSchema = z.array(AgentConfigSchema).superRefine((agents, ctx) => {
  const first = new Map<string, number>();
  agents.forEach((agent, i) => {
    const seen = first.get(agent.id);
    if (seen === undefined) first.set(agent.id, i);
    else {
      ctx.addIssue({
        code: 'custom',
        path: [i, 'id'],
        message: `duplicate agent id ${JSON.stringify(agent.id)} (first used by agents.${seen})`,
      });
    }
  });
});

const EmailAlertSchema = z
  .strictObject({
    /** @defaultValue true */
    enabled: z.boolean().default(true),
    /** @defaultValue [] */
    recipients: z.array(z.email('must be an e-mail address')).default([]),
  })
  .superRefine((v, ctx) => {
    if (v.enabled && v.recipients.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['recipients'],
        message: 'needs at least one address when e-mail alerts are enabled',
      });
    }
  });

const WebhookAlertSchema = z
  .strictObject({
    /** @defaultValue true */
    enabled: z.boolean().default(true),
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.enabled && v.url === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'is required when the webhook is enabled',
      });
    }
  });

/**
 * The global `monitoring:` block (SPEC §9): defaults for every agent, mapped onto the
 * per-agent keys by {@link resolveAgents}. Keys left out stay undefined so the built-in
 * per-agent defaults apply.
 */
export const MonitoringConfigSchema = z.strictObject({
  /** `strategy`, `concurrency`, `healthy_every`, `check_timeout`: how checks are run. */
  ...MonitoringStrategyConfigSchema.shape,
  /**
   * How often resources are sampled and health is judged (plain numbers are seconds).
   * @defaultValue 5 (seconds)
   */
  check_interval: positiveDuration.prefault(5),
  /**
   * The fleet cgroup: every agent process runs in one cgroup made for this supervisor
   * (`warden-<pid>-<n>`), whose CPU counter tells in one read whether any agent process ran
   * since the last sample; when none did, the sample reads nothing else. `auto` makes it in
   * this process's cgroup v1 `cpuacct` hierarchy, else in its cgroup v2 cgroup (which must be
   * writable: root, or a delegated subtree), and samples every process when neither is;
   * `off` never makes one; an absolute path names the cgroup directory to make it in.
   * @defaultValue "auto"
   */
  cgroup: z
    .string()
    .refine(
      (v) => v === 'auto' || v === 'off' || isAbsolute(v),
      'must be auto, off, or the absolute path of a cgroup directory (e.g. /sys/fs/cgroup/cpuacct)',
    )
    .default('auto'),
  health_checks: z
    .strictObject({
      agent_response: z
        .strictObject({
          /** → `health.heartbeat_timeout`. */
          timeout: positiveDuration.optional(),
          /** Missed heartbeat periods before `unresponsive`. @defaultValue 1 */
          max_failures: positiveInt.optional(),
        })
        .optional(),
      resource_usage: z
        .strictObject({
          /** → `health.max_cpu_percent`. */
          max_cpu_percent: positiveNumber.optional(),
          /** → `health.max_memory_mb`. */
          max_memory_mb: positiveNumber.optional(),
        })
        .optional(),
      task_progress: z
        .strictObject({
          /** → `health.max_task_duration`. */
          max_task_duration: positiveDuration.optional(),
          /** → `health.stale_task_threshold`. */
          stale_task_threshold: positiveDuration.optional(),
        })
        .optional(),
    })
    .optional(),
  /** tmux agents of the whole fleet. */
  tmux: z
    .strictObject({
      /** After a notification to a PM pane, later ones wait this long and go out as one. @defaultValue 30s */
      pm_cooldown: DurationSchema.optional(),
      /** Every agent of one tmux session idle this long escalates (team idle). @defaultValue 10m */
      team_idle: positiveDuration.optional(),
    })
    .optional(),
  /** Alert channels; accepted and kept for the alert engine (SPEC §10). */
  alerts: z
    .strictObject({
      email: EmailAlertSchema.optional(),
      webhook: WebhookAlertSchema.optional(),
    })
    .optional(),
  recovery: z
    .strictObject({
      /** → `restart.max_restarts`. */
      restart_attempts: z.number().int().min(0).optional(),
      /** → `restart.multiplier`. */
      backoff_multiplier: z.number().finite().min(1, 'must be at least 1').optional(),
      /**
       * Failed half-open trials after which the agent stays `failed` and an `escalation` is
       * raised. @defaultValue 5
       */
      circuit_breaker_threshold: positiveInt.optional(),
    })
    .optional(),
});

/** The supervisor's part of the config file: `agents:` and `monitoring:`. */
export const SupervisorConfigSchema = z.strictObject({
  /** @defaultValue [] */
  agents: AgentsConfigSchema.default([]),
  monitoring: MonitoringConfigSchema.prefault({}),
});

/** One `agents:` entry as parsed. */
export type AgentConfig = z.output<typeof AgentConfigSchema>;
/** The `monitoring:` block as parsed. */
export type MonitoringConfig = z.output<typeof MonitoringConfigSchema>;
/** `agents:` and `monitoring:` as parsed. */
export type SupervisorConfig = z.output<typeof SupervisorConfigSchema>;
/** `command:` as written: argv list or shell string. */
export type AgentCommand = z.output<typeof CommandSchema>;

/** Restart options with every default applied; durations in ms. */
export interface ResolvedRestartOptions {
  policy: 'always' | 'on-failure' | 'never';
  initialDelayMs: number;
  multiplier: number;
  maxDelayMs: number;
  /** 0..1 */
  jitter: number;
  resetAfterMs: number;
  maxRestarts: number;
  windowMs: number;
  circuitCooldownMs: number;
}

/** Health checks with every default applied; `undefined` means the check is off. */
export interface ResolvedHealthOptions {
  heartbeatTimeoutMs: number | undefined;
  /** Consecutive heartbeat periods without an event before `unresponsive`. */
  unresponsiveAfterMisses: number;
  maxCpuPercent: number | undefined;
  maxMemoryMb: number | undefined;
  /** `for`: how long a CPU or memory limit must be exceeded. */
  sustainedForMs: number;
  maxTaskDurationMs: number | undefined;
  staleTaskThresholdMs: number | undefined;
  memoryLeak: { windowMs: number; minGrowthMb: number; minSamples: number } | undefined;
  http:
    { url: string; intervalMs: number; timeoutMs: number; failureThreshold: number } | undefined;
}

interface ResolvedAgentBase {
  id: string;
  health: ResolvedHealthOptions;
  onHung: 'restart' | 'alert';
  pm: string | undefined;
  queue: string | undefined;
  autostart: boolean;
  /** From `monitoring.check_interval`. */
  sampleIntervalMs: number;
  /** Plugin health checks by name, with their settings. */
  pluginChecks: Record<string, Record<string, unknown>>;
  priority: number;
}

/** A process the supervisor runs, restarts and kills. */
export interface ResolvedProcessAgentConfig extends ResolvedAgentBase {
  kind: 'process';
  command: AgentCommand;
  /** As written; relative paths are the caller's to resolve. */
  cwd: string | undefined;
  env: Record<string, string>;
  killTimeoutMs: number;
  restart: ResolvedRestartOptions;
  /** Failed half-open trials after which the agent stays failed and escalation is raised. */
  circuitBreakerThreshold: number;
  /** Where its output lines are written (see AgentLogFile); undefined: no file. */
  logFile?: AgentLogFileOptions;
}

/** A tmux pane the supervisor watches but did not start. */
export interface ResolvedTmuxAgentConfig extends ResolvedAgentBase {
  kind: 'tmux';
  tmux: { target: string; pollIntervalMs: number; idleAfter: number; graceMs: number };
}

/** One agent with every default filled in, plain numbers in ms. */
export type ResolvedAgentConfig = ResolvedProcessAgentConfig | ResolvedTmuxAgentConfig;

/**
 * Applies SPEC §9's mapping: per-agent key, else the `monitoring:` block's key, else the
 * built-in default ({@link AGENT_DEFAULTS}). `monitoring` defaults to an empty block.
 */
export function resolveAgents(
  agents: readonly AgentConfig[],
  monitoring: MonitoringConfig = MonitoringConfigSchema.parse({}),
  /** `logs.files` with `dir` absolute, and the folder relative `log_file` paths start from. */
  logFiles?: LogFilesConfig & { dir: string; baseDir: string },
): ResolvedAgentConfig[] {
  const hc = monitoring.health_checks;
  const recovery = monitoring.recovery;
  const D = AGENT_DEFAULTS;
  return agents.map((a): ResolvedAgentConfig => {
    const h = a.health ?? {};
    const isTmux = a.tmux !== undefined;
    const leak = h.memory_leak;
    const http = h.http;
    const health: ResolvedHealthOptions = {
      heartbeatTimeoutMs:
        h.heartbeat_timeout ??
        (isTmux ? undefined : (hc?.agent_response?.timeout ?? D.heartbeatTimeoutMs)),
      unresponsiveAfterMisses: hc?.agent_response?.max_failures ?? D.unresponsiveAfterMisses,
      maxCpuPercent: h.max_cpu_percent ?? hc?.resource_usage?.max_cpu_percent,
      maxMemoryMb: h.max_memory_mb ?? hc?.resource_usage?.max_memory_mb,
      sustainedForMs: h.for ?? D.sustainedForMs,
      maxTaskDurationMs: h.max_task_duration ?? hc?.task_progress?.max_task_duration,
      staleTaskThresholdMs: h.stale_task_threshold ?? hc?.task_progress?.stale_task_threshold,
      memoryLeak: leak && {
        windowMs: leak.window ?? D.memoryLeak.windowMs,
        minGrowthMb: leak.min_growth_mb ?? D.memoryLeak.minGrowthMb,
        minSamples: leak.min_samples ?? D.memoryLeak.minSamples,
      },
      http: http && {
        url: http.url,
        intervalMs: http.interval ?? D.http.intervalMs,
        timeoutMs: http.timeout ?? D.http.timeoutMs,
        failureThreshold: http.failure_threshold ?? D.http.failureThreshold,
      },
    };
    const base = {
      id: a.id,
      health,
      pm: a.pm,
      queue: a.queue,
      autostart: a.autostart ?? D.autostart,
      sampleIntervalMs: monitoring.check_interval,
      pluginChecks: { ...a.checks },
      priority: a.priority ?? 0,
    };
    if (a.tmux) {
      return {
        ...base,
        kind: 'tmux',
        onHung: 'alert',
        tmux: {
          target: a.tmux.target,
          pollIntervalMs: a.tmux.poll_interval ?? D.tmux.pollIntervalMs,
          idleAfter: a.tmux.idle_after ?? D.tmux.idleAfter,
          graceMs: a.tmux.grace ?? 10_000,
        },
      };
    }
    const r = a.restart ?? {};
    return {
      ...base,
      kind: 'process',
      // The schema guarantees a command for every agent without `tmux`.
      command: a.command!,
      cwd: a.cwd,
      env: { ...a.env },
      killTimeoutMs: a.kill_timeout ?? D.killTimeoutMs,
      onHung: a.on_hung ?? D.onHung,
      restart: {
        policy: r.policy ?? D.restart.policy,
        initialDelayMs: r.initial_delay ?? D.restart.initialDelayMs,
        multiplier: r.multiplier ?? recovery?.backoff_multiplier ?? D.restart.multiplier,
        maxDelayMs: r.max_delay ?? D.restart.maxDelayMs,
        jitter: r.jitter ?? D.restart.jitter,
        resetAfterMs: r.reset_after ?? D.restart.resetAfterMs,
        maxRestarts: r.max_restarts ?? recovery?.restart_attempts ?? D.restart.maxRestarts,
        windowMs: r.window ?? D.restart.windowMs,
        circuitCooldownMs: r.circuit_cooldown ?? D.restart.circuitCooldownMs,
      },
      circuitBreakerThreshold: recovery?.circuit_breaker_threshold ?? D.circuitBreakerThreshold,
      ...(logFiles && logFiles.enabled && a.log_file !== false
        ? {
            logFile: {
              path:
                a.log_file === undefined
                  ? join(logFiles.dir, `${a.id}.log`)
                  : isAbsolute(a.log_file)
                    ? a.log_file
                    : resolve(logFiles.baseDir, a.log_file),
              maxSizeBytes: logFiles.max_size,
              maxFiles: logFiles.max_files,
              rotateIntervalMs: logFiles.rotate_interval,
              compress: logFiles.compress,
            },
          }
        : {}),
    };
  });
}
