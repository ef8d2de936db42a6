/** Cursor to the top-left corner. */
const HOME = '\x1b[H';
/** Erase from the cursor to the end of the screen. */
const ERASE_BELOW = '\x1b[J';

/**
 * The terminal as ink should see it for a frame drawn from the top of the alternate screen:
 * every write that carries a frame (it has a newline; ink's other writes are bare control
 * sequences) starts at the top-left corner and ends by erasing what lies below it.
 *
 * Why: ink 6.8's incremental renderer, which rewrites only the lines that changed, moves the
 * cursor up one line too few before each redraw of a frame that ends in a newline (every
 * frame shorter than the screen), so each redraw lands one line lower than the last and
 * changed lines overwrite their neighbours. From the top-left corner its relative moves up
 * stop at the first line, which is where the frame is, so every line lands where it belongs;
 * unchanged lines are still skipped, not redrawn. Erasing below covers a frame that got
 * shorter (a resize), which ink would otherwise erase upwards from a wrong place.
 *
 * Everything else (size, resize events, isTTY) is the real stream's.
 */
export function topAnchoredStdout(stdout: NodeJS.WriteStream): NodeJS.WriteStream {
  const write = (chunk: unknown, ...rest: unknown[]): boolean => {
    const framed =
      typeof chunk === 'string' && chunk.includes('\n') ? HOME + chunk + ERASE_BELOW : chunk;
    return (stdout.write as (c: unknown, ...r: unknown[]) => boolean)(framed, ...rest);
  };
  return new Proxy(stdout, {
    get(target, prop) {
      if (prop === 'write') return write;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}
