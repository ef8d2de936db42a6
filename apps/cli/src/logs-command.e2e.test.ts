import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WARDEN_BIN, cliEnv, runCli, stopDaemonIn, tempDataDir } from './test-support/cli-run.js';

// One daemon supervising one real agent that prints a numbered line every 100 ms (every
// fifth on stderr, which the supervisor reports as `warn`).
let dir: string;

beforeAll(async () => {
  dir = tempDataDir();
  writeFileSync(
    join(dir, 'printer.js'),
    `let n = 0;
setInterval(() => {
  n++;
  if (n % 5 === 0) console.error('problem ' + n);
  else console.log('tick ' + n);
}, 100);
`,
  );
  const config = join(dir, 'warden.yaml');
  writeFileSync(
    config,
    `agents:\n  - id: printer\n    command: ["node", "printer.js"]\n    cwd: ${JSON.stringify(dir)}\nlogs:\n  flush_interval: 50ms\n`,
  );
  const started = runCli(['daemon', 'start', '--config', config, '--data-dir', dir, '--port', '0']);
  if (started.status !== 0) throw new Error(`daemon start failed: ${started.stderr}`);
  // Enough output to search.
  for (let i = 0; i < 100; i++) {
    const r = runCli(['logs', '--agent', 'printer', '--data-dir', dir, '-n', '20']);
    if (r.stdout.split('\n').length > 20) break;
    await new Promise((res) => setTimeout(res, 200));
  }
});

afterAll(async () => {
  if (dir) await stopDaemonIn(dir);
});

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z printer (INFO |WARN ) (tick|problem) \d+$/;

describe('warden logs against a real hub and a supervised agent', () => {
  it('prints the newest lines, oldest first, one per line', () => {
    const r = runCli(['logs', '--agent', 'printer', '--data-dir', dir, '-n', '10']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(10);
    for (const l of lines) expect(l).toMatch(LINE);
    const numbers = lines.map((l) => Number(l.split(' ').pop()));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    // Not a terminal: no colours.
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('--level warn shows stderr lines only; --grep filters by regular expression; --json', () => {
    const warn = runCli(['logs', '--agent', 'printer', '--level', 'warn', '--data-dir', dir]);
    expect(warn.status).toBe(0);
    const wl = warn.stdout.trimEnd().split('\n');
    expect(wl.length).toBeGreaterThan(1);
    expect(wl.every((l) => / WARN {2}problem \d+$/.test(l))).toBe(true);

    const grep = runCli(['logs', '--grep', 'tick [0-9]*3$', '--data-dir', dir, '--json']);
    expect(grep.status).toBe(0);
    const rows = grep.stdout
      .trimEnd()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { agentId: string; message: string; stream: string; seq: number },
      );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row).toMatchObject({ agentId: 'printer', stream: 'stdout' });
      expect(row.message).toMatch(/^tick \d*3$/);
    }
  });

  it('--since takes a duration back from now; a bad one is a usage error', () => {
    expect(
      runCli(['logs', '--since', '1h', '--data-dir', dir, '-n', '1']).stdout.trimEnd(),
    ).toMatch(LINE);
    expect(runCli(['logs', '--since', '1d', '--agent', 'nobody', '--data-dir', dir]).stdout).toBe(
      '',
    );
    const bad = runCli(['logs', '--since', 'yesterday', '--data-dir', dir]);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toMatch(/^warden: invalid_request: .*since/);
  });

  it('--follow continues from the history with no line missed or shown twice, until Ctrl-C', async () => {
    const child = spawn(
      process.execPath,
      [
        WARDEN_BIN,
        'logs',
        '--agent',
        'printer',
        '--follow',
        '-n',
        '5',
        '--json',
        '--data-dir',
        dir,
      ],
      { env: cliEnv(), cwd: tmpdir() },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const end = Date.now() + 15_000;
    while (out.split('\n').length <= 40 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(err).toBe('');
    expect(code).toBe(0);
    const rows = out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; message: string });
    expect(rows.length).toBeGreaterThanOrEqual(40);
    // Strictly increasing seqs, and the agent's numbers without a hole: nothing lost at the
    // seam between history and live, nothing twice.
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.seq).toBeGreaterThan(rows[i - 1]!.seq);
    const numbers = rows.map((r) => Number(r.message.split(' ')[1]));
    for (let i = 1; i < numbers.length; i++) expect(numbers[i]).toBe(numbers[i - 1]! + 1);
  });

  it("the supervisor also wrote the agent's output to <data-dir>/logs/printer.log (0600)", () => {
    const file = join(dir, 'logs', 'printer.log');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(20);
    expect(lines[0]).toMatch(/^\S+Z stdout tick 1$/);
    expect(lines.some((l) => / stderr problem \d+$/.test(l))).toBe(true);
  });
});
