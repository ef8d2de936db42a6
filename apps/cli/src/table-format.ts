import { displayWidth } from './agents-command.js';

/** One column of {@link formatTable}. */
export interface Column {
  header: string;
  /** Numbers read best right-aligned. @defaultValue "left" */
  align?: 'left' | 'right';
}

/**
 * `text` made safe for one table cell: runs of line breaks and tabs (a newline in a message)
 * become one space — spaces are kept, as `healthLabel` aligns with them — and other control characters are shown escaped (`\x1b`), so text from an agent can
 * neither break the table nor rewrite the terminal.
 */
export function cellText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\t\n\v\f\r]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, (c) => {
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** `text` padded with spaces to `width` terminal columns (see `displayWidth`). */
export function padCell(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

/**
 * `rows` under a header line, columns two spaces apart, each as wide as its widest cell in
 * terminal columns (so ✅ counts two and the words after it line up). A left-aligned last
 * column is not padded and trailing spaces are trimmed, so a long message does not drag
 * spaces behind every other line. Cells go through {@link cellText}; a missing cell is empty.
 * Ends with a newline.
 */
export function formatTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
): string {
  const cells = rows.map((r) => columns.map((_, i) => cellText(r[i] ?? '')));
  const widths = columns.map((c, i) =>
    Math.max(displayWidth(c.header), ...cells.map((r) => displayWidth(r[i]!))),
  );
  const line = (texts: readonly string[]) =>
    texts
      .map((t, i) => {
        const align = columns[i]!.align ?? 'left';
        return i === texts.length - 1 && align === 'left' ? t : padCell(t, widths[i]!, align);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** `2h`, `1d 4h`, `45s`, `5m 30s`: the largest unit and the next when it is not zero. */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const units: Array<[string, number]> = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  for (let i = 0; i < units.length; i++) {
    const [u, size] = units[i]!;
    if (s < size && size > 1) continue;
    const first = `${Math.floor(s / size)}${u}`;
    const next = units[i + 1];
    if (!next) return first;
    const n = Math.floor((s % size) / next[1]);
    return n > 0 ? `${first} ${n}${next[0]}` : first;
  }
  return '0s';
}
