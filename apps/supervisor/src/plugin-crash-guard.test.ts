import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { attributeToPlugin, installPluginCrashGuard } from './plugin-crash-guard.js';
import type { CrashGuardProcess, PluginCrash } from './plugin-crash-guard.js';

const DIR = '/srv/warden/plugins';

function errorWithStack(stack: string): Error {
  const e = new Error('boom');
  e.stack = `Error: boom\n${stack}`;
  return e;
}

describe('attributeToPlugin', () => {
  it('finds the plugin file of an ES module frame, cache-busting query and all', () => {
    const e = errorWithStack(
      [
        '    at Timeout._onTimeout (file:///srv/warden/plugins/leaky.mjs?v=1760000000000-120:7:13)',
        '    at listOnTimeout (node:internal/timers:581:17)',
      ].join('\n'),
    );
    expect(attributeToPlugin(e, DIR)).toBe('/srv/warden/plugins/leaky.mjs');
  });

  it('takes the top-most frame inside the dir, also as a plain path (CommonJS) or an anonymous frame', () => {
    const e = errorWithStack(
      [
        '    at JSON.parse (<anonymous>)',
        '    at /srv/warden/app/dist/agent.js:10:3',
        '    at /srv/warden/plugins/legacy.js:3:9',
        '    at file:///srv/warden/plugins/other.mjs:1:1',
      ].join('\n'),
    );
    expect(attributeToPlugin(e, DIR)).toBe('/srv/warden/plugins/legacy.js');
    expect(
      attributeToPlugin(errorWithStack('    at async file:///srv/warden/plugins/a.mjs:2:5'), DIR),
    ).toBe('/srv/warden/plugins/a.mjs');
  });

  it('does not attribute frames outside the dir, a sibling dir with the same prefix, or values without a stack', () => {
    expect(
      attributeToPlugin(
        errorWithStack('    at run (file:///srv/warden/app/dist/supervisor.js:1:1)'),
        DIR,
      ),
    ).toBeUndefined();
    expect(
      attributeToPlugin(errorWithStack('    at run (/srv/warden/plugins-old/x.js:1:1)'), DIR),
    ).toBeUndefined();
    expect(attributeToPlugin('just a string', DIR)).toBeUndefined();
    expect(attributeToPlugin(undefined, DIR)).toBeUndefined();
    expect(attributeToPlugin({ stack: 42 }, DIR)).toBeUndefined();
  });
});

describe('installPluginCrashGuard', () => {
  function fakeProcess() {
    const emitter = new EventEmitter();
    return { emitter, proc: emitter as unknown as CrashGuardProcess };
  }

  it('reports an error thrown from plugin code as a crash of that plugin, and keeps the process', () => {
    const { emitter, proc } = fakeProcess();
    const crashes: PluginCrash[] = [];
    const others: string[] = [];
    installPluginCrashGuard(DIR, (c) => crashes.push(c), {
      process: proc,
      pluginForFile: (f) => (f.endsWith('leaky.mjs') ? 'leak-detector' : undefined),
      onOther: (e, kind) => others.push(`${kind} ${String(e)}`),
    });
    const e = errorWithStack(
      '    at Timeout._onTimeout (file:///srv/warden/plugins/leaky.mjs:7:13)',
    );
    emitter.emit('uncaughtException', e);
    emitter.emit('unhandledRejection', e);
    expect(crashes.map((c) => [c.plugin, c.call, c.code, c.file, c.reason])).toEqual([
      [
        'leak-detector',
        'uncaught exception',
        'crashed',
        '/srv/warden/plugins/leaky.mjs',
        'plugin "leak-detector" (plugins/leaky.mjs): uncaught exception Error: boom',
      ],
      [
        'leak-detector',
        'unhandled rejection',
        'crashed',
        '/srv/warden/plugins/leaky.mjs',
        'plugin "leak-detector" (plugins/leaky.mjs): unhandled rejection Error: boom',
      ],
    ]);
    expect(others).toEqual([]);
  });

  it("passes the supervisor's own errors to onOther, and uninstalls cleanly", () => {
    const { emitter, proc } = fakeProcess();
    const others: string[] = [];
    const uninstall = installPluginCrashGuard(DIR, () => {}, {
      process: proc,
      onOther: (e, kind) => others.push(`${kind} ${String(e)}`),
    });
    emitter.emit('unhandledRejection', 'a bare string');
    expect(others).toEqual(['unhandledRejection a bare string']);
    uninstall();
    uninstall();
    expect(emitter.listenerCount('uncaughtException')).toBe(0);
    expect(emitter.listenerCount('unhandledRejection')).toBe(0);
  });
});

describe('installPluginCrashGuard in a real process', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  /** The guard, compiled alone from its source, and a supervisor-like script that uses it. */
  function setup(scenario: string): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-guard-'));
    dirs.push(root);
    const source = fs.readFileSync(
      fileURLToPath(new URL('./plugin-crash-guard.ts', import.meta.url)),
      'utf8',
    );
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    fs.writeFileSync(path.join(root, 'guard.mjs'), js);
    fs.mkdirSync(path.join(root, 'plugins'));
    fs.writeFileSync(
      path.join(root, 'plugins', 'timer-bomb.mjs'),
      `export default { name: 'timer-bomb' };
       setTimeout(() => { throw new Error('thrown from a plugin timer'); }, 10);
       Promise.reject(new Error('dropped by the plugin'));`,
    );
    fs.writeFileSync(
      path.join(root, 'main.mjs'),
      `import { installPluginCrashGuard } from './guard.mjs';
       installPluginCrashGuard(new URL('./plugins', import.meta.url).pathname, (c) => console.log('CRASH ' + c.reason));
       await import('./plugins/timer-bomb.mjs');
       ${scenario}`,
    );
    return root;
  }

  function run(root: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [path.join(root, 'main.mjs')], { stdio: 'pipe' });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  it('a plugin that throws from a timer and drops a rejection does not take the process down', async () => {
    const out = await run(
      setup(`setTimeout(() => { console.log('ALIVE'); process.exit(0); }, 100);`),
    );
    expect(out.code).toBe(0);
    expect(out.stdout.split('\n').filter(Boolean).sort()).toEqual([
      'ALIVE',
      'CRASH plugin "timer-bomb" (plugins/timer-bomb.mjs): uncaught exception Error: thrown from a plugin timer',
      'CRASH plugin "timer-bomb" (plugins/timer-bomb.mjs): unhandled rejection Error: dropped by the plugin',
    ]);
  });

  it("the supervisor's own uncaught error still crashes it, with its stack on stderr and exit code 1", async () => {
    const out = await run(
      setup(`setTimeout(() => { throw new Error('supervisor bug'); }, 50);
             setTimeout(() => { console.log('ALIVE'); process.exit(0); }, 500);`),
    );
    expect(out.code).toBe(1);
    expect(out.stdout).not.toContain('ALIVE');
    expect(out.stderr).toContain('Error: supervisor bug');
  });
});
