import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  AGENT_DEFAULTS,
  AgentConfigSchema,
  AgentsConfigSchema,
  MonitoringConfigSchema,
  SupervisorConfigSchema,
  resolveAgents,
} from './supervisor-config.js';
import type {
  ResolvedAgentConfig,
  ResolvedProcessAgentConfig,
  ResolvedTmuxAgentConfig,
} from './supervisor-config.js';

function resolve(raw: unknown): ResolvedAgentConfig[] {
  const c = SupervisorConfigSchema.parse(raw);
  return resolveAgents(c.agents, c.monitoring);
}

function resolveOne(agent: Record<string, unknown>, monitoring?: unknown): ResolvedAgentConfig {
  return resolve({ agents: [{ id: 'w1', ...agent }], monitoring })[0]!;
}

function proc(agent: Record<string, unknown>, monitoring?: unknown): ResolvedProcessAgentConfig {
  const a = resolveOne({ command: ['node', 'w.js'], ...agent }, monitoring);
  if (a.kind !== 'process') throw new Error('expected a process agent');
  return a;
}

function issues(raw: unknown): { path: string; message: string; keys?: string[] }[] {
  const r = SupervisorConfigSchema.safeParse(raw);
  if (r.success) throw new Error('expected the config to be refused');
  return r.error.issues.map((i: z.core.$ZodIssue) => ({
    path: i.path.map(String).join('.'),
    message: i.message,
    ...(i.code === 'unrecognized_keys' ? { keys: i.keys } : {}),
  }));
}

describe('a command agent with nothing but id and command', () => {
  it('gets every default of SPEC §9, durations in ms', () => {
    expect(proc({})).toEqual({
      id: 'w1',
      kind: 'process',
      command: ['node', 'w.js'],
      cwd: undefined,
      env: {},
      killTimeoutMs: 10_000,
      onHung: 'restart',
      pm: undefined,
      queue: undefined,
      autostart: true,
      sampleIntervalMs: 5_000,
      pluginChecks: {},
      priority: 0,
      restart: {
        policy: 'on-failure',
        initialDelayMs: 1_000,
        multiplier: 2,
        maxDelayMs: 300_000,
        jitter: 0.1,
        resetAfterMs: 600_000,
        maxRestarts: 5,
        windowMs: 600_000,
        circuitCooldownMs: 900_000,
      },
      circuitBreakerThreshold: 5,
      health: {
        heartbeatTimeoutMs: 30_000,
        unresponsiveAfterMisses: 1,
        maxCpuPercent: undefined,
        maxMemoryMb: undefined,
        sustainedForMs: 120_000,
        maxTaskDurationMs: undefined,
        staleTaskThresholdMs: undefined,
        memoryLeak: undefined,
        http: undefined,
      },
    });
  });

  it('has every off check as an explicit undefined key, so a reader sees it is off', () => {
    const h = proc({}).health;
    for (const key of [
      'maxCpuPercent',
      'maxMemoryMb',
      'maxTaskDurationMs',
      'staleTaskThresholdMs',
      'memoryLeak',
      'http',
    ]) {
      expect(Object.keys(h)).toContain(key);
    }
  });

  it('accepts a shell string as the command', () => {
    expect(proc({ command: 'node w.js | tee log' }).command).toBe('node w.js | tee log');
  });
});

describe('a fully written command agent', () => {
  it('keeps every key it gives, parsed to ms', () => {
    const a = proc({
      cwd: './examples/agents',
      env: { MODE: 'demo', PORT: 8080, DEBUG: true },
      restart: {
        policy: 'always',
        initial_delay: '500ms',
        multiplier: 3,
        max_delay: '1m',
        jitter: 0.25,
        reset_after: '2m',
        max_restarts: 7,
        window: '30m',
        circuit_cooldown: '1h',
      },
      health: {
        heartbeat_timeout: '45s',
        max_cpu_percent: 80,
        max_memory_mb: 1024,
        for: '90s',
        max_task_duration: '300s',
        stale_task_threshold: 180,
        memory_leak: { window: '10m', min_growth_mb: 50, min_samples: 20 },
        http: {
          url: 'http://127.0.0.1:9000/health',
          interval: '10s',
          timeout: '2s',
          failure_threshold: 4,
        },
      },
      on_hung: 'alert',
      kill_timeout: '3s',
      pm: 'fleet:0.0',
      queue: 'builds',
      autostart: false,
    });
    expect(a).toMatchObject({
      cwd: './examples/agents',
      env: { MODE: 'demo', PORT: '8080', DEBUG: 'true' },
      killTimeoutMs: 3_000,
      onHung: 'alert',
      pm: 'fleet:0.0',
      queue: 'builds',
      autostart: false,
      restart: {
        policy: 'always',
        initialDelayMs: 500,
        multiplier: 3,
        maxDelayMs: 60_000,
        jitter: 0.25,
        resetAfterMs: 120_000,
        maxRestarts: 7,
        windowMs: 1_800_000,
        circuitCooldownMs: 3_600_000,
      },
      health: {
        heartbeatTimeoutMs: 45_000,
        maxCpuPercent: 80,
        maxMemoryMb: 1024,
        sustainedForMs: 90_000,
        maxTaskDurationMs: 300_000,
        staleTaskThresholdMs: 180_000,
        memoryLeak: { windowMs: 600_000, minGrowthMb: 50, minSamples: 20 },
        http: {
          url: 'http://127.0.0.1:9000/health',
          intervalMs: 10_000,
          timeoutMs: 2_000,
          failureThreshold: 4,
        },
      },
    });
  });

  it('turns the leak check on with its defaults when only `memory_leak: {}` is written', () => {
    expect(proc({ health: { memory_leak: {} } }).health.memoryLeak).toEqual({
      windowMs: 600_000,
      minGrowthMb: 50,
      minSamples: 10,
    });
  });

  it('fills the HTTP probe defaults around a bare url', () => {
    expect(proc({ health: { http: { url: 'https://x.test/h' } } }).health.http).toEqual({
      url: 'https://x.test/h',
      intervalMs: 10_000,
      timeoutMs: 2_000,
      failureThreshold: 3,
    });
  });

  it('gives the resolved env its own object, so changing it leaves the parsed config alone', () => {
    const c = SupervisorConfigSchema.parse({
      agents: [{ id: 'a', command: 'x', env: { A: '1' } }],
    });
    const [r] = resolveAgents(c.agents, c.monitoring) as ResolvedProcessAgentConfig[];
    r!.env.B = '2';
    expect(c.agents[0]!.env).toEqual({ A: '1' });
  });
});

describe('a tmux agent', () => {
  function tmux(agent: Record<string, unknown>, monitoring?: unknown): ResolvedTmuxAgentConfig {
    const a = resolveOne(agent, monitoring);
    if (a.kind !== 'tmux') throw new Error('expected a tmux agent');
    return a;
  }

  it('polls every second and is idle after 5 unchanged polls by default', () => {
    expect(tmux({ tmux: { target: 'fleet:0.1' }, pm: 'fleet:0.0' })).toEqual({
      id: 'w1',
      kind: 'tmux',
      tmux: { target: 'fleet:0.1', pollIntervalMs: 1_000, idleAfter: 5, graceMs: 10_000 },
      pm: 'fleet:0.0',
      queue: undefined,
      autostart: true,
      onHung: 'alert',
      sampleIntervalMs: 5_000,
      pluginChecks: {},
      priority: 0,
      health: {
        heartbeatTimeoutMs: undefined,
        unresponsiveAfterMisses: 1,
        maxCpuPercent: undefined,
        maxMemoryMb: undefined,
        sustainedForMs: 120_000,
        maxTaskDurationMs: undefined,
        staleTaskThresholdMs: undefined,
        memoryLeak: undefined,
        http: undefined,
      },
    });
  });

  it('keeps its poll_interval, idle_after and grace', () => {
    expect(
      tmux({ tmux: { target: '%3', poll_interval: '250ms', idle_after: 8, grace: '2s' } }).tmux,
    ).toEqual({
      target: '%3',
      pollIntervalMs: 250,
      idleAfter: 8,
      graceMs: 2000,
    });
  });

  it('gets no heartbeat check from monitoring (a pane sends no events), only when it asks', () => {
    const monitoring = { health_checks: { agent_response: { timeout: 10 } } };
    expect(tmux({ tmux: { target: 'f:0.1' } }, monitoring).health.heartbeatTimeoutMs).toBe(
      undefined,
    );
    expect(
      tmux({ tmux: { target: 'f:0.1' }, health: { heartbeat_timeout: '1m' } }, monitoring).health
        .heartbeatTimeoutMs,
    ).toBe(60_000);
  });

  it('refuses keys that only a process it runs could use, naming each', () => {
    const found = issues({
      agents: [
        {
          id: 'c1',
          tmux: { target: 'f:0.1' },
          cwd: '/tmp',
          env: { A: '1' },
          kill_timeout: '1s',
          restart: { policy: 'always' },
          on_hung: 'restart',
        },
      ],
    });
    expect(found.map((i) => i.path)).toEqual([
      'agents.0.cwd',
      'agents.0.env',
      'agents.0.kill_timeout',
      'agents.0.restart',
      'agents.0.on_hung',
    ]);
    expect(found[0]!.message).toMatch(/command agents only/);
    expect(found[4]!.message).toMatch(/use `alert`/);
  });
});

describe('the monitoring: block maps onto the per-agent keys', () => {
  const monitoring = {
    check_interval: 30,
    health_checks: {
      agent_response: { timeout: 10, max_failures: 3 },
      resource_usage: { max_cpu_percent: 80, max_memory_mb: 1024 },
      task_progress: { max_task_duration: 300, stale_task_threshold: 180 },
    },
    alerts: {
      email: { enabled: true, recipients: ['dev@example.com'] },
      webhook: { enabled: true, url: 'http://127.0.0.1:9999/hook' },
    },
    recovery: { restart_attempts: 3, backoff_multiplier: 2.5, circuit_breaker_threshold: 4 },
  };

  it('check_interval (seconds) → the sampling interval of every agent', () => {
    expect(proc({}, monitoring).sampleIntervalMs).toBe(30_000);
    expect(resolveOne({ tmux: { target: 'f:0.1' } }, monitoring).sampleIntervalMs).toBe(30_000);
    expect(proc({}, { check_interval: '500ms' }).sampleIntervalMs).toBe(500);
  });

  it('agent_response.timeout → heartbeat_timeout, .max_failures → misses before unresponsive', () => {
    expect(proc({}, monitoring).health).toMatchObject({
      heartbeatTimeoutMs: 10_000,
      unresponsiveAfterMisses: 3,
    });
  });

  it('resource_usage.* → max_cpu_percent and max_memory_mb', () => {
    expect(proc({}, monitoring).health).toMatchObject({ maxCpuPercent: 80, maxMemoryMb: 1024 });
  });

  it('task_progress.* → max_task_duration and stale_task_threshold', () => {
    expect(proc({}, monitoring).health).toMatchObject({
      maxTaskDurationMs: 300_000,
      staleTaskThresholdMs: 180_000,
    });
  });

  it('recovery.restart_attempts → max_restarts, .backoff_multiplier → multiplier', () => {
    expect(proc({}, monitoring).restart).toMatchObject({ maxRestarts: 3, multiplier: 2.5 });
  });

  it('recovery.circuit_breaker_threshold → failed half-open trials before failed for good', () => {
    expect(proc({}, monitoring).circuitBreakerThreshold).toBe(4);
  });

  it('leaves the other restart keys at their built-in defaults', () => {
    expect(proc({}, monitoring).restart).toMatchObject({
      policy: 'on-failure',
      initialDelayMs: 1_000,
      maxDelayMs: 300_000,
      jitter: 0.1,
      resetAfterMs: 600_000,
      windowMs: 600_000,
      circuitCooldownMs: 900_000,
    });
  });

  it('lets every per-agent key win over the block', () => {
    const a = proc(
      {
        restart: { max_restarts: 9, multiplier: 1.5 },
        health: {
          heartbeat_timeout: '1m',
          max_cpu_percent: 150,
          max_memory_mb: 256,
          max_task_duration: '1h',
          stale_task_threshold: '10m',
        },
      },
      monitoring,
    );
    expect(a.restart).toMatchObject({ maxRestarts: 9, multiplier: 1.5 });
    expect(a.health).toMatchObject({
      heartbeatTimeoutMs: 60_000,
      unresponsiveAfterMisses: 3,
      maxCpuPercent: 150,
      maxMemoryMb: 256,
      maxTaskDurationMs: 3_600_000,
      staleTaskThresholdMs: 600_000,
    });
  });

  it('lets a per-agent key win even when it equals zero', () => {
    expect(proc({ restart: { max_restarts: 0 } }, monitoring).restart.maxRestarts).toBe(0);
  });

  it('keeps the alert channels as written for the alert engine', () => {
    expect(MonitoringConfigSchema.parse(monitoring).alerts).toEqual(monitoring.alerts);
  });

  it('applies with no monitoring block at all', () => {
    const agents = AgentsConfigSchema.parse([{ id: 'a', command: 'x' }]);
    expect(resolveAgents(agents)[0]!.sampleIntervalMs).toBe(AGENT_DEFAULTS.sampleIntervalMs);
  });
});

describe('config errors name what is wrong', () => {
  it('names an unknown key of an agent and where it is', () => {
    expect(issues({ agents: [{ id: 'a', command: 'x', restrat: {} }] })).toEqual([
      { path: 'agents.0', keys: ['restrat'], message: 'Unrecognized key: "restrat"' },
    ]);
  });

  it('names an unknown key in a nested block', () => {
    expect(
      issues({ agents: [{ id: 'a', command: 'x', restart: { polcy: 'always' } }] })[0],
    ).toMatchObject({ path: 'agents.0.restart', keys: ['polcy'] });
    expect(
      issues({ agents: [{ id: 'a', command: 'x', health: { memory_leak: { windw: 1 } } }] })[0],
    ).toMatchObject({ path: 'agents.0.health.memory_leak', keys: ['windw'] });
    expect(issues({ monitoring: { recovery: { retries: 3 } } })[0]).toMatchObject({
      path: 'monitoring.recovery',
      keys: ['retries'],
    });
    expect(issues({ agents: [], monitoring: {}, alerts: {} })[0]).toMatchObject({
      path: '',
      keys: ['alerts'],
    });
  });

  it('refuses an agent with both command and tmux', () => {
    expect(issues({ agents: [{ id: 'a', command: 'x', tmux: { target: 'f:0.1' } }] })).toEqual([
      {
        path: 'agents.0.tmux',
        message:
          'an agent has either `command` (a process to run) or `tmux` (a pane to watch), not both',
      },
    ]);
  });

  it('refuses an agent with neither command nor tmux', () => {
    expect(issues({ agents: [{ id: 'a', cwd: '/tmp' }] })).toEqual([
      {
        path: 'agents.0',
        message: 'an agent needs `command` (a process to run) or `tmux` (a pane to watch)',
      },
    ]);
  });

  it('refuses a bad duration with its path', () => {
    expect(
      issues({ agents: [{ id: 'a', command: 'x', restart: { initial_delay: 'soon' } }] }),
    ).toEqual([
      {
        path: 'agents.0.restart.initial_delay',
        message: '"soon" is not a duration (use e.g. 300ms, 10s, 5m, 4h, 7d or seconds)',
      },
    ]);
    expect(issues({ monitoring: { check_interval: -1 } })[0]!.path).toBe(
      'monitoring.check_interval',
    );
    expect(
      issues({
        agents: [
          { id: 'a', command: 'x', health: { http: { url: 'http://h', timeout: '2 weeks' } } },
        ],
      })[0]!.path,
    ).toBe('agents.0.health.http.timeout');
  });

  it('refuses a zero window or heartbeat timeout, which would judge on nothing', () => {
    expect(issues({ agents: [{ id: 'a', command: 'x', restart: { window: 0 } }] })).toEqual([
      { path: 'agents.0.restart.window', message: 'must be more than 0' },
    ]);
    expect(
      issues({ agents: [{ id: 'a', command: 'x', health: { heartbeat_timeout: '0s' } }] })[0],
    ).toEqual({ path: 'agents.0.health.heartbeat_timeout', message: 'must be more than 0' });
  });

  it('accepts a zero initial_delay and max_delay (restart at once)', () => {
    expect(proc({ restart: { initial_delay: 0, max_delay: 0 } }).restart).toMatchObject({
      initialDelayMs: 0,
      maxDelayMs: 0,
    });
  });

  it('refuses jitter outside 0..1 and a multiplier below 1', () => {
    expect(issues({ agents: [{ id: 'a', command: 'x', restart: { jitter: 1.5 } }] })).toEqual([
      { path: 'agents.0.restart.jitter', message: 'must be between 0 and 1' },
    ]);
    expect(issues({ agents: [{ id: 'a', command: 'x', restart: { multiplier: 0.5 } }] })).toEqual([
      { path: 'agents.0.restart.multiplier', message: 'must be at least 1' },
    ]);
  });

  it('refuses a restart policy it does not know', () => {
    expect(
      issues({ agents: [{ id: 'a', command: 'x', restart: { policy: 'sometimes' } }] })[0]!.path,
    ).toBe('agents.0.restart.policy');
  });

  it('refuses a command that is neither argv list nor string, and empty argv items', () => {
    expect(issues({ agents: [{ id: 'a', command: 5 }] })).toEqual([
      {
        path: 'agents.0.command',
        message: 'must be an argv list such as ["node", "worker.js"] or a shell command string',
      },
    ]);
    expect(issues({ agents: [{ id: 'a', command: ['node', ''] }] })).toEqual([
      { path: 'agents.0.command.1', message: 'must not be empty' },
    ]);
    expect(issues({ agents: [{ id: 'a', command: [] }] })).toEqual([
      { path: 'agents.0.command', message: 'needs at least the program to run' },
    ]);
    expect(issues({ agents: [{ id: 'a', command: '   ' }] })[0]!.path).toBe('agents.0.command');
  });

  it('refuses an id that is not an agent id', () => {
    expect(issues({ agents: [{ id: 'no spaces', command: 'x' }] })[0]!.path).toBe('agents.0.id');
  });

  it('names the second of two agents with the same id, and the first', () => {
    expect(
      issues({
        agents: [
          { id: 'a', command: 'x' },
          { id: 'b', command: 'x' },
          { id: 'a', tmux: { target: 'f:0.1' } },
        ],
      }),
    ).toEqual([
      { path: 'agents.2.id', message: 'duplicate agent id "a" (first used by agents.0)' },
    ]);
  });

  it('refuses an HTTP probe without an http(s) URL', () => {
    expect(
      issues({ agents: [{ id: 'a', command: 'x', health: { http: { url: 'ftp://h/x' } } }] }),
    ).toEqual([
      { path: 'agents.0.health.http.url', message: 'must be an http:// or https:// URL' },
    ]);
    expect(issues({ agents: [{ id: 'a', command: 'x', health: { http: {} } }] })[0]!.path).toBe(
      'agents.0.health.http.url',
    );
  });

  it('refuses an env name with "="', () => {
    expect(issues({ agents: [{ id: 'a', command: 'x', env: { 'A=B': '1' } }] })[0]!.path).toBe(
      'agents.0.env.A=B',
    );
  });

  it('refuses enabled alert channels with nowhere to send', () => {
    expect(issues({ monitoring: { alerts: { email: { enabled: true } } } })).toEqual([
      {
        path: 'monitoring.alerts.email.recipients',
        message: 'needs at least one address when e-mail alerts are enabled',
      },
    ]);
    expect(issues({ monitoring: { alerts: { webhook: {} } } })).toEqual([
      { path: 'monitoring.alerts.webhook.url', message: 'is required when the webhook is enabled' },
    ]);
    expect(
      MonitoringConfigSchema.parse({ alerts: { webhook: { enabled: false } } }).alerts,
    ).toEqual({ webhook: { enabled: false } });
  });
});

describe('the section schemas used by the server config', () => {
  it('parse an empty file part to no agents and the default check interval', () => {
    expect(SupervisorConfigSchema.parse({})).toEqual({
      agents: [],
      monitoring: {
        check_interval: 5_000,
        strategy: 'concurrent',
        concurrency: 8,
        healthy_every: 2,
        cgroup: 'auto',
      },
    });
  });

  it('parse one agent on its own with keys left out staying undefined', () => {
    const a = AgentConfigSchema.parse({ id: 'a', command: 'x' });
    expect(a).toEqual({ id: 'a', command: 'x' });
  });
});

describe('monitoring.cgroup', () => {
  it('is auto unless written; takes auto, off and an absolute path', () => {
    expect(MonitoringConfigSchema.parse({}).cgroup).toBe('auto');
    for (const v of ['auto', 'off', '/sys/fs/cgroup/cpuacct', '/sys/fs/cgroup/user.slice/w'])
      expect(MonitoringConfigSchema.parse({ cgroup: v }).cgroup).toBe(v);
  });

  it('refuses a relative path, another word and a non-string, naming the key', () => {
    const message =
      'must be auto, off, or the absolute path of a cgroup directory (e.g. /sys/fs/cgroup/cpuacct)';
    expect(issues({ monitoring: { cgroup: 'cpuacct/warden' } })).toEqual([
      { path: 'monitoring.cgroup', message },
    ]);
    expect(issues({ monitoring: { cgroup: 'on' } })).toEqual([
      { path: 'monitoring.cgroup', message },
    ]);
    expect(issues({ monitoring: { cgroup: false } })[0]!.path).toBe('monitoring.cgroup');
  });
});
