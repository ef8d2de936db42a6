import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

// Runs the built CLI (`npm test` builds first), as a user would.
const BIN = fileURLToPath(new URL('../bin/warden.js', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the CLI with a module hook that logs every module it loads; returns the URLs. */
function loadedModules(args: string[]): { status: number | null; stderr: string; urls: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'warden-lazy-'));
  dirs.push(dir);
  const log = join(dir, 'loaded.txt');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}
`,
  );
  writeFileSync(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`,
  );
  writeFileSync(log, '');
  const r = spawnSync(
    process.execPath,
    ['--import', pathToFileURL(join(dir, 'register.mjs')).href, BIN, ...args, '--data-dir', dir],
    {
      encoding: 'utf8',
      env: { ...process.env, WARDEN_JWT_SECRET: '', WARDEN_CONFIG: '' },
      timeout: 20_000,
    },
  );
  return { status: r.status, stderr: r.stderr, urls: readFileSync(log, 'utf8').split('\n') };
}

describe('the CLI loads the hub only for warden serve', () => {
  it('a command other than serve (the same imports as supervise) runs without the hub’s modules', () => {
    const r = loadedModules(['token', '--role', 'viewer']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // It did load the CLI and the config, so the hook saw the graph.
    expect(r.urls.some((u) => u.endsWith('/apps/cli/dist/token-command.js'))).toBe(true);
    expect(r.urls.some((u) => u.endsWith('/apps/server/dist/config-entry.js'))).toBe(true);
    expect(r.urls.some((u) => u.endsWith('/apps/supervisor/dist/index.js'))).toBe(true);
    const hub = r.urls.filter(
      (u) =>
        u.endsWith('/apps/server/dist/index.js') ||
        /\/node_modules\/(fastify|better-sqlite3|pg|ioredis|kysely|nodemailer)\//.test(u),
    );
    expect(hub).toEqual([]);
  });
});
