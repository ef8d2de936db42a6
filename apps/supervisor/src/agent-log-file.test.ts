import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentLogFile } from './agent-log-file.js';
import type { AgentLogFileOptions } from './agent-log-file-config.js';
import { ManualClock } from './test-support/manual-clock.js';

const DAY = 86_400_000;
// 2025-11-10T23:00:00Z: an hour before a UTC day turns.
const START = Date.UTC(2025, 10, 10, 23, 0, 0);

let dir: string;
let clock: ManualClock;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'warden-logfile-'));
  clock = new ManualClock(START);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function options(over: Partial<AgentLogFileOptions> = {}): AgentLogFileOptions {
  return {
    path: join(dir, 'logs', 'worker-1.log'),
    maxSizeBytes: 10 * 1024 * 1024,
    maxFiles: 10,
    rotateIntervalMs: DAY,
    compress: true,
    ...over,
  };
}

function rotatedFiles(): string[] {
  return readdirSync(join(dir, 'logs'))
    .filter((n) => n !== 'worker-1.log')
    .sort();
}

function readRotated(name: string): string {
  const buf = readFileSync(join(dir, 'logs', name));
  return (name.endsWith('.gz') ? gunzipSync(buf) : buf).toString('utf8');
}

describe('AgentLogFile', () => {
  it('writes one line per output line with its time and stream, in a 0600 file', async () => {
    const file = new AgentLogFile(options());
    file.write(clock.now(), 'stdout', 'hello');
    clock.advance(1500);
    file.write(clock.now(), 'stderr', 'oops: something failed');
    await file.close();
    const path = join(dir, 'logs', 'worker-1.log');
    expect(readFileSync(path, 'utf8')).toBe(
      '2025-11-10T23:00:00.000Z stdout hello\n2025-11-10T23:00:01.500Z stderr oops: something failed\n',
    );
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('lines written in one tick go out together by the end of the tick', async () => {
    const file = new AgentLogFile(options());
    file.write(clock.now(), 'stdout', 'a');
    file.write(clock.now(), 'stdout', 'b');
    await new Promise((r) => setImmediate(r));
    expect(readFileSync(join(dir, 'logs', 'worker-1.log'), 'utf8').split('\n')).toHaveLength(3);
    await file.close();
  });

  it('rotates before a line that would pass max_size, and gzips the rotated file', async () => {
    const file = new AgentLogFile(options({ maxSizeBytes: 1024 }));
    const lines: string[] = [];
    for (let i = 0; i < 40; i++) {
      const text = `line ${String(i).padStart(3, '0')} ${'x'.repeat(40)}`;
      lines.push(`${new Date(clock.now()).toISOString()} stdout ${text}\n`);
      file.write(clock.now(), 'stdout', text);
      clock.advance(1000);
    }
    await file.close();
    const rotated = rotatedFiles();
    expect(rotated.length).toBeGreaterThanOrEqual(2);
    expect(rotated.every((n) => /^worker-1\.log\.\d{8}-\d{6}(-\d+)?\.gz$/.test(n))).toBe(true);
    const all = rotated.map(readRotated).join('') + readRotated('worker-1.log');
    expect(all).toBe(lines.join(''));
    for (const n of [...rotated, 'worker-1.log']) {
      const st = statSync(join(dir, 'logs', n));
      expect(st.mode & 0o777).toBe(0o600);
      if (!n.endsWith('.gz')) expect(st.size).toBeLessThanOrEqual(1024);
    }
  });

  it('rotates when a line falls in a later day than the last one, named after that last line', async () => {
    const file = new AgentLogFile(options());
    file.write(clock.now(), 'stdout', 'late on the 10th');
    clock.advance(59 * 60_000 + 59_000); // 23:59:59
    file.write(clock.now(), 'stdout', 'last of the 10th');
    clock.advance(2000); // 00:00:01 on the 11th
    file.write(clock.now(), 'stdout', 'first of the 11th');
    await file.close();
    expect(rotatedFiles()).toEqual(['worker-1.log.20251110-235959.gz']);
    expect(readRotated('worker-1.log.20251110-235959.gz')).toContain('last of the 10th');
    expect(readRotated('worker-1.log')).toBe('2025-11-11T00:00:01.000Z stdout first of the 11th\n');
  });

  it('keeps at most max_files rotated files, deleting the oldest', async () => {
    const file = new AgentLogFile(options({ maxFiles: 3, rotateIntervalMs: 60_000 }));
    for (let i = 0; i < 8; i++) {
      file.write(clock.now(), 'stdout', `minute ${i}`);
      clock.advance(60_000);
      await file.idle();
    }
    await file.close();
    const rotated = rotatedFiles();
    expect(rotated).toHaveLength(3);
    // Minutes 0..6 were rotated; 4, 5 and 6 are the newest three.
    expect(rotated.map(readRotated).map((t) => t.trim().split(' ').pop())).toEqual(['4', '5', '6']);
    expect(readRotated('worker-1.log')).toContain('minute 7');
  });

  it('with compress off, rotated files stay plain', async () => {
    const file = new AgentLogFile(options({ maxSizeBytes: 1024, compress: false }));
    for (let i = 0; i < 30; i++) file.write(clock.now(), 'stdout', 'y'.repeat(60));
    await file.close();
    const rotated = rotatedFiles();
    expect(rotated.length).toBeGreaterThan(0);
    expect(rotated.every((n) => !n.endsWith('.gz'))).toBe(true);
    // Rotations within one second get -1, -2… so none overwrites another.
    expect(new Set(rotated).size).toBe(rotated.length);
    expect(rotated.map(readRotated).join('').split('\n').length - 1).toBe(
      30 - (readRotated('worker-1.log').split('\n').length - 1),
    );
  });

  it('after a supervisor restart it counts the existing file: its size and the day of its last line', async () => {
    mkdirSync(join(dir, 'logs'));
    const path = join(dir, 'logs', 'worker-1.log');
    writeFileSync(path, 'old line from yesterday\n', { mode: 0o644 });
    const yesterday = (START - DAY) / 1000;
    utimesSync(path, yesterday, yesterday);
    const file = new AgentLogFile(options());
    file.write(clock.now(), 'stdout', 'today');
    await file.close();
    expect(rotatedFiles()).toEqual(['worker-1.log.20251109-230000.gz']);
    expect(readRotated('worker-1.log.20251109-230000.gz')).toBe('old line from yesterday\n');
    // An existing file is tightened to 0600 as well.
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('a rotated file left uncompressed by a crash is compressed on the next rotation', async () => {
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs', 'worker-1.log.20251101-120000'), 'from before the crash\n');
    writeFileSync(join(dir, 'logs', 'worker-1.log.20251101-120000.gz.tmp'), 'half a gzip');
    const file = new AgentLogFile(options({ maxSizeBytes: 1024 }));
    for (let i = 0; i < 30; i++) file.write(clock.now(), 'stdout', 'z'.repeat(60));
    await file.close();
    const rotated = rotatedFiles();
    expect(rotated[0]).toBe('worker-1.log.20251101-120000.gz');
    expect(rotated.every((n) => n.endsWith('.gz'))).toBe(true);
    expect(readRotated(rotated[0]!)).toBe('from before the crash\n');
  });

  it('other agents\u2019 files in the folder are left alone', async () => {
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs', 'worker-10.log.20200101-000000.gz'), 'x');
    writeFileSync(join(dir, 'logs', 'worker-1.log.log'), 'agent "worker-1.log"');
    const file = new AgentLogFile(options({ maxFiles: 1, rotateIntervalMs: 60_000 }));
    for (let i = 0; i < 4; i++) {
      file.write(clock.now(), 'stdout', `m${i}`);
      clock.advance(60_000);
    }
    await file.close();
    expect(rotatedFiles()).toEqual(
      expect.arrayContaining(['worker-10.log.20200101-000000.gz', 'worker-1.log.log']),
    );
    expect(rotatedFiles().filter((n) => n.startsWith('worker-1.log.2'))).toHaveLength(1);
  });

  it('a folder it cannot write to is reported, throttled, and never throws', async () => {
    // A file where the folder should be fails for root too (EACCES would not).
    writeFileSync(join(dir, 'logs'), 'not a folder');
    const errors: string[] = [];
    const file = new AgentLogFile(options(), (err, action) =>
      errors.push(`${action}: ${err.message}`),
    );
    file.write(clock.now(), 'stdout', 'one');
    file.flush();
    clock.advance(1000);
    file.write(clock.now(), 'stdout', 'two');
    file.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/writing .*worker-1\.log: E(EXIST|NOTDIR)/);
    clock.advance(31_000);
    rmSync(join(dir, 'logs'));
    file.write(clock.now(), 'stdout', 'three');
    await file.close();
    expect(readRotated('worker-1.log')).toMatch(/^\S+ stdout three\n$/);
  });
});
