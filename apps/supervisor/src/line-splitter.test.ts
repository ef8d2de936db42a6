import { describe, expect, it } from 'vitest';
import { LineSplitter } from './line-splitter.js';

function collect(maxLineBytes?: number) {
  const lines: Array<{ line: string; partial: boolean }> = [];
  const splitter = new LineSplitter((line, partial) => lines.push({ line, partial }), maxLineBytes);
  return { splitter, lines, text: () => lines.map((l) => l.line) };
}

describe('LineSplitter', () => {
  it('cuts a chunk of whole lines at each newline and drops the CR of CRLF', () => {
    const { splitter, text } = collect();
    splitter.push(Buffer.from('one\ntwo\r\n\nthree\n'));
    expect(text()).toEqual(['one', 'two', '', 'three']);
  });

  it('joins a line cut across chunks, and waits for its newline', () => {
    const { splitter, text } = collect();
    splitter.push(Buffer.from('hel'));
    splitter.push(Buffer.from('lo wo'));
    expect(text()).toEqual([]);
    splitter.push(Buffer.from('rld\nnext'));
    expect(text()).toEqual(['hello world']);
  });

  it('flush delivers a last line that never got its newline, and nothing when there is none', () => {
    const { splitter, text } = collect();
    splitter.push(Buffer.from('done\nbye'));
    splitter.flush();
    splitter.flush();
    expect(text()).toEqual(['done', 'bye']);
  });

  it('a line over the cap arrives in pieces of at most the cap, all but the last marked partial', () => {
    const { splitter, lines } = collect(8);
    splitter.push(Buffer.from('0123456789abcdefXYZ\nok\n'));
    expect(lines).toEqual([
      { line: '01234567', partial: true },
      { line: '89abcdef', partial: true },
      { line: 'XYZ', partial: false },
      { line: 'ok', partial: false },
    ]);
  });

  it('a line of exactly the cap is one whole line, even when its newline comes in the next chunk', () => {
    const { splitter, lines } = collect(8);
    splitter.push(Buffer.from('01234567'));
    splitter.push(Buffer.from('\n'));
    expect(lines).toEqual([{ line: '01234567', partial: false }]);
  });

  it('an endless line without newlines is delivered piece by piece as it grows (memory stays at the cap)', () => {
    const { splitter, lines } = collect(16);
    for (let i = 0; i < 10; i++) splitter.push(Buffer.from('x'.repeat(10)));
    expect(lines.length).toBe(6);
    expect(lines.every((l) => l.partial && l.line.length === 16)).toBe(true);
  });

  it('a piece never ends inside a UTF-8 character', () => {
    const { splitter, lines } = collect(5);
    // 'aé€' = a (1) + é (2) + € (3) = 6 bytes: the cap of 5 would cut the euro sign.
    splitter.push(Buffer.from('aé€b\n'));
    expect(lines).toEqual([
      { line: 'aé', partial: true },
      { line: '€b', partial: false },
    ]);
  });

  it('a UTF-8 character split across chunks is decoded whole', () => {
    const { splitter, text } = collect();
    const bytes = Buffer.from('€uro\n');
    splitter.push(bytes.subarray(0, 1));
    splitter.push(bytes.subarray(1, 2));
    splitter.push(bytes.subarray(2));
    expect(text()).toEqual(['€uro']);
  });

  it('invalid UTF-8 and NUL bytes become U+FFFD instead of failing', () => {
    const { splitter, text } = collect();
    splitter.push(Buffer.from([0x6f, 0x6b, 0xff, 0xfe, 0x00, 0x21, 0x0a]));
    expect(text()).toEqual(['ok\uFFFD\uFFFD\uFFFD!']);
  });

  it('refuses a cap too small to hold a UTF-8 character', () => {
    expect(() => new LineSplitter(() => {}, 3)).toThrow(RangeError);
  });
});
