import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

// Runs the built CLI (`npm test` builds first), as a user would.
const BIN = fileURLToPath(new URL('../bin/warden.js', import.meta.url));
const children: ChildProcess[] = [];

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, WARDEN_JWT_SECRET: '', WARDEN_CONFIG: '', ...env },
    timeout: 20_000,
  });
}

/** Starts `warden serve` on a free port and waits for server.json. */
async function serve(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, WARDEN_JWT_SECRET: '', WARDEN_CONFIG: '' },
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const m = /listening on (http:\/\/\S+)/.exec(stderr);
    if (m) return { child, url: m[1]! };
    if (child.exitCode !== null) throw new Error(`serve exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`serve did not start: ${stderr}`);
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('warden CLI', () => {
  it('serve exits 2 naming the key when the config is invalid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'server:\n  port: 7070\n  colour: blue\n');
    const r = run(['serve', '--config', file, '--data-dir', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown key server\.colour/);
  });

  it('token prints only a JWT, creating the secret 0600 on first use', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-cli-'));
    const r = run(['token', '--role', 'viewer', '--data-dir', dir]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(statSync(join(dir, 'secret')).mode & 0o777).toBe(0o600);
  });

  it('token refuses bad usage with exit 64', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-cli-'));
    expect(run(['token', '--role', 'agent', '--data-dir', dir]).status).toBe(64);
    expect(run(['token', '--role', 'root', '--data-dir', dir]).status).toBe(64);
    expect(run(['token', '--role', 'viewer', '--ttl', 'forever', '--data-dir', dir]).status).toBe(
      64,
    );
    expect(run(['nonsense']).status).toBe(64);
  });

  it('an acked event survives kill -9 of the server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-cli-'));
    const { child, url } = await serve(dir);
    expect(JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8'))).toMatchObject({
      url,
      pid: child.pid,
    });
    const token = run([
      'token',
      '--role',
      'agent',
      '--agent-id',
      'survivor',
      '--data-dir',
      dir,
    ]).stdout.trim();
    const events = Array.from({ length: 200 }, (_, i) => ({
      id: `k-${i}`,
      type: 'agent_status_update',
      agentId: 'survivor',
      data: { status: i === 199 ? 'busy' : 'idle' },
    }));
    // Two posts: the second lands within the projection's flush interval of the first, so
    // its agent status is in the log but not yet in the agents table when the kill comes.
    for (const batch of [events.slice(0, 199), events.slice(199)]) {
      const res = await fetch(`${url}/api/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events: batch }),
      });
      expect(res.status).toBe(200);
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const again = await serve(dir);
    const admin = run(['token', '--role', 'viewer', '--data-dir', dir]).stdout.trim();
    const list = (await (
      await fetch(`${again.url}/api/v1/events?limit=1000`, {
        headers: { authorization: `Bearer ${admin}` },
      })
    ).json()) as { events: Array<{ id: string }> };
    expect(list.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
    // The agents projection, written lazily, is rebuilt from the log past its checkpoint.
    const agents = (await (
      await fetch(`${again.url}/api/v1/agents`, { headers: { authorization: `Bearer ${admin}` } })
    ).json()) as { agents: Array<{ agentId: string; status: string; lastSeq: number }> };
    expect(agents.agents).toEqual([
      expect.objectContaining({ agentId: 'survivor', status: 'busy', lastSeq: 200 }),
    ]);
    again.child.kill('SIGTERM');
    await new Promise((r) => again.child.once('exit', r));
    expect(again.child.exitCode).toBe(0);
  });
});
