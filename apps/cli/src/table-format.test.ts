import { describe, expect, it } from 'vitest';
import { cellText, formatSpan, formatTable, padCell } from './table-format.js';

describe('formatTable', () => {
  it('pads each column to its widest cell, two spaces apart, numbers right-aligned', () => {
    expect(
      formatTable(
        [{ header: 'NAME' }, { header: 'LAST', align: 'right' }, { header: 'NOTE' }],
        [
          ['cpu_percent', '15%', 'busy'],
          ['memory_mb', '1.5 GB', ''],
        ],
      ),
    ).toBe(
      ['NAME           LAST  NOTE', 'cpu_percent     15%  busy', 'memory_mb    1.5 GB', ''].join(
        '\n',
      ),
    );
  });

  it('counts the wide health marks as two columns, so the words after them line up', () => {
    const text = formatTable(
      [{ header: 'HEALTH' }, { header: 'AGENT' }],
      [
        ['✅ healthy', 'a'],
        ['⚠️  warning', 'b'],
      ],
    );
    expect(text).toBe('HEALTH      AGENT\n✅ healthy  a\n⚠️  warning  b\n');
  });

  it('does not pad a left-aligned last column, but does a right-aligned one; missing cells are empty', () => {
    expect(
      formatTable([{ header: 'A' }, { header: 'N', align: 'right' }], [['x'], ['y', '10']]),
    ).toBe('A   N\nx\ny  10\n');
  });

  it('keeps a cell on one line and shows control characters escaped', () => {
    expect(formatTable([{ header: 'M' }], [['two\nlines\x1b[2J']])).toBe('M\ntwo lines\\x1b[2J\n');
  });
});

describe('cellText and padCell', () => {
  it('collapses whitespace and escapes what is left of the control characters', () => {
    expect(cellText('a\t\tb\r\nc  d')).toBe('a b c  d');
    expect(cellText('\x07bell')).toBe('\\x07bell');
  });

  it('pads by terminal columns', () => {
    expect(padCell('✅', 4)).toBe('✅  ');
    expect(padCell('7', 3, 'right')).toBe('  7');
    expect(padCell('toolong', 3)).toBe('toolong');
  });
});

describe('formatSpan', () => {
  it('shows the largest unit and the next one when it is not zero', () => {
    expect(formatSpan(0)).toBe('0s');
    expect(formatSpan(45_000)).toBe('45s');
    expect(formatSpan(3_600_000)).toBe('1h');
    expect(formatSpan(330_000)).toBe('5m 30s');
    expect(formatSpan(100_800_000)).toBe('1d 4h');
    expect(formatSpan(-5)).toBe('0s');
  });
});
