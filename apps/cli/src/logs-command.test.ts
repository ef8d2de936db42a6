import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  formatLogLine,
  jsonLogLine,
  lineOfEvent,
  logsCommand,
  type LogsIo,
} from './logs-command.js';

const line = {
  seq: 7,
  agentId: 'worker-1',
  ts: Date.UTC(2025, 10, 22, 6, 0, 0),
  level: 'warn' as const,
  stream: 'stderr' as const,
  message: 'disk almost full',
};

function io(): LogsIo & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { stdout, stderr, color: false, out: () => out, err: () => err };
}

describe('warden logs output', () => {
  it('prints one line: time, agent, level padded, message', () => {
    expect(formatLogLine(line, false)).toBe(
      '2025-11-22T06:00:00.000Z worker-1 WARN  disk almost full\n',
    );
    expect(formatLogLine({ ...line, level: 'error' }, false)).toContain(' ERROR disk');
  });

  it('colours only when asked (a terminal), the level by its severity', () => {
    const c = formatLogLine(line, true);
    expect(c).toContain('\x1b[33mWARN ');
    expect(c).toContain('\x1b[36mworker-1');
    expect(formatLogLine(line, false)).not.toContain('\x1b');
  });

  it("shows an agent's control characters escaped, so its output cannot drive the terminal", () => {
    const out = formatLogLine({ ...line, message: 'red \x1b[31mtext\x07 and\ttab' }, false);
    expect(out).toBe('2025-11-22T06:00:00.000Z worker-1 WARN  red \\x1b[31mtext\\x07 and\ttab\n');
  });

  it('--json prints the stored line as one JSON object', () => {
    expect(JSON.parse(jsonLogLine(line))).toEqual(line);
  });

  it('turns a live log event into the same line as the history', () => {
    expect(
      lineOfEvent({
        seq: 7,
        receivedAt: line.ts,
        id: 'e',
        type: 'log',
        agentId: 'worker-1',
        ts: line.ts,
        data: { level: 'warn', message: 'disk almost full', stream: 'stderr' },
      } as never),
    ).toEqual(line);
  });
});

describe('warden logs flags', () => {
  it('a bad level, agent id, regular expression or line count is a usage error (64) before any request', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ level: 'loud' }, /--level "loud" is not a level/],
      [{ agent: '-bad id' }, /--agent .* is not an agent id/],
      [{ grep: '(unclosed' }, /--grep: Invalid regular expression/],
      [{ lines: '-1' }, /--lines/],
    ];
    for (const [flags, message] of cases) {
      const o = io();
      // A URL nothing listens on: a request would fail with exit 1, not 64.
      expect(await logsCommand({ url: 'http://127.0.0.1:9', token: 't', ...flags }, o)).toBe(64);
      expect(o.err()).toMatch(message);
      expect(o.out()).toBe('');
    }
  });

  it('an unreachable server is exit 1 with a one-line reason', async () => {
    const o = io();
    expect(await logsCommand({ url: 'http://127.0.0.1:9', token: 't' }, o)).toBe(1);
    expect(o.err()).toMatch(/^warden: cannot reach Warden at http:\/\/127\.0\.0\.1:9: .*\n$/);
  });
});
