import { pino, type Logger } from 'pino';

/** One parsed pino line. */
export interface LogLine {
  level: number;
  msg: string;
  component?: string;
  [key: string]: unknown;
}

/** pino's numeric levels, for filtering captured lines. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/**
 * A real pino logger whose lines are kept in memory, parsed, so a test can assert what was
 * logged and how often (e.g. one warning per outage, not one per event).
 */
export class LogCapture {
  readonly lines: LogLine[] = [];
  readonly logger: Logger;

  constructor(level: 'debug' | 'info' | 'warn' | 'error' = 'info') {
    this.logger = pino(
      { level },
      {
        write: (chunk: string) => {
          // pino writes one JSON line per call to a plain destination object.
          for (const text of chunk.split('\n')) {
            if (text.trim() !== '') this.lines.push(JSON.parse(text) as LogLine);
          }
        },
      },
    );
  }

  /** Lines whose message matches, at `minLevel` or above. */
  matching(msg: RegExp, minLevel: number = LEVEL.debug): LogLine[] {
    return this.lines.filter((l) => l.level >= minLevel && msg.test(l.msg));
  }
}
