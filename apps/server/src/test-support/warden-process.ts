import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The built CLI (`npm run build` first), run as a user runs it. */
export const WARDEN_BIN = fileURLToPath(new URL('../../../cli/bin/warden.js', import.meta.url));
const BUILT = fileURLToPath(new URL('../../../cli/dist/main.js', import.meta.url));

/** Output kept per process for a failure message: the last this many characters. */
const KEEP_CHARS = 16 * 1024;

/**
 * One `warden serve` child process. `stop()` sends SIGTERM and resolves with the exit code
 * (SIGKILL after a grace period, so a hung server never outlives the test).
 */
export class WardenProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    /** What the process wrote so far (stderr and its JSON log on stdout), the tail. */
    readonly output: () => string,
  ) {}

  get wsUrl(): string {
    return this.url.replace(/^http/, 'ws') + '/ws';
  }

  /**
   * Spawns `warden serve ARGS` and resolves once it says where it listens (pass `--port 0`
   * for a free port). `env` is added to a copy of this process's env with WARDEN_* cleared.
   */
  static async start(
    args: string[],
    env: NodeJS.ProcessEnv = {},
    timeoutMs = 20_000,
  ): Promise<WardenProcess> {
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npm run build first`);
    const clean: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WARDEN_')) clean[k] = v;
    const child = spawn(process.execPath, [WARDEN_BIN, 'serve', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...clean, ...env },
    });
    let text = '';
    const keep = (d: Buffer) => {
      text += d.toString();
      if (text.length > 2 * KEEP_CHARS) text = text.slice(-KEEP_CHARS);
    };
    child.stdout!.on('data', keep);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      keep(d);
      if (stderr.length < KEEP_CHARS) stderr += d.toString();
    });
    const output = () => text.slice(-KEEP_CHARS);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) return new WardenProcess(child, m[1]!, output);
      // The CLI's own error lines start with `warden: `; one before "listening" is fatal even
      // when the process does not exit.
      const failed = /^warden: (?!SIG).*$/m.exec(stderr);
      if (failed) {
        child.kill('SIGKILL');
        throw new Error(`warden serve failed to start: ${failed[0]}\n${output()}`);
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `warden serve exited (${child.exitCode ?? child.signalCode}):\n${output()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGKILL');
    throw new Error(`warden serve did not start in ${timeoutMs} ms:\n${output()}`);
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null if killed). */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (!this.running) return this.child.exitCode;
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
