import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogFilesConfigSchema } from './agent-log-file-config.js';
import { AgentsConfigSchema, MonitoringConfigSchema, resolveAgents } from './supervisor-config.js';
import { Supervisor } from './supervisor.js';
import { MemoryReporter, silentLog } from './supervisor-reporter.js';

const dirs: string[] = [];
const supervisors: Supervisor[] = [];

afterEach(async () => {
  for (const s of supervisors.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'warden-logfiles-'));
  dirs.push(d);
  return d;
}

function resolve(agents: unknown[], files: Record<string, unknown> = {}, dir = tempDir()) {
  return resolveAgents(
    AgentsConfigSchema.parse(agents),
    MonitoringConfigSchema.parse({ check_interval: '100ms' }),
    { ...LogFilesConfigSchema.parse(files), dir: join(dir, 'logs'), baseDir: dir },
  );
}

async function until<T>(what: string, fn: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('per-agent log files (logs.files)', () => {
  it('resolve to <dir>/<id>.log with the rotation settings; log_file names another path or none', () => {
    const dir = tempDir();
    const [a, b, c, t] = resolve(
      [
        { id: 'a', command: 'true' },
        { id: 'b', command: 'true', log_file: 'custom/b.out' },
        { id: 'c', command: 'true', log_file: false },
        { id: 't', tmux: { target: 'fleet:0.1' } },
      ],
      { max_size: '1MiB', max_files: 3, rotate_interval: '1h', compress: false },
      dir,
    );
    expect(a).toMatchObject({
      logFile: {
        path: join(dir, 'logs', 'a.log'),
        maxSizeBytes: 1024 * 1024,
        maxFiles: 3,
        rotateIntervalMs: 3_600_000,
        compress: false,
      },
    });
    expect(b).toMatchObject({ logFile: { path: join(dir, 'custom', 'b.out') } });
    expect(c).not.toHaveProperty('logFile');
    expect(t).not.toHaveProperty('logFile'); // a pane the supervisor did not start
    expect(resolve([{ id: 'a', command: 'true' }], { enabled: false })[0]).not.toHaveProperty(
      'logFile',
    );
  });

  it('defaults: 10MiB, 10 files, daily, gzip', () => {
    expect(LogFilesConfigSchema.parse({})).toEqual({
      enabled: true,
      max_size: 10 * 1024 * 1024,
      max_files: 10,
      rotate_interval: 86_400_000,
      compress: true,
    });
    expect(LogFilesConfigSchema.safeParse({ max_size: '10' }).success).toBe(false);
    expect(LogFilesConfigSchema.safeParse({ rotate_interval: '10ms' }).success).toBe(false);
    expect(
      AgentsConfigSchema.safeParse([{ id: 't', tmux: { target: 'x:0' }, log_file: 'a' }]).success,
    ).toBe(false);
  });

  it("a supervised process's stdout and stderr lines land in its file, past the hub's rate limit too", async () => {
    const dir = tempDir();
    const script =
      "for (let i = 0; i < 300; i++) console.log('out ' + i); console.error('err line'); setTimeout(() => {}, 60000)";
    const configs = resolve(
      [{ id: 'printer', command: ['node', '-e', script], restart: { policy: 'never' } }],
      {},
      dir,
    );
    const reporter = new MemoryReporter();
    const sup = new Supervisor({
      agents: configs,
      reporter,
      log: silentLog,
      checkIntervalMs: 100,
      agentEnv: (id) =>
        Promise.resolve({
          WARDEN_URL: 'http://127.0.0.1:1',
          WARDEN_TOKEN: 't',
          WARDEN_AGENT_ID: id,
        }),
    });
    supervisors.push(sup);
    sup.start();
    const file = join(dir, 'logs', 'printer.log');
    await until('the lines in the file', () => {
      if (!existsSync(file)) return undefined;
      const text = readFileSync(file, 'utf8');
      return text.includes('stderr err line') ? text : undefined;
    });
    await sup.close();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(301);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z stdout out 0$/);
    // stdout and stderr are two pipes: the stderr line may be read before the last stdout ones.
    expect(lines.filter((l) => / stderr err line$/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => / stdout out \d+$/.test(l))).toHaveLength(300);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The hub got at most 200 of them as log events (the rest were summarised).
    expect(reporter.of('printer', 'log').length).toBeLessThan(301);
  });
});
