import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createWarden, loadConfig, type Role, type Warden } from '@warden/server';
import type { CliIo } from '../cli-io.js';

/** A real Warden in the test's own process, on a random loopback port, in a temp data dir. */
export interface InProcessHub {
  warden: Warden;
  url: string;
  dataDir: string;
  token(role: Role, agentId?: string): Promise<string>;
  /** POSTs `events` as a supervisor (agent role, `*`); throws unless the hub answers 200. */
  publish(events: readonly Record<string, unknown>[]): Promise<void>;
  /** An HTTP request as `role` (admin by default); resolves with status and JSON body. */
  api(
    method: string,
    path: string,
    body?: unknown,
    role?: Role,
  ): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

/**
 * Starts a hub whose config file holds `config` (written as JSON, which is YAML too), with a
 * silent logger and no server.json: commands reach it with `--url` and `--token`. Commands must
 * then run in this process (or asynchronously): a blocking child run would starve the hub.
 */
export async function startInProcessHub(
  config: Record<string, unknown> = {},
): Promise<InProcessHub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-cli-hub-'));
  const file = join(dataDir, 'warden.yaml');
  writeFileSync(file, JSON.stringify(config));
  const resolved = loadConfig({ config: file, dataDir, port: 0, host: '127.0.0.1' }, {}, dataDir);
  const warden = await createWarden({
    config: resolved,
    logger: pino({ level: 'silent' }),
    writeServerFile: false,
  });
  const url = await warden.listen();
  const token = (role: Role, agentId?: string) =>
    warden.ctx.tokens.mint({
      role,
      ttlMs: 3_600_000,
      sub: `test-${role}`,
      ...(agentId ? { agentId } : {}),
    });
  const api = async (method: string, path: string, body?: unknown, role: Role = 'admin') => {
    const res = await fetch(url + path, {
      method,
      headers: {
        authorization: `Bearer ${await token(role, role === 'agent' ? '*' : undefined)}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
  return {
    warden,
    url,
    dataDir,
    token,
    api,
    async publish(events) {
      const r = await api('POST', '/api/v1/events', { events }, 'agent');
      if (r.status !== 200) {
        throw new Error(`publish failed: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      }
    },
    async close() {
      await warden.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A {@link CliIo} that keeps what a command writes. */
export interface CapturedIo {
  io: CliIo;
  stdout(): string;
  stderr(): string;
}

/** Buffers for stdout and stderr, for commands run in the test's process. */
export function captureIo(): CapturedIo {
  const sink = () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    });
    return { stream, text: () => chunks.join('') };
  };
  const out = sink();
  const err = sink();
  return { io: { stdout: out.stream, stderr: err.stream }, stdout: out.text, stderr: err.text };
}
