import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { loadConfig } from '../config.js';
import { createWarden } from '../warden.js';
import { LogCapture } from './log-capture.js';
import type { TestServer } from './test-server.js';

export interface LoggedTestServer extends TestServer {
  /** Everything the server logged, parsed. */
  log: LogCapture;
}

/**
 * `startTestServer` with the log kept instead of silenced: a real Warden on a free port, its
 * own temp data dir, `config` written as the YAML config file and loaded by the real loader.
 */
export async function startLoggedTestServer(
  opts: { config?: Record<string, unknown>; logLevel?: 'debug' | 'info' | 'warn' } = {},
): Promise<LoggedTestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-test-'));
  const file = join(dataDir, 'warden.test.yaml');
  writeFileSync(file, stringify(opts.config ?? {}));
  const config = loadConfig({ config: file, dataDir, port: 0 }, {}, dataDir);
  const log = new LogCapture(opts.logLevel ?? 'info');
  let warden;
  try {
    warden = await createWarden({ config, logger: log.logger, writeServerFile: false });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const url = await warden.listen();
  const wsUrl = url.replace(/^http/, 'ws') + '/ws';
  return {
    warden,
    url,
    wsUrl,
    dataDir,
    config,
    log,
    token: (role, agentId, ttlMs = 3_600_000) =>
      warden.ctx.tokens.mint({ role, ttlMs, ...(agentId !== undefined ? { agentId } : {}) }),
    connect: (token) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) =>
          reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)),
        );
      }),
    async close() {
      await warden.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
