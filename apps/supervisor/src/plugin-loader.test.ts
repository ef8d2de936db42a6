import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PluginsConfigSchema, loadPlugins, validatePlugin } from './plugin-loader.js';
import { ManualClock } from './test-support/manual-clock.js';
import { nativeImport } from './test-support/plugins/native-import.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh `<tmp>/plugins` holding the given files. */
function pluginsDir(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-plugins-'));
  dirs.push(root);
  const dir = path.join(root, 'plugins');
  fs.mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** Options with a log that records its lines, importing as the built supervisor does. */
function recordingLog() {
  const lines: string[] = [];
  return {
    lines,
    log: {
      info: (m: string) => lines.push(`info ${m}`),
      warn: (m: string) => lines.push(`warn ${m}`),
    },
    importModule: nativeImport,
  };
}

const GOOD = `
export default {
  name: 'good',
  version: '1.2.0',
  healthChecks: [{ name: 'always-fine', create: () => ({ evaluate: () => ({ health: 'healthy', reason: 'fine' }) }) }],
  notifiers: [{ name: 'sink', send: async () => {} }],
};
`;

describe('loadPlugins', () => {
  it('loads a valid plugin and logs its name, version and file', async () => {
    const dir = pluginsDir({ 'good.mjs': GOOD });
    const { log, lines } = recordingLog();
    const { plugins, failures } = await loadPlugins(dir, { log, importModule: nativeImport });
    expect(failures).toEqual([]);
    expect(plugins.map((p) => [p.plugin.name, p.plugin.version, p.file])).toEqual([
      ['good', '1.2.0', path.join(dir, 'good.mjs')],
    ]);
    expect(plugins[0]!.plugin.healthChecks!.map((c) => c.name)).toEqual(['always-fine']);
    expect(lines).toEqual(['info plugin good 1.2.0 loaded from plugins/good.mjs']);
  });

  it('a missing directory means no plugins and no failures', async () => {
    const { log, lines } = recordingLog();
    const result = await loadPlugins(path.join(os.tmpdir(), 'warden-no-such-dir-xyz'), { log });
    expect(result).toEqual({ plugins: [], failures: [] });
    expect(lines).toEqual([]);
  });

  it('rejects a bad shape, naming the file and the member that is wrong', async () => {
    const dir = pluginsDir({
      'leaky.js': `export default { name: 'leaky', healthChecks: [{ name: 'mem', create: 42 }] };`,
    });
    const { log, lines } = recordingLog();
    const { plugins, failures } = await loadPlugins(dir, { log, importModule: nativeImport });
    expect(plugins).toEqual([]);
    expect(failures).toEqual([
      {
        file: path.join(dir, 'leaky.js'),
        reason: 'plugins/leaky.js: healthChecks[0].create must be a function (got number)',
      },
    ]);
    expect(lines).toEqual([
      'warn plugin skipped: plugins/leaky.js: healthChecks[0].create must be a function (got number)',
    ]);
  });

  it('reports a syntax error, a throw at top level and a missing export, and still loads the others', async () => {
    const dir = pluginsDir({
      'a-syntax.mjs': `export default { name: 'broken', oops oops };`,
      'b-throws.mjs': `throw new Error('boom at top level');`,
      'c-good.mjs': GOOD,
      'd-empty.mjs': `export const unrelated = 1;`,
    });
    const { plugins, failures } = await loadPlugins(dir, recordingLog());
    expect(plugins.map((p) => p.plugin.name)).toEqual(['good']);
    expect(failures.map((f) => path.basename(f.file))).toEqual([
      'a-syntax.mjs',
      'b-throws.mjs',
      'd-empty.mjs',
    ]);
    expect(failures[0]!.reason).toMatch(
      /^plugins\/a-syntax\.mjs: could not be imported: SyntaxError: /,
    );
    expect(failures[1]!.reason).toBe(
      'plugins/b-throws.mjs: could not be imported: Error: boom at top level',
    );
    expect(failures[2]!.reason).toBe(
      'plugins/d-empty.mjs: has no default export (nor a named export "plugin")',
    );
  });

  it('rejects a name taken by a plugin that sorts first, per kind, naming who has it', async () => {
    const dir = pluginsDir({
      'a.mjs': `export default { name: 'first', notifiers: [{ name: 'slack', send: async () => {} }] };`,
      'b.mjs': `export default { name: 'first' };`,
      'c.mjs': `export default { name: 'third', notifiers: [{ name: 'slack', send: async () => {} }] };`,
      // The same name for a check and a notifier is fine: names are unique per kind.
      'd.mjs': `export default { name: 'fourth', healthChecks: [{ name: 'slack', create: () => ({ evaluate() {} }) }] };`,
    });
    const { plugins, failures } = await loadPlugins(dir, recordingLog());
    expect(plugins.map((p) => p.plugin.name)).toEqual(['first', 'fourth']);
    expect(failures.map((f) => f.reason)).toEqual([
      'plugins/b.mjs: plugin name "first" is already taken by plugins/a.mjs',
      'plugins/c.mjs: notifiers[0].name "slack" is already taken by plugins/a.mjs',
    ]);
  });

  it('loads .js and .mjs files in name order, not recursively, ignoring other files', async () => {
    const dir = pluginsDir({
      'b.js': `export default { name: 'bee' };`,
      'a.mjs': `export default { name: 'ay' };`,
      'c.cjs': `module.exports = { name: 'see' };`,
      'notes.txt': 'not a plugin',
      '.hidden.mjs': `export default { name: 'hidden' };`,
      'nested/d.mjs': `export default { name: 'dee' };`,
    });
    const { plugins, failures } = await loadPlugins(dir, recordingLog());
    expect(plugins.map((p) => p.plugin.name)).toEqual(['ay', 'bee']);
    expect(failures).toEqual([]);
  });

  it('takes a named export `plugin` when there is no default, and a CommonJS module.exports in a .js file', async () => {
    const dir = pluginsDir({
      'named.mjs': `export const plugin = { name: 'named' };`,
      'legacy.js': `module.exports = { name: 'legacy' };`,
    });
    const { plugins, failures } = await loadPlugins(dir, recordingLog());
    expect(failures).toEqual([]);
    expect(plugins.map((p) => p.plugin.name).sort()).toEqual(['legacy', 'named']);
  });

  it('gives up on an import that does not settle within the import timeout', async () => {
    const dir = pluginsDir({
      'a-stuck.mjs': `await new Promise(() => {}); export default { name: 'stuck' };`,
      'b-good.mjs': GOOD,
    });
    const clock = new ManualClock();
    const loading = loadPlugins(dir, { ...recordingLog(), clock, importTimeoutMs: 100 });
    while (clock.pending().length === 0) await new Promise((r) => setTimeout(r, 5));
    await clock.advanceAsync(100);
    const { plugins, failures } = await loading;
    expect(plugins.map((p) => p.plugin.name)).toEqual(['good']);
    expect(failures.map((f) => f.reason)).toEqual([
      'plugins/a-stuck.mjs: import did not finish within 100ms (a top-level await that never settles?)',
    ]);
  });

  it('imports a file afresh once it changed, so plugins can be loaded again after an edit', async () => {
    const dir = pluginsDir({ 'p.mjs': `export default { name: 'one' };` });
    const first = await loadPlugins(dir, recordingLog());
    const file = path.join(dir, 'p.mjs');
    fs.writeFileSync(file, `export default { name: 'two', version: 'edited' };`);
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(file, later, later);
    const second = await loadPlugins(dir, recordingLog());
    expect(first.plugins[0]!.plugin.name).toBe('one');
    expect(second.plugins[0]!.plugin.name).toBe('two');
  });
});

describe('validatePlugin', () => {
  const problems = (value: unknown) => {
    const r = validatePlugin(value);
    return r.ok ? [] : r.problems;
  };

  it('lists every problem, each naming its member', () => {
    expect(
      problems({
        name: 'Bad Name',
        version: 2,
        init: 'soon',
        healthChecks: [{ name: 'ok', create: () => ({}) }, null, { name: 'ok', create: null }],
        strategies: {},
        notifiers: [{ name: 'n' }],
      }),
    ).toEqual([
      'name "Bad Name" must match /^[a-z][a-z0-9_-]*$/',
      'version must be a string (got number)',
      'init must be a function (got string)',
      'healthChecks[1] must be an object (got null)',
      'healthChecks[2].name "ok" is used twice',
      'healthChecks[2].create must be a function (got null)',
      'strategies must be an array (got object)',
      'notifiers[0].send must be a function (got undefined)',
    ]);
  });

  it('refuses a strategy named like a built-in and an export that is not an object', () => {
    expect(problems({ name: 'x', strategies: [{ name: 'polling', create: () => ({}) }] })).toEqual([
      'strategies[0].name "polling" is a built-in strategy',
    ]);
    expect(problems(() => ({}))).toEqual(['the plugin export must be an object (got function)']);
  });

  it('reports an export whose getter throws instead of throwing', () => {
    const hostile = {
      get name(): string {
        throw new Error('gotcha');
      },
    };
    expect(problems(hostile)).toEqual(['could not be inspected: Error: gotcha']);
  });

  it('returns a copy whose member lists the module can no longer change', () => {
    const checks = [{ name: 'a', create: () => ({ evaluate: () => ({}) }) }];
    const r = validatePlugin({ name: 'x', healthChecks: checks });
    checks.push({ name: 'b', create: () => ({ evaluate: () => ({}) }) });
    expect(r.ok && r.plugin.healthChecks!.map((c) => c.name)).toEqual(['a']);
  });
});

describe('PluginsConfigSchema', () => {
  it('defaults to a 5 s timeout and 3 failures; dir stays for the caller to resolve', () => {
    expect(PluginsConfigSchema.parse({})).toEqual({ timeout: 5000, max_failures: 3 });
    expect(PluginsConfigSchema.parse({ dir: './plugins', timeout: '250ms' })).toEqual({
      dir: './plugins',
      timeout: 250,
      max_failures: 3,
    });
    expect(PluginsConfigSchema.safeParse({ timeout: 0 }).success).toBe(false);
    expect(PluginsConfigSchema.safeParse({ dirs: 'x' }).success).toBe(false);
  });
});
