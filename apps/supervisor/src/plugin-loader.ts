import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { DurationSchema } from '@warden/protocol';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { formatDuration } from './health-check.js';
import { BUILTIN_STRATEGIES } from './monitoring-strategy.js';
import { PLUGIN_NAME_PATTERN } from './plugin-api.js';
import type { WardenPlugin } from './plugin-api.js';

/**
 * The `plugins:` block of the config file. Parsed alone it gives the defaults; `dir` stays
 * undefined when not written, because its default depends on the data dir, which the caller
 * knows.
 */
export const PluginsConfigSchema = z.strictObject({
  /**
   * Directory whose `.js` / `.mjs` files are loaded as plugins (not recursive). Relative
   * paths are resolved by the caller against the config file's directory.
   * @defaultValue `<data-dir>/plugins`
   */
  dir: z.string().min(1, 'must not be empty').optional(),
  /**
   * Longest a plugin call (and a plugin's import) may take before it is abandoned and
   * reported. @defaultValue 5s
   */
  timeout: DurationSchema.refine((ms) => ms > 0, 'must be more than 0').prefault('5s'),
  /** Failed calls in a row after which a plugin is disabled. @defaultValue 3 */
  max_failures: z.number().int().positive().default(3),
});

/** The `plugins:` block as parsed; `timeout` in ms. */
export type PluginsConfig = z.output<typeof PluginsConfigSchema>;

/** A plugin that loaded and passed validation. */
export interface LoadedPlugin {
  /** A validated copy: its member lists are the loader's, so later changes by the module do not count. */
  plugin: WardenPlugin;
  /** Absolute path of the module it came from. */
  file: string;
}

/** A file that was skipped. */
export interface PluginLoadFailure {
  /** Absolute path of the file (or of the directory, when it could not be read). */
  file: string;
  /** Names the file as `<dir name>/<file>` and says what is wrong, e.g. `plugins/leaky.js: healthChecks[0].create must be a function`. */
  reason: string;
}

/** What {@link loadPlugins} found. */
export interface LoadPluginsResult {
  /** In file-name order. */
  plugins: LoadedPlugin[];
  /** In file-name order. */
  failures: PluginLoadFailure[];
}

/** Where {@link loadPlugins} writes what it did; one line each. */
export interface PluginLoaderLog {
  info(message: string): void;
  warn(message: string): void;
}

/** Options of {@link loadPlugins}. */
export interface LoadPluginsOptions {
  log: PluginLoaderLog;
  /** A module whose import has not settled by then (a top-level await that never ends) is skipped. @defaultValue 5000 */
  importTimeoutMs?: number;
  /** Runs the import timeout. @defaultValue systemClock */
  clock?: Clock;
  /** How a module is imported. @defaultValue the native dynamic `import()` */
  importModule?: (url: string) => Promise<unknown>;
}

const PLUGIN_FILE = /\.(m?js)$/;

/**
 * Imports every `.js` / `.mjs` file directly in `dir` (sorted by name; dot-files and
 * sub-directories are ignored), validates each plugin's shape and the uniqueness of names,
 * and never throws: a file that fails to import (syntax error, throw at top level, an import
 * that hangs), has no plugin export, or has a bad shape is skipped with a reason. A missing
 * directory means no plugins. When names collide, the file that sorts first keeps the name.
 *
 * A module is imported by file URL with `?v=<mtime>-<size>`, so a changed file is imported
 * afresh when plugins are loaded again, and an unchanged one comes from the module cache.
 * `.js` files follow Node's rules: an ES module or, with `module.exports`, CommonJS.
 */
export async function loadPlugins(
  dir: string,
  options: LoadPluginsOptions,
): Promise<LoadPluginsResult> {
  const result: LoadPluginsResult = { plugins: [], failures: [] };
  const root = path.resolve(dir);
  const shown = (name: string) => `${path.basename(root)}/${name}`;
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result;
    const reason = `${root}: cannot read the plugins directory: ${describeError(error)}`;
    options.log.warn(reason);
    result.failures.push({ file: root, reason });
    return result;
  }
  const taken = new Names();
  for (const name of names.filter((n) => PLUGIN_FILE.test(n) && !n.startsWith('.')).sort()) {
    const file = path.join(root, name);
    const fail = (what: string) => {
      const reason = `${shown(name)}: ${what}`;
      options.log.warn(`plugin skipped: ${reason}`);
      result.failures.push({ file, reason });
    };
    let info;
    try {
      info = await stat(file);
    } catch (error) {
      fail(`cannot be read: ${describeError(error)}`);
      continue;
    }
    if (!info.isFile()) continue;
    const url = `${pathToFileURL(file).href}?v=${Math.trunc(info.mtimeMs)}-${info.size}`;
    const imported = await importWithTimeout(url, options);
    if (!imported.ok) {
      fail(imported.reason);
      continue;
    }
    const checked = validatePlugin(pluginExport(imported.module));
    if (!checked.ok) {
      fail(checked.problems.join('; '));
      continue;
    }
    const clash = taken.clashes(checked.plugin);
    if (clash.length > 0) {
      fail(
        clash.map((c) => `${c.what} is already taken by ${shown(path.basename(c.by))}`).join('; '),
      );
      continue;
    }
    taken.add(checked.plugin, file);
    result.plugins.push({ plugin: checked.plugin, file });
    const version = checked.plugin.version === undefined ? '' : ` ${checked.plugin.version}`;
    options.log.info(`plugin ${checked.plugin.name}${version} loaded from ${shown(name)}`);
  }
  return result;
}

/** The outcome of {@link validatePlugin}. */
export type PluginValidation =
  { ok: true; plugin: WardenPlugin } | { ok: false; problems: string[] };

/**
 * Checks that `value` has the shape of a {@link WardenPlugin}: names that match
 * {@link PLUGIN_NAME_PATTERN} and are unique per kind within the plugin, functions that are
 * functions, lists that are lists, and no strategy named like a built-in. Every problem names
 * the member (`healthChecks[0].create must be a function`). On success returns a copy whose
 * lists the module can no longer change.
 */
export function validatePlugin(value: unknown): PluginValidation {
  const problems: string[] = [];
  try {
    if (value === undefined)
      return { ok: false, problems: ['has no default export (nor a named export "plugin")'] };
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return {
        ok: false,
        problems: [`the plugin export must be an object (got ${typeName(value)})`],
      };
    const p = value as Record<string, unknown>;
    checkName(p.name, 'name', problems);
    if (p.version !== undefined && typeof p.version !== 'string')
      problems.push(`version must be a string (got ${typeName(p.version)})`);
    if (p.init !== undefined && typeof p.init !== 'function')
      problems.push(`init must be a function (got ${typeName(p.init)})`);
    const healthChecks = members(p, 'healthChecks', ['create'], problems);
    const strategies = members(p, 'strategies', ['create'], problems);
    const notifiers = members(p, 'notifiers', ['send'], problems);
    strategies.forEach((s, i) => {
      if ((BUILTIN_STRATEGIES as readonly unknown[]).includes(s.name))
        problems.push(`strategies[${i}].name "${String(s.name)}" is a built-in strategy`);
    });
    if (problems.length > 0) return { ok: false, problems };
    const plugin: WardenPlugin = { name: p.name as string };
    if (p.version !== undefined) plugin.version = p.version as string;
    if (healthChecks.length > 0) plugin.healthChecks = healthChecks as never;
    if (strategies.length > 0) plugin.strategies = strategies as never;
    if (notifiers.length > 0) plugin.notifiers = notifiers as never;
    if (p.init !== undefined) {
      const init = p.init as NonNullable<WardenPlugin['init']>;
      plugin.init = (ctx) => init.call(p, ctx);
    }
    return { ok: true, plugin };
  } catch (error) {
    // A getter or a Proxy in the export threw while being looked at.
    return {
      ok: false,
      problems: [...problems, `could not be inspected: ${describeError(error)}`],
    };
  }
}

function members(
  p: Record<string, unknown>,
  key: 'healthChecks' | 'strategies' | 'notifiers',
  functions: string[],
  problems: string[],
): Array<Record<string, unknown>> {
  const list = p[key];
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    problems.push(`${key} must be an array (got ${typeName(list)})`);
    return [];
  }
  const seen = new Set<unknown>();
  const out: Array<Record<string, unknown>> = [];
  list.forEach((m: unknown, i) => {
    const at = `${key}[${i}]`;
    if (typeof m !== 'object' || m === null) {
      problems.push(`${at} must be an object (got ${typeName(m)})`);
      return;
    }
    const member = m as Record<string, unknown>;
    if (checkName(member.name, `${at}.name`, problems)) {
      if (seen.has(member.name)) problems.push(`${at}.name "${String(member.name)}" is used twice`);
      seen.add(member.name);
    }
    for (const fn of functions)
      if (typeof member[fn] !== 'function')
        problems.push(`${at}.${fn} must be a function (got ${typeName(member[fn])})`);
    out.push(member);
  });
  return out;
}

function checkName(name: unknown, at: string, problems: string[]): boolean {
  if (typeof name !== 'string') {
    problems.push(`${at} must be a string (got ${typeName(name)})`);
    return false;
  }
  if (!PLUGIN_NAME_PATTERN.test(name)) {
    problems.push(`${at} "${name}" must match ${String(PLUGIN_NAME_PATTERN)}`);
    return false;
  }
  return true;
}

/** Names taken by the plugins loaded so far, per kind. */
class Names {
  private readonly byKind = new Map<string, Map<string, string>>();

  clashes(plugin: WardenPlugin): Array<{ what: string; by: string }> {
    const out: Array<{ what: string; by: string }> = [];
    for (const [kind, what, name] of this.entries(plugin)) {
      const by = this.byKind.get(kind)?.get(name);
      if (by !== undefined) out.push({ what: `${what} "${name}"`, by });
    }
    return out;
  }

  add(plugin: WardenPlugin, file: string): void {
    for (const [kind, , name] of this.entries(plugin)) {
      let names = this.byKind.get(kind);
      if (!names) this.byKind.set(kind, (names = new Map()));
      names.set(name, file);
    }
  }

  private *entries(plugin: WardenPlugin): Generator<[string, string, string]> {
    yield ['plugin', 'plugin name', plugin.name];
    for (const [i, c] of (plugin.healthChecks ?? []).entries())
      yield ['check', `healthChecks[${i}].name`, c.name];
    for (const [i, s] of (plugin.strategies ?? []).entries())
      yield ['strategy', `strategies[${i}].name`, s.name];
    for (const [i, n] of (plugin.notifiers ?? []).entries())
      yield ['notifier', `notifiers[${i}].name`, n.name];
  }
}

/** The default export, else the named export `plugin`. */
function pluginExport(module: unknown): unknown {
  if (typeof module !== 'object' || module === null) return undefined;
  const m = module as { default?: unknown; plugin?: unknown };
  return m.default !== undefined ? m.default : m.plugin;
}

async function importWithTimeout(
  url: string,
  options: LoadPluginsOptions,
): Promise<{ ok: true; module: unknown } | { ok: false; reason: string }> {
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.importTimeoutMs ?? 5000;
  const load = options.importModule ?? ((u: string) => import(u));
  let timer: unknown;
  const timeout = new Promise<{ ok: false; reason: string }>((resolve) => {
    timer = clock.setTimeout(
      () =>
        resolve({
          ok: false,
          reason: `import did not finish within ${formatDuration(timeoutMs)} (a top-level await that never settles?)`,
        }),
      timeoutMs,
    );
  });
  const imported = (async () => {
    try {
      return { ok: true as const, module: await load(url) };
    } catch (error) {
      return { ok: false as const, reason: `could not be imported: ${describeError(error)}` };
    }
  })();
  try {
    return await Promise.race([imported, timeout]);
  } finally {
    clock.clearTimeout(timer);
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** An error as one line: `Name: message`, never throwing on odd values. */
export function describeError(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`.split('\n')[0]!;
    return String(error).split('\n')[0]!;
  } catch {
    return 'an unprintable value';
  }
}
