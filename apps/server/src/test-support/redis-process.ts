import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A TCP port nobody listens on right now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** How long a redis-server may take to say it is ready. */
const START_TIMEOUT_MS = 10_000;

/**
 * A private `redis-server` on a free port with nothing persisted (`--save ''`, no AOF) and its
 * working dir in a temp folder, for tests that take Redis away and bring it back. `kill()` is
 * `kill -9`; `start()` brings a new, empty server up on the same port.
 */
export class RedisProcess {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Whether the server process is running. */
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && !this.child.signalCode;
  }

  /** Starts a server on a free port. A port taken between the pick and the bind is retried. */
  static async start(): Promise<RedisProcess> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const proc = new RedisProcess(await freePort(), mkdtempSync(join(tmpdir(), 'warden-redis-')));
      try {
        await proc.start();
        return proc;
      } catch (err) {
        lastErr = err;
        await proc.stop();
      }
    }
    throw lastErr;
  }

  /** Starts (or restarts, after `kill()`) the server on its port; resolves once it is ready. */
  async start(): Promise<void> {
    if (this.running) throw new Error('redis-server is already running');
    this.output = '';
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const collect = (d: Buffer) => {
      // Only the start-up lines matter; a long-running server's log is not kept.
      if (this.output.length < 64 * 1024) this.output += d.toString();
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        child.kill('SIGKILL');
        reject(new Error(`redis-server did not get ready in time:\n${this.output}`));
      }, START_TIMEOUT_MS);
      const onData = () => {
        if (/Ready to accept connections/.test(this.output)) {
          cleanup();
          resolve();
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        cleanup();
        reject(new Error(`redis-server exited (${signal ?? code}) at start:\n${this.output}`));
      };
      const onError = (err: Error) => {
        cleanup();
        reject(new Error(`redis-server could not be started: ${err.message}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
      };
      child.stdout!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
    });
  }

  /** `kill -9`: the server vanishes mid-command, with everything it held. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills the server (if running) and removes its temp dir. Safe to call more than once. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
