import { LogCapture } from './log-capture.js';
import { startTestServer, type TestServer } from './test-server.js';

export interface LoggedTestServer extends TestServer {
  /** Everything the server logged, parsed. */
  log: LogCapture;
}

/** `startTestServer` with the log kept instead of silenced. */
export async function startLoggedTestServer(
  opts: { config?: Record<string, unknown>; logLevel?: 'debug' | 'info' | 'warn' } = {},
): Promise<LoggedTestServer> {
  const log = new LogCapture(opts.logLevel ?? 'info');
  const server = await startTestServer({
    ...(opts.config ? { config: opts.config } : {}),
    logger: log.logger,
  });
  return { ...server, log };
}
