import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import type { Clock } from '../clock.js';
import { loadConfig, type ResolvedConfig } from '../config.js';
import type { Role } from '../roles.js';
import { createWarden, type Warden } from '../warden.js';

export interface TestServer {
  warden: Warden;
  url: string;
  wsUrl: string;
  dataDir: string;
  config: ResolvedConfig;
  token(role: Role, agentId?: string, ttlMs?: number): Promise<string>;
  /** Opens an authenticated WebSocket and waits for it to be open. */
  connect(token: string): Promise<WebSocket>;
  close(): Promise<void>;
}

/**
 * A real Warden on a free port with its own temp data dir and a silent logger. `config` is
 * written as the YAML config file, e.g. `{ websocket: { ping_interval: '1s' } }`.
 */
export async function startTestServer(
  opts: {
    config?: Record<string, unknown>;
    clock?: Clock;
    dataDir?: string;
    port?: number;
    /** Where the server logs. @defaultValue a silent logger */
    logger?: Logger;
  } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'warden-test-'));
  // Overrides go through a real config file, so tests exercise the real loader.
  const file = join(dataDir, 'warden.test.yaml');
  writeFileSync(file, stringify(opts.config ?? {}));
  const config = loadConfig({ config: file, dataDir, port: opts.port ?? 0 }, {}, dataDir);
  let warden: Warden;
  try {
    warden = await createWarden({
      config,
      logger: opts.logger ?? pino({ level: 'silent' }),
      writeServerFile: false,
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
  } catch (err) {
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
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
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Collects JSON frames from a socket; `next(pred)` waits for the first matching one. */
export class FrameReader {
  readonly frames: Array<Record<string, unknown>> = [];
  private waiters: Array<{
    pred: (f: Record<string, unknown>) => boolean;
    resolve: (f: Record<string, unknown>) => void;
    from: number;
  }> = [];

  constructor(ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString()) as Record<string, unknown>;
      this.frames.push(f);
      const idx = this.frames.length - 1;
      this.waiters = this.waiters.filter((w) => {
        if (idx >= w.from && w.pred(f)) {
          w.resolve(f);
          return false;
        }
        return true;
      });
    });
  }

  /** Waits for a frame matching `pred` that arrived at or after index `from` (default: any). */
  next(
    pred: (f: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
    from = 0,
  ): Promise<Record<string, unknown>> {
    const found = this.frames.slice(from).find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs);
      this.waiters.push({
        pred,
        from,
        resolve: (f) => {
          clearTimeout(t);
          resolve(f);
        },
      });
    });
  }
}
