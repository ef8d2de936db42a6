import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import { createStrategy } from './monitoring-strategy.js';
import type { MonitorTarget } from './monitoring-strategy.js';
import type { AgentFacts } from './plugin-api.js';
import { PluginHost } from './plugin-host.js';
import type { PluginHostOptions, PluginProblem } from './plugin-host.js';
import { loadPlugins } from './plugin-loader.js';
import { ManualClock } from './test-support/manual-clock.js';
import { nativeImport } from './test-support/plugins/native-import.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Where the test plugins below leave what they were sent, keyed by the test's plugins dir. */
const SENT = Symbol.for('warden.plugin-host.test.sent');
type Sent = Record<string, unknown[]>;
const sent = (): Sent => ((globalThis as Record<symbol, Sent>)[SENT] ??= {});

/** A health check that behaves as `agent.config.mode` says; a notifier that records or fails. */
const FLAKY = `
const SENT = Symbol.for('warden.plugin-host.test.sent');
const record = (key, value) => ((globalThis[SENT] ??= {})[key] ??= []).push(value);
export default {
  name: 'flaky',
  version: '0.1.0',
  init(ctx) { ctx.log.info('flaky ready'); },
  healthChecks: [{
    name: 'moody',
    create(agent) {
      if (agent.config.mode === 'no-create') throw new Error('cannot create');
      return {
        evaluate(now, facts) {
          switch (agent.config.mode) {
            case 'throw': throw new Error('moody threw');
            case 'reject': return Promise.reject(new Error('moody rejected'));
            case 'hang': return new Promise(() => {});
            case 'late-reject': return new Promise((_, reject) => setTimeout(() => reject(new Error('too late')), 30));
            case 'bad': return { health: 'sick', reason: 'x' };
            case 'mutate': facts.status = 'failed'; return { health: 'healthy', reason: 'changed it' };
            case 'switch': return globalThis[SENT].mode === 'fail'
              ? Promise.reject(new Error('switched off'))
              : { health: 'healthy', reason: 'switched on' };
            default: return { health: facts.cpuPercent > agent.config.max ? 'warning' : 'healthy',
              reason: 'cpu ' + facts.cpuPercent + '% (limit ' + agent.config.max + '%) at ' + now };
          }
        },
        stop() { record('stopped', agent.id); },
      };
    },
  }],
  notifiers: [{
    name: 'memo',
    async send(notice) { record('memo', notice); },
  }, {
    name: 'broken-pager',
    async send() { throw new Error('pager down'); },
  }],
};
`;

const STRATEGIES = `
export default {
  name: 'strats',
  strategies: [
    {
      name: 'all-at-once',
      create(opts) {
        let timer;
        return {
          name: 'all-at-once',
          start(targets) {
            const tick = () => {
              for (const t of targets()) t.check().catch((e) => opts.onError(t, e));
              timer = opts.clock.setTimeout(tick, opts.intervalMs);
            };
            timer = opts.clock.setTimeout(tick, 0);
          },
          async stop() { opts.clock.clearTimeout(timer); globalThis[Symbol.for('warden.plugin-host.test.sent')].stoppedStrategy = true; },
        };
      },
    },
    { name: 'no-create', create() { throw new Error('create failed'); } },
    { name: 'no-start', create() { return { name: 'no-start', start() { throw new Error('start failed'); }, async stop() {} }; } },
  ],
};
`;

async function hostWith(
  files: Record<string, string>,
  options: Partial<PluginHostOptions> = {},
): Promise<{ host: PluginHost; problems: PluginProblem[]; logs: string[]; dir: string }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-host-'));
  dirs.push(root);
  const dir = path.join(root, 'plugins');
  fs.mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const loaded = await loadPlugins(dir, {
    log: { info: () => {}, warn: () => {} },
    importModule: nativeImport,
  });
  expect(loaded.failures).toEqual([]);
  const problems: PluginProblem[] = [];
  const logs: string[] = [];
  const host = new PluginHost({
    plugins: loaded.plugins,
    clock: new ManualClock(),
    onProblem: (p) => problems.push(p),
    log: (plugin, level, message) => logs.push(`${plugin} ${level} ${message}`),
    ...options,
  });
  await host.init();
  return { host, problems, logs, dir };
}

/** Lets pending promise callbacks run (a plugin call sets its timeout only after a few). */
const settle = () => new Promise((r) => setImmediate(r));

const FACTS: AgentFacts = { status: 'running', pid: 4242, cpuPercent: 80, rssBytes: 1 << 20 };

describe('PluginHost', () => {
  it('runs a loaded plugin: init with a log, a health check per agent, a notifier', async () => {
    const { host, problems, logs } = await hostWith({ 'flaky.mjs': FLAKY });
    expect(logs).toEqual(['flaky info flaky ready']);
    expect(host.healthCheckNames()).toEqual(['moody']);
    expect(host.notifierNames()).toEqual(['memo', 'broken-pager']);
    const check = host.healthCheck('moody', { id: 'worker-1', config: { max: 50 } })!;
    expect(await check.evaluate(1000, FACTS)).toEqual({
      check: 'moody',
      plugin: 'flaky',
      health: 'warning',
      reason: 'cpu 80% (limit 50%) at 1000',
    });
    const outcomes = await host.notify(
      { agentId: 'worker-1', severity: 'critical', text: 'circuit open' },
      ['memo'],
    );
    expect(outcomes).toEqual([{ notifier: 'memo', plugin: 'flaky', ok: true }]);
    expect(sent().memo?.at(-1)).toEqual({
      agentId: 'worker-1',
      severity: 'critical',
      text: 'circuit open',
    });
    await check.stop();
    expect(sent().stopped?.at(-1)).toBe('worker-1');
    expect(problems).toEqual([]);
  });

  it('a check that throws, rejects or hangs past the timeout yields unknown and is reported, naming the call', async () => {
    const clock = new ManualClock();
    const { host, problems } = await hostWith(
      { 'flaky.mjs': FLAKY },
      { clock, timeoutMs: 100, maxFailures: 10 },
    );
    const verdict = (mode: string) =>
      host.healthCheck('moody', { id: `agent-${mode}`, config: { mode } })!.evaluate(0, FACTS);
    expect(await verdict('throw')).toMatchObject({
      health: 'unknown',
      reason: 'plugin "flaky": healthChecks.moody.evaluate threw Error: moody threw',
    });
    expect(await verdict('reject')).toMatchObject({
      health: 'unknown',
      reason: 'plugin "flaky": healthChecks.moody.evaluate rejected with Error: moody rejected',
    });
    const hanging = verdict('hang');
    await settle();
    await clock.advanceAsync(99);
    expect(problems).toHaveLength(2);
    await clock.advanceAsync(1);
    expect(await hanging).toMatchObject({
      health: 'unknown',
      reason: 'plugin "flaky": healthChecks.moody.evaluate did not settle within 100ms; abandoned',
    });
    expect(problems.map((p) => [p.plugin, p.call, p.code, p.agentId, p.disabled])).toEqual([
      ['flaky', 'healthChecks.moody.evaluate', 'threw', 'agent-throw', false],
      ['flaky', 'healthChecks.moody.evaluate', 'rejected', 'agent-reject', false],
      ['flaky', 'healthChecks.moody.evaluate', 'timeout', 'agent-hang', false],
    ]);
  });

  it('abandons a hung call on the real clock after a short timeout', async () => {
    const { host, problems } = await hostWith(
      { 'flaky.mjs': FLAKY },
      { clock: systemClock, timeoutMs: 100 },
    );
    const started = Date.now();
    const result = await host
      .healthCheck('moody', { id: 'a', config: { mode: 'hang' } })!
      .evaluate(0, FACTS);
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    expect(result.health).toBe('unknown');
    expect(problems.map((p) => p.code)).toEqual(['timeout']);
  });

  it('a call abandoned at the timeout that rejects later is swallowed, not an unhandled rejection', async () => {
    const clock = new ManualClock();
    const { host, problems } = await hostWith({ 'flaky.mjs': FLAKY }, { clock, timeoutMs: 10 });
    const pending = host
      .healthCheck('moody', { id: 'a', config: { mode: 'late-reject' } })!
      .evaluate(0, FACTS);
    await settle();
    await clock.advanceAsync(10);
    expect((await pending).health).toBe('unknown');
    // The plugin's own timer rejects 30 ms later (real time); vitest fails the run on an
    // unhandled rejection, so waiting past it is the assertion.
    await new Promise((r) => setTimeout(r, 60));
    expect(problems.map((p) => p.code)).toEqual(['timeout']);
  });

  it('after 3 failures in a row the plugin is disabled, reported once, and none of its parts are called again', async () => {
    const { host, problems } = await hostWith({ 'flaky.mjs': FLAKY });
    const check = host.healthCheck('moody', { id: 'a', config: { mode: 'throw' } })!;
    for (let i = 0; i < 5; i++) await check.evaluate(i, FACTS);
    expect(problems.map((p) => p.disabled)).toEqual([false, false, true]);
    expect(problems[2]!.reason).toBe(
      'plugin "flaky": healthChecks.moody.evaluate threw Error: moody threw; plugin disabled after 3 failures in a row',
    );
    expect(await check.evaluate(9, FACTS)).toMatchObject({
      health: 'unknown',
      reason: 'plugin "flaky" is disabled',
    });
    expect(host.isDisabled('flaky')).toBe(true);
    expect(host.enabledPlugins()).toEqual([]);
    expect(await host.notify({ agentId: 'a', severity: 'info', text: 'x' })).toEqual([]);
    expect(problems).toHaveLength(3);
  });

  it('a success resets the count of failures in a row', async () => {
    const { host, problems } = await hostWith({ 'flaky.mjs': FLAKY });
    const check = host.healthCheck('moody', { id: 'a', config: { mode: 'switch' } })!;
    const mode = sent() as { mode?: string };
    for (const m of ['fail', 'fail', 'ok', 'fail', 'fail', 'ok']) {
      mode.mode = m;
      await check.evaluate(0, FACTS);
    }
    expect(problems).toHaveLength(4);
    expect(problems.some((p) => p.disabled)).toBe(false);
    expect(host.isDisabled('flaky')).toBe(false);
  });

  it('a verdict of the wrong shape is reported as bad_result and becomes unknown', async () => {
    const { host, problems } = await hostWith({ 'flaky.mjs': FLAKY });
    const result = await host
      .healthCheck('moody', { id: 'a', config: { mode: 'bad' } })!
      .evaluate(0, FACTS);
    expect(result.health).toBe('unknown');
    expect(problems.map((p) => [p.code, p.reason])).toEqual([
      [
        'bad_result',
        'plugin "flaky": healthChecks.moody.evaluate returned health "sick" (expected healthy, warning, critical, unknown)',
      ],
    ]);
  });

  it('hands plugins frozen copies: a check that writes to the facts fails instead of changing them', async () => {
    const { host, problems } = await hostWith({ 'flaky.mjs': FLAKY });
    const facts = { ...FACTS };
    const result = await host
      .healthCheck('moody', { id: 'a', config: { mode: 'mutate' } })!
      .evaluate(0, facts);
    expect(result.health).toBe('unknown');
    expect(facts.status).toBe('running');
    expect(problems[0]!.reason).toMatch(
      /evaluate threw TypeError: Cannot assign to read only property 'status'/,
    );
  });

  it('a create that throws makes that evaluation unknown and is tried again at the next', async () => {
    const { host, problems } = await hostWith({ 'flaky.mjs': FLAKY });
    const config: Record<string, unknown> = { mode: 'no-create' };
    const check = host.healthCheck('moody', { id: 'a', config })!;
    await check.evaluate(0, FACTS);
    await check.evaluate(1, FACTS);
    expect(problems.map((p) => p.call)).toEqual([
      'healthChecks.moody.create',
      'healthChecks.moody.create',
    ]);
    expect(host.healthCheck('nope', { id: 'a', config: {} })).toBeUndefined();
  });

  it('a notifier that rejects is reported with the agent and its outcome says why', async () => {
    const { host, problems } = await hostWith({ 'flaky.mjs': FLAKY });
    const outcomes = await host.notify({ agentId: 'w-9', severity: 'warning', text: 'hung task' });
    expect(outcomes).toEqual([
      { notifier: 'memo', plugin: 'flaky', ok: true },
      {
        notifier: 'broken-pager',
        plugin: 'flaky',
        ok: false,
        reason: 'plugin "flaky": notifiers.broken-pager.send rejected with Error: pager down',
      },
    ]);
    expect(problems.map((p) => [p.call, p.code, p.agentId])).toEqual([
      ['notifiers.broken-pager.send', 'rejected', 'w-9'],
    ]);
  });

  it('an init that throws disables that plugin at once; the other plugins work', async () => {
    const { host, problems } = await hostWith({
      'a-bad-init.mjs': `export default { name: 'bad-init', init() { throw new Error('no config'); },
        notifiers: [{ name: 'never', send: async () => {} }] };`,
      'b-flaky.mjs': FLAKY,
    });
    expect(problems.map((p) => [p.plugin, p.call, p.disabled, p.reason])).toEqual([
      ['bad-init', 'init', true, 'plugin "bad-init": init threw Error: no config; plugin disabled'],
    ]);
    expect(host.enabledPlugins()).toEqual(['flaky']);
    const outcomes = await host.notify({ agentId: 'a', severity: 'info', text: 'hi' });
    expect(outcomes.map((o) => o.notifier)).toEqual(['memo', 'broken-pager']);
  });

  it('counts crashes the guard attributes to a plugin, and finds the plugin by its file', async () => {
    const { host, problems, dir } = await hostWith({ 'flaky.mjs': FLAKY });
    expect(host.pluginForFile(path.join(dir, 'flaky.mjs'))).toBe('flaky');
    for (let i = 0; i < 3; i++) host.crashed('flaky', 'uncaught exception', 'Error: from a timer');
    expect(problems.map((p) => [p.code, p.disabled])).toEqual([
      ['crashed', false],
      ['crashed', false],
      ['crashed', true],
    ]);
  });
});

describe('PluginHost strategies', () => {
  function fleet() {
    const checked: string[] = [];
    const targets: MonitorTarget[] = ['a', 'b'].map((id) => ({
      id,
      priority: 0,
      health: () => 'healthy',
      check: async () => {
        checked.push(id);
      },
    }));
    return { checked, targets };
  }

  it('a strategy plugin is created by name through createStrategy and runs the targets', async () => {
    const clock = new ManualClock();
    const { host, problems } = await hostWith({ 'strats.mjs': STRATEGIES }, { clock });
    const f = fleet();
    const s = createStrategy(
      'all-at-once',
      { intervalMs: 1000, clock, onError: () => {} },
      host.strategies(),
    );
    expect(s.name).toBe('all-at-once');
    s.start(() => f.targets);
    await clock.advanceAsync(1000);
    expect(f.checked).toEqual(['a', 'b', 'a', 'b']);
    await s.stop();
    expect((sent() as { stoppedStrategy?: boolean }).stoppedStrategy).toBe(true);
    expect(problems).toEqual([]);
  });

  it('when the plugin cannot create or start its strategy, the built-in concurrent strategy watches the fleet', async () => {
    const clock = new ManualClock();
    const { host, problems } = await hostWith({ 'strats.mjs': STRATEGIES }, { clock });
    for (const name of ['no-create', 'no-start']) {
      const f = fleet();
      const s = createStrategy(
        name,
        { intervalMs: 1000, clock, onError: () => {} },
        host.strategies(),
      );
      s.start(() => f.targets);
      await clock.advanceAsync(1000, 100);
      expect(f.checked).toEqual(['a', 'b', 'a', 'b']);
      await s.stop();
    }
    expect(problems.map((p) => p.reason)).toEqual([
      'plugin "strats": strategies.no-create.create threw Error: create failed',
      'plugin "strats": strategies.no-start.start threw Error: start failed',
    ]);
  });

  it('when the plugin is disabled while its strategy runs, the strategy is stopped and the built-in takes over', async () => {
    const clock = new ManualClock();
    const { host } = await hostWith({ 'strats.mjs': STRATEGIES }, { clock });
    (sent() as { stoppedStrategy?: boolean }).stoppedStrategy = false;
    const f = fleet();
    const s = createStrategy(
      'all-at-once',
      { intervalMs: 1000, clock, onError: () => {} },
      host.strategies(),
    );
    s.start(() => f.targets);
    clock.advance(0);
    await settle();
    expect(f.checked).toEqual(['a', 'b']);
    for (let i = 0; i < 3; i++) host.crashed('strats', 'uncaught exception', 'Error: timer threw');
    await settle();
    expect((sent() as { stoppedStrategy?: boolean }).stoppedStrategy).toBe(true);
    await clock.advanceAsync(1000, 100);
    expect(f.checked).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    await s.stop();
  });
});
