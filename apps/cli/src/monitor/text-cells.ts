import { displayWidth } from '../agents-command.js';

/**
 * Code point ranges terminals draw two columns wide (East Asian Width W/F): CJK, Hangul,
 * full-width forms and the emoji blocks. Not the whole Unicode table — enough that a log line
 * in Chinese or with an emoji keeps the right border where it belongs.
 */
const WIDE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe30, 0xfe4f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x3fffd],
];

/** Columns one code point takes: 0 for combining marks and selectors, 2 for wide ones. */
export function charCells(ch: string): number {
  const cp = ch.codePointAt(0)!;
  if (cp === 0xfe0f || cp === 0x200d || (cp >= 0x300 && cp <= 0x36f)) return 0;
  if (displayWidth(ch) === 2) return 2; // the health marks (✅ ❌ ⚪)
  for (const [lo, hi] of WIDE_RANGES) if (cp >= lo && cp <= hi) return 2;
  return 1;
}

/** Terminal columns of `text` (see {@link charCells}). */
export function cells(text: string): number {
  let n = 0;
  for (const ch of text) n += charCells(ch);
  return n;
}

/**
 * `text` cut to at most `width` columns, ending in `…` when cut (a wide character that would
 * straddle the edge is dropped whole).
 */
export function truncateCells(text: string, width: number): string {
  if (width <= 0) return '';
  if (cells(text) <= width) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const w = charCells(ch);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return out + '…';
}

/** `text` truncated, then padded with spaces to exactly `width` columns. */
export function fitCells(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const t = truncateCells(text, width);
  const fill = ' '.repeat(Math.max(0, width - cells(t)));
  return align === 'left' ? t + fill : fill + t;
}

/**
 * Agent-supplied text made safe for one screen line: control characters (an ANSI escape
 * could move the cursor and wreck the frame) become `\xNN`, tabs and newlines a space.
 */
export function oneLineSafe(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) =>
    c === '\t' || c === '\n' || c === '\r'
      ? ' '
      : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
