// Error fingerprints (issue 5 point 4), shared by the hub (grouping) and the SDK (matching retry
// policies locally), so both name an error's group the same way. Pure JS: no Node built-ins.

/** What an `error_occurred` event's data holds that a fingerprint is made from (SPEC §3). */
export interface FingerprintInput {
  errorType: string;
  message: string;
  stack?: string | undefined;
  /** The sender's own fingerprint wins when given. */
  fingerprint?: string | undefined;
}

/** One stack frame as it enters a fingerprint: where, never which line. */
export interface StackFrame {
  /** The last two path segments (`src/db.js`), or the module for a frame with no file. */
  file: string;
  /** The function, `''` when the frame names none. */
  fn: string;
  /** False for dependencies and runtime internals (node_modules, node:, site-packages, …). */
  inApp: boolean;
}

/** How many in-app frames, nearest the throw first, name an error's place. */
export const FINGERPRINT_FRAMES = 5;

// A stack is at most an event (64 KiB); reading more lines than this gains nothing.
const MAX_STACK_LINES = 400;
// A parameterised message is cut here so that a huge message costs a bounded hash.
const MAX_MESSAGE_CHARS = 512;

/**
 * The group an error belongs to: the sender's `fingerprint` (trimmed) when given; else a hash of
 * the error type and the top {@link FINGERPRINT_FRAMES} in-app stack frames (file and function,
 * no line or column); else a hash of the type and the parameterised message. Hashes are FNV-1a
 * 64 as 16 hex digits.
 */
export function fingerprintError(e: FingerprintInput): string {
  const own = e.fingerprint?.trim();
  if (own) return own;
  return fnv1a64(fingerprintBasis(e));
}

/** The text that is hashed (exported so a test or a curious operator can see why two errors group). */
export function fingerprintBasis(e: FingerprintInput): string {
  const type = e.errorType.trim();
  const frames = e.stack ? parseStack(e.stack).filter((f) => f.inApp) : [];
  if (frames.length > 0) {
    const top = frames.slice(0, FINGERPRINT_FRAMES).map((f) => `${f.file}:${f.fn}`);
    return `v1\nframes\n${type}\n${top.join('\n')}`;
  }
  return `v1\nmessage\n${type}\n${parameteriseMessage(e.message)}`;
}

/**
 * Frames of a V8 (`at fn (file:line:col)`), Firefox/Safari (`fn@file:line:col`) or Python
 * (`File "…", line N, in fn`) stack, nearest the throw first. Python prints the nearest last,
 * and a chained exception prints the raised one last, so only the last traceback is read.
 */
export function parseStack(stack: string): StackFrame[] {
  let lines = stack.split(/\r?\n/);
  const lastTraceback = lines.findLastIndex((l) =>
    l.startsWith('Traceback (most recent call last)'),
  );
  if (lastTraceback >= 0) {
    lines = lines.slice(lastTraceback + 1);
    if (lines.length > MAX_STACK_LINES) lines = lines.slice(-MAX_STACK_LINES);
    const frames: StackFrame[] = [];
    for (const line of lines) {
      const m = PYTHON_FRAME.exec(line);
      if (m) frames.push(frame(m[1]!, m[2]!));
    }
    return frames.reverse();
  }
  const frames: StackFrame[] = [];
  for (const line of lines.slice(0, MAX_STACK_LINES)) {
    const v8 = V8_FRAME.exec(line);
    if (v8) {
      frames.push(v8Frame(v8[1]!));
      continue;
    }
    const gecko = GECKO_FRAME.exec(line);
    if (gecko) frames.push(frame(stripLineCol(gecko[2]!), gecko[1]!));
  }
  return frames;
}

const V8_FRAME = /^\s*at (.+?)\s*$/;
const GECKO_FRAME = /^\s*([^@\s(]*)@(.+?)\s*$/;
const PYTHON_FRAME = /^\s*File "(.+?)", line \d+(?:, in (.+?))?\s*$/;

function v8Frame(rest: string): StackFrame {
  // `fn (location)`, or a bare `location`; `eval at x (…), <anonymous>:1:1` nests parentheses,
  // so the location is what the last top-level parenthesis holds.
  if (rest.endsWith(')')) {
    const open = matchingOpen(rest);
    if (open > 0) {
      const loc = rest.slice(open + 1, -1);
      // `eval at compile (…), <anonymous>:1:7`: where the evaluated code ran is the last part
      const evalAt = loc.startsWith('eval at ') ? loc.slice(loc.lastIndexOf(', ') + 2) : loc;
      return frame(stripLineCol(evalAt), rest.slice(0, open).trim());
    }
  }
  return frame(stripLineCol(rest), '');
}

function matchingOpen(s: string): number {
  let depth = 0;
  for (let i = s.length - 1; i >= 0; i--) {
    if (s[i] === ')') depth++;
    else if (s[i] === '(' && --depth === 0) return i;
  }
  return -1;
}

function stripLineCol(loc: string): string {
  return loc.replace(/(?::\d+){1,2}$/, '');
}

function frame(location: string, fn: string): StackFrame {
  const loc = location.trim();
  return { file: shortFile(loc), fn: cleanFunction(fn), inApp: isInApp(loc) };
}

const NOT_IN_APP = [
  /node_modules[\\/]/,
  /^node:/,
  /^internal[\\/]/,
  /[\\/]site-packages[\\/]/,
  /[\\/]dist-packages[\\/]/,
  /[\\/]lib[\\/]python\d+(?:\.\d+)?[\\/]/,
  /^<.*>$/, // <anonymous>, <frozen importlib._bootstrap>, <string>
  /^native$/,
  /^\[native code\]$/,
  /^index \d+$/, // `at async Promise.all (index 0)`
];

function isInApp(loc: string): boolean {
  if (loc === '') return false;
  return !NOT_IN_APP.some((re) => re.test(loc));
}

function shortFile(loc: string): string {
  // A file's place differs between machines (/home/a/app vs /srv/app) and builds (hashed chunk
  // names, query strings); its last two segments do not.
  const path = loc
    .replace(/^[a-z][a-z0-9+.-]*:\/\/\/?/i, '/') // file://, webpack:///, http://host
    .replace(/[?#].*$/, '')
    .replace(/[.-][0-9a-f]{8,}(?=\.[a-z]+$)/i, '');
  const parts = path.split(/[\\/]/).filter((p) => p !== '' && p !== '.');
  return parts.slice(-2).join('/');
}

function cleanFunction(fn: string): string {
  return fn
    .replace(/^(?:async|new)\s+/, '')
    .replace(/\s*\[as [^\]]*\]$/, '')
    .trim();
}

/**
 * The message with its variable parts replaced by placeholders, so that `timeout after 3000 ms on
 * job 17` and `timeout after 5000 ms on job 42` are one pattern: UUIDs, URLs, e-mail addresses,
 * timestamps, IP addresses, hex numbers and ids, quoted strings, paths, long mixed ids and every
 * number. Whitespace is collapsed and the result cut to 512 characters.
 */
export function parameteriseMessage(message: string): string {
  let m =
    message.length > 4 * MAX_MESSAGE_CHARS ? message.slice(0, 4 * MAX_MESSAGE_CHARS) : message;
  for (const [re, to] of PLACEHOLDERS) m = m.replace(re, to);
  m = m.replace(/\s+/g, ' ').trim();
  return m.length > MAX_MESSAGE_CHARS ? m.slice(0, MAX_MESSAGE_CHARS) : m;
}

const PLACEHOLDERS: readonly (readonly [RegExp, string])[] = [
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"<>`]+/gi, '<url>'],
  [/\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b/g, '<email>'],
  [
    /\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b/gi,
    '<ts>',
  ],
  [/\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b/g, '<ts>'],
  [/\b\d{1,3}(?:\.\d{1,3}){3}\b/g, '<ip>'],
  [/(?<![\w:])(?=[0-9a-f:]*[0-9a-f])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])/gi, '<ip>'],
  [/\b0x[0-9a-f]+\b/gi, '<hex>'],
  [/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, '<hex>'],
  [/(^|[^\w])"[^"\n]*"(?!\w)/g, '$1<str>'],
  [/(^|[^\w])'[^'\n]*'(?!\w)/g, '$1<str>'],
  [/(^|[^\w])`[^`\n]*`(?!\w)/g, '$1<str>'],
  [/(?<![\w/<>])(?:~|\.{1,2}|[a-z]:)?(?:[\\/][\w.@%+~-]+){2,}[\\/]?/gi, '<path>'],
  [/(?<![\w/<>])(?:~|\.{1,2})[\\/][\w.@%+~-]+/g, '<path>'],
  [
    /(?<![A-Za-z0-9])(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{10,}(?![A-Za-z0-9])/g,
    '<id>',
  ],
  [/\d+(?:[.,]\d+)*/g, '<n>'],
];

/** FNV-1a 64 of the string's UTF-8 bytes, as 16 hex digits (16-bit limbs: no BigInt, no Node). */
export function fnv1a64(s: string): string {
  // offset basis 0xcbf29ce484222325, prime 0x100000001b3 = 2^40 + 0x1b3
  let h0 = 0x2325;
  let h1 = 0x8422;
  let h2 = 0x9ce4;
  let h3 = 0xcbf2;
  const bytes = UTF8.encode(s);
  for (let i = 0; i < bytes.length; i++) {
    h0 ^= bytes[i]!;
    // h * 0x1b3, plus (h << 40) which touches only limbs 2 and 3
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3 + (t0 >>> 16);
    const t2 = h2 * 0x1b3 + (t1 >>> 16) + (h0 << 8);
    const t3 = h3 * 0x1b3 + (t2 >>> 16) + (h1 << 8);
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  return hex4(h3) + hex4(h2) + hex4(h1) + hex4(h0);
}

const UTF8 = new TextEncoder();

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
