import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { topAnchoredStdout } from './top-anchored-stdout.js';

/** A terminal stream that keeps what is written (only what ink touches). */
class FakeTty extends EventEmitter {
  readonly isTTY = true;
  columns = 80;
  rows = 24;
  written: unknown[] = [];
  write(chunk: unknown): boolean {
    this.written.push(chunk);
    return true;
  }
}

describe('topAnchoredStdout', () => {
  it('a frame starts at the top-left corner and erases below itself; control writes pass as they are', () => {
    const tty = new FakeTty();
    const out = topAnchoredStdout(tty as unknown as NodeJS.WriteStream);
    out.write('\x1b[?2026h');
    out.write('\x1b[22Aline 1\x1b[K\n\x1b[E');
    out.write('\x1b[?2026l');
    expect(tty.written).toEqual([
      '\x1b[?2026h',
      '\x1b[H\x1b[22Aline 1\x1b[K\n\x1b[E\x1b[J',
      '\x1b[?2026l',
    ]);
  });

  it('size, isTTY and resize events are the real stream’s, bound to it', () => {
    const tty = new FakeTty();
    const out = topAnchoredStdout(tty as unknown as NodeJS.WriteStream);
    expect(out.isTTY).toBe(true);
    tty.columns = 120;
    expect(out.columns).toBe(120);
    let resized = 0;
    const on = out.on;
    on('resize', () => resized++);
    tty.emit('resize');
    expect(resized).toBe(1);
  });
});
